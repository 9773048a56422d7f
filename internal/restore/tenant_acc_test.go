package restore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
)

const checksumSQL = "SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM ir_attachment t"

// TestAccRestoreTenant restores one tenant among three, with its
// attachments, beside the live one: from its dump (target = the dump's
// time) and by PITR (a target between dumps). The attachment deleted after
// the target comes back, the one added after it does not, and the other
// tenants and the live database are unchanged.
func TestAccRestoreTenant(t *testing.T) {
	f := setup(t)
	pg := f.env.Postgres
	ctx := context.Background()

	if err := f.client.CreateBucket(ctx, objectstore.BucketSpec{Name: "attachments-acc"}); err != nil {
		t.Fatal(err)
	}
	att := f.client.Store("attachments-acc")
	put := func(db, fname, content string) {
		t.Helper()
		if _, err := att.Put(ctx, "attachments/"+db+"/"+fname, strings.NewReader(content), objectstore.PutOptions{Size: int64(len(content))}); err != nil {
			t.Fatal(err)
		}
	}
	tenants := []string{"tenant_a", "tenant_b", "tenant_c"}
	for i, db := range tenants {
		psql(t, pg, "postgres", "DROP DATABASE IF EXISTS "+db)
		psql(t, pg, "postgres", "CREATE DATABASE "+db)
		psql(t, pg, db, "CREATE TABLE ir_attachment (id serial PRIMARY KEY, name text, store_fname text)")
		for j := 1; j <= 3+i; j++ {
			fname := fmt.Sprintf("%02x/%s-%d", j, db, j)
			put(db, fname, fmt.Sprintf("%s attachment %d", db, j))
			psql(t, pg, db, fmt.Sprintf("INSERT INTO ir_attachment (name, store_fname) VALUES ('doc %d', '%s')", j, fname))
		}
	}
	f.takeBackup(t)
	dumps, err := backup.DumpTenants(ctx, f.store, backup.TenantOptions{Layout: f.cfg.Layout(), DSN: pg.DSN("postgres"),
		PGDump: filepath.Join(pg.BinDir, "pg_dump")}, tenants)
	if err != nil {
		t.Fatal(err)
	}
	dumpA := dumps[0].Manifest
	time.Sleep(time.Second)

	// Between the dump and T: one more attachment.
	put("tenant_a", "mid/tenant_a-mid", "added before T")
	psql(t, pg, "tenant_a", "INSERT INTO ir_attachment (name, store_fname) VALUES ('mid', 'mid/tenant_a-mid')")
	target := pointInTime()
	// After T: an attachment's object is deleted (its row stays), another
	// is added, and a row is changed.
	deleted := "01/tenant_a-1"
	if err := att.Delete(ctx, "attachments/tenant_a/"+deleted); err != nil {
		t.Fatal(err)
	}
	put("tenant_a", "late/tenant_a-late", "added after T")
	psql(t, pg, "tenant_a", "INSERT INTO ir_attachment (name, store_fname) VALUES ('late', 'late/tenant_a-late'); UPDATE ir_attachment SET name = 'renamed after T' WHERE id = 2")
	f.switchAndWait(t)

	before := map[string]string{}
	for _, db := range tenants {
		before[db] = psql(t, pg, db, checksumSQL)
	}

	for _, tc := range []struct {
		name       string
		target     time.Time
		source     string
		rows       string // names, in id order
		wantCopied []string
	}{
		{"from_dump", dumpA.StartTime, "dump:" + dumpA.ID, "doc 1,doc 2,doc 3",
			[]string{"01/tenant_a-1", "02/tenant_a-2", "03/tenant_a-3"}},
		{"by_pitr", target, "backup:", "doc 1,doc 2,doc 3,mid",
			[]string{"01/tenant_a-1", "02/tenant_a-2", "03/tenant_a-3", "mid/tenant_a-mid"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			newDB := "tenant_a_" + tc.name
			attOpts := &restore.AttachmentOptions{Store: att, SourcePrefix: "attachments/tenant_a/", TargetPrefix: "restored/" + newDB + "/"}
			opts := restore.TenantOptions{
				Layout: f.cfg.Layout(), Database: "tenant_a", Target: tc.target, TargetDSN: pg.DSN("postgres"), NewDatabase: newDB,
				BinDir: pg.BinDir, OSUser: pg.OSUser, AgentPath: f.bin, AgentConfig: f.cfg, Attachments: attOpts,
				Progress: func(p restore.Progress) { t.Logf("progress: %s %s", p.Phase, p.Detail) },
			}
			src, err := restore.PlanTenant(ctx, f.store, opts)
			if err != nil || !strings.HasPrefix(src.String(), tc.source) {
				t.Fatalf("PlanTenant = %q, %v; want %s...", src, err, tc.source)
			}
			res, err := restore.RestoreTenant(ctx, f.store, opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("restored %s to %s in %s, attachments %+v", res.Source, res.RestoredToTime.Format(time.RFC3339Nano), res.Duration, res.Attachments)
			if res.Source != src || res.RestoredToTime.After(tc.target.Add(time.Second)) {
				t.Fatalf("result %+v", res)
			}
			if got := psql(t, pg, newDB, "SELECT string_agg(name, ',' ORDER BY id) FROM ir_attachment"); got != tc.rows {
				t.Fatalf("%s holds %q, want %q", newDB, got, tc.rows)
			}
			r := res.Attachments
			if r == nil || r.Referenced != len(tc.wantCopied) || r.Copied != len(tc.wantCopied) || len(r.Missing) != 0 {
				t.Fatalf("attachment report %+v, want %d copied, none missing", r, len(tc.wantCopied))
			}
			for _, fname := range tc.wantCopied {
				body, _, err := att.Get(ctx, attOpts.TargetPrefix+fname)
				if err != nil {
					t.Fatalf("restored attachment %s: %v", fname, err)
				}
				b, _ := io.ReadAll(body)
				body.Close()
				if want := "tenant_a attachment"; fname != "mid/tenant_a-mid" && !strings.HasPrefix(string(b), want) {
					t.Fatalf("restored %s holds %q", fname, b)
				}
			}
			if _, err := att.Head(ctx, attOpts.TargetPrefix+"late/tenant_a-late"); !errors.Is(err, objectstore.ErrNotFound) {
				t.Fatalf("attachment added after the target was restored: %v", err)
			}
			// Other tenants and the live database: untouched.
			for _, db := range tenants {
				if got := psql(t, pg, db, checksumSQL); got != before[db] {
					t.Fatalf("%s changed by the restore: %s, was %s", db, got, before[db])
				}
			}
			// A second restore into the same name is refused.
			if _, err := restore.RestoreTenant(ctx, f.store, opts); !errors.Is(err, restore.ErrTargetExists) {
				t.Fatalf("restore into an existing database: %v", err)
			}
			// Drop: never the live source; the copy and its attachments go.
			if err := restore.DropTenant(ctx, pg.DSN("postgres"), "tenant_a", nil); !errors.Is(err, restore.ErrNotARestore) {
				t.Fatalf("DropTenant of the live tenant: %v", err)
			}
			if err := restore.DropTenant(ctx, pg.DSN("postgres"), newDB, attOpts); err != nil {
				t.Fatal(err)
			}
			if got := psql(t, pg, "postgres", "SELECT count(*) FROM pg_database WHERE datname = '"+newDB+"'"); got != "0" {
				t.Fatalf("%s still exists after DropTenant", newDB)
			}
			left := 0
			att.List(ctx, attOpts.TargetPrefix, func(objectstore.ObjectInfo) error { left++; return nil })
			if left != 0 {
				t.Fatalf("%d attachment copies left after DropTenant", left)
			}
			if err := restore.DropTenant(ctx, pg.DSN("postgres"), newDB, attOpts); err != nil {
				t.Fatalf("second DropTenant: %v", err)
			}
		})
	}

	t.Run("same_name_on_source_refused", func(t *testing.T) {
		_, err := restore.RestoreTenant(ctx, f.store, restore.TenantOptions{Layout: f.cfg.Layout(), Database: "tenant_a",
			DumpID: dumpA.ID, TargetDSN: pg.DSN("postgres"), NewDatabase: "tenant_a", BinDir: pg.BinDir})
		if err == nil || !strings.Contains(err.Error(), "source cluster") {
			t.Fatalf("restoring tenant_a over itself: %v", err)
		}
	})
}
