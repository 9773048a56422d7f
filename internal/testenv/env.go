package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// Spec says which services to start.
type Spec struct {
	// MinIO is the number of MinIO servers (0, 1 or 2: two stand in for two regions).
	MinIO    int
	Postgres bool
	Redis    bool
	// PostgresConf are extra postgresql.conf lines.
	PostgresConf []string
	// Detached services outlive the starting process (the demo).
	Detached bool
}

// Env is a set of running services.
type Env struct {
	Dir      string
	MinIO    []*MinIO
	Postgres *Postgres
	Redis    *Redis
}

// Start starts the services in spec under dir (a temporary folder when empty).
// On error everything already started is stopped.
func Start(ctx context.Context, dir string, spec Spec) (env *Env, err error) {
	if dir == "" {
		// NOTE: not t.TempDir: the PostgreSQL account must be able to enter it.
		dir, err = os.MkdirTemp("", "lifeboat-env-")
		if err != nil {
			return nil, err
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			return nil, err
		}
	}
	env = &Env{Dir: dir}
	defer func() {
		if err != nil {
			env.Stop()
		}
	}()
	for i := 0; i < spec.MinIO; i++ {
		m, err := StartMinIO(ctx, filepath.Join(dir, fmt.Sprintf("minio%d", i+1)), spec.Detached)
		if err != nil {
			return env, err
		}
		env.MinIO = append(env.MinIO, m)
	}
	if spec.Postgres {
		pg, err := StartPostgres(ctx, filepath.Join(dir, "postgres"), spec.Detached, spec.PostgresConf...)
		if err != nil {
			return env, err
		}
		env.Postgres = pg
	}
	if spec.Redis {
		r, err := StartRedis(ctx, filepath.Join(dir, "redis"), spec.Detached)
		if err != nil {
			return env, err
		}
		env.Redis = r
	}
	return env, nil
}

// Stop stops every service. Data stays in Dir for inspection unless Remove is called.
func (e *Env) Stop() {
	if e == nil {
		return
	}
	if e.Redis != nil && e.Redis.proc != nil {
		e.Redis.Stop()
	}
	if e.Postgres != nil && e.Postgres.proc != nil {
		e.Postgres.Stop()
	}
	for _, m := range e.MinIO {
		if m.proc != nil {
			m.Stop()
		}
	}
}

// Vars are the environment variables that point Lifeboat, the AWS SDK and
// the tests at these services.
func (e *Env) Vars() map[string]string {
	v := map[string]string{"LIFEBOAT_ENV_DIR": e.Dir}
	if len(e.MinIO) > 0 {
		m := e.MinIO[0]
		v["LIFEBOAT_S3_ENDPOINT"] = m.Endpoint
		v["LIFEBOAT_S3_PATH_STYLE"] = "true"
		v["AWS_ACCESS_KEY_ID"] = m.AccessKey
		v["AWS_SECRET_ACCESS_KEY"] = m.SecretKey
		v["AWS_REGION"] = "us-east-1"
	}
	if len(e.MinIO) > 1 {
		m := e.MinIO[1]
		v["LIFEBOAT_S3_ENDPOINT_2"] = m.Endpoint
		v["LIFEBOAT_S3_ACCESS_KEY_2"] = m.AccessKey
		v["LIFEBOAT_S3_SECRET_KEY_2"] = m.SecretKey
	}
	if pg := e.Postgres; pg != nil {
		v["LIFEBOAT_PG_DSN"] = pg.DSN("postgres")
		v["PGHOST"] = pg.Host
		v["PGPORT"] = fmt.Sprint(pg.Port)
		v["PGUSER"] = pg.User
		v["PGPASSWORD"] = pg.Password
	}
	if e.Redis != nil {
		v["LIFEBOAT_REDIS_ADDR"] = e.Redis.Addr
	}
	return v
}

// Main is for TestMain: it starts spec's services, exports Vars into the
// process environment (so provider configuration falls back to them), points
// terraform-plugin-testing at the pinned Terraform, runs the tests, and stops
// everything. Without TF_ACC the services are not started and acceptance
// tests skip themselves, as terraform-plugin-testing does.
func Main(m *testing.M, spec Spec) int {
	defer removeBuilt()
	if os.Getenv("TF_ACC") == "" {
		return m.Run()
	}
	if os.Getenv("TF_ACC_TERRAFORM_PATH") == "" {
		tf, err := Tool("terraform")
		if err != nil {
			fmt.Fprintln(os.Stderr, "testenv:", err)
			return 1
		}
		os.Setenv("TF_ACC_TERRAFORM_PATH", tf)
	}
	os.Setenv("CHECKPOINT_DISABLE", "1")
	if cfg := os.Getenv("TF_CLI_CONFIG_FILE"); cfg != "" {
		if _, err := os.Stat(cfg); err != nil {
			// GOTCHA: this image points TF_CLI_CONFIG_FILE at a missing file.
			os.Unsetenv("TF_CLI_CONFIG_FILE")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	env, err := Start(ctx, "", spec)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		return 1
	}
	current = env
	for k, v := range env.Vars() {
		os.Setenv(k, v)
	}
	code := m.Run()
	env.Stop()
	if code == 0 {
		os.RemoveAll(env.Dir)
	} else {
		fmt.Fprintf(os.Stderr, "testenv: service logs kept in %s\n", env.Dir)
	}
	return code
}

var current *Env

// Current is the environment Main started, or nil (TF_ACC unset).
func Current() *Env { return current }

// Require returns the environment Main started or skips the test.
func Require(t testing.TB) *Env {
	t.Helper()
	if current == nil {
		t.Skip("acceptance test: set TF_ACC=1 (make test does)")
	}
	return current
}

// RequireMinIO is Require for a test that needs n MinIO servers (two stand
// in for two regions). Fewer is its TestMain's mistake, not a reason to
// skip: the test fails.
func RequireMinIO(t testing.TB, n int) *Env {
	t.Helper()
	env := Require(t)
	if len(env.MinIO) < n {
		t.Fatalf("%d MinIO servers needed, %d started: give TestMain's Spec MinIO: %d", n, len(env.MinIO), n)
	}
	return env
}

// EnvFile renders Vars as a shell file of export lines.
func (e *Env) EnvFile() string {
	var b strings.Builder
	for _, k := range sortedKeys(e.Vars()) {
		fmt.Fprintf(&b, "export %s=%q\n", k, e.Vars()[k])
	}
	return b.String()
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Pids lists the service processes' ids (process-group leaders).
func (e *Env) Pids() map[string]int {
	pids := map[string]int{}
	for i, m := range e.MinIO {
		pids[fmt.Sprintf("minio%d", i+1)] = m.proc.cmd.Process.Pid
	}
	if e.Postgres != nil {
		pids["postgres"] = e.Postgres.proc.cmd.Process.Pid
	}
	if e.Redis != nil {
		pids["redis"] = e.Redis.proc.cmd.Process.Pid
	}
	return pids
}

// StopDetached stops services a previous process started detached in dir,
// from their pid files.
func StopDetached(dir string) error {
	matches, err := filepath.Glob(filepath.Join(dir, "*.pid"))
	if err != nil {
		return err
	}
	for _, p := range matches {
		if err := killPidFile(p); err != nil {
			return err
		}
	}
	return nil
}
