package backup_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

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

	ms, err := backup.DumpTenants(ctx, store, backup.TenantOptions{
		Layout: l, DSN: dsn(pg), PGDump: filepath.Join(pg.BinDir, "pg_dump"),
	}, tenants)
	if err != nil {
		t.Fatal(err)
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
