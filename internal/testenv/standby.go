package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// StartStandby makes a streaming standby of pg in dir/data (pg_basebackup
// -R over pg's Unix socket, WAL streamed) and starts it on a port of its
// own; extraConf lines are appended to its postgresql.conf (archive
// settings for after a promotion, say). The standby has pg's superuser and
// password; promote it with SELECT pg_promote().
func (pg *Postgres) StartStandby(ctx context.Context, dir string, extraConf ...string) (*Postgres, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := chownTree(dir, pg.acct); err != nil {
		return nil, err
	}
	sb := &Postgres{
		Host: pg.Host, Port: port, User: pg.User, Password: pg.Password, BinDir: pg.BinDir,
		DataDir: filepath.Join(dir, "data"), SocketDir: dir, LogPath: filepath.Join(dir, "postgres.log"),
		OSUser: pg.OSUser, acct: pg.acct, detached: pg.detached,
	}
	out, err := pg.run(filepath.Join(pg.BinDir, "pg_basebackup"), "-D", sb.DataDir, "-R", "-X", "stream",
		"-h", pg.SocketDir, "-p", fmt.Sprint(pg.Port), "-U", pg.User, "--no-sync", "-c", "fast")
	if err != nil {
		return nil, fmt.Errorf("pg_basebackup for a standby: %w\n%s", err, out)
	}
	// NOTE: later lines win: the copied postgresql.conf carries the
	// primary's port and socket directory.
	conf := fmt.Sprintf("\n# standby, written by lifeboat testenv\nport = %d\nunix_socket_directories = '%s'\n", port, dir) +
		strings.Join(extraConf, "\n") + "\n"
	if err := appendConf(sb.DataDir, conf); err != nil {
		return nil, err
	}
	if err := sb.Start(ctx); err != nil {
		return nil, err
	}
	return sb, nil
}
