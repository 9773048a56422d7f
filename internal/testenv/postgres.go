package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// PGBinDir is where Debian's PostgreSQL 15 binaries live; LIFEBOAT_PG_BINDIR
// overrides it.
func PGBinDir() string {
	if d := os.Getenv("LIFEBOAT_PG_BINDIR"); d != "" {
		return d
	}
	return "/usr/lib/postgresql/15/bin"
}

// Postgres is a running PostgreSQL cluster with wal_level=replica and a
// password-authenticated superuser, listening on 127.0.0.1 only.
type Postgres struct {
	Host     string
	Port     int
	User     string
	Password string
	BinDir   string
	DataDir  string
	// SocketDir holds the Unix socket; local connections there are trusted.
	SocketDir string
	LogPath   string
	// OSUser is the operating-system account the server runs as.
	OSUser string

	acct     *account
	detached bool
	proc     *process
}

// StartPostgres runs initdb into dir/data and starts the server.
func StartPostgres(ctx context.Context, dir string, detached bool, extraConf ...string) (*Postgres, error) {
	bin := PGBinDir()
	if _, err := os.Stat(filepath.Join(bin, "postgres")); err != nil {
		return nil, fmt.Errorf("PostgreSQL 15 not found in %s: run `make tools`: %w", bin, err)
	}
	var acct *account
	if os.Getuid() == 0 {
		// NOTE: PostgreSQL refuses to run as root; drop to its own account.
		a, err := lookupAccount("postgres")
		if err != nil {
			return nil, err
		}
		acct = a
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	pg := &Postgres{
		Host: "127.0.0.1", Port: port, User: "postgres", Password: "lifeboat-pg-" + strconv.Itoa(port),
		BinDir: bin, DataDir: filepath.Join(dir, "data"), SocketDir: dir,
		LogPath: filepath.Join(dir, "postgres.log"), acct: acct, detached: detached,
	}
	if acct != nil {
		pg.OSUser = acct.name
	}
	if err := chownTree(dir, acct); err != nil {
		return nil, err
	}
	pwfile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(pg.Password+"\n"), 0o600); err != nil {
		return nil, err
	}
	if err := chownTree(pwfile, acct); err != nil {
		return nil, err
	}
	out, err := pg.run(filepath.Join(bin, "initdb"), "-D", pg.DataDir, "-U", pg.User, "--pwfile", pwfile,
		"--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync")
	os.Remove(pwfile)
	if err != nil {
		return nil, fmt.Errorf("initdb failed: %w\n%s", err, out)
	}
	conf := fmt.Sprintf(`
# written by lifeboat testenv
port = %d
listen_addresses = '127.0.0.1'
unix_socket_directories = '%s'
wal_level = replica
max_wal_senders = 10
max_connections = 100
fsync = off
full_page_writes = on
logging_collector = off
`, port, dir) + strings.Join(extraConf, "\n") + "\n"
	if err := appendConf(pg.DataDir, conf); err != nil {
		return nil, err
	}
	if err := pg.Start(ctx); err != nil {
		return nil, err
	}
	return pg, nil
}

// appendConf adds lines at the end of a data directory's postgresql.conf,
// where they win over anything earlier in the file.
func appendConf(dataDir, conf string) error {
	f, err := os.OpenFile(filepath.Join(dataDir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(conf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// run runs a PostgreSQL tool as the server's account.
func (pg *Postgres) run(argv ...string) ([]byte, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	if pg.acct != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: pg.acct.uid, Gid: pg.acct.gid}}
	}
	cmd.Dir = pg.SocketDir
	return cmd.CombinedOutput()
}

// Start starts the (stopped) server and waits until it accepts connections.
func (pg *Postgres) Start(ctx context.Context) error {
	p, err := startProcess("postgres", pg.LogPath, startOptions{as: pg.acct, detached: pg.detached},
		filepath.Join(pg.BinDir, "postgres"), "-D", pg.DataDir)
	if err != nil {
		return err
	}
	pg.proc = p
	return p.waitReady(ctx, 60*time.Second, func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, pg.DSN("postgres"))
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	})
}

// Stop shuts the server down (fast mode: SIGINT).
func (pg *Postgres) Stop() { pg.proc.stop(syscall.SIGINT, 30*time.Second) }

// Kill kills the postmaster (SIGKILL), as a machine or zone that goes dark
// would: no shutdown checkpoint, no last archive_command.
func (pg *Postgres) Kill() { pg.proc.stop(syscall.SIGKILL, 30*time.Second) }

// Restart stops and starts the server, for settings that need a restart
// (archive_mode).
func (pg *Postgres) Restart(ctx context.Context) error {
	pg.Stop()
	return pg.Start(ctx)
}

// DSN is a URL connection string for database db over TCP with the password.
func (pg *Postgres) DSN(db string) string {
	return fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", pg.User, pg.Password, pg.Host, pg.Port, db)
}

// Psql runs SQL through psql over the Unix socket and returns its output.
func (pg *Postgres) Psql(db, sql string) (string, error) {
	out, err := pg.run(filepath.Join(pg.BinDir, "psql"), "-h", pg.SocketDir, "-p", strconv.Itoa(pg.Port),
		"-U", pg.User, "-d", db, "-v", "ON_ERROR_STOP=1", "-XAtq", "-c", sql)
	return strings.TrimSpace(string(out)), err
}
