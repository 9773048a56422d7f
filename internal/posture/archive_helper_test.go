package posture_test

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/pg"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/wal"
)

// archiver copies the test server's completed WAL segments into a folder
// (archive_command = cp), and pushes them into a repository with wal.Push,
// as lifeboat wal-push does: real segments, really compressed.
type archiver struct {
	t      *testing.T
	env    *testenv.Env
	pool   *pgxpool.Pool
	dir    string
	pushed map[string]bool
}

func newArchiver(t *testing.T, env *testenv.Env) *archiver {
	t.Helper()
	ctx := context.Background()
	pool, err := pg.Pool(ctx, env.Postgres.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	// NOTE: not t.TempDir(): its parent is private to this account, and
	// the server runs as its own; it must reach and write this folder.
	dir, err := os.MkdirTemp("", "posture-wal-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	a := &archiver{t: t, env: env, pool: pool, dir: dir, pushed: map[string]bool{}}
	// Copied under a temporary name, then renamed: a segment seen in dir
	// is complete. cp -p keeps the segment's mtime (when PostgreSQL
	// finished it), which wal-push reads from pg_wal itself.
	a.exec("alter system set archive_command = 'cp -p %p " + dir + "/%f.tmp && mv " + dir + "/%f.tmp " + dir + "/%f'")
	a.exec("select pg_reload_conf()")
	t.Cleanup(func() {
		a.exec("alter system reset archive_command")
		a.exec("select pg_reload_conf()")
	})
	return a
}

func (a *archiver) exec(sql string, args ...any) {
	a.t.Helper()
	if _, err := a.pool.Exec(context.Background(), sql, args...); err != nil {
		a.t.Fatalf("%s: %v", sql, err)
	}
}

// switchAndPush closes the current segment, waits for the server to
// archive it, and pushes every segment not pushed yet into store.
func (a *archiver) switchAndPush(store objectstore.Store, l repo.Layout) {
	a.t.Helper()
	a.switchWAL()
	a.push(store, l)
}

// switchWAL closes the current segment and waits for the server to archive
// it into the folder.
func (a *archiver) switchWAL() {
	a.t.Helper()
	ctx := context.Background()
	var seg string
	if err := a.pool.QueryRow(ctx, "select pg_walfile_name(pg_switch_wal())").Scan(&seg); err != nil {
		a.t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(a.dir, seg)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("segment %s never archived into %s", seg, a.dir)
		}
	}
}

// push pushes every archived segment not pushed yet into store.
func (a *archiver) push(store objectstore.Store, l repo.Layout) {
	a.t.Helper()
	ctx := context.Background()
	sysid, err := wal.SystemIdentifier(a.env.Postgres.DataDir)
	if err != nil {
		a.t.Fatal(err)
	}
	names, _ := filepath.Glob(filepath.Join(a.dir, "*"))
	sort.Strings(names)
	for _, p := range names {
		if a.pushed[p] || filepath.Ext(p) != "" {
			continue
		}
		if _, err := wal.Push(ctx, store, wal.Config{Layout: l, SystemIdentifier: sysid}, p); err != nil {
			a.t.Fatalf("pushing %s: %v", p, err)
		}
		a.pushed[p] = true
	}
}
