package backup_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/catalog"
)

// TestAccTenantDumps dumps three tenant databases and restores each dump
// with pg_restore into a fresh database: each holds exactly its own rows.
func TestAccTenantDumps(t *testing.T) {
	env := requireEnv(t)
	pg := env.Postgres
	ctx := context.Background()
	store, l := newRepo(t, env)

	tenants := []string{"tenant_a", "tenant_b", "tenant_c"}
	for i, db := range tenants {
		psql(t, pg, "postgres", "DROP DATABASE IF EXISTS "+db)
		psql(t, pg, "postgres", "CREATE DATABASE "+db)
		psql(t, pg, db, fmt.Sprintf(`CREATE TABLE ir_attachment (id serial PRIMARY KEY, name text, store_fname text);
			INSERT INTO ir_attachment (name, store_fname) SELECT '%[1]s-' || g, '%[1]s/' || md5(g::text) FROM generate_series(1, %[2]d) g;
			CREATE TABLE only_in_%[1]s (x int);`, db, 100*(i+1)))
	}

	rs, err := backup.DumpTenants(ctx, store, backup.TenantOptions{
		Layout: l, DSN: dsn(pg), PGDump: filepath.Join(pg.BinDir, "pg_dump"),
	}, tenants)
	if err != nil {
		t.Fatal(err)
	}
	var ms []*backup.TenantManifest
	for _, r := range rs {
		ms = append(ms, r.Manifest)
	}
	if len(ms) != 3 {
		t.Fatalf("%d manifests", len(ms))
	}
	for i, m := range ms {
		db := tenants[i]
		if m.Database != db || m.Dump.Size == 0 || m.LSN == "" || !strings.Contains(m.PGDumpVersion, "pg_dump") {
			t.Fatalf("manifest %+v", m)
		}
		rep, err := catalog.Verify(ctx, store, l, m.ID)
		if err != nil || !rep.OK() || rep.Objects != 3 {
			t.Fatalf("verify %s: %+v, %v", m.ID, rep, err)
		}

		// Restore into a fresh database, straight from the store.
		target := db + "_restored"
		psql(t, pg, "postgres", "DROP DATABASE IF EXISTS "+target)
		psql(t, pg, "postgres", "CREATE DATABASE "+target)
		body, _, err := store.Get(ctx, m.Dump.Key)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(filepath.Join(pg.BinDir, "pg_restore"), "-h", pg.Host, "-p", strconv.Itoa(pg.Port),
			"-U", pg.User, "--no-owner", "--exit-on-error", "-d", target)
		cmd.Env = append(os.Environ(), "PGPASSWORD="+pg.Password)
		cmd.Stdin = body
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("pg_restore of %s: %v\n%s", db, err, out)
		}
		body.Close()

		if got := psql(t, pg, target, "SELECT count(*) FROM ir_attachment"); got != strconv.Itoa(100*(i+1)) {
			t.Fatalf("%s: %s rows, want %d", target, got, 100*(i+1))
		}
		if got := psql(t, pg, target, "SELECT count(*) FROM ir_attachment WHERE name NOT LIKE '"+db+"-%'"); got != "0" {
			t.Fatalf("%s holds %s rows of other tenants", target, got)
		}
		tables := psql(t, pg, target, "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'")
		if tables != "ir_attachment,only_in_"+db {
			t.Fatalf("%s tables %q, want only its own", target, tables)
		}
	}

	list, err := catalog.ListBackups(ctx, store, l)
	if err != nil || len(list) != 3 || list[0].Kind != backup.KindTenant {
		t.Fatalf("ListBackups = %+v, %v", list, err)
	}

	// A database that does not exist: no dump, no manifest, nothing listed.
	if _, err := backup.DumpTenant(ctx, store, backup.TenantOptions{Layout: l, DSN: dsn(pg),
		PGDump: filepath.Join(pg.BinDir, "pg_dump")}, "no_such_tenant"); err == nil {
		t.Fatal("dump of a missing database succeeded")
	}
	if list, _ := catalog.ListBackups(ctx, store, l); len(list) != 3 {
		t.Fatalf("after a failed dump, %d backups listed", len(list))
	}
}

// TestAccTenantDumps_parallelAndEveryTenantAttempted: a tenant whose
// tables are locked keeps its pg_dump waiting, and the other tenants are
// dumped meanwhile (two at a time); a tenant dropped since the policy was
// written fails by name, and costs no other tenant its dump.
func TestAccTenantDumps_parallelAndEveryTenantAttempted(t *testing.T) {
	env := requireEnv(t)
	pg := env.Postgres
	ctx := context.Background()
	store, l := newRepo(t, env)

	tenants := []string{"par_a", "par_b_dropped", "par_c", "par_d"}
	for _, db := range tenants {
		psql(t, pg, "postgres", "DROP DATABASE IF EXISTS "+db)
		psql(t, pg, "postgres", "CREATE DATABASE "+db)
		psql(t, pg, db, "CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
	}
	psql(t, pg, "postgres", "DROP DATABASE par_b_dropped")

	// par_a's table is locked until the other dumps are stored: pg_dump
	// waits for its lock, so with one dump at a time nothing after it would
	// be dumped.
	lockConn, err := pgx.Connect(ctx, pg.DSN("par_a"))
	if err != nil {
		t.Fatal(err)
	}
	defer lockConn.Close(ctx)
	lockTx, err := lockConn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockTx.Exec(ctx, "LOCK TABLE t IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}

	type result struct {
		rs  []backup.TenantResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		rs, err := backup.DumpTenants(ctx, store, backup.TenantOptions{
			Layout: l, DSN: dsn(pg), PGDump: filepath.Join(pg.BinDir, "pg_dump"), Parallelism: 2,
		}, tenants)
		done <- result{rs, err}
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := catalog.Load(ctx, store, l)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, m := range c.Tenant {
			got[m.Database] = true
		}
		if got["par_a"] {
			t.Fatal("par_a dumped while its table was locked")
		}
		if got["par_c"] && got["par_d"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("while par_a's dump waits, the other tenants were not dumped within 60s (dumped: %v)", got)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := lockTx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("DumpTenants did not return after the lock was released")
	}

	var tde *backup.TenantDumpError
	if !errors.As(r.err, &tde) || strings.Join(tde.Databases(), ",") != "par_b_dropped" || !strings.Contains(r.err.Error(), "par_b_dropped") {
		t.Fatalf("DumpTenants error = %v, want a TenantDumpError naming par_b_dropped only", r.err)
	}
	if len(r.rs) != len(tenants) {
		t.Fatalf("%d results for %d tenants", len(r.rs), len(tenants))
	}
	for i, res := range r.rs {
		if res.Database != tenants[i] {
			t.Fatalf("result %d is %q, want %q (the order given)", i, res.Database, tenants[i])
		}
		if res.Database == "par_b_dropped" {
			if res.Err == nil || res.Manifest != nil {
				t.Fatalf("dropped tenant: %+v", res)
			}
			continue
		}
		if res.Err != nil || res.Manifest == nil || res.Manifest.Database != res.Database {
			t.Fatalf("tenant %s: %+v", res.Database, res)
		}
		rep, err := catalog.Verify(ctx, store, l, res.Manifest.ID)
		if err != nil || !rep.OK() {
			t.Fatalf("verify %s: %+v, %v", res.Database, rep, err)
		}
	}
	c, err := catalog.Load(ctx, store, l)
	if err != nil || len(c.Tenant) != 3 || len(c.Incomplete) != 0 {
		t.Fatalf("catalog: %d dumps, incomplete %+v, %v; want 3 dumps", len(c.Tenant), c.Incomplete, err)
	}
}

// TestAccTenantDumps_securityLabelsKept: pg_dump skips its security-label
// query (--no-security-labels, the costliest query of a small tenant's dump)
// only for a tenant whose snapshot holds no label; a tenant with one keeps
// it in its dump.
func TestAccTenantDumps_securityLabelsKept(t *testing.T) {
	env := requireEnv(t)
	pg := env.Postgres
	ctx := context.Background()
	store, l := newRepo(t, env)

	tenants := []string{"label_none", "label_one"}
	for _, db := range tenants {
		psql(t, pg, "postgres", "DROP DATABASE IF EXISTS "+db)
		psql(t, pg, "postgres", "CREATE DATABASE "+db)
		psql(t, pg, db, "CREATE TABLE res_partner (id int PRIMARY KEY, name text); INSERT INTO res_partner VALUES (1, 'a')")
		t.Cleanup(func() { psql(t, pg, "postgres", "DROP DATABASE IF EXISTS "+db) })
	}
	// No label provider is loaded here: the row a provider would write.
	psql(t, pg, "label_one", "INSERT INTO pg_seclabel VALUES ('res_partner'::regclass, 'pg_class'::regclass, 0, 'selinux', 'system_u:object_r:sepgsql_table_t:s0')")

	// A pg_dump that records its arguments.
	dir := t.TempDir()
	argLog := filepath.Join(dir, "args")
	wrapper := filepath.Join(dir, "pg_dump")
	script := fmt.Sprintf("#!/bin/sh\necho \"$*\" >>%q\nexec %q \"$@\"\n", argLog, filepath.Join(pg.BinDir, "pg_dump"))
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	rs, err := backup.DumpTenants(ctx, store, backup.TenantOptions{Layout: l, DSN: dsn(pg), PGDump: wrapper}, tenants)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(argLog)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		if strings.HasSuffix(line, "--version") {
			continue
		}
		skipped := strings.Contains(line, "--no-security-labels")
		switch {
		case strings.HasSuffix(line, "--dbname=label_none") && !skipped:
			t.Fatalf("label_none (no labels) dumped without --no-security-labels: %s", line)
		case strings.HasSuffix(line, "--dbname=label_one") && skipped:
			t.Fatalf("label_one (one label) dumped with --no-security-labels: %s", line)
		}
	}
	for _, r := range rs {
		body, _, err := store.Get(ctx, r.Manifest.Dump.Key)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(filepath.Join(pg.BinDir, "pg_restore"), "--list")
		cmd.Stdin = body
		out, err := cmd.Output()
		body.Close()
		if err != nil {
			t.Fatalf("pg_restore --list of %s: %v", r.Database, err)
		}
		hasLabel := strings.Contains(string(out), "SECURITY LABEL public TABLE res_partner")
		if hasLabel != (r.Database == "label_one") || !strings.Contains(string(out), "TABLE DATA public res_partner") {
			t.Fatalf("dump of %s (security label listed: %v):\n%s", r.Database, hasLabel, out)
		}
	}
}
