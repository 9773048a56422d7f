package testenv

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) {
	os.Exit(Main(m, Spec{MinIO: 1, Postgres: true, Redis: true}))
}

func TestServicesAnswer(t *testing.T) {
	env := Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	conn, err := pgx.Connect(ctx, env.Postgres.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	var walLevel, version string
	if err := conn.QueryRow(ctx, "select current_setting('wal_level'), current_setting('server_version')").Scan(&walLevel, &version); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if walLevel != "replica" || !strings.HasPrefix(version, "15") {
		t.Fatalf("wal_level=%s version=%s; want replica on PostgreSQL 15", walLevel, version)
	}
	if _, err := pgx.Connect(ctx, strings.Replace(env.Postgres.DSN("postgres"), env.Postgres.Password, "wrong", 1)); err == nil {
		t.Fatal("a wrong password was accepted: the superuser must need its password over TCP")
	}

	if err := env.Postgres.Restart(ctx); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if out, err := env.Postgres.Psql("postgres", "select 1"); err != nil || out != "1" {
		t.Fatalf("psql after restart = %q, %v", out, err)
	}
}

func TestMinIORestartKeepsData(t *testing.T) {
	env := Require(t)
	m := env.MinIO[0]
	m.Stop()
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestArchiveWithAndSwitchWALArchived: ArchiveWith turns archiving on with
// the command given, SwitchWALArchived returns only once the segment it
// closed is archived (here: copied by cp), and the defaults are back once
// the subtest ends.
func TestArchiveWithAndSwitchWALArchived(t *testing.T) {
	env := Require(t)
	pg := env.Postgres
	archive := filepath.Join(Dir(t), "archive")
	if err := os.Mkdir(archive, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := chownTree(archive, pg.acct); err != nil {
		t.Fatal(err)
	}
	t.Run("archiving", func(t *testing.T) {
		pg.ArchiveWith(t, "cp %p '"+archive+"'/%f")
		seg := pg.SwitchWALArchived(t)
		if _, err := os.Stat(filepath.Join(archive, seg)); err != nil {
			t.Fatalf("SwitchWALArchived returned %s before it was archived: %v", seg, err)
		}
	})
	if got := pg.MustPsql(t, "postgres", "SHOW archive_mode"); got != "off" {
		t.Fatalf("archive_mode after the test: %s", got)
	}
}

// TestBuildOnce: Build builds a package once per test binary, into a
// folder every account may enter.
func TestBuildOnce(t *testing.T) {
	pkg := Module + "/internal/testenv/devenv"
	a, b := Build(t, pkg), Build(t, pkg)
	if a != b {
		t.Fatalf("built twice: %s, %s", a, b)
	}
	for _, p := range []string{a, filepath.Dir(a), filepath.Dir(filepath.Dir(a))} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm()&0o005 != 0o005 {
			t.Fatalf("%s: %v %v, want readable and enterable by every account", p, fi.Mode(), err)
		}
	}
}
