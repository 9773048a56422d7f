package provider

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	"github.com/jackc/pgx/v5"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/pg"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// One tenant among three restored to T beside the live one, with its
// attachments as of T; the other tenants untouched.
func TestAccRestoreResource_tenantWithAttachments(t *testing.T) {
	f := newRestoreFixture(t)
	env := testenv.Require(t)
	ctx := context.Background()
	files := testAccStore(t, "lb-filestore", objectstore.BucketSpec{})
	filestore := files.Bucket()

	tenants := []string{"tn_acme", "tn_globex", "tn_initech"}
	conns := map[string]*pgx.Conn{}
	for _, db := range tenants {
		for _, sql := range []string{"DROP DATABASE IF EXISTS " + db, "DROP DATABASE IF EXISTS " + db + "_restored", "CREATE DATABASE " + db} {
			if out, err := env.Postgres.Psql("postgres", sql); err != nil {
				t.Fatalf("%s: %v: %s", sql, err, out)
			}
		}
		conn, err := pgx.Connect(ctx, env.Postgres.DSN(db))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
		conns[db] = conn
		if _, err := conn.Exec(ctx, `CREATE TABLE stock_picking (id serial PRIMARY KEY, name text);
CREATE TABLE ir_attachment (id serial PRIMARY KEY, name text, store_fname text);
INSERT INTO stock_picking (name) SELECT 'WH/OUT/' || g FROM generate_series(1, 100) g`); err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 5; i++ {
			addTestAttachment(t, conns[db], files, db, fmt.Sprintf("%s note %d", db, i))
		}
	}
	if _, err := backup.Take(ctx, testAccClient(t).Store(f.bucket), backup.Options{Layout: repo.Layout{Prefix: "pg", Cluster: "main"}, DSN: env.Postgres.DSN("postgres")}); err != nil {
		t.Fatal(err)
	}
	var firstFname string
	if err := conns["tn_acme"].QueryRow(ctx, "SELECT store_fname FROM ir_attachment ORDER BY id LIMIT 1").Scan(&firstFname); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	pointT := time.Now().UTC().Truncate(time.Second)
	time.Sleep(1100 * time.Millisecond)
	// After T: a picking purge, a deleted attachment file, a new attachment.
	if _, err := conns["tn_acme"].Exec(ctx, "DELETE FROM stock_picking WHERE id <= 60"); err != nil {
		t.Fatal(err)
	}
	if err := files.Delete(ctx, "filestore/tn_acme/"+firstFname); err != nil {
		t.Fatal(err)
	}
	lateFname := addTestAttachment(t, conns["tn_acme"], files, "tn_acme", "added after T")
	switchAndWaitArchived(t, f.pool, 90*time.Second)
	before := map[string]string{}
	for _, db := range tenants {
		before[db] = tenantChecksum(t, conns[db])
	}

	config := func(pit string) string {
		return fmt.Sprintf(`
resource "lifeboat_restore" "test" {
  kind          = "tenant"
  point_in_time = %[1]q
  agent_path    = %[2]q
  cluster = "main"
  repository {
    bucket = %[3]q
    prefix = "pg"
  }
  target {
    source_database = "tn_acme"
    database        = "tn_acme_restored"
  }
  postgres {
    dsn = %[4]q
  }
  attachments {
    bucket        = %[5]q
    source_prefix = "filestore/tn_acme/"
    target_prefix = "filestore/tn_acme_restored/"
  }
}
`, pit, f.agent, f.bucket, env.Postgres.DSN("postgres"), filestore)
	}
	restoredCount := func(want int) resource.TestCheckFunc {
		return func(*terraform.State) error {
			conn, err := pgx.Connect(ctx, env.Postgres.DSN("tn_acme_restored"))
			if err != nil {
				return err
			}
			defer conn.Close(ctx)
			var n int
			if err := conn.QueryRow(ctx, "SELECT count(*) FROM stock_picking").Scan(&n); err != nil {
				return err
			}
			if n != want {
				return fmt.Errorf("restored tn_acme has %d pickings, want %d", n, want)
			}
			return nil
		}
	}
	untouched := func(*terraform.State) error {
		for _, db := range tenants {
			if got := tenantChecksum(t, conns[db]); got != before[db] {
				return fmt.Errorf("tenant %s changed during the restore", db)
			}
		}
		return nil
	}
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy: func(*terraform.State) error {
			if exists, err := pg.DatabaseExists(ctx, env.Postgres.DSN("postgres"), "tn_acme_restored"); err != nil || exists {
				return fmt.Errorf("restored database still exists after destroy (%v)", err)
			}
			if _, err := files.Head(ctx, "filestore/tn_acme_restored/"+lateFname); !errors.Is(err, objectstore.ErrNotFound) {
				return fmt.Errorf("restored attachment copies remain after destroy")
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				Config: config(pointT.Format(time.RFC3339)),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectKnownValue(restoreAddr, tfjsonpath.New("recovery_source"), knownvalue.StringRegexp(regexpMust(`^(backup:.*\+wal|dump:.*)$`))),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(restoreAddr, tfjsonpath.New("missing_attachments"), knownvalue.ListSizeExact(0)),
				},
				Check: resource.ComposeTestCheckFunc(restoredCount(100), untouched, func(*terraform.State) error {
					// As of T: the file deleted after T is back, the one added after T is not.
					if _, err := files.Head(ctx, "filestore/tn_acme_restored/"+firstFname); err != nil {
						return fmt.Errorf("attachment deleted after T not restored: %w", err)
					}
					if _, err := files.Head(ctx, "filestore/tn_acme_restored/"+lateFname); !errors.Is(err, objectstore.ErrNotFound) {
						return fmt.Errorf("attachment added after T was restored too (%v)", err)
					}
					// The live tenant keeps what happened after T.
					var n int
					if err := conns["tn_acme"].QueryRow(ctx, "SELECT count(*) FROM stock_picking").Scan(&n); err != nil || n != 40 {
						return fmt.Errorf("live tn_acme has %d pickings (%v), want 40", n, err)
					}
					return nil
				}),
			},
			{
				Config: config("latest"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(restoreAddr, plancheck.ResourceActionDestroyBeforeCreate),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					// At latest the deleted file is gone for good.
					statecheck.ExpectKnownValue(restoreAddr, tfjsonpath.New("missing_attachments"), knownvalue.ListExact([]knownvalue.Check{knownvalue.StringExact(firstFname)})),
				},
				Check: resource.ComposeTestCheckFunc(restoredCount(40), untouched),
			},
		},
	})
}

func addTestAttachment(t *testing.T, conn *pgx.Conn, files objectstore.Store, db, body string) string {
	t.Helper()
	sum := sha1.Sum([]byte(body))
	h := hex.EncodeToString(sum[:])
	fname := h[:2] + "/" + h
	if _, err := files.Put(context.Background(), "filestore/"+db+"/"+fname, strings.NewReader(body), objectstore.PutOptions{Size: int64(len(body))}); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(context.Background(), "INSERT INTO ir_attachment (name, store_fname) VALUES ($1, $2)", body, fname); err != nil {
		t.Fatal(err)
	}
	return fname
}

func tenantChecksum(t *testing.T, conn *pgx.Conn) string {
	t.Helper()
	var sum string
	err := conn.QueryRow(context.Background(), `SELECT md5(
  coalesce((SELECT string_agg(p::text, ',' ORDER BY id) FROM stock_picking p), '') ||
  coalesce((SELECT string_agg(a::text, ',' ORDER BY id) FROM ir_attachment a), ''))`).Scan(&sum)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}
