package provider

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/drill"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/posture"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

const drillAddr = "lifeboat_drill_schedule.test"

// A drill on apply passes, its evidence is locked; a check made to fail
// fails the apply with the check's name and the observed value.
func TestAccDrillScheduleResource_runOnApply(t *testing.T) {
	f := newRestoreFixture(t)
	ctx := context.Background()
	if _, err := f.pool.Exec(ctx, "DROP TABLE IF EXISTS ir_attachment; CREATE TABLE ir_attachment (id int PRIMARY KEY, store_fname text); INSERT INTO ir_attachment SELECT g, 'x/'||g FROM generate_series(1, 30) g"); err != nil {
		t.Fatal(err)
	}
	switchAndWaitArchived(t, f.pool, 90*time.Second)
	store := testAccClient(t).Store(f.bucket)
	var evidenceKey string
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             testAccCheckDrillScheduleDestroyed(t, f.bucket, repo.Layout{Prefix: "pg", Cluster: "main"}, "nightly"),
		Steps: []resource.TestStep{
			{
				Config: testAccDrillConfig(f, "30", "10m"),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(drillAddr, tfjsonpath.New("last_drill_result"), knownvalue.StringExact("passed")),
					statecheck.ExpectKnownValue(drillAddr, tfjsonpath.New("last_failures"), knownvalue.ListSizeExact(0)),
				},
				Check: resource.ComposeTestCheckFunc(
					resource.TestCheckResourceAttrWith(drillAddr, "last_evidence_key", func(k string) error { evidenceKey = k; return nil }),
					func(*terraform.State) error {
						ev, err := drill.Latest(ctx, store, repo.Layout{Prefix: "pg", Cluster: "main"}, "nightly")
						if err != nil {
							return err
						}
						if !ev.Passed || len(ev.Checks) != 3 || ev.Source == "" || ev.RestoredToTime.IsZero() || ev.RTOSeconds <= 0 {
							return fmt.Errorf("evidence = %+v", ev)
						}
						// The evidence can be neither deleted nor overwritten.
						info, err := store.Head(ctx, ev.Key)
						if err != nil {
							return err
						}
						if err := store.DeleteVersion(ctx, ev.Key, info.VersionID); !errors.Is(err, objectstore.ErrObjectLocked) {
							return fmt.Errorf("deleting evidence: want ErrObjectLocked, got %w", orSucceeded(err))
						}
						if _, err := store.Put(ctx, ev.Key, strings.NewReader(`{"passed":true}`), objectstore.PutOptions{IfAbsent: true, Size: -1}); !errors.Is(err, objectstore.ErrExists) {
							return fmt.Errorf("conditional overwrite of evidence: want ErrExists, got %w", orSucceeded(err))
						}
						if _, err := store.Put(ctx, ev.Key, strings.NewReader(`{"passed":true}`), objectstore.PutOptions{Size: -1}); err == nil {
							rc, _, err := store.GetVersion(ctx, ev.Key, info.VersionID)
							if err != nil {
								return fmt.Errorf("original evidence version gone after an overwrite: %w", err)
							}
							rc.Close()
						}
						return nil
					}),
			},
			{
				// Import by repository path and name: the declaration comes
				// back from the schedule document the agent runs; only the
				// Terraform-side settings take their defaults.
				ResourceName:            drillAddr,
				ImportState:             true,
				ImportStateId:           f.bucket + "/pg/main/nightly",
				ImportStateVerify:       true,
				ImportStateVerifyIgnore: []string{"run_on_apply", "agent_path", "timeouts"},
			},
			{
				ResourceName:  drillAddr,
				ImportState:   true,
				ImportStateId: "nightly",
				ExpectError:   regexp.MustCompile(`(?s)Invalid Import ID.*<bucket>/\[<prefix>/\]<cluster>/<name>`),
			},
			{
				// A check made to fail fails the apply, naming it and what it saw.
				Config:      testAccDrillConfig(f, "31", "10m"),
				ExpectError: regexp.MustCompile(`(?s)Drill Failed.*check attachments_rows: expected 31, observed 30`),
			},
		},
	})
	if evidenceKey == "" {
		t.Fatal("no evidence key recorded")
	}
}

// testAccCheckDrillScheduleDestroyed asks the resource's own finder, as
// Read does.
func testAccCheckDrillScheduleDestroyed(t *testing.T, bucket string, layout repo.Layout, name string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		_, _, err := findDrillSchedule(context.Background(), testAccClient(t).Store(bucket), layout, name, signature.Trust{})
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		return fmt.Errorf("drill schedule %q still exists in %s", name, bucket)
	}
}

// TestDrillScheduleWarnings: the schedule's warnings are the engine's
// findings on its last drill: failed, beyond its RTO, overdue; none for a
// recent passing drill within its RTO.
func TestDrillScheduleWarnings(t *testing.T) {
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	doc := drill.ScheduleDoc{Name: "nightly", Schedule: "@daily", RTOTargetSeconds: 60}
	ev := &drill.Evidence{ID: "d1", Key: l.DrillEvidenceKey("nightly", "d1"), Finished: time.Now().Add(-72 * time.Hour), RTOSeconds: 300,
		Checks: []drill.CheckResult{{Name: "rows", Expected: "1", Observed: "0"}}}
	var diags diag.Diagnostics
	warnDrill(&diags, l, posture.DrillObservation{Schedule: doc, Latest: ev}, signature.Trust{})
	for _, want := range []string{"Last Drill Failed", "Drill Missed RTO Target", "Drill Overdue"} {
		if !hasWarning(diags, want) {
			t.Errorf("missing warning %q in %v", want, diags)
		}
	}
	ev.LaterVersions = 1
	diags = nil
	warnDrill(&diags, l, posture.DrillObservation{Schedule: doc, Latest: ev}, signature.Trust{})
	if !hasWarning(diags, "Drill Evidence Overwritten") {
		t.Errorf("evidence written over: missing warning in %v", diags)
	}
	ev.LaterVersions = 0
	ev.Finished, ev.Passed, ev.RTOSeconds, ev.Checks = time.Now().Add(-time.Hour), true, 20, nil
	diags = nil
	warnDrill(&diags, l, posture.DrillObservation{Schedule: doc, Latest: ev}, signature.Trust{})
	if len(diags) != 0 {
		t.Fatalf("a recent passing drill within its RTO must not warn: %v", diags)
	}
}

func testAccDrillConfig(f *restoreFixture, rows, rto string) string {
	return fmt.Sprintf(`
resource "lifeboat_drill_schedule" "test" {
  name                    = "nightly"
  schedule                = "@daily"
  kind                    = "cluster"
  rto_target              = %[4]q
  run_on_apply            = true
  evidence_retention_days = 1
  agent_path              = %[2]q
  scratch_dir             = %[5]q

  cluster = "main"
  repository {
    bucket = %[1]q
    prefix = "pg"
  }

  check {
    name     = "attachments_rows"
    sql      = "SELECT count(*) FROM ir_attachment"
    expected = %[3]q
  }
  check {
    name     = "some_rows"
    kind     = "row_count_floor"
    sql      = "SELECT count(*) FROM ir_attachment"
    expected = "10"
  }
  check {
    name     = "fresh"
    kind     = "rpo"
    expected = "15m"
  }
}
`, f.bucket, f.agent, rows, rto, f.scratch)
}

// orSucceeded is err, or an error saying the call succeeded, for messages
// about a call that should have failed.
func orSucceeded(err error) error {
	if err == nil {
		return errors.New("success")
	}
	return err
}
