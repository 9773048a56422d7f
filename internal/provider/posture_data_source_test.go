package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/drill"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/posture"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestAccPostureDataSource judges two real repositories through Terraform:
// a bucket made by hand without object lock, and an immutable bucket whose
// cluster has a two-day-old policy but no backup and a failed drill with
// an RTO beyond its target, on a server that does not archive WAL. It
// asserts status, observed value and evidence of passing and failing
// controls, then that an output precondition on `failing` stops the run.
func TestAccPostureDataSource(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	admin := testAccClient(t)
	// A bucket without object lock, which BucketSpec always asks for.
	plain := randomName("lb-plain")
	if _, err := admin.S3().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(plain)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.DestroyBucket(ctx, plain, true) })
	store := testAccStore(t, "lb-posture", objectstore.BucketSpec{
		Retention:  &objectstore.Retention{Mode: objectstore.ModeGovernance, Days: 1},
		Encryption: &objectstore.Encryption{Algorithm: objectstore.SSEAES256}})
	locked := store.Bucket()
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	put := func(key string, v any) {
		t.Helper()
		b, _ := json.Marshal(v)
		if _, err := store.Put(ctx, key, strings.NewReader(string(b)), objectstore.PutOptions{Size: int64(len(b))}); err != nil {
			t.Fatal(err)
		}
	}
	// A policy written two days ago (as the provider would have) whose
	// agent never ran: its first hourly slots are long past.
	created := time.Now().Add(-48 * time.Hour).UTC()
	put(l.PolicyKey(), repo.Policy{Format: 1, Cluster: "main", Schedule: "@hourly", Created: created, Updated: created})
	if err := drill.WriteSchedule(ctx, store, l, drill.ScheduleDoc{Format: 1, Name: "nightly", Cluster: "main", Schedule: "@daily",
		Kind: "cluster", RTOTargetSeconds: 60}, nil); err != nil {
		t.Fatal(err)
	}
	finished := time.Now().Add(-time.Hour).UTC()
	evidenceKey := l.DrillEvidenceKey("nightly", "20261130T000000Z-beef")
	put(evidenceKey, drill.Evidence{Format: 1, ID: "20261130T000000Z-beef", Schedule: "nightly", Cluster: "main", Passed: false,
		RTOSeconds: 95, RTOTargetSeconds: 60, Started: finished.Add(-95 * time.Second), Finished: finished,
		Checks: []drill.CheckResult{{Name: "invoices exist", Kind: "sql", Passed: false, Expected: "> 0", Observed: "0"}}})

	config := func(extra string) string {
		return fmt.Sprintf(`
data "lifeboat_posture" "plain" {
  repository = { bucket = %[1]q }
  clusters   = ["main"]
}

data "lifeboat_posture" "repo" {
  repository    = { bucket = %[2]q, prefix = "pg" }
  clusters      = ["main"]
  min_lock_days = 1
  postgres_dsn  = { main = %[3]q }
}
%[4]s
`, plain, locked, env.Postgres.DSN("postgres"), extra)
	}
	control := func(s *terraform.State, ds, id string) (map[string]string, error) {
		attrs := s.RootModule().Resources["data.lifeboat_posture."+ds].Primary.Attributes
		for i := 0; ; i++ {
			p := fmt.Sprintf("controls.%d.", i)
			if _, ok := attrs[p+"id"]; !ok {
				return nil, fmt.Errorf("%s has no control %s", ds, id)
			}
			if attrs[p+"id"] == id {
				out := map[string]string{}
				for k, v := range attrs {
					if strings.HasPrefix(k, p) {
						out[strings.TrimPrefix(k, p)] = v
					}
				}
				return out, nil
			}
		}
	}
	expect := func(ds, id, status, observed, evidence string) resource.TestCheckFunc {
		return func(s *terraform.State) error {
			c, err := control(s, ds, id)
			if err != nil {
				return err
			}
			if c["status"] != status || !strings.Contains(c["observed"], observed) {
				return fmt.Errorf("%s %s = %s %q, want %s with %q", ds, id, c["status"], c["observed"], status, observed)
			}
			if evidence != "" && !strings.Contains(c["evidence.0"], evidence) {
				return fmt.Errorf("%s %s evidence %q, want %q", ds, id, c["evidence.0"], evidence)
			}
			if c["standards.#"] == "0" {
				return fmt.Errorf("%s maps to no standard", id)
			}
			return nil
		}
	}

	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: config(""),
				Check: resource.ComposeTestCheckFunc(
					expect("plain", posture.ControlObjectLock, "fail", "object lock not enabled", "s3://"+plain),
					expect("plain", posture.ControlVersioning, "fail", "none", ""),
					expect("plain", posture.ControlEncryption, "fail", "none", ""),
					expect("plain", posture.ControlConfiguration, "fail", "policy.json missing", ""),
					resource.TestCheckTypeSetElemAttr("data.lifeboat_posture.plain", "failing.*", "bucket/bucket.object_lock"),

					expect("repo", posture.ControlObjectLock, "warn", "GOVERNANCE, 1 days", "s3://"+locked),
					expect("repo", posture.ControlVersioning, "pass", "Enabled", ""),
					expect("repo", posture.ControlEncryption, "pass", "AES256", ""),
					expect("repo", posture.ControlBaseBackupAge, "fail", "no complete base backup", ""),
					expect("repo", posture.ControlDrill, "fail", "invoices exist", evidenceKey),
					expect("repo", posture.ControlRTO, "fail", "1m35s", evidenceKey),
					expect("repo", posture.ControlConfiguration, "pass", "policy.json and 1 drill schedule(s) present", l.PolicyKey()),
					expect("repo", posture.ControlWALArchiving, "fail", "archive_mode = off", ""),
					expect("repo", posture.ControlArchiverFailures, "pass", "none since the last success", ""),
					resource.TestCheckResourceAttr("data.lifeboat_posture.repo", "worst", "fail"),
					resource.TestCheckTypeSetElemAttr("data.lifeboat_posture.repo", "failing.*", "main/drill.last_passed"),
					resource.TestCheckResourceAttrWith("data.lifeboat_posture.repo", "json", func(js string) error {
						var r posture.Report
						if err := json.Unmarshal([]byte(js), &r); err != nil {
							return err
						}
						if f, ok := r.Find(posture.ControlDrill, "main"); !ok || f.Evidence[0].Key != evidenceKey || !f.Evidence[0].Time.Equal(finished.Truncate(time.Second)) && !f.Evidence[0].Time.Equal(finished) {
							return fmt.Errorf("json drill finding %+v, want evidence %s at %s", f, evidenceKey, finished)
						}
						return nil
					}),
					resource.TestCheckResourceAttrWith("data.lifeboat_posture.repo", "markdown", func(md string) error {
						if !strings.Contains(md, "### FAIL `drill.last_passed`") || !strings.Contains(md, "ISO/IEC 27001:2022 A.5.30") {
							return fmt.Errorf("markdown lacks the failing drill or its standards:\n%s", md)
						}
						return nil
					}),
				),
			},
			{
				// What examples/data-sources/lifeboat_posture shows: a
				// precondition that stops the pipeline on a failing control.
				Config: config(`
output "posture" {
  value = data.lifeboat_posture.repo.worst
  precondition {
    condition     = length(data.lifeboat_posture.repo.failing) == 0
    error_message = "Failing recovery controls: ${join(", ", data.lifeboat_posture.repo.failing)}"
  }
}
`),
				ExpectError: regexp.MustCompile(`(?s)Failing recovery controls:.*main/drill.last_passed`),
			},
		},
	})
}
