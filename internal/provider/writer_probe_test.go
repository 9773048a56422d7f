package provider

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// TestAccImmutableBucketResource_writerProbe probes a bucket on apply with
// the keys of a MinIO user made from the writer's document (every
// forbidden action denied by policy), then with the provider's own keys
// (what they can do is reported allowed: the probe can fail).
func TestAccImmutableBucketResource_writerProbe(t *testing.T) {
	testAccPreCheck(t)
	bucket := randomName("lb-probe")
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	ak, sk := testAccUser(t, access.RoleWriter, bucket, l)
	config := func(env, accessKey, secretKey string) string {
		return fmt.Sprintf(`
resource "lifeboat_immutable_bucket" "test" {
  name          = %[1]q
  force_destroy = true
  retention {
    mode = "GOVERNANCE"
    days = 1
  }
  lifecycle_tier {
    name                               = "wal"
    prefix                             = "pg/main/wal/"
    noncurrent_version_expiration_days = 30
  }
  tags = {
    environment = %[2]q
  }
  writer_probe {
    access_key = %[3]q
    secret_key = %[4]q
    cluster    = "main"
    prefix     = "pg"
  }
}
`, bucket, env, accessKey, secretKey)
	}
	const addr = "lifeboat_immutable_bucket.test"
	outcomes := func(want map[access.Check]string) resource.TestCheckFunc {
		return func(s *terraform.State) error {
			a := s.RootModule().Resources[addr].Primary.Attributes
			if a["writer_probe_results.#"] != fmt.Sprint(len(access.Checks())) {
				return fmt.Errorf("%s results, want %d", a["writer_probe_results.#"], len(access.Checks()))
			}
			for i := range access.Checks() {
				check, got := access.Check(a[fmt.Sprintf("writer_probe_results.%d.check", i)]), a[fmt.Sprintf("writer_probe_results.%d.outcome", i)]
				if by := a[fmt.Sprintf("writer_probe_results.%d.denied_by", i)]; by != "" {
					got += " by " + by
				}
				if got != want[check] {
					return fmt.Errorf("%s: %s (%s), want %s", check, got, a[fmt.Sprintf("writer_probe_results.%d.detail", i)], want[check])
				}
			}
			return nil
		}
	}
	writerWant := map[access.Check]string{}
	for _, c := range access.Checks() {
		writerWant[c] = "denied by policy"
	}
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             testAccCheckBucketDestroyed(t, bucket),
		Steps: []resource.TestStep{
			{
				// No policy.json yet: nothing to rewrite, so that check is unknown.
				Config: config("test", ak, sk),
				Check: outcomes(map[access.Check]string{
					access.CheckDeleteLockedVersion: "denied by policy", access.CheckBypassGovernance: "denied by policy",
					access.CheckPutLifecycle: "denied by policy", access.CheckPutDefaultRetention: "denied by policy",
					access.CheckWriteOtherCluster: "denied by policy", access.CheckRewritePolicy: "unknown",
				}),
			},
			{
				PreConfig: func() {
					if err := repo.WritePolicy(context.Background(), testAccClient(t).Store(bucket), l, repo.Policy{Cluster: "main", Schedule: "0 2 * * *"}, nil); err != nil {
						t.Fatal(err)
					}
				},
				Config: config("prod", ak, sk),
				Check:  outcomes(writerWant),
			},
			{
				// The provider's own keys: everything but deleting a locked
				// version without the bypass is allowed.
				Config: config("prod", os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")),
				Check: outcomes(map[access.Check]string{
					access.CheckDeleteLockedVersion: "denied by lock", access.CheckBypassGovernance: "allowed",
					access.CheckPutLifecycle: "allowed", access.CheckPutDefaultRetention: "allowed",
					access.CheckWriteOtherCluster: "allowed", access.CheckRewritePolicy: "allowed",
				}),
			},
			{
				// Nothing changed: no new probe, no diff.
				Config:   config("prod", os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")),
				PlanOnly: true,
			},
		},
	})
}
