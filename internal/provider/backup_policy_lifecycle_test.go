package provider

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// Two policies in one bucket, for clusters whose names are prefixes of
// each other (main, main-eu), one with default tier prefixes and one with
// custom ones, beside the bucket's own tier: every non-data object of both
// repositories stays without expiry (S3 answers no x-amz-expiration), data
// objects get one, the rules converge (the plan after apply is empty), and
// tier prefixes that would expire configuration are refused.
func TestAccBackupPolicyResource_lifecycleSparesConfiguration(t *testing.T) {
	env := testenv.Require(t)
	bucket := randomName("lb-lcycle")
	dsn := env.Postgres.DSN("postgres")
	client := testAccClient(t)
	main := repo.Layout{Prefix: "pg", Cluster: "main"}
	eu := repo.Layout{Prefix: "pg", Cluster: "main-eu"}
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             testAccCheckBucketDestroyed(t, bucket),
		Steps: []resource.TestStep{
			{
				// A custom prefix inside the repository but outside its data.
				Config:      testAccPolicyLifecycleConfig(bucket, dsn, `"pg/main-eu/drills/"`, `"files/"`, `"audit/"`),
				ExpectError: regexp.MustCompile(`(?s)Tier Would Expire Repository Configuration.*pg/main-eu/drills/`),
			},
			{
				Config: testAccPolicyLifecycleConfig(bucket, dsn, `"pg/"`, `"files/"`, `"audit/"`),
				Check: func(*terraform.State) error {
					ctx := context.Background()
					store := client.Store(bucket)
					for _, l := range []repo.Layout{main, eu} {
						nonData := []string{l.PolicyKey(), l.ClusterInfoKey(), l.DrillScheduleKey("nightly"), l.DrillEvidenceKey("nightly", "e1"),
							l.LeaseKey("backup", 1), l.JobRecordKey("backup")}
						data := []string{l.WALKey("00000001", "000000010000000000000001", "zst"), l.BackupManifestKey("20261130T000000Z-abcd"),
							l.TenantDumpKey("shop", "20261130T000000Z-abcd")}
						for _, k := range append(nonData[1:], data...) {
							if _, err := store.Put(ctx, k, strings.NewReader("x"), objectstore.PutOptions{Size: 1}); err != nil {
								return err
							}
						}
						for _, k := range nonData {
							exp, err := expiration(ctx, client, bucket, k)
							if err != nil {
								return err
							}
							if exp != "" {
								return fmt.Errorf("%s: x-amz-expiration %q: a lifecycle rule would expire what the agent needs", k, exp)
							}
						}
						for _, k := range data {
							if exp, err := expiration(ctx, client, bucket, k); err != nil || exp == "" {
								return fmt.Errorf("%s: no x-amz-expiration (%w): the transactional tier does not cover backup data", k, err)
							}
						}
					}
					// Replaced versions of leases, job records, heartbeats and
					// request progress expire (the agent, a writer, never
					// deletes them); the current ones do not (checked above).
					for _, l := range []repo.Layout{main, eu} {
						tiers, err := client.PolicyTiers(ctx, bucket, l.Root())
						if err != nil {
							return err
						}
						found := 0
						for _, t := range tiers {
							if (t.Prefix == l.LeasesDir() || t.Prefix == l.JobsDir() || t.Prefix == l.AgentsDir() || t.Prefix == l.RequestsDir()) &&
								t.NoncurrentVersionExpirationDays == 1 && t.ExpirationDays == 0 {
								found++
							}
						}
						if found != 4 {
							return fmt.Errorf("%s: %d of 4 noncurrent-version expiries for leases, job records, heartbeats and request progress in %+v", l.Root(), found, tiers)
						}
					}
					// What prune hides behind delete markers goes after the
					// retention (7 daily backups: 7 days), with the markers
					// themselves; in the data folders only, current
					// versions untouched. Read raw, as the store keeps it.
					lc, err := client.S3().GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String(bucket)})
					if err != nil {
						return err
					}
					data := map[string]bool{}
					for _, l := range []repo.Layout{main, eu} {
						for _, p := range l.DataPrefixes() {
							data[p] = true
						}
					}
					pruned := map[string]bool{}
					for _, r := range lc.Rules {
						var prefix string
						if r.Filter != nil {
							prefix = aws.ToString(r.Filter.Prefix)
						}
						if r.Expiration == nil || !aws.ToBool(r.Expiration.ExpiredObjectDeleteMarker) {
							continue
						}
						// A retired lease generation's marker goes too, once
						// its versions have (a day).
						if prefix == main.LeasesDir() || prefix == eu.LeasesDir() {
							if r.Expiration.Days != nil || r.NoncurrentVersionExpiration == nil || aws.ToInt32(r.NoncurrentVersionExpiration.NoncurrentDays) != 1 {
								return fmt.Errorf("rule %s (prefix %q): want the leases' replaced versions after a day, no expiry of current ones", aws.ToString(r.ID), prefix)
							}
							continue
						}
						if !data[prefix] || r.Expiration.Days != nil || r.NoncurrentVersionExpiration == nil ||
							aws.ToInt32(r.NoncurrentVersionExpiration.NoncurrentDays) != 7 {
							return fmt.Errorf("rule %s (prefix %q): want noncurrent versions after 7 days in a data folder, no expiry of current versions", aws.ToString(r.ID), prefix)
						}
						pruned[prefix] = true
					}
					if len(pruned) != len(data) {
						return fmt.Errorf("data folders whose pruned versions expire: %v, want all of %v", pruned, data)
					}
					for _, k := range []string{"files/a.pdf", "attachments/a.pdf", "audit/log"} {
						if _, err := store.Put(ctx, k, strings.NewReader("x"), objectstore.PutOptions{Size: 1}); err != nil {
							return err
						}
						if exp, err := expiration(ctx, client, bucket, k); err != nil || exp == "" {
							return fmt.Errorf("%s: no x-amz-expiration (%w): its tier is missing", k, err)
						}
					}
					return nil
				},
			},
			{
				// Both policies and the bucket's tier converge: nothing to do.
				Config: testAccPolicyLifecycleConfig(bucket, dsn, `"pg/"`, `"files/"`, `"audit/"`),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()},
				},
			},
			{
				// The bucket's own tier may not expire the repositories' configuration either.
				Config:      testAccPolicyLifecycleConfig(bucket, dsn, `"pg/"`, `"files/"`, `"pg/"`),
				ExpectError: regexp.MustCompile(`(?s)Lifecycle Tier Would Expire Repository Configuration`),
			},
			{
				Config: testAccPolicyLifecycleConfig(bucket, dsn, `"pg/"`, `"files/"`, `"audit/"`),
			},
		},
	})
}

// expiration is S3's x-amz-expiration answer for key: the expiry a
// lifecycle rule gives it, empty when none does.
func expiration(ctx context.Context, client *objectstore.Client, bucket, key string) (string, error) {
	out, err := client.S3().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return "", errors.Join(fmt.Errorf("HEAD %s", key), err)
	}
	return aws.ToString(out.Expiration), nil
}

func testAccPolicyLifecycleConfig(bucket, dsn, euTransactional, euAttachments, bucketTier string) string {
	return fmt.Sprintf(`
resource "lifeboat_immutable_bucket" "repo" {
  name          = %[1]q
  force_destroy = true
  retention {
    mode = "GOVERNANCE"
    days = 1
  }
  lifecycle_tier {
    name            = "audit"
    prefix          = %[5]s
    expiration_days = 400
  }
}

resource "lifeboat_backup_policy" "main" {
  cluster          = "main"
  schedule         = "0 2 * * *"
  backup_on_create = false
  postgres {
    dsn = %[2]q
  }
  repository {
    bucket = lifeboat_immutable_bucket.repo.name
    prefix = "pg"
  }
  retention {
    full_count = 7
  }
  tier {
    name           = "transactional"
    retention_days = 40
  }
  tier {
    name           = "attachments"
    retention_days = 90
  }
}

resource "lifeboat_backup_policy" "main_eu" {
  cluster          = "main-eu"
  schedule         = "0 3 * * *"
  backup_on_create = false
  postgres {
    dsn = %[2]q
  }
  repository {
    bucket = lifeboat_immutable_bucket.repo.name
    prefix = "pg"
  }
  retention {
    full_count = 7
  }
  tier {
    name           = "transactional"
    prefix         = %[3]s
    retention_days = 50
  }
  tier {
    name           = "attachments"
    prefix         = %[4]s
    retention_days = 60
  }
}
`, bucket, dsn, euTransactional, euAttachments, bucketTier)
}
