package provider

import (
	"context"
	"fmt"
	"math/rand"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/drill"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// Drills that restore to a declared target: a named restore point, just
// before a transaction, an LSN, the end of the base backup, and a time
// offset before the drill's start. Each drill runs on apply and its check
// sees exactly the rows of its point; the evidence names the target.
// Targets the archive does not hold, an offset before the window and two
// targets at once fail at plan on their attribute; the schedule imports
// with its target; after new WAL and a new backup the plan is empty.
func TestAccDrillScheduleResource_recoveryTargets(t *testing.T) {
	f := newRestoreFixture(t)
	ctx := context.Background()
	exec := func(sql string) { t.Helper(); f.exec(t, sql) }
	// The fixture's backup is older than this table: every drill replays its creation.
	exec("DROP TABLE IF EXISTS drill_targets")
	exec("CREATE TABLE drill_targets (id serial PRIMARY KEY, tag text)")
	exec("INSERT INTO drill_targets (tag) SELECT 'a' FROM generate_series(1, 10)")
	var lsnAfterA string
	if err := f.pool.QueryRow(ctx, "SELECT pg_current_wal_insert_lsn()::text").Scan(&lsnAfterA); err != nil {
		t.Fatal(err)
	}
	point := fmt.Sprintf("drill-before-b-%d", rand.Intn(1e6))
	exec("SELECT pg_create_restore_point('" + point + "')")
	exec("INSERT INTO drill_targets (tag) SELECT 'b' FROM generate_series(1, 10)")
	tx, err := f.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var xid int64
	if _, err := tx.Exec(ctx, "INSERT INTO drill_targets (tag) SELECT 'c' FROM generate_series(1, 10)"); err != nil {
		t.Fatal(err)
	}
	if err := tx.QueryRow(ctx, "SELECT txid_current()").Scan(&xid); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	lastWrite := time.Now()
	switchAndWaitArchived(t, f.pool, 90*time.Second)

	const rows = "SELECT coalesce(string_agg(tag || '=' || n, ',' ORDER BY tag), '') FROM (SELECT tag, count(*) n FROM drill_targets GROUP BY tag) s"
	layout := repo.Layout{Prefix: "pg", Cluster: "main"}
	store := testAccClient(t).Store(f.bucket)
	step := func(target, sql, expected, describes string) resource.TestStep {
		return resource.TestStep{
			Config: testAccDrillTargetConfig(f, target, sql, expected),
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue(drillAddr, tfjsonpath.New("last_drill_result"), knownvalue.StringExact("passed")),
			},
			Check: func(*terraform.State) error {
				ev, err := drill.Latest(ctx, store, layout, "targeted")
				if err != nil {
					return err
				}
				if !ev.Passed || !strings.Contains(ev.Target, describes) {
					return fmt.Errorf("evidence: passed %t, target %q, want %q; checks %+v", ev.Passed, ev.Target, describes, ev.Checks)
				}
				if d, err := time.ParseDuration(strings.TrimSuffix(describes, " before the drill's start")); err == nil && ev.RestoredToTime.After(ev.Started.Add(-d)) {
					return fmt.Errorf("restored to %s, after %s before the drill's start %s", ev.RestoredToTime, d, ev.Started)
				}
				return nil
			},
		}
	}
	bad := func(target, re string) resource.TestStep {
		return resource.TestStep{Config: testAccDrillTargetConfig(f, target, rows, "x"), ExpectError: regexp.MustCompile(re)}
	}
	offset := step(`offset = "30s"`, rows, "a=10,b=10,c=10", "30s before the drill's start")
	offset.PreConfig = func() {
		// Everything above is more than 30 s old; rows written now are
		// inside the offset and must not be in the drill's copy.
		time.Sleep(time.Until(lastWrite.Add(35 * time.Second)))
		exec("INSERT INTO drill_targets (tag) SELECT 'late' FROM generate_series(1, 3)")
		switchAndWaitArchived(t, f.pool, 90*time.Second)
	}
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			bad(`restore_point = "never-made-drill"`, `(?s)Recovery Target Not In The Archive.*target\.restore_point`),
			bad(`lsn = "FF/0"`, `(?s)Recovery Target Not In The Archive.*target\.lsn`),
			bad(`offset = "2400h"`, `(?s)Drill Target Outside Restorable Window.*target\.offset`),
			bad("lsn = \"0/1\"\n    xid = \"900\"", `(?s)Invalid Drill Target.*exactly\s+one\s+of\s+offset,\s+lsn,\s+xid,\s+restore_point\s+and\s+immediate`),
			step(fmt.Sprintf("restore_point = %q", point), rows, "a=10", "restore point "+point),
			step(fmt.Sprintf("xid = %q\n    inclusive = false", fmt.Sprint(xid)), rows, "a=10,b=10", fmt.Sprintf("xid %d (exclusive)", xid)),
			step(fmt.Sprintf("lsn = %q", lsnAfterA), rows, "a=10", "lsn "+lsnAfterA),
			step("immediate = true", "SELECT (to_regclass('drill_targets') IS NULL)::text", "true", "immediate"),
			offset,
			{
				// The schedule the agent runs holds the target.
				ResourceName:            drillAddr,
				ImportState:             true,
				ImportStateId:           f.bucket + "/pg/main/targeted",
				ImportStateVerify:       true,
				ImportStateVerifyIgnore: []string{"run_on_apply", "agent_path", "timeouts"},
			},
			{
				// The world moves on: new WAL and a newer backup; the
				// target still plans, and nothing changes.
				PreConfig: func() {
					exec("INSERT INTO drill_targets (tag) SELECT 'later' FROM generate_series(1, 3)")
					if _, err := backup.Take(ctx, store, backup.Options{Layout: layout, DSN: testenv.Require(t).Postgres.DSN("postgres")}); err != nil {
						t.Fatal(err)
					}
					switchAndWaitArchived(t, f.pool, 90*time.Second)
				},
				Config:   testAccDrillTargetConfig(f, `offset = "30s"`, rows, "a=10,b=10,c=10"),
				PlanOnly: true,
			},
		},
	})
}

func testAccDrillTargetConfig(f *restoreFixture, target, sql, expected string) string {
	return fmt.Sprintf(`
resource "lifeboat_drill_schedule" "test" {
  name                    = "targeted"
  schedule                = "@daily"
  kind                    = "cluster"
  run_on_apply            = true
  evidence_retention_days = 1
  agent_path              = %[2]q
  scratch_dir             = %[3]q

  cluster = "main"
  repository {
    bucket = %[1]q
    prefix = "pg"
  }
  target {
    %[4]s
  }
  check {
    name     = "rows"
    sql      = %[5]q
    expected = %[6]q
  }
}
`, f.bucket, f.agent, f.scratch, target, sql, expected)
}
