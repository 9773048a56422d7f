package testenv

import (
	"context"
	"os"
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
