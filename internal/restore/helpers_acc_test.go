package restore_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// fixture is the package's PostgreSQL archiving through the built lifeboat
// binary into a MinIO repository, set up once and shared by the tests.
type fixture struct {
	env    *testenv.Env
	dir    string // 0755, enterable by the postgres account
	bin    string
	cfg    repo.AgentConfig
	client *objectstore.Client
	store  objectstore.Store
}

var (
	fixOnce sync.Once
	fix     *fixture
	fixErr  error
)

func setup(t *testing.T) *fixture {
	t.Helper()
	env := testenv.Require(t)
	fixOnce.Do(func() { fix, fixErr = newFixture(env, testenv.Lifeboat(t)) })
	if fixErr != nil {
		t.Fatal(fixErr)
	}
	return fix
}

func newFixture(env *testenv.Env, bin string) (*fixture, error) {
	ctx := context.Background()
	pg, m := env.Postgres, env.MinIO[0]
	// NOTE: not t.TempDir (0700): the postgres account runs the binary and
	// owns the restored data directories below it.
	dir, err := os.MkdirTemp("", "lifeboat-restore-acc-")
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	cfg := repo.AgentConfig{Endpoint: m.Endpoint, PathStyle: true, AccessKey: m.AccessKey, SecretKey: m.SecretKey,
		Bucket: "restore-acc", Prefix: "acc", Cluster: "pg15"}
	cfgPath := filepath.Join(dir, "lifeboat.json")
	if err := writeAgentConfig(cfgPath, cfg); err != nil {
		return nil, err
	}
	client, err := objectstore.NewClient(ctx, cfg.ObjectStore())
	if err != nil {
		return nil, err
	}
	if err := client.CreateBucket(ctx, objectstore.BucketSpec{Name: cfg.Bucket}); err != nil {
		return nil, err
	}
	for _, sql := range []string{
		"ALTER SYSTEM SET archive_mode = on",
		fmt.Sprintf("ALTER SYSTEM SET archive_command = '%s wal-push --config %s %%p'", bin, cfgPath),
		"ALTER SYSTEM SET archive_timeout = '60s'",
	} {
		if out, err := pg.Psql("postgres", sql); err != nil {
			return nil, fmt.Errorf("%s: %v: %s", sql, err, out)
		}
	}
	if err := pg.Restart(ctx); err != nil {
		return nil, err
	}
	return &fixture{env: env, dir: dir, bin: bin, cfg: cfg, client: client, store: client.Store(cfg.Bucket)}, nil
}

// writeAgentConfig writes cfg as an agent configuration file at path for
// the postgres account (writePostgresFile).
func writeAgentConfig(path string, cfg repo.AgentConfig) error {
	body, err := cfg.Marshal()
	if err != nil {
		return err
	}
	return writePostgresFile(path, body)
}

// writePostgresFile writes body to a 0600 file at path that the postgres
// account owns: archive_command and restore_command read it as that
// account.
func writePostgresFile(path string, body []byte) error {
	if err := os.WriteFile(path, body, 0o600); err != nil {
		return err
	}
	return chownTo(path, "postgres")
}

func chownTo(path, name string) error {
	if os.Getuid() != 0 {
		return nil
	}
	out, err := exec.Command("chown", name, path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("chown %s %s: %v: %s", name, path, err, out)
	}
	return nil
}

func psql(t *testing.T, pg *testenv.Postgres, db, sql string) string {
	t.Helper()
	return pg.MustPsql(t, db, sql)
}

// switchAndWait switches WAL and waits until the archiver pushed the
// segment it closed.
func (f *fixture) switchAndWait(t *testing.T) string {
	t.Helper()
	return f.env.Postgres.SwitchWALArchived(t)
}

// takeBackup takes a base backup with the engine and archives its WAL.
func (f *fixture) takeBackup(t *testing.T) *backup.Manifest {
	t.Helper()
	m, err := backup.Take(context.Background(), f.store, backup.Options{Layout: f.cfg.Layout(), DSN: f.env.Postgres.DSN("postgres")})
	if err != nil {
		t.Fatal(err)
	}
	f.switchAndWait(t)
	return m
}

// pointInTime commits whatever was done, then returns a time strictly
// between that and anything done after.
func pointInTime() time.Time {
	time.Sleep(time.Second)
	t := time.Now()
	time.Sleep(time.Second)
	return t
}

func (f *fixture) clusterOptions(t *testing.T, name string) restore.ClusterOptions {
	t.Helper()
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	pg := f.env.Postgres
	return restore.ClusterOptions{
		Layout: f.cfg.Layout(), DataDir: filepath.Join(f.dir, name), Port: port, BinDir: pg.BinDir,
		OSUser: pg.OSUser, AgentPath: f.bin, AgentConfig: f.cfg,
		Progress: func(p restore.Progress) { t.Logf("progress: %s %d/%d %s", p.Phase, p.Downloaded, p.Total, p.Detail) },
	}
}

// query runs sql on a restored server over its socket and returns the
// first column of the first row as text.
func queryRestored(t *testing.T, res *restore.Result, db, sql string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, restore.SocketDSN(res.DataDir, res.Port, res.User, db))
	if err != nil {
		t.Fatalf("connecting to the restored server: %v", err)
	}
	defer conn.Close(ctx)
	var out *string
	if err := conn.QueryRow(ctx, sql).Scan(&out); err != nil {
		t.Fatalf("%s on the restored server: %v", sql, err)
	}
	if out == nil {
		return ""
	}
	return strings.TrimSpace(*out)
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// runAs runs a shell command as the account name (or as ourselves when
// not root).
func runAs(name, command string) error {
	var cmd *exec.Cmd
	if os.Getuid() == 0 && name != "" {
		cmd = exec.Command("runuser", "-u", name, "--", "sh", "-c", command)
	} else {
		cmd = exec.Command("sh", "-c", command)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", command, err, out)
	}
	return nil
}

// backupAfter runs sql on the source's postgres database (a test's table
// and rows), then takes a base backup with the engine.
func (f *fixture) backupAfter(t *testing.T, sql string) *backup.Manifest {
	t.Helper()
	psql(t, f.env.Postgres, "postgres", sql)
	return f.takeBackup(t)
}

// restoreCluster restores with opts, failing the test on an error, and
// removes the restored cluster when the test ends.
func (f *fixture) restoreCluster(t *testing.T, opts restore.ClusterOptions) *restore.Result {
	t.Helper()
	res, err := restore.RestoreCluster(context.Background(), f.store, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = restore.RemoveCluster(context.Background(), opts.DataDir, opts.BinDir, opts.OSUser) })
	return res
}

// atStart has opts' restore call check once, at the moment it reports
// starting the server, after the progress opts already logs.
func atStart(opts *restore.ClusterOptions, check func()) {
	logged, done := opts.Progress, false
	opts.Progress = func(p restore.Progress) {
		logged(p)
		if p.Phase == "starting" && !done {
			done = true
			check()
		}
	}
}

// startAgain starts a restored copy that its restore stopped (cleanly,
// promoted), to look at what it holds; its restore's cleanup stops it.
func startAgain(t *testing.T, opts restore.ClusterOptions) {
	t.Helper()
	if err := startRestored(opts); err != nil {
		t.Fatal(err)
	}
}
