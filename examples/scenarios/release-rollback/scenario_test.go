package releaserollback_test

import (
	"context"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/provider"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.Spec{MinIO: 1, Postgres: true}))
}

// review is compatibility_review as Terraform shows it.
type review struct {
	RestorePoint string `json:"restore_point"`
	Database     string `json:"database"`
	ReviewedAt   string `json:"reviewed_at"`
	Summary      string `json:"summary"`
	Modules      []struct {
		Name           string `json:"name"`
		PointVersion   string `json:"point_version"`
		LiveVersion    string `json:"live_version"`
		RollbackEffect string `json:"rollback_effect"`
	} `json:"modules"`
	TablesAdded    []string `json:"tables_added"`
	TablesDropped  []string `json:"tables_dropped"`
	ColumnsAdded   []string `json:"columns_added"`
	ColumnsDropped []string `json:"columns_dropped"`
	ColumnsChanged []string `json:"columns_changed"`
}

// TestScenarioReleaseRollback runs the scenario as its README tells it,
// with the Terraform CLI: the release pipeline applies this folder's
// main.tf (a restore point recording acme's schema and modules); the
// upgrade's migration upgrades sale, installs sale_loyalty, rounds the
// order amounts and reshapes sale_order. The rollback is planned and saved;
// the saved plan shows the compatibility review (every module and schema
// change, none missing, none extra). The live schema then changes again
// (a hotfix column) and more WAL is archived: the saved plan still applies,
// with the review it showed. The restored acme has the point's modules,
// columns and amounts; live acme and globex are untouched; a second plan
// has nothing to do.
func TestScenarioReleaseRollback(t *testing.T) {
	env := testenv.Require(t)
	pg, m := env.Postgres, env.MinIO[0]
	ctx := context.Background()
	bin := testenv.Lifeboat(t)
	r := m.NewRepository(t, testenv.Dir(t), objectstore.BucketSpec{Name: "scenario-rollback-repo"}, "pg", "odoo-main", pg.OSUser)
	cfg := r.Config
	psql := func(db, sql string) string {
		t.Helper()
		return pg.MustPsql(t, db, sql)
	}
	pg.ArchiveWith(t, testenv.WALPushCommand(bin, r.ConfigPath))

	// Two Odoo tenants on release 16.0.1.
	for _, db := range []string{"acme", "globex", "acme_before_upgrade"} {
		psql("postgres", "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
	}
	for _, db := range []string{"acme", "globex"} {
		psql("postgres", "CREATE DATABASE "+db)
		psql(db, `CREATE TABLE ir_module_module (id serial PRIMARY KEY, name text UNIQUE, latest_version text, state text);
INSERT INTO ir_module_module (name, latest_version, state) VALUES ('base', '16.0.1.3', 'installed'), ('sale', '16.0.1.0', 'installed'),
  ('stock', '16.0.1.1', 'installed'), ('website', '16.0.1.0', 'uninstalled');
CREATE TABLE sale_order (id int PRIMARY KEY, name text, amount numeric(12,2), note text);
INSERT INTO sale_order SELECT g, 'SO' || lpad(g::text, 3, '0'), g * 12 + 0.05, 'delivery note ' || g FROM generate_series(1, 20) g`)
	}
	t.Cleanup(func() {
		for _, db := range []string{"acme", "globex", "acme_before_upgrade"} {
			_, _ = pg.Psql("postgres", "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
		}
	})
	if _, err := backup.Take(ctx, r.Store, backup.Options{Layout: cfg.Layout(), DSN: pg.DSN("postgres")}); err != nil {
		t.Fatal(err)
	}

	tf := testenv.NewTerraformCLI(t, provider.Address, "github.com/lifeboat-dr/terraform-provider-lifeboat")
	tf.CopyFile(t, "main.tf")
	vars := []string{"-input=false", "-var", "pg_dsn=" + pg.DSN("postgres"), "-var", "repository_bucket=" + cfg.Bucket, "-var", "agent_path=" + bin}

	// The release pipeline: the restore point, then the upgrade.
	tf.Run(t, append([]string{"apply", "-auto-approve", "-var", "rollback=false"}, vars...)...)
	psql("acme", `UPDATE ir_module_module SET latest_version = '16.0.2.0' WHERE name = 'sale';
INSERT INTO ir_module_module (name, latest_version, state) VALUES ('sale_loyalty', '16.0.1.0', 'installed');
UPDATE ir_module_module SET state = 'installed' WHERE name = 'website';
ALTER TABLE sale_order ALTER COLUMN amount TYPE integer USING round(amount)::integer;
ALTER TABLE sale_order DROP COLUMN note;
ALTER TABLE sale_order ADD COLUMN loyalty_points integer DEFAULT 0;
CREATE TABLE loyalty_program (id serial PRIMARY KEY, name text)`)
	if got := psql("acme", "SELECT sum(amount) FROM sale_order"); got != "2520" {
		t.Fatalf("the broken migration left a total of %s", got)
	}
	pg.SwitchWALArchived(t)

	// The rollback, planned and saved for review.
	out := tf.Run(t, append([]string{"plan", "-out=rollback.tfplan", "-var", "rollback=true"}, vars...)...)
	if !strings.Contains(out, "Rollback Compatibility Review") || !strings.Contains(out, "module sale: downgraded from 16.0.2.0 to 16.0.1.0") {
		t.Fatalf("the plan does not show the review:\n%s", out)
	}
	planned := reviewIn(t, tf.Run(t, "show", "-json", "rollback.tfplan"), "planned_values")
	want := review{RestorePoint: "before-sale-16.0.2.0", Database: "acme",
		TablesAdded: []string{"loyalty_program"}, TablesDropped: []string{},
		ColumnsAdded: []string{"sale_order.loyalty_points integer"}, ColumnsDropped: []string{"sale_order.note text"},
		ColumnsChanged: []string{"sale_order.amount: numeric(12,2) -> integer"}}
	effects := map[string]string{}
	for _, m := range planned.Modules {
		effects[m.Name] = m.RollbackEffect
	}
	wantEffects := map[string]string{"sale": "downgraded from 16.0.2.0 to 16.0.1.0", "sale_loyalty": "removed (not in the database at the point)",
		"website": "state back from installed to uninstalled"}
	got := planned
	got.Modules, got.ReviewedAt, got.Summary = nil, "", ""
	if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(effects, wantEffects) {
		t.Fatalf("planned review:\n%+v\n%v\nwant\n%+v\n%v", got, effects, want, wantEffects)
	}
	t.Logf("planned review: %s", planned.Summary)

	// The world moves on before the reviewed plan is applied: a hotfix
	// column, more WAL.
	psql("acme", "ALTER TABLE sale_order ADD COLUMN hotfix int")
	pg.SwitchWALArchived(t)
	tf.Run(t, "apply", "-input=false", "rollback.tfplan")
	applied := reviewIn(t, tf.Run(t, "show", "-json"), "values")
	if !reflect.DeepEqual(applied, planned) {
		t.Fatalf("applied review differs from the reviewed plan:\n%+v\n%+v", applied, planned)
	}

	// The tenant as of the point, beside the live one.
	for sql, want := range map[string]string{
		"SELECT latest_version || '/' || state FROM ir_module_module WHERE name = 'sale'":      "16.0.1.0/installed",
		"SELECT count(*) FROM ir_module_module WHERE name = 'sale_loyalty'":                    "0",
		"SELECT sum(amount)::text || '/' || count(note) FROM sale_order":                       "2521.00/20",
		"SELECT to_regclass('loyalty_program') IS NULL":                                        "t",
		"SELECT count(*) FROM information_schema.columns WHERE column_name = 'loyalty_points'": "0",
	} {
		if got := psql("acme_before_upgrade", sql); got != want {
			t.Errorf("restored acme: %s = %q, want %q", sql, got, want)
		}
	}
	if got := psql("acme", "SELECT sum(amount) || '/' || (SELECT latest_version FROM ir_module_module WHERE name = 'sale') FROM sale_order"); got != "2520/16.0.2.0" {
		t.Errorf("live acme changed: %s", got)
	}
	if got := psql("globex", "SELECT sum(amount) FROM sale_order"); got != "2521.00" {
		t.Errorf("globex changed: %s", got)
	}
	if out := tf.Run(t, append([]string{"plan", "-detailed-exitcode", "-var", "rollback=true"}, vars...)...); !strings.Contains(out, "No changes") {
		t.Fatalf("plan after the rollback:\n%s", out)
	}
	tf.Run(t, append([]string{"destroy", "-auto-approve", "-var", "rollback=true"}, vars...)...)
	if got := psql("postgres", "SELECT count(*) FROM pg_database WHERE datname = 'acme_before_upgrade'"); got != "0" {
		t.Errorf("destroy left acme_before_upgrade")
	}
}

// reviewIn reads lifeboat_restore.rollback[0]'s compatibility_review from
// `terraform show -json` of a plan (planned_values) or of the state (values).
func reviewIn(t *testing.T, js, root string) review {
	t.Helper()
	var doc map[string]json.RawMessage
	if err := json.Unmarshal([]byte(js), &doc); err != nil {
		t.Fatal(err)
	}
	var values struct {
		RootModule struct {
			Resources []struct {
				Address string `json:"address"`
				Values  struct {
					Review *review `json:"compatibility_review"`
				} `json:"values"`
			} `json:"resources"`
		} `json:"root_module"`
	}
	if err := json.Unmarshal(doc[root], &values); err != nil {
		t.Fatal(err)
	}
	for _, r := range values.RootModule.Resources {
		if r.Address == "lifeboat_restore.rollback[0]" && r.Values.Review != nil {
			return *r.Values.Review
		}
	}
	t.Fatalf("no compatibility_review in %s:\n%s", root, js)
	return review{}
}
