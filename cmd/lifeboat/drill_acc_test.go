package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/drill"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestAccDrill_deepPathAndLongTenantName: a cluster drill whose scratch
// directory is far deeper than a Unix socket path allows (about 100
// bytes) passes, its socket in a short directory of its own; a tenant
// drill of a database with a 63-byte name (PostgreSQL's longest) passes.
func TestAccDrill_deepPathAndLongTenantName(t *testing.T) {
	env := testenv.Require(t)
	f := setupAgentRepo(t, env, "drill-deep-acc")
	ctx := context.Background()
	psql(t, env.Postgres, "DROP TABLE IF EXISTS deep_rows; CREATE TABLE deep_rows AS SELECT generate_series(1, 50) AS x")
	f.run(t, 0, "backup")
	f.archiveWAL(t)

	// NOTE: not t.TempDir (0700): the postgres account enters it.
	deep, err := os.MkdirTemp("", "lifeboat-deep-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(deep) })
	for i := 0; i < 4; i++ {
		deep = filepath.Join(deep, "a-checkout-folder-with-a-rather-long-name-"+strings.Repeat("x", 10))
	}
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	for d := deep; d != os.TempDir() && len(d) > len(os.TempDir()); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if len(deep) < 150 {
		t.Fatalf("scratch dir %s is only %d bytes", deep, len(deep))
	}
	if err := drill.WriteSchedule(ctx, f.store, f.cfg.Layout(), drill.ScheduleDoc{
		Name: "deep", Cluster: f.cfg.Cluster, Schedule: "@daily", Kind: "cluster", ScratchDir: deep, EvidenceDays: 1,
		Checks: []drill.Check{{Name: "rows", Kind: drill.CheckSQL, SQL: "SELECT count(*) FROM deep_rows", Expected: "50"}},
	}, nil); err != nil {
		t.Fatal(err)
	}
	if out := f.run(t, 0, "drill", "run", "deep", "--pg-bindir", env.Postgres.BinDir); !strings.Contains(out, "PASSED") {
		t.Fatalf("drill run deep:\n%s", out)
	}
	ev, err := drill.Latest(ctx, f.store, f.cfg.Layout(), "deep")
	if err != nil || !ev.Passed {
		t.Fatalf("deep drill evidence %+v, %v", ev, err)
	}
	// The drill's restore left its audit record, as every restore does.
	audits, err := restore.ListAudit(ctx, f.store, f.cfg.Layout(), signature.Trust{})
	if err != nil || len(audits) == 0 {
		t.Fatalf("%d restore audit records after the drill: %v", len(audits), err)
	}
	if r := audits[len(audits)-1].Record; r.FrontEnd != restore.FrontEndDrill || !strings.Contains(r.Actor, ev.ID) ||
		r.Result != restore.AuditSucceeded || !strings.HasPrefix(r.DataDirectory, deep) || r.Source == "" {
		t.Fatalf("the drill's restore audit record: %+v (evidence %s)", r, ev.ID)
	}
	// The scratch server is gone, and so is its socket directory.
	entries, _ := os.ReadDir(deep)
	if len(entries) != 0 {
		t.Fatalf("scratch left behind in %s: %v", deep, entries)
	}

	long := "tenant_" + strings.Repeat("l", 56)
	if len(long) != 63 {
		t.Fatalf("%d bytes", len(long))
	}
	quoted := `"` + long + `"`
	psql(t, env.Postgres, "DROP DATABASE IF EXISTS "+quoted)
	psql(t, env.Postgres, "CREATE DATABASE "+quoted)
	if _, err := psqlErr(env.Postgres, long, "CREATE TABLE t (x int); INSERT INTO t VALUES (1), (2)"); err != nil {
		t.Fatal(err)
	}
	f.run(t, 0, "backup", "tenants", "--pg-bindir", env.Postgres.BinDir, long)
	// The newest recovery point may be a PITR copy: the WAL holding the
	// database must be archived.
	f.archiveWAL(t)
	if err := drill.WriteSchedule(ctx, f.store, f.cfg.Layout(), drill.ScheduleDoc{
		Name: "long", Cluster: f.cfg.Cluster, Schedule: "@daily", Kind: "tenant", Database: long, EvidenceDays: 1,
		Checks: []drill.Check{{Name: "rows", Kind: drill.CheckSQL, SQL: "SELECT count(*) FROM t", Expected: "2"}},
	}, nil); err != nil {
		t.Fatal(err)
	}
	if out := f.run(t, 0, "drill", "run", "long", "--pg-bindir", env.Postgres.BinDir); !strings.Contains(out, "PASSED") {
		t.Fatalf("drill run long:\n%s", out)
	}
	ev, err = drill.Latest(ctx, f.store, f.cfg.Layout(), "long")
	if err != nil || !ev.Passed {
		t.Fatalf("tenant drill evidence %+v, %v", ev, err)
	}
	// Its scratch database is dropped.
	scratch := drill.ScratchDatabase(long, ev.ID)
	if got := psql(t, env.Postgres, "SELECT count(*) FROM pg_database WHERE datname = '"+scratch+"'"); got != "0" {
		t.Fatalf("scratch database %s left behind", scratch)
	}
}
