package restore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/catalog"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/pg"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

func captureSchemaOf(ctx context.Context, dsn string) (*SchemaSnapshot, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	return CaptureSchema(ctx, conn)
}

// RestorePointOptions configure CreateRestorePoint.
type RestorePointOptions struct {
	Layout repo.Layout
	// DSN connects to the live server (a superuser or a role with
	// pg_create_restore_point and pg_switch_wal).
	DSN  string
	Name string
	// BaseBackup takes a fresh base backup first, so a restore to the
	// point replays only the WAL since then.
	BaseBackup bool
	// Tenants are dumped (pg_dump -Fc) first, with PGDump, and their
	// schema and Odoo module versions recorded (signed with Signer) for
	// the compatibility review of a rollback to the point.
	Tenants []string
	PGDump  string
	Signer  *signature.Signer
	// ArchiveTimeout bounds the wait for the WAL segment holding the
	// point to reach the repository; 0 = 2 minutes.
	ArchiveTimeout time.Duration
}

// RestorePointResult is what CreateRestorePoint made.
type RestorePointResult struct {
	Name string
	// LSN is the restore point record's location, Time when it was made,
	// Timeline the server's, Segment the archived file holding it.
	LSN      string
	Time     time.Time
	Timeline uint32
	Segment  string
	// BackupID is the fresh base backup ("" without BaseBackup); Dumps the
	// fresh dump ids by database; Schemas the keys of the recorded schemas
	// by database.
	BackupID string
	Dumps    map[string]string
	Schemas  map[string]string
}

// ErrPointNotArchived means the restore point was made but the WAL
// segment holding it did not reach the repository in time (WAL archiving
// off or failing): no restore can target it until it does.
var ErrPointNotArchived = errors.New("restore point's WAL not archived")

// CreateRestorePoint marks the present as a named recovery target before a
// risky change (a release, a migration): fresh base backup and tenant dumps
// if asked, then pg_create_restore_point, then a WAL switch and a wait
// until the segment holding the point is archived, so a restore plan can
// find it at once (recovery_target_name, lifeboat_restore.restore_point).
//
// NOTE: PostgreSQL does not keep names unique; recovery stops at the first
// point of the name after the backup it starts from. Names should be
// unique per cluster (a release id, a date).
func CreateRestorePoint(ctx context.Context, store objectstore.Store, opts RestorePointOptions) (*RestorePointResult, error) {
	if err := (Point{Name: opts.Name}).Validate(); err != nil || opts.Name == "" {
		return nil, fmt.Errorf("%w: restore point name %q: 1 to 63 bytes", ErrInvalidTarget, opts.Name)
	}
	res := &RestorePointResult{Name: opts.Name, Dumps: map[string]string{}, Schemas: map[string]string{}}
	if len(opts.Tenants) > 0 && !repo.KeySafe(opts.Name) {
		return nil, fmt.Errorf("%w: restore point name %q becomes part of a repository key (its tenants' recorded schemas): use letters, digits, '.', '_' and '-'",
			ErrInvalidTarget, opts.Name)
	}
	if opts.BaseBackup {
		m, err := backup.Take(ctx, store, backup.Options{Layout: opts.Layout, DSN: opts.DSN})
		if err != nil {
			return nil, fmt.Errorf("base backup before restore point %q: %w", opts.Name, err)
		}
		res.BackupID = m.ID
	}
	if len(opts.Tenants) > 0 {
		if opts.PGDump == "" {
			opts.PGDump = pg.Program("pg_dump")
		}
		results, err := backup.DumpTenants(ctx, store, backup.TenantOptions{Layout: opts.Layout, DSN: opts.DSN, PGDump: opts.PGDump}, opts.Tenants)
		if err != nil {
			return nil, fmt.Errorf("tenant dumps before restore point %q: %w", opts.Name, err)
		}
		for _, r := range results {
			res.Dumps[r.Database] = r.Manifest.ID
		}
	}
	// NOTE: read after the dumps, just before the point: a schema change
	// committed in the moment between the two would be in a rollback and
	// not in its review, so release pipelines make the point before they
	// start the upgrade.
	var schemas []*SchemaSnapshot
	for _, db := range opts.Tenants {
		s, err := captureSchemaOf(ctx, pg.WithDatabase(opts.DSN, db))
		if err != nil {
			return nil, err
		}
		s.RestorePoint = opts.Name
		schemas = append(schemas, s)
	}
	conn, err := pgx.Connect(ctx, opts.DSN)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	var tli int64
	if err := conn.QueryRow(ctx, `SELECT pg_create_restore_point($1)::text, now(), (SELECT timeline_id FROM pg_control_checkpoint())::int8`,
		opts.Name).Scan(&res.LSN, &res.Time, &tli); err != nil {
		return nil, fmt.Errorf("pg_create_restore_point(%q): %w", opts.Name, err)
	}
	res.Time, res.Timeline = res.Time.UTC(), uint32(tli)
	// The segment's name comes from the server (it knows its timeline
	// after a promotion better than the last checkpoint does).
	if err := conn.QueryRow(ctx, "SELECT pg_walfile_name($1::pg_lsn)", res.LSN).Scan(&res.Segment); err != nil {
		return nil, err
	}
	for _, sc := range schemas {
		if err := WritePointSchema(ctx, store, opts.Layout, sc, opts.Signer); err != nil {
			return res, fmt.Errorf("recording the schema of %s at restore point %q: %w", sc.Database, opts.Name, err)
		}
		res.Schemas[sc.Database] = opts.Layout.RestorePointSchemaKey(opts.Name, sc.Database)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_switch_wal()"); err != nil {
		return nil, fmt.Errorf("switching WAL after restore point %q: %w", opts.Name, err)
	}
	timeout := opts.ArchiveTimeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	deadline := time.Now().Add(timeout)
	for {
		a, err := catalog.ListWAL(ctx, store, opts.Layout, 0)
		if err != nil {
			return nil, err
		}
		for _, f := range a.Files {
			if f.IsSegment && f.Name == res.Segment {
				return res, nil
			}
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("%w: restore point %q is at %s in segment %s, which is not in %s after %s: check WAL archiving (pg_stat_archiver)",
				ErrPointNotArchived, opts.Name, res.LSN, res.Segment, opts.Layout.WALDir(), timeout)
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
