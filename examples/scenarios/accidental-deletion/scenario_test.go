package accidentaldeletion_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/config"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	"github.com/jackc/pgx/v5"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/provider"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.Spec{MinIO: 1, Postgres: true}))
}

// TestScenarioAccidentalDeletion runs the scenario as its README tells it:
// tenant acme's pickings are deleted (rows and attachment files) in one
// transaction; `lifeboat incident find` names it; this folder's main.tf
// restores acme to just before it into a new database, with attachments
// as of then; the Odoo consistency checks pass; the live acme and the
// other tenant are untouched.
func TestScenarioAccidentalDeletion(t *testing.T) {
	env := testenv.Require(t)
	pg, m := env.Postgres, env.MinIO[0]
	ctx := context.Background()
	bin := testenv.Lifeboat(t)
	const filestore = "scenario-deletion-filestore"
	r := m.NewRepository(t, testenv.Dir(t), objectstore.BucketSpec{Name: "scenario-deletion-repo"}, "pg", "odoo-main", pg.OSUser)
	cfg, client := r.Config, r.Admin
	if err := client.CreateBucket(ctx, objectstore.BucketSpec{Name: filestore}); err != nil {
		t.Fatal(err)
	}
	files := client.Store(filestore)
	psql := func(db, sql string) string {
		t.Helper()
		return pg.MustPsql(t, db, sql)
	}
	pg.ArchiveWith(t, testenv.WALPushCommand(bin, r.ConfigPath))

	// Two tenants, Odoo-shaped: pickings, each with an attachment whose
	// file is in the filestore bucket.
	pickings := map[string]int{"acme": 20, "globex": 10}
	for db, n := range pickings {
		psql("postgres", "DROP DATABASE IF EXISTS "+db)
		psql("postgres", "DROP DATABASE IF EXISTS acme_before_deletion")
		psql("postgres", "CREATE DATABASE "+db)
		psql(db, `CREATE TABLE stock_picking (id int PRIMARY KEY, name text, state text);
CREATE TABLE ir_attachment (id serial PRIMARY KEY, res_model text, res_id int, name text, store_fname text)`)
		for i := 1; i <= n; i++ {
			fname := fmt.Sprintf("%02x/%s-%d", i, db, i)
			slip := "delivery slip " + fname
			if _, err := files.Put(ctx, "filestore/"+db+"/"+fname, strings.NewReader(slip), objectstore.PutOptions{Size: int64(len(slip))}); err != nil {
				t.Fatal(err)
			}
			psql(db, fmt.Sprintf("INSERT INTO stock_picking VALUES (%d, 'WH/OUT/%05d', 'done'); INSERT INTO ir_attachment (res_model, res_id, name, store_fname) VALUES ('stock.picking', %d, 'slip.pdf', '%s')", i, i, i, fname))
		}
	}
	if _, err := backup.Take(ctx, client.Store(cfg.Bucket), backup.Options{Layout: cfg.Layout(), DSN: pg.DSN("postgres")}); err != nil {
		t.Fatal(err)
	}

	// The accident: a cleanup script deletes acme's pickings 13..20 and
	// their attachments in one transaction; Odoo's garbage collector then
	// removes the files.
	conn, err := pgx.Connect(ctx, pg.DSN("acme"))
	if err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var xid int64
	for _, sql := range []string{"DELETE FROM ir_attachment WHERE res_model = 'stock.picking' AND res_id > 12", "DELETE FROM stock_picking WHERE id > 12"} {
		if _, err := tx.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.QueryRow(ctx, "SELECT txid_current()").Scan(&xid); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	for i := 13; i <= 20; i++ {
		if err := files.Delete(ctx, fmt.Sprintf("filestore/acme/%02x/acme-%d", i, i)); err != nil {
			t.Fatal(err)
		}
	}
	// Work goes on in both tenants.
	psql("acme", "INSERT INTO stock_picking VALUES (21, 'WH/OUT/00021', 'draft')")
	psql("globex", "INSERT INTO stock_picking VALUES (11, 'WH/OUT/00011', 'draft')")
	pg.SwitchWALArchived(t)

	// Finding the point: incident find names the transaction.
	cmd := exec.Command(bin, "incident", "find", "--database", "acme", "--table", "stock_picking", "--json", "--bin-dir", pg.BinDir)
	cmd.Env = append(os.Environ(), repo.EnvConfig+"="+r.ConfigPath, "LIFEBOAT_PG_DSN="+pg.DSN("postgres"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("incident find: %v\n%s", err, out.String())
	}
	var found struct {
		Transactions []struct {
			XID     int64 `json:"xid"`
			Deleted int   `json:"deleted"`
		} `json:"transactions"`
	}
	if err := json.Unmarshal(out.Bytes(), &found); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	named := false
	for _, x := range found.Transactions {
		named = named || (x.XID == xid && x.Deleted == 8)
	}
	if !named {
		t.Fatalf("incident find does not name transaction %d deleting 8 pickings:\n%s", xid, out.String())
	}

	// The restore, from this folder's main.tf.
	hcl, err := os.ReadFile("main.tf")
	if err != nil {
		t.Fatal(err)
	}
	addr := "lifeboat_restore.acme_before_deletion"
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: map[string]func() (tfprotov6.ProviderServer, error){
			"lifeboat": providerserver.NewProtocol6WithError(provider.New("test")()),
		},
		Steps: []resource.TestStep{{
			Config: string(hcl),
			ConfigVariables: config.Variables{
				"pg_dsn": config.StringVariable(pg.DSN("postgres")), "repository_bucket": config.StringVariable(cfg.Bucket),
				"attachments_bucket": config.StringVariable(filestore), "agent_path": config.StringVariable(bin),
				"xid": config.StringVariable(fmt.Sprint(xid)),
			},
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue(addr, tfjsonpath.New("check_results"), knownvalue.MapExact(map[string]knownvalue.Check{
					"pickings": knownvalue.StringExact("pass"), "pickings_without_attachment": knownvalue.StringExact("pass"),
					"attachments_without_picking": knownvalue.StringExact("pass"),
				})),
				statecheck.ExpectKnownValue(addr, tfjsonpath.New("missing_attachments"), knownvalue.ListSizeExact(0)),
			},
			Check: func(_ *terraform.State) error {
				// The live tenants are as the incident and the work after it left them.
				if got := psql("acme", "SELECT count(*) FROM stock_picking"); got != "13" {
					return fmt.Errorf("live acme has %s pickings, want 13 (12 left + 1 new)", got)
				}
				if got := psql("globex", "SELECT count(*) FROM stock_picking"); got != "11" {
					return fmt.Errorf("globex has %s pickings, want 11", got)
				}
				// The restored copy has the deleted pickings and not the later one.
				if got := psql("acme_before_deletion", "SELECT count(*) FILTER (WHERE id > 12) || '/' || count(*) FILTER (WHERE id = 21) FROM stock_picking"); got != "8/0" {
					return fmt.Errorf("restored acme: %s (deleted pickings / later picking), want 8/0", got)
				}
				// The deleted files are back under the restored prefix.
				for i := 13; i <= 20; i++ {
					if _, err := files.Head(ctx, fmt.Sprintf("filestore/acme_before_deletion/%02x/acme-%d", i, i)); err != nil {
						return fmt.Errorf("attachment of picking %d not restored: %w", i, err)
					}
				}
				return nil
			},
		}},
	})
}
