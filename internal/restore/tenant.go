package restore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/catalog"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/pg"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// TenantOptions configures the restore of one tenant database.
type TenantOptions struct {
	Layout repo.Layout
	// Database is the source tenant database.
	Database string
	// Target is the point in time; zero means latest.
	Target time.Time
	// Point is a target other than a time (see Point): always a PITR.
	Point Point
	// TargetTimeline is recovery_target_timeline of a PITR (see
	// ClusterOptions.TargetTimeline); a dump has none.
	TargetTimeline string
	// DumpID, when set, restores exactly this tenant dump.
	DumpID string
	// Source, when set, is the recovery point a reviewed plan named (a
	// dump, or a base backup for PITR): exactly it is used.
	Source Source
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
	// Store is the attachments bucket (versioned): the copies are written
	// with it, and the source versions read with it unless ReadStore is
	// set.
	Store objectstore.Store
	// ReadStore, when set, reads the source versions (a restorer's
	// read-only credentials on the bucket), so the credentials that write
	// the copies need not read the tenant's history.
	ReadStore objectstore.Store
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
	Source Source
	// Plan is the base backup and WAL of a PITR (nil for a dump).
	Plan           *Plan
	RestoredToTime time.Time
	Duration       time.Duration
	Attachments    *AttachmentReport
}

// dumpMatches reports whether a dump can serve a restore to target: the
// target names the dump's snapshot time, to the second (as RFC 3339 shows
// it, and as lifeboat_recovery_points lists it). Any later second needs WAL
// and goes the PITR way, so a dump never stands in for a point whose
// changes it lacks.
func dumpMatches(snapshot, target time.Time) bool {
	return !target.IsZero() && target.Truncate(time.Second).Equal(snapshot.Truncate(time.Second)) ||
		target.Equal(snapshot)
}

// tenantComment marks a database as a Lifeboat restore (DropTenant checks
// it before dropping anything).
const tenantComment = "lifeboat-restore:"

// PlanTenant says which dump or backup a tenant restore would use: the
// dump Source or DumpID names, or the dump whose snapshot time Target names
// to the second (see dumpMatches), else a base backup and WAL (PITR of the
// cluster, which needs a physical backup and WAL reaching Target: the one
// Source names, if it does), or an *OutsideWindowError.
func PlanTenant(ctx context.Context, store objectstore.Store, opts TenantOptions) (Source, error) {
	src, _, _, err := planTenant(ctx, store, opts)
	return src, err
}

func planTenant(ctx context.Context, store objectstore.Store, opts TenantOptions) (Source, *backup.TenantManifest, *Plan, error) {
	if opts.Database == "" {
		return Source{}, nil, nil, errors.New("tenant restore needs the source database")
	}
	dumpID, backupID := opts.DumpID, ""
	switch opts.Source.Kind {
	case SourceDump:
		dumpID = opts.Source.ID
	case SourceBackup:
		backupID = opts.Source.ID
	}
	c, err := catalog.Load(ctx, store, opts.Layout)
	if err != nil {
		return Source{}, nil, nil, fmt.Errorf("reading the repository: %w", err)
	}
	var best *backup.TenantManifest
	for _, m := range c.Tenant {
		if m.Database != opts.Database || backupID != "" {
			continue
		}
		if dumpID != "" {
			if m.ID == dumpID {
				best = m
			}
			continue
		}
		if opts.Target.IsZero() {
			continue
		}
		if dumpMatches(m.StartTime, opts.Target) && (best == nil || m.StartTime.After(best.StartTime)) {
			best = m
		}
	}
	if dumpID != "" && best == nil {
		return Source{}, nil, nil, fmt.Errorf("dump %q of %q: %w", dumpID, opts.Database, backup.ErrNoManifest)
	}
	if best != nil {
		ids, err := opts.AgentConfig.Identities()
		if err != nil {
			return Source{}, nil, nil, err
		}
		if err := ids.Check(fmt.Sprintf("dump %s of %q", best.ID, best.Database), best.Encryption); err != nil {
			return Source{}, nil, nil, fmt.Errorf("%w: %w", ErrCannotDecrypt, err)
		}
		return DumpSource(best.ID), best, nil, nil
	}
	plan, err := PlanCluster(ctx, store, ClusterOptions{Layout: opts.Layout, Target: opts.Target, Point: opts.Point, TargetTimeline: opts.TargetTimeline,
		BackupID: backupID, BinDir: opts.BinDir, AgentConfig: opts.AgentConfig})
	if err != nil {
		return Source{}, nil, nil, err
	}
	return BackupSource(plan.BackupID), nil, plan, nil
}

// RestoreTenant restores one database into NewDatabase, other databases
// untouched: from the dump (streamed from the store into pg_restore, no
// temporary file), or by PITR of the cluster into a scratch directory and
// pg_dump -Fc | pg_restore of that one database (the scratch copy is always
// removed). The database is built under a temporary name and renamed once
// complete; on failure it is dropped. Then, with Attachments, every
// store_fname of the restored database is copied as it was at the restore
// point (see restoreAttachments).
func RestoreTenant(ctx context.Context, store objectstore.Store, opts TenantOptions) (res *TenantResult, err error) {
	started := time.Now()
	rep := reporter{fn: opts.Progress, start: started}
	if opts.NewDatabase == "" || opts.TargetDSN == "" {
		return nil, errors.New("tenant restore needs a target connection and a new database name")
	}
	if len(opts.NewDatabase) > 40 {
		return nil, fmt.Errorf("new database name %q: at most 40 bytes (a temporary name is derived from it)", opts.NewDatabase)
	}
	if a := opts.Attachments; a != nil {
		if err := checkPrefixes(a); err != nil {
			return nil, err
		}
	}
	rep.send(Progress{Phase: "planning"})
	source, dump, plan, err := planTenant(ctx, store, opts)
	if err != nil {
		return nil, err
	}
	ids, err := opts.AgentConfig.Identities()
	if err != nil {
		return nil, err
	}

	target, err := pgx.Connect(ctx, opts.TargetDSN)
	if err != nil {
		return nil, fmt.Errorf("connecting to the target server: %w", err)
	}
	defer target.Close(context.Background())
	sameServer, err := isSourceServer(ctx, target, store, opts.Layout)
	if err != nil {
		return nil, err
	}
	if sameServer && opts.NewDatabase == opts.Database {
		return nil, fmt.Errorf("the target server is the source cluster: the new database must not be %q itself", opts.Database)
	}
	for _, name := range []string{opts.NewDatabase, tempName(opts.NewDatabase)} {
		var exists bool
		if err := target.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
			return nil, err
		}
		if exists {
			return nil, fmt.Errorf("database %q on the target server: %w", name, ErrTargetExists)
		}
	}
	tmp := tempName(opts.NewDatabase)
	if _, err := target.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{tmp}.Sanitize()+" TEMPLATE template0"); err != nil {
		return nil, fmt.Errorf("creating database %q: %w", tmp, err)
	}
	final := false
	defer func() {
		if err == nil {
			return
		}
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		name := tmp
		if final {
			name = opts.NewDatabase
		}
		_, _ = target.Exec(cctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	}()
	restoreArgs := []string{"--exit-on-error", "--no-password"}
	if !sameServer {
		// Another server may lack the source's roles.
		restoreArgs = append(restoreArgs, "--no-owner", "--no-acl")
	}
	tcfg := target.Config()
	tdsn := pg.WithDatabase(opts.TargetDSN, tmp)

	res = &TenantResult{Source: source, Plan: plan}
	if dump != nil {
		rep.send(Progress{Phase: "pg_restore", Total: dump.Dump.Size, Detail: source.String()})
		if err = restoreDump(ctx, store, dump, ids, opts.BinDir, tdsn, &tcfg.Config, restoreArgs); err != nil {
			return nil, err
		}
		res.RestoredToTime = dump.StartTime.UTC()
	} else {
		var at time.Time
		at, err = pitrTenant(ctx, store, opts, plan, tdsn, &tcfg.Config, restoreArgs, rep)
		if err != nil {
			return nil, err
		}
		res.RestoredToTime = at
	}

	// Complete: give it its name and the mark DropTenant looks for.
	if _, err = target.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{tmp}.Sanitize()+" RENAME TO "+pgx.Identifier{opts.NewDatabase}.Sanitize()); err != nil {
		return nil, fmt.Errorf("renaming %q to %q: %w", tmp, opts.NewDatabase, err)
	}
	final = true
	comment := fmt.Sprintf("%s database %s of %s restored to %s from %s", tenantComment, opts.Database, opts.Layout.Root(),
		res.RestoredToTime.Format(time.RFC3339Nano), source)
	if _, err = target.Exec(ctx, "COMMENT ON DATABASE "+pgx.Identifier{opts.NewDatabase}.Sanitize()+" IS "+quoteLiteral(comment)); err != nil {
		return nil, err
	}

	if opts.Attachments != nil {
		rep.send(Progress{Phase: "attachments"})
		res.Attachments, err = restoreAttachments(ctx, pg.WithDatabase(opts.TargetDSN, opts.NewDatabase), *opts.Attachments, res.RestoredToTime)
		if err != nil {
			// The database is dropped (deferred above); its copies go too.
			cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			_ = deletePrefix(cctx, opts.Attachments.Store, opts.Attachments.TargetPrefix)
			cancel()
			return nil, err
		}
	}
	res.Duration = time.Since(started)
	rep.send(Progress{Phase: "done", Detail: source.String()})
	return res, nil
}

// DropTenant drops a database RestoreTenant created and deletes its
// attachment copies under attachments.TargetPrefix. A database without
// Lifeboat's restore comment (the live source, say) is refused with
// ErrNotARestore. A database that does not exist is success.
func DropTenant(ctx context.Context, targetDSN, db string, attachments *AttachmentOptions) error {
	conn, err := pgx.Connect(ctx, targetDSN)
	if err != nil {
		return fmt.Errorf("connecting to the target server: %w", err)
	}
	defer conn.Close(context.Background())
	var comment *string
	err = conn.QueryRow(ctx, "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1", db).Scan(&comment)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return err
	case comment == nil || !strings.HasPrefix(*comment, tenantComment):
		return fmt.Errorf("database %q has no %q comment: %w; drop it yourself if it really should go", db, tenantComment, ErrNotARestore)
	default:
		if _, err := conn.Exec(ctx, "DROP DATABASE "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("dropping %q: %w", db, err)
		}
	}
	if attachments != nil {
		if err := checkPrefixes(attachments); err != nil {
			return err
		}
		return deletePrefix(ctx, attachments.Store, attachments.TargetPrefix)
	}
	return nil
}

// isSourceServer reports whether the connected server is the cluster the
// repository belongs to (same system identifier).
func isSourceServer(ctx context.Context, conn *pgx.Conn, store objectstore.Store, l repo.Layout) (bool, error) {
	var sysid string
	if err := conn.QueryRow(ctx, "SELECT system_identifier::text FROM pg_control_system()").Scan(&sysid); err != nil {
		return false, fmt.Errorf("reading the target's system identifier: %w", err)
	}
	info, err := repo.ReadCluster(ctx, store, l)
	if err != nil {
		// No identity record: assume the worst.
		return true, nil //nolint:nilerr // unknown counts as the source
	}
	return info.SystemIdentifier == sysid, nil
}

func tempName(db string) string { return db + "__lifeboat_restoring" }

// restoreDump streams a tenant dump from the store into pg_restore,
// checking its SHA-256 against the manifest.
func restoreDump(ctx context.Context, store objectstore.Store, m *backup.TenantManifest, ids *crypt.Keyring, bin, dsn string, cfg *pgconn.Config, args []string) error {
	body, _, err := store.Get(ctx, m.Dump.Key)
	if err != nil {
		return fmt.Errorf("opening dump %s: %w", m.Dump.Key, err)
	}
	defer body.Close()
	// The manifest's checksum covers the stored bytes (encrypted or not);
	// decryption, when the dump is encrypted, authenticates them again.
	h := sha256.New()
	src := io.TeeReader(body, h)
	if m.Encryption != nil {
		if src, err = ids.NewReader(src, m.Encryption, "dump "+m.ID); err != nil {
			return err
		}
	}
	cmd := exec.CommandContext(ctx, filepath.Join(binDir(bin), "pg_restore"), append(args, "--dbname="+dbOf(dsn))...)
	cmd.Env = append(os.Environ(), pg.LibpqEnv(cfg, dsn, "lifeboat tenant restore")...)
	var stderr bytes.Buffer
	cmd.Stdin, cmd.Stderr = src, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pg_restore of dump %s: %w: %s", m.ID, err, strings.TrimSpace(stderr.String()))
	}
	// pg_restore may stop before the end of the stream: hash the rest.
	if _, err := io.Copy(io.Discard, src); err != nil {
		return fmt.Errorf("reading dump %s: %w", m.ID, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != m.Dump.SHA256 {
		return fmt.Errorf("%w: dump %s has SHA-256 %s, the manifest records %s", ErrChecksum, m.Dump.Key, got, m.Dump.SHA256)
	}
	return nil
}

// pitrTenant restores the cluster into a scratch directory and pipes
// pg_dump -Fc of the one database into pg_restore. The scratch copy is
// removed whatever happens.
func pitrTenant(ctx context.Context, store objectstore.Store, opts TenantOptions, plan *Plan, dsn string, cfg *pgconn.Config,
	args []string, rep reporter) (at time.Time, err error) {
	scratch := opts.ScratchDir
	if scratch == "" {
		if scratch, err = os.MkdirTemp("", "lifeboat-tenant-"); err != nil {
			return at, err
		}
		defer os.RemoveAll(scratch)
		// NOTE: MkdirTemp makes 0700; PostgreSQL's account must enter it.
		if err := os.Chmod(scratch, 0o755); err != nil {
			return at, err
		}
	}
	port := opts.ScratchPort
	if port == 0 {
		if port, err = FreePort(); err != nil {
			return at, err
		}
	}
	copts := ClusterOptions{
		Layout: opts.Layout, Target: opts.Target, Point: opts.Point, TargetTimeline: opts.TargetTimeline, BackupID: plan.BackupID, DataDir: filepath.Join(scratch, "data"), Port: port,
		BinDir: opts.BinDir, OSUser: opts.OSUser, AgentPath: opts.AgentPath, AgentConfig: opts.AgentConfig,
		KeepRunning: true, Progress: opts.Progress,
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if rerr := RemoveCluster(cctx, copts.DataDir, copts.BinDir, copts.OSUser); rerr != nil && err == nil {
			err = fmt.Errorf("removing the scratch copy %s: %w", copts.DataDir, rerr)
		}
	}()
	cres, err := RestoreCluster(ctx, store, copts)
	if err != nil {
		return at, fmt.Errorf("point-in-time restore of the cluster into %s: %w", copts.DataDir, err)
	}
	rep.send(Progress{Phase: "pg_dump", Detail: opts.Database})
	dump := exec.CommandContext(ctx, filepath.Join(binDir(opts.BinDir), "pg_dump"), "--format=custom", "--no-password",
		"--host="+SocketDir(cres.DataDir), "--port="+strconv.Itoa(cres.Port), "--username="+cres.User, "--dbname="+opts.Database)
	var dumpErr, restoreErr bytes.Buffer
	dump.Stderr = &dumpErr
	pipe, err := dump.StdoutPipe()
	if err != nil {
		return at, err
	}
	restore := exec.CommandContext(ctx, filepath.Join(binDir(opts.BinDir), "pg_restore"), append(args, "--dbname="+dbOf(dsn))...)
	restore.Env = append(os.Environ(), pg.LibpqEnv(cfg, dsn, "lifeboat tenant restore")...)
	restore.Stdin, restore.Stderr = pipe, &restoreErr
	if err := dump.Start(); err != nil {
		return at, fmt.Errorf("starting pg_dump: %w", err)
	}
	rerr := restore.Run()
	if rerr != nil {
		_ = dump.Process.Kill()
	}
	derr := dump.Wait()
	if derr != nil {
		return at, fmt.Errorf("pg_dump of %q from the scratch copy: %w: %s", opts.Database, derr, strings.TrimSpace(dumpErr.String()))
	}
	if rerr != nil {
		return at, fmt.Errorf("pg_restore into the new database: %w: %s", rerr, strings.TrimSpace(restoreErr.String()))
	}
	return cres.RestoredToTime, nil
}

// dbOf is the database a connection string names (for pg_restore's
// --dbname, which gets the rest through the environment).
func dbOf(dsn string) string {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return ""
	}
	return cfg.Database
}

func quoteLiteral(v string) string { return "'" + strings.ReplaceAll(v, "'", "''") + "'" }

// FreePort is a loopback TCP port that was free a moment ago (scratch
// servers of tenant restores and drills).
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
