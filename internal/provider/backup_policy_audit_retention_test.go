package provider

import (
	"context"
	"fmt"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestAccBackupPolicyResource_auditRetention: audit_retention is declared
// on the policy and carried, signed, to the restores' front ends; it is
// refused at plan when shorter than the bucket's default lock or weaker
// (GOVERNANCE on a COMPLIANCE bucket), and at apply when the bucket is
// created in the same apply; refresh reads it back from the stored policy,
// so a policy rewritten without it is drift the plan puts back.
func TestAccBackupPolicyResource_auditRetention(t *testing.T) {
	env := testenv.Require(t)
	dsn := env.Postgres.DSN("postgres")
	ctx := context.Background()
	client := testAccClient(t)
	governance := testAccStore(t, "lb-audit-gov", objectstore.BucketSpec{Retention: &objectstore.Retention{Mode: objectstore.ModeGovernance, Days: 2}}).Bucket()
	compliance := testAccStore(t, "lb-audit-comp", objectstore.BucketSpec{Retention: &objectstore.Retention{Mode: objectstore.ModeCompliance, Days: 1}}).Bucket()
	signer, _ := signature.Generate()
	t.Setenv("LIFEBOAT_SIGNING_KEY", signer.String())
	layout := repo.Layout{Prefix: "pg", Cluster: "main"}
	cfg := func(bucket, audit string) string {
		return fmt.Sprintf(`
resource "lifeboat_backup_policy" "test" {
  cluster          = "main"
  schedule         = "0 2 * * *"
  backup_on_create = false
  postgres {
    dsn = %[2]q
  }
  repository {
    bucket = %[1]q
    prefix = "pg"
  }
  retention {
    days = 30
  }
  %[3]s
}
`, bucket, dsn, audit)
	}
	audit := func(mode string, days int) string {
		return fmt.Sprintf("audit_retention {\n    mode = %q\n    days = %d\n  }", mode, days)
	}
	stored := func(want *repo.AuditRetention) resource.TestCheckFunc {
		return func(*terraform.State) error {
			p, err := repo.ReadPolicy(ctx, client.Store(governance), layout, signature.Trust{})
			if err != nil {
				return err
			}
			if (p.AuditRetention == nil) != (want == nil) || (want != nil && *p.AuditRetention != *want) {
				return fmt.Errorf("stored audit_retention = %+v, want %+v", p.AuditRetention, want)
			}
			return nil
		}
	}
	declared := &repo.AuditRetention{Mode: objectstore.ModeGovernance, Days: 3}
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             testAccCheckBackupPolicyDestroyed(t, governance, layout),
		Steps: []resource.TestStep{
			{Config: cfg(governance, "audit_retention {\n    mode = \"COMPLIANCE\"\n  }"), ExpectError: regexp.MustCompile(`Incomplete Audit Retention`)},
			{Config: cfg(governance, audit("GOVERNANCE", 1)), ExpectError: regexp.MustCompile(`(?s)Audit Retention Shorter Than Bucket Lock.*at\s+least\s+2`)},
			{Config: cfg(compliance, audit("GOVERNANCE", 5)), ExpectError: regexp.MustCompile(`(?s)Audit Retention Weaker Than Bucket Lock.*COMPLIANCE`)},
			{
				Config: cfg(governance, audit("GOVERNANCE", 3)),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(policyAddr, tfjsonpath.New("audit_retention").AtMapKey("days"), knownvalue.Int64Exact(3)),
				},
				Check: stored(declared),
			},
			{
				// The stored policy rewritten without it (validly signed,
				// so signed_by stays): drift, put back.
				PreConfig: func() {
					p, err := repo.ReadPolicy(ctx, client.Store(governance), layout, signature.Trust{})
					if err != nil {
						t.Fatal(err)
					}
					p.AuditRetention = nil
					if err := repo.WritePolicy(ctx, client.Store(governance), layout, *p, signer); err != nil {
						t.Fatal(err)
					}
				},
				Config: cfg(governance, audit("GOVERNANCE", 3)),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(policyAddr, plancheck.ResourceActionUpdate),
					expectBefore{policyAddr, "audit_retention", nil},
				}},
				Check: stored(declared),
			},
			{
				// Removed from the configuration: the defaults again.
				Config: cfg(governance, ""),
				Check:  stored(nil),
			},
		},
	})

	// A bucket created in the same apply is checked when the policy is
	// written.
	fresh := randomName("lb-audit-new")
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             testAccCheckBucketDestroyed(t, fresh),
		Steps: []resource.TestStep{{
			Config: fmt.Sprintf(`
resource "lifeboat_immutable_bucket" "repo" {
  name          = %[1]q
  force_destroy = true
  retention {
    mode = "GOVERNANCE"
    days = 5
  }
}
`, fresh) + regexp.MustCompile(`bucket = "[^"]+"`).ReplaceAllString(cfg(fresh, audit("GOVERNANCE", 2)), `bucket = lifeboat_immutable_bucket.repo.name`),
			ExpectError: regexp.MustCompile(`(?s)Audit Retention Shorter Than Bucket Lock.*at\s+least\s+5`),
		}},
	})
}
