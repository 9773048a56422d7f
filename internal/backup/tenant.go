package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/pg"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// TenantOptions configures tenant dumps.
type TenantOptions struct {
	// Layout is the cluster's repository in the bucket.
	Layout repo.Layout
	// DSN is a connection string for a role that can read the tenant
	// databases; its database is replaced by each tenant's.
	DSN string
	// PGDump is the pg_dump binary; empty means "pg_dump" on PATH. It must
	// be at least the server's major version.
	PGDump string
	// Progress, when set, is called as each dump advances; DumpTenants
	// calls it from its parallel dumps concurrently.
	Progress func(Progress)
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
	// Parallelism is how many databases DumpTenants dumps at once
	// (0: DefaultTenantParallelism; at most MaxTenantParallelism).
	Parallelism int
	// Recipients, when set, encrypts each dump (pg_dump's custom format,
	// compressed by pg_dump) as it streams to the store.
	Recipients *crypt.Recipients

	// pgDump is PGDump resolved, with its --version (DumpTenants finds them
	// once for all its dumps: 500 small tenants would otherwise pay 500
	// extra process starts).
	pgDump *pgDumpBinary
}

type pgDumpBinary struct{ path, version string }

// resolvePGDump finds the pg_dump binary and its version.
func resolvePGDump(ctx context.Context, name string) (*pgDumpBinary, error) {
	if name == "" {
		name = "pg_dump"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return nil, fmt.Errorf("pg_dump not found (set the PostgreSQL bin directory): %w", err)
	}
	version, err := exec.CommandContext(ctx, path, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --version: %w", path, err)
	}
	return &pgDumpBinary{path: path, version: strings.TrimSpace(string(version))}, nil
}

// DefaultTenantParallelism is how many tenant dumps run at once when the
// policy does not say: two pg_dump processes keep a small server's cores
// busy without starving the application.
const DefaultTenantParallelism = 2

// MaxTenantParallelism bounds the concurrent dumps: each is a pg_dump
// process and a server backend holding a snapshot.
const MaxTenantParallelism = 32

// TenantResult is the outcome of one tenant's dump: its manifest, or the
// error that cost it its dump.
type TenantResult struct {
	Database string
	Manifest *TenantManifest
	Err      error
}

// TenantDumpError reports the tenants whose dump failed, by name. Every
// other tenant of the call was still dumped.
type TenantDumpError struct {
	// Failed are the failed results, in the order the databases were given.
	Failed []TenantResult
}

// Databases names the tenants whose dump failed.
func (e *TenantDumpError) Databases() []string {
	out := make([]string, len(e.Failed))
	for i, r := range e.Failed {
		out[i] = r.Database
	}
	return out
}

func (e *TenantDumpError) Error() string {
	msgs := make([]string, len(e.Failed))
	for i, r := range e.Failed {
		msgs[i] = fmt.Sprintf("%s: %v", r.Database, r.Err)
	}
	return fmt.Sprintf("%d tenant dump(s) failed (%s): %s", len(e.Failed), strings.Join(e.Databases(), ", "), strings.Join(msgs, "; "))
}

// Unwrap gives errors.Is/As the individual failures.
func (e *TenantDumpError) Unwrap() []error {
	out := make([]error, len(e.Failed))
	for i, r := range e.Failed {
		out[i] = r.Err
	}
	return out
}

// DumpTenants dumps every database (see DumpTenant), at most
// opts.Parallelism at a time; all dumps of one call share an id. Every
// database is attempted whatever happens to the others: a dropped or
// broken tenant must not cost the tenants after it their dump. It returns
// one result per database, in the order given, and a *TenantDumpError
// naming the failed ones (nil when all succeeded).
func DumpTenants(ctx context.Context, store objectstore.Store, opts TenantOptions, databases []string) ([]TenantResult, error) {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	n := opts.Parallelism
	if n <= 0 {
		n = DefaultTenantParallelism
	}
	n = min(n, MaxTenantParallelism, max(len(databases), 1))
	id := NewID(now())
	results := make([]TenantResult, len(databases))
	bin, err := resolvePGDump(ctx, opts.PGDump)
	if err != nil {
		// Every tenant fails the same way: name them all.
		for i, db := range databases {
			results[i] = TenantResult{Database: db, Err: err}
		}
		return results, &TenantDumpError{Failed: results}
	}
	opts.pgDump = bin
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				db := databases[i]
				m, err := dumpTenant(ctx, store, opts, db, id)
				results[i] = TenantResult{Database: db, Manifest: m, Err: err}
			}
		}()
	}
	for i := range databases {
		next <- i
	}
	close(next)
	wg.Wait()
	var failed []TenantResult
	for _, r := range results {
		if r.Err != nil {
			failed = append(failed, r)
		}
	}
	if len(failed) > 0 {
		return results, &TenantDumpError{Failed: failed}
	}
	return results, nil
}

// DumpTenant streams `pg_dump -Fc` of database db straight from pg_dump's
// stdout into tenants/<db>/<id>.dump (no temporary file), then writes the
// manifest, last. The dump is taken from a snapshot exported by a
// transaction of Lifeboat's own, so the manifest can record the WAL
// location the dump corresponds to.
func DumpTenant(ctx context.Context, store objectstore.Store, opts TenantOptions, db string) (*TenantManifest, error) {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return dumpTenant(ctx, store, opts, db, NewID(now()))
}

func dumpTenant(ctx context.Context, store objectstore.Store, opts TenantOptions, db, id string) (*TenantManifest, error) {
	if err := validDatabase(db); err != nil {
		return nil, err
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	bin := opts.pgDump
	if bin == nil {
		var err error
		if bin, err = resolvePGDump(ctx, opts.PGDump); err != nil {
			return nil, err
		}
	}
	pgDump := bin.path

	cfg, err := pgconn.ParseConfig(opts.DSN)
	if err != nil {
		return nil, fmt.Errorf("parsing the PostgreSQL connection string: %w", err)
	}
	connCfg, err := pgx.ParseConfig(opts.DSN)
	if err != nil {
		return nil, err
	}
	connCfg.Database = db
	// One round trip per statement: the connection runs one query.
	connCfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	conn, err := pgx.ConnectConfig(ctx, connCfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to tenant database %q: %w", db, err)
	}
	defer conn.Close(context.Background())
	// The exported snapshot stays valid while this transaction is open:
	// pg_dump reads exactly what the recorded LSN describes.
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback(context.Background()) }() // read-only: nothing to undo
	var snapshot, lsn string
	var serverVersion int
	var noLabels bool
	if err := tx.QueryRow(ctx, `SELECT pg_export_snapshot(), pg_current_wal_lsn()::text, current_setting('server_version_num')::int,
		NOT EXISTS (SELECT FROM pg_catalog.pg_seclabel) AND NOT EXISTS (SELECT FROM pg_catalog.pg_shseclabel)`).
		Scan(&snapshot, &lsn, &serverVersion, &noLabels); err != nil {
		return nil, fmt.Errorf("exporting a snapshot of %q: %w", db, err)
	}

	m := &TenantManifest{
		Format: FormatVersion, Kind: KindTenant, ID: id, Cluster: opts.Layout.Cluster, Database: db,
		StartTime: now().UTC(), LSN: lsn, DumpFormat: "custom",
		PGDumpVersion: bin.version, ServerVersion: serverVersion,
		Encryption: opts.Recipients.Info(),
	}
	key := opts.Layout.TenantDumpKey(db, id)

	// NOTE: connection details go through libpq's environment, so the
	// password never shows in the process list.
	args := []string{"--format=custom", "--no-password", "--snapshot=" + snapshot}
	if noLabels {
		// pg_dump reads security labels through pg_seclabels, a union over
		// every kind of object: its costliest query on a small database
		// (about 9 of 55 ms of server CPU). Where the snapshot pg_dump
		// reads holds no label at all, the dump is the same without it.
		args = append(args, "--no-security-labels")
	}
	cmd := exec.CommandContext(ctx, pgDump, append(args, "--dbname="+db)...)
	cmd.Env = append(os.Environ(), pg.LibpqEnv(cfg, opts.DSN, "lifeboat tenant dump")...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting pg_dump: %w", err)
	}

	started := time.Now()
	var read, stored atomic.Int64
	src := io.TeeReader(stdout, writerFunc(func(p []byte) (int, error) {
		n := read.Add(int64(len(p)))
		if opts.Progress != nil {
			opts.Progress(Progress{ID: id, Database: db, Phase: "streaming", Read: n, Stored: stored.Load(), Elapsed: time.Since(started)})
		}
		return len(p), nil
	}))
	// Encryption runs beside the upload, through a pipe: the dump streams,
	// whatever its size.
	var encrypted *io.PipeReader
	encDone := make(chan error, 1)
	if opts.Recipients != nil {
		pr, pw := io.Pipe()
		ew, err := opts.Recipients.NewWriter(pw)
		if err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return nil, err
		}
		plain := src
		go func() {
			_, err := io.Copy(ew, plain)
			if err == nil {
				err = ew.Close()
			}
			pw.CloseWithError(err) // nil: the end of the dump
			encDone <- err
		}()
		src, encrypted = pr, pr
	} else {
		encDone <- nil
	}
	// Each parallel dump is a stream of its own (ReserveStreams).
	defer objectstore.ReserveStreams(1)()
	h := sha256.New()
	body := io.TeeReader(src, io.MultiWriter(h, writerFunc(func(p []byte) (int, error) {
		stored.Add(int64(len(p)))
		return len(p), nil
	})))
	_, putErr := store.Put(ctx, key, body, objectstore.PutOptions{IfAbsent: true, Size: -1,
		Metadata: m.Encryption.Metadata(map[string]string{"lifeboat-database": db})})
	if putErr != nil {
		// pg_dump blocks on a full pipe once the upload stopped reading.
		_ = cmd.Process.Kill()
		if encrypted != nil {
			encrypted.CloseWithError(putErr)
		}
	}
	waitErr := cmd.Wait()
	encErr := <-encDone
	if putErr != nil {
		return nil, fmt.Errorf("dump of %q: uploading %s: %w", db, key, putErr)
	}
	if waitErr == nil && encErr != nil {
		waitErr = fmt.Errorf("encrypting: %w", encErr)
	}
	if waitErr != nil {
		// The upload completed with whatever pg_dump wrote before failing:
		// it must not stay behind looking like a dump.
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_ = store.Delete(cctx, key)
		cancel()
		return nil, fmt.Errorf("pg_dump of %q: %w: %s", db, waitErr, strings.TrimSpace(stderr.String()))
	}
	m.StopTime = now().UTC()
	m.Dump = Part{Key: key, Size: stored.Load(), SHA256: fmt.Sprintf("%x", h.Sum(nil))}
	// Safety rule: the manifest is written last, after the store
	// acknowledged the whole dump and pg_dump exited successfully.
	if err := writeManifest(ctx, store, opts.Layout.TenantManifestKey(db, id), m); err != nil {
		return nil, err
	}
	if opts.Progress != nil {
		opts.Progress(Progress{ID: id, Database: db, Phase: "done", Read: m.Dump.Size, Stored: m.Dump.Size, Elapsed: time.Since(started)})
	}
	return m, nil
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
