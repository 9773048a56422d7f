package restore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/pg"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// Kind is what a restore brings back.
type Kind string

// Restore kinds.
const (
	// KindCluster: the whole cluster, point in time, into a new data directory.
	KindCluster Kind = "cluster"
	// KindTenant: one database into a new database beside the live one.
	KindTenant Kind = "tenant"
)

// SourceKind says what a recovery source is made of.
type SourceKind int

// Recovery source kinds.
const (
	// SourceBackup is a base backup and the archived WAL replayed on it.
	SourceBackup SourceKind = iota + 1
	// SourceDump is a tenant's logical dump.
	SourceDump
)

// Source is the recovery point a restore uses: what a plan names and what
// the restore of that plan must use, whatever was backed up in between.
type Source struct {
	Kind SourceKind
	// ID is the base backup's or the dump's id.
	ID string
}

// BackupSource is a base backup plus archived WAL.
func BackupSource(id string) Source { return Source{Kind: SourceBackup, ID: id} }

// DumpSource is a tenant dump.
func DumpSource(id string) Source { return Source{Kind: SourceDump, ID: id} }

// IsZero reports whether no source is set.
func (s Source) IsZero() bool { return s.ID == "" }

// String is the form plans, Terraform state and drill evidence show:
// "backup:<id>+wal" or "dump:<id>"; ParseSource reads it back.
func (s Source) String() string {
	switch s.Kind {
	case SourceBackup:
		return "backup:" + s.ID + "+wal"
	case SourceDump:
		return "dump:" + s.ID
	}
	return ""
}

// ErrInvalidSource is returned for a recovery source string not in
// Source.String's form, or a source of the wrong kind for the restore.
var ErrInvalidSource = errors.New("invalid recovery source")

// ParseSource reads Source.String's form back.
func ParseSource(v string) (Source, error) {
	if id, ok := strings.CutPrefix(v, "backup:"); ok {
		if id, ok = strings.CutSuffix(id, "+wal"); ok && id != "" {
			return BackupSource(id), nil
		}
	}
	if id, ok := strings.CutPrefix(v, "dump:"); ok && id != "" {
		return DumpSource(id), nil
	}
	return Source{}, fmt.Errorf("%q: %w (want backup:<id>+wal or dump:<id>)", v, ErrInvalidSource)
}

// Request is one restore, as every front end (the Terraform resource, the
// drill, the agent CLI) states it: PlanRestore chooses its recovery point,
// Execute performs it and runs its checks, Teardown removes the copy.
type Request struct {
	Kind   Kind
	Layout repo.Layout
	// Target is the point in time; zero means latest (replay all archived
	// WAL there is when the restore runs).
	Target time.Time
	// Point is a target other than a time: an LSN, a transaction, a named
	// restore point or immediate (Target must be zero). A tenant restore
	// to a point goes through PITR.
	Point Point
	// BackupID restores from this base backup (cluster) or this dump
	// (tenant) instead of the newest one that reaches Target.
	BackupID string
	// TargetTimeline is recovery_target_timeline (see
	// ClusterOptions.TargetTimeline), for a cluster restore and a tenant
	// restore that goes through PITR.
	TargetTimeline string
	// Source, when set, is the recovery point a reviewed plan named: the
	// restore uses exactly it (checked to be still usable) even if a newer
	// backup finished since.
	Source Source

	// Cluster restores: DataDir must not exist or be empty; Port must be free.
	DataDir         string
	Port            int
	Parallel        int
	KeepRunning     bool
	NoStart         bool
	ListenAddresses string

	// Tenant restores: Database is the source tenant database, restored
	// into NewDatabase on the server of TargetDSN; a point in time that is
	// not a dump's goes through a scratch PITR (ScratchDir, ScratchPort,
	// as in TenantOptions).
	Database    string
	NewDatabase string
	TargetDSN   string
	ScratchDir  string
	ScratchPort int
	Attachments *AttachmentOptions

	// Both: PostgreSQL binaries and account, the agent restore_command
	// runs and its configuration (see ClusterOptions).
	BinDir      string
	OSUser      string
	AgentPath   string
	AgentConfig repo.AgentConfig

	// Checks run on the restored copy once it is up.
	Checks   []Check
	Progress func(Progress)

	// Audit says who runs the restore and where its audit record goes:
	// every restore is recorded when it starts and when it ends.
	Audit AuditOptions
	// CleanRoom and NotAfter: see the clean-room restore (cleanroom.go).
	CleanRoom bool
	NotAfter  time.Time
	// SuperuserVerifier, with CleanRoom, is the SCRAM-SHA-256 verifier
	// ("SCRAM-SHA-256$<iterations>:<salt>$<stored key>:<server key>") the
	// copy's superuser gets instead of a password made here: whoever asked
	// for the restore (the provider, through an agent's request) keeps the
	// password, and only the verifier travels.
	SuperuserVerifier string
}

// RecoveryPlan is what a restore will use, known before anything is
// downloaded: what `terraform plan` and `lifeboat restore --plan` show.
type RecoveryPlan struct {
	Kind   Kind
	Source Source
	// Cluster is the base backup and WAL of a cluster restore or of a
	// tenant restore that goes through PITR; nil for a dump.
	Cluster *Plan
	// NotKept says why PlanKept could not keep Source for the apply of a
	// saved plan (nil when kept, or when nothing needed keeping).
	NotKept error
}

// WALRange names the WAL a restore replays, "<first>..<last>", or
// "<first>..latest" for latest (WAL keeps arriving until the restore
// runs); "" for a dump.
func (p *RecoveryPlan) WALRange() string {
	if p.Cluster == nil {
		return ""
	}
	if p.Cluster.IsLatest() {
		return p.Cluster.WALStart + "..latest"
	}
	return p.Cluster.WALStart + ".." + p.Cluster.WALStop
}

// Outcome is what a restore reached, and the copy it left.
type Outcome struct {
	Kind   Kind
	Source Source
	// Plan is the base backup and WAL replayed (nil for a dump); for latest
	// its WALStop is the newest segment there was when the restore ran.
	Plan *Plan
	// RestoredToTime is the last recovered commit (a dump's snapshot time);
	// RestoredToLSN the WAL location recovered to (cluster restores).
	RestoredToTime time.Time
	RestoredToLSN  string
	// Started is when the restore began (planning included); Duration runs
	// to the end of the checks.
	Started  time.Time
	Duration time.Duration

	// Cluster copies: where it is, the role Lifeboat connects as over its
	// Unix socket, whether it is left running, bytes moved.
	DataDir               string
	Port                  int
	User                  string
	Running               bool
	Downloaded, Extracted int64
	// Phases is where a cluster restore's time went (see PhaseTime).
	Phases []PhaseTime

	// Tenant copies: the new database and its attachments.
	Database    string
	Attachments *AttachmentReport

	Checks []CheckResult

	// Superuser and SuperuserPassword: a clean-room copy's superuser and
	// the fresh password it was given (a secret).
	Superuser, SuperuserPassword string

	// AuditKey is the restore's finished audit record; AuditError says why
	// it could not be written (the restore itself stands).
	AuditKey   string
	AuditError error

	targetDSN string
}

// DSN connects to database db of the restored copy: for a cluster, over
// its Unix socket (see SocketDSN; "" = postgres); for a tenant, the
// new database, whatever db says.
func (o *Outcome) DSN(db string) string {
	if o.Kind == KindTenant {
		return pg.WithDatabase(o.targetDSN, o.Database)
	}
	if db == "" {
		db = "postgres"
	}
	return SocketDSN(o.DataDir, o.Port, o.User, db)
}

// ChecksPassed reports whether every check passed.
func (o *Outcome) ChecksPassed() bool { return AllPassed(o.Checks) }

func (r *Request) validKind() error {
	switch r.Kind {
	case KindCluster, KindTenant:
		return nil
	}
	return fmt.Errorf("unknown restore kind %q: want cluster or tenant", r.Kind)
}

func (r *Request) clusterOptions() ClusterOptions {
	// restore_command reads as the restore does: as of NotAfter.
	r.AgentConfig.ReadAsOf = r.NotAfter
	return ClusterOptions{VerifyWAL: r.CleanRoom,
		Layout: r.Layout, Target: r.Target, Point: r.Point, TargetTimeline: r.TargetTimeline, BackupID: r.BackupID, DataDir: r.DataDir, Port: r.Port, BinDir: r.BinDir,
		OSUser: r.OSUser, AgentPath: r.AgentPath, AgentConfig: r.AgentConfig, Parallel: r.Parallel,
		KeepRunning: r.KeepRunning, NoStart: r.NoStart, ListenAddresses: r.ListenAddresses, Progress: r.Progress,
	}
}

func (r *Request) tenantOptions() TenantOptions {
	r.AgentConfig.ReadAsOf = r.NotAfter
	return TenantOptions{
		Layout: r.Layout, Database: r.Database, Target: r.Target, Point: r.Point, TargetTimeline: r.TargetTimeline, DumpID: r.BackupID, Source: r.Source,
		TargetDSN: r.TargetDSN, NewDatabase: r.NewDatabase, ScratchDir: r.ScratchDir, ScratchPort: r.ScratchPort,
		BinDir: r.BinDir, OSUser: r.OSUser, AgentPath: r.AgentPath, AgentConfig: r.AgentConfig,
		Attachments: r.Attachments, Progress: r.Progress,
	}
}

// PlanRestore chooses the recovery point of req without touching
// PostgreSQL or the disk. With req.Source it checks that exact source is
// still usable. A point outside the restorable window is an
// *OutsideWindowError.
func PlanRestore(ctx context.Context, store objectstore.Store, req Request) (*RecoveryPlan, error) {
	if err := req.validKind(); err != nil {
		return nil, err
	}
	if err := req.validCleanRoom(); err != nil {
		return nil, err
	}
	store = req.readStore(store)
	if req.Kind == KindTenant {
		src, _, p, err := planTenant(ctx, store, req.tenantOptions())
		if err != nil {
			return nil, err
		}
		return &RecoveryPlan{Kind: req.Kind, Source: src, Cluster: p}, nil
	}
	opts := req.clusterOptions()
	if !req.Source.IsZero() {
		if req.Source.Kind != SourceBackup {
			return nil, fmt.Errorf("a cluster restore needs a base backup, not %s: %w", req.Source, ErrInvalidSource)
		}
		opts.BackupID = req.Source.ID
	}
	p, err := PlanCluster(ctx, store, opts)
	if err != nil {
		return nil, err
	}
	return &RecoveryPlan{Kind: req.Kind, Source: BackupSource(p.BackupID), Cluster: p}, nil
}

// Restore plans req and executes the plan: the one call for a front end
// that does not show the plan first.
func Restore(ctx context.Context, store objectstore.Store, req Request) (*Outcome, error) {
	started := time.Now()
	if err := req.validKind(); err != nil {
		return nil, err
	}
	a, err := beginAudit(ctx, store, req, nil, started)
	if err != nil {
		return nil, err
	}
	plan, err := PlanRestore(ctx, store, req)
	if err != nil {
		_, _ = a.finish(ctx, nil, nil, err)
		return nil, err
	}
	return auditedExecute(ctx, store, req, plan, started, a)
}

// Execute performs the restore plan names (exactly its source: a newer
// backup finished since does not change it; for latest, WAL is replayed to
// the newest segment there is now), then runs req.Checks on the copy. A
// cluster copy with checks is kept running for them and stopped afterwards
// unless req.KeepRunning. An error means there is no copy (see
// RestoreCluster and RestoreTenant for what is left behind); failed checks
// are not an error: see Outcome.Checks.
//
// Every restore is audited: a signed record is written under object lock
// (req.Audit) before anything else, and another when the restore ends,
// failed or not. A restore whose start cannot be recorded does not run
// (ErrAuditNotWritten).
func Execute(ctx context.Context, store objectstore.Store, req Request, plan *RecoveryPlan) (*Outcome, error) {
	started := time.Now()
	if err := req.validKind(); err != nil {
		return nil, err
	}
	a, err := beginAudit(ctx, store, req, plan, started)
	if err != nil {
		return nil, err
	}
	return auditedExecute(ctx, store, req, plan, started, a)
}

func auditedExecute(ctx context.Context, store objectstore.Store, req Request, plan *RecoveryPlan, started time.Time, a *auditor) (*Outcome, error) {
	out, err := execute(ctx, store, req, plan, started)
	key, aerr := a.finish(ctx, plan, out, err)
	if out != nil {
		out.AuditKey, out.AuditError = key, aerr
	}
	return out, err
}

func execute(ctx context.Context, store objectstore.Store, req Request, plan *RecoveryPlan, started time.Time) (*Outcome, error) {
	if err := req.validKind(); err != nil {
		return nil, err
	}
	if plan == nil || plan.Source.IsZero() || plan.Kind != req.Kind {
		return nil, errors.New("restore: Execute needs the plan PlanRestore made for this request")
	}
	if err := req.validCleanRoom(); err != nil {
		return nil, err
	}
	store = req.readStore(store)
	out := &Outcome{Kind: req.Kind, Source: plan.Source, Started: started, targetDSN: req.TargetDSN}
	switch req.Kind {
	case KindCluster:
		opts := req.clusterOptions()
		opts.BackupID = plan.Source.ID
		checksNeedServer := len(req.Checks) > 0 && !req.NoStart
		opts.KeepRunning = req.KeepRunning || checksNeedServer
		res, err := RestoreCluster(ctx, store, opts)
		if err != nil {
			return nil, err
		}
		out.Plan = &res.Plan
		out.RestoredToTime, out.RestoredToLSN = res.RestoredToTime, res.RestoredToLSN
		out.DataDir, out.Port, out.User, out.Running = res.DataDir, res.Port, res.User, res.Running
		out.Downloaded, out.Extracted = res.Downloaded, res.Extracted
		out.Phases = res.Phases
		if req.CleanRoom && res.Running && req.SuperuserVerifier != "" {
			if err := setSuperuserVerifier(ctx, out.DSN(""), res.User, req.SuperuserVerifier); err != nil {
				return nil, err
			}
			out.Superuser = res.User
		} else if req.CleanRoom && res.Running {
			pw, err := setSuperuserPassword(ctx, out.DSN(""), res.User)
			if err != nil {
				return nil, err
			}
			out.Superuser, out.SuperuserPassword = res.User, pw
		}
		if checksNeedServer {
			out.Checks = evaluateChecks(ctx, req.Checks, out)
			if !req.KeepRunning {
				if err := StopCluster(ctx, res.DataDir, req.BinDir, req.OSUser); err != nil {
					return nil, fmt.Errorf("stopping the restored server after its checks: %w", err)
				}
				out.Running = false
			}
		}
	case KindTenant:
		opts := req.tenantOptions()
		opts.Source = plan.Source
		res, err := RestoreTenant(ctx, store, opts)
		if err != nil {
			return nil, err
		}
		out.Plan = res.Plan
		out.RestoredToTime = res.RestoredToTime
		out.Database, out.Attachments = req.NewDatabase, res.Attachments
		out.Checks = evaluateChecks(ctx, req.Checks, out)
	}
	out.Duration = time.Since(started)
	return out, nil
}

// Teardown removes the copy req made: stops the restored server and
// deletes its data directory, or drops the restored database and its
// attachment copies. The source is never touched (see RemoveCluster and
// DropTenant); a copy already gone is success.
func Teardown(ctx context.Context, req Request) error {
	if err := req.validKind(); err != nil {
		return err
	}
	if req.Kind == KindTenant {
		return DropTenant(ctx, req.TargetDSN, req.NewDatabase, req.Attachments)
	}
	return RemoveCluster(ctx, req.DataDir, req.BinDir, req.OSUser)
}
