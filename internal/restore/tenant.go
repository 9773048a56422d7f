package restore

import (
	"context"
	"errors"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// TenantOptions configures the restore of one tenant database.
type TenantOptions struct {
	Layout repo.Layout
	// Database is the source tenant database.
	Database string
	// Target is the point in time; zero means latest.
	Target time.Time
	// DumpID, when set, restores exactly this tenant dump.
	DumpID string
	// TargetDSN is the server to create the new database on (any database
	// of it).
	TargetDSN string
	// NewDatabase must not exist; it must differ from Database when
	// TargetDSN is the source server.
	NewDatabase string
	// For points in time that are not a dump's: PITR of the cluster into a
	// scratch directory, then pg_dump | pg_restore of one database.
	// ScratchDir "" = os.MkdirTemp (must be enterable by OSUser);
	// ScratchPort 0 = a free port.
	ScratchDir  string
	ScratchPort int
	BinDir      string
	OSUser      string
	AgentPath   string
	AgentConfig repo.AgentConfig
	// Attachments, when set, restores the objects the database references.
	Attachments *AttachmentOptions
	Progress    func(Progress)
}

// AttachmentOptions says where a tenant's attachment objects live.
type AttachmentOptions struct {
	// Store is the attachments bucket (versioned).
	Store objectstore.Store
	// SourcePrefix: objects are SourcePrefix + store_fname
	// (e.g. "attachments/acme/").
	SourcePrefix string
	// TargetPrefix is where the restored copies go.
	TargetPrefix string
	// Query lists the referenced names; default
	// "SELECT DISTINCT store_fname FROM ir_attachment WHERE store_fname IS NOT NULL".
	Query string
}

// AttachmentReport is what the attachment restore found.
type AttachmentReport struct {
	Referenced int
	Copied     int
	// Missing are store_fname values that do not resolve as of the
	// restore point.
	Missing []string
}

// TenantResult is what a tenant restore did.
type TenantResult struct {
	// Source is "dump:<id>" or "backup:<id>+wal".
	Source         string
	RestoredToTime time.Time
	Duration       time.Duration
	Attachments    *AttachmentReport
}

var errNotYet = errors.New("tenant restore: not implemented yet")

// PlanTenant says which dump or backup a tenant restore would use, or
// returns an *OutsideWindowError.
func PlanTenant(ctx context.Context, store objectstore.Store, opts TenantOptions) (string, error) {
	return "", errNotYet
}

// RestoreTenant restores one database into NewDatabase, other databases
// untouched.
func RestoreTenant(ctx context.Context, store objectstore.Store, opts TenantOptions) (*TenantResult, error) {
	return nil, errNotYet
}

// DropTenant drops a restored database and deletes its attachment copies.
func DropTenant(ctx context.Context, targetDSN, db string, attachments *AttachmentOptions) error {
	return errNotYet
}
