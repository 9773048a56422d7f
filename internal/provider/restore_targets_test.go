package provider

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// Every recovery target type through Terraform: a named restore point,
// just before a transaction (xid, inclusive = false), an LSN, and
// immediate; each restored copy holds exactly the rows of its point, the
// plan names where replay stops (target_lsn), and targets the archive
// does not hold fail at plan on their attribute.
func TestAccRestoreResource_recoveryTargets(t *testing.T) {
	f := newRestoreFixture(t)
	ctx := context.Background()
	exec := func(sql string) { t.Helper(); f.exec(t, sql) }
	// The fixture's backup is older than this table: the restore replays its creation.
	exec("DROP TABLE IF EXISTS targets")
	exec("CREATE TABLE targets (id int PRIMARY KEY, tag text)")
	exec("INSERT INTO targets SELECT g, 'a' FROM generate_series(1, 10) g")
	var lsnAfterA string
	if err := f.pool.QueryRow(ctx, "SELECT pg_current_wal_insert_lsn()::text").Scan(&lsnAfterA); err != nil {
		t.Fatal(err)
	}
	exec("SELECT pg_create_restore_point('tf-before-b')")
	exec("INSERT INTO targets SELECT g, 'b' FROM generate_series(11, 20) g")
	tx, err := f.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var xid int64
	if _, err := tx.Exec(ctx, "DELETE FROM targets WHERE tag = 'b'"); err != nil {
		t.Fatal(err)
	}
	if err := tx.QueryRow(ctx, "SELECT txid_current()").Scan(&xid); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	switchAndWaitArchived(t, f.pool, 90*time.Second)

	dir := filepath.Join(f.scratch, "restored-target")
	port, _ := testenv.FreePort()
	other, _ := testenv.FreePort()
	step := func(target, expected string) resource.TestStep {
		cfg := testAccRestoreConfig_target(f, target, dir, port, expected)
		if expected == "" {
			// immediate: the backup predates the table.
			cfg = strings.Replace(cfg, rowsSQL, "SELECT (to_regclass('targets') IS NULL)::text", 1)
			cfg = strings.Replace(cfg, `expected = ""`, `expected = "true"`, 1)
		}
		return resource.TestStep{
			Config: cfg,
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectKnownValue(restoreAddr, tfjsonpath.New("target_lsn"), knownvalue.StringRegexp(regexp.MustCompile(`^[0-9A-F]+/[0-9A-F]+$`))),
			}},
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue(restoreAddr, tfjsonpath.New("check_results"), knownvalue.MapExact(map[string]knownvalue.Check{"rows": knownvalue.StringExact("pass")})),
			},
		}
	}
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			step(`restore_point = "tf-before-b"`, "a=10"),
			step(fmt.Sprintf("xid = %q\n  inclusive = false", fmt.Sprint(xid)), "a=10,b=10"),
			step(fmt.Sprintf("lsn = %q", lsnAfterA), "a=10"),
			step(`point_in_time = "immediate"`, ""),
			{
				Config:      testAccRestoreConfig_target(f, `restore_point = "never-made"`, filepath.Join(f.scratch, "never"), other, ""),
				ExpectError: regexp.MustCompile(`(?s)Recovery Target Not In The Archive.*restore_point = "never-made".*no\s+archived\s+WAL`),
			},
			{
				Config:      testAccRestoreConfig_target(f, `lsn = "FF/0"`, filepath.Join(f.scratch, "never"), other, ""),
				ExpectError: regexp.MustCompile(`(?s)Recovery Target Not In The Archive.*lsn\s+= "FF/0".*archived\s+range`),
			},
			{
				Config:      testAccRestoreConfig_target(f, "lsn = \"0/1\"\n  xid = \"900\"", filepath.Join(f.scratch, "never"), other, ""),
				ExpectError: regexp.MustCompile(`(?s)Conflicting Recovery Targets.*lsn and xid are set together`),
			},
			// The copy restored to immediate is still the planned one (and the destroy's configuration).
			func() resource.TestStep {
				s := step(`point_in_time = "immediate"`, "")
				s.PlanOnly, s.ConfigPlanChecks, s.ConfigStateChecks = true, resource.ConfigPlanChecks{}, nil
				return s
			}(),
		},
	})
}

func testAccRestoreConfig_target(f *restoreFixture, target, dir string, port int, expected string) string {
	return fmt.Sprintf(`
resource "lifeboat_restore" "test" {
  kind       = "cluster"
  %[1]s
  agent_path = %[5]q

  cluster = "main"
  repository {
    bucket = %[2]q
    prefix = "pg"
  }

  target {
    data_directory = %[3]q
    port           = %[4]d
  }

  check {
    name     = "rows"
    sql      = %[7]q
    expected = %[6]q
  }
}
`, target, f.bucket, dir, port, f.agent, expected, rowsSQL)
}

const rowsSQL = "SELECT coalesce(string_agg(tag || '=' || n, ',' ORDER BY tag), '') FROM (SELECT tag, count(*) n FROM targets GROUP BY tag) s"
