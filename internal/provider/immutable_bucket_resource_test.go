package provider

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
)

const bucketAddr = "lifeboat_immutable_bucket.test"

func TestAccImmutableBucketResource_basic(t *testing.T) {
	name := randomName("lb-basic")
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             testAccCheckBucketDestroyed(t, name),
		Steps: []resource.TestStep{
			{
				Config: testAccImmutableBucketConfig_basic(name, 30, 90, `env = "test"`),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(bucketAddr, tfjsonpath.New("id"), knownvalue.StringExact(name)),
					statecheck.ExpectKnownValue(bucketAddr, tfjsonpath.New("versioning"), knownvalue.StringExact("Enabled")),
					statecheck.ExpectKnownValue(bucketAddr, tfjsonpath.New("retention").AtMapKey("mode"), knownvalue.StringExact("GOVERNANCE")),
					statecheck.ExpectKnownValue(bucketAddr, tfjsonpath.New("lifecycle_tier"), knownvalue.SetSizeExact(2)),
					statecheck.ExpectKnownValue(bucketAddr, tfjsonpath.New("tags").AtMapKey("env"), knownvalue.StringExact("test")),
				},
				Check: testAccCheckBucketPosture(t, name, func(st *objectstore.BucketState) error {
					if !st.ObjectLockEnabled || st.Versioning != "Enabled" {
						return fmt.Errorf("object lock %v, versioning %q; want both on", st.ObjectLockEnabled, st.Versioning)
					}
					if r := st.Spec.Retention; r == nil || r.Mode != "GOVERNANCE" || r.Days != 1 {
						return fmt.Errorf("retention = %+v, want GOVERNANCE 1 day", r)
					}
					if e := st.Spec.Encryption; e == nil || e.Algorithm != "AES256" {
						return fmt.Errorf("encryption = %+v, want AES256", e)
					}
					if len(st.Spec.Lifecycle) != 2 || st.Spec.Lifecycle[0].Name != "attachments" || st.Spec.Lifecycle[0].NoncurrentVersionExpirationDays != 90 {
						return fmt.Errorf("lifecycle = %+v", st.Spec.Lifecycle)
					}
					return nil
				}),
			},
			{
				ResourceName:      bucketAddr,
				ImportState:       true,
				ImportStateId:     name,
				ImportStateVerify: true,
			},
			{
				Config: testAccImmutableBucketConfig_basic(name, 60, 120, `env = "prod", team = "platform"`),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(bucketAddr, plancheck.ResourceActionUpdate)},
				},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(bucketAddr, tfjsonpath.New("tags").AtMapKey("team"), knownvalue.StringExact("platform")),
					statecheck.ExpectKnownValue(bucketAddr, tfjsonpath.New("lifecycle_tier"), knownvalue.SetPartial([]knownvalue.Check{
						knownvalue.ObjectPartial(map[string]knownvalue.Check{"name": knownvalue.StringExact("transactional"), "expiration_days": knownvalue.Int64Exact(60)}),
					})),
				},
				Check: testAccCheckBucketPosture(t, name, func(st *objectstore.BucketState) error {
					for _, tier := range st.Spec.Lifecycle {
						if tier.Name == "transactional" && tier.ExpirationDays != 60 {
							return fmt.Errorf("transactional expiration = %d, want 60", tier.ExpirationDays)
						}
					}
					if st.Spec.Tags["team"] != "platform" || st.Spec.Tags["env"] != "prod" {
						return fmt.Errorf("tags = %v", st.Spec.Tags)
					}
					return nil
				}),
			},
		},
	})
}

func TestAccImmutableBucketResource_disappears(t *testing.T) {
	name := randomName("lb-gone")
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             testAccCheckBucketDestroyed(t, name),
		Steps: []resource.TestStep{
			{
				Config: testAccImmutableBucketConfig_basic(name, 30, 90, ""),
				Check: func(*terraform.State) error {
					return testAccClient(t).DestroyBucket(context.Background(), name, true)
				},
				ExpectNonEmptyPlan: true,
			},
		},
	})
}

// Drift made outside Terraform shows as a planned update, and applying it
// converges the bucket back.
func TestAccImmutableBucketResource_drift(t *testing.T) {
	name := randomName("lb-drift")
	client := testAccClient(t)
	cfg := testAccImmutableBucketConfig_basic(name, 30, 90, "")
	expectUpdate := resource.ConfigPlanChecks{
		PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(bucketAddr, plancheck.ResourceActionUpdate)},
	}
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             testAccCheckBucketDestroyed(t, name),
		Steps: []resource.TestStep{
			{Config: cfg},
			{
				PreConfig: func() {
					st := mustReadBucket(t, client, name)
					changed := st.Spec
					changed.Lifecycle = []objectstore.LifecycleTier{{Name: "transactional", Prefix: "pg/", ExpirationDays: 7}}
					if err := client.UpdateBucket(context.Background(), st.Spec, changed); err != nil {
						t.Fatal(err)
					}
				},
				Config:           cfg,
				ConfigPlanChecks: expectUpdate,
				Check: testAccCheckBucketPosture(t, name, func(st *objectstore.BucketState) error {
					if len(st.Spec.Lifecycle) != 2 {
						return fmt.Errorf("lifecycle not converged back: %+v", st.Spec.Lifecycle)
					}
					return nil
				}),
			},
			{
				PreConfig: func() {
					st := mustReadBucket(t, client, name)
					changed := st.Spec
					changed.Retention = &objectstore.Retention{Mode: "GOVERNANCE", Days: 5}
					if err := client.UpdateBucket(context.Background(), st.Spec, changed); err != nil {
						t.Fatal(err)
					}
				},
				Config:           cfg,
				ConfigPlanChecks: expectUpdate,
				Check: testAccCheckBucketPosture(t, name, func(st *objectstore.BucketState) error {
					if st.Spec.Retention == nil || st.Spec.Retention.Days != 1 {
						return fmt.Errorf("retention not converged back: %+v", st.Spec.Retention)
					}
					return nil
				}),
			},
			{
				PreConfig: func() {
					st := mustReadBucket(t, client, name)
					changed := st.Spec
					changed.Encryption = nil
					changed.Tags = map[string]string{"owner": "someone-else"}
					if err := client.UpdateBucket(context.Background(), st.Spec, changed); err != nil {
						t.Fatal(err)
					}
				},
				Config:           cfg,
				ConfigPlanChecks: expectUpdate,
			},
			{
				// Suspending versioning on an object-locked bucket must be
				// impossible; if a store ever allows it, the plan re-enables it.
				PreConfig: func() {
					_, err := client.S3().PutBucketVersioning(context.Background(), &s3.PutBucketVersioningInput{
						Bucket:                  aws.String(name),
						VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusSuspended},
					})
					if err == nil {
						t.Log("store allowed suspending versioning on an object-locked bucket; expecting the plan to re-enable it")
					}
				},
				Config: cfg,
				Check: testAccCheckBucketPosture(t, name, func(st *objectstore.BucketState) error {
					if st.Versioning != "Enabled" {
						return fmt.Errorf("versioning = %q after apply, want Enabled", st.Versioning)
					}
					return nil
				}),
			},
		},
	})
}

func TestAccImmutableBucketResource_planTimeRules(t *testing.T) {
	name := randomName("lb-rules")
	steps := []resource.TestStep{
		{Config: testAccImmutableBucketConfig_retention("Not_A_Bucket", "GOVERNANCE", 1, 0), ExpectError: regexp.MustCompile(`(?s)Invalid Bucket Name.*lower-case`)},
		{Config: testAccImmutableBucketConfig_retention("ab", "GOVERNANCE", 1, 0), ExpectError: regexp.MustCompile(`(?s)Invalid Bucket Name.*3-63`)},
		{Config: testAccImmutableBucketConfig_retention("192.168.10.1", "GOVERNANCE", 1, 0), ExpectError: regexp.MustCompile(`IP address`)},
		{Config: testAccImmutableBucketConfig_retention(name, "WORM", 1, 0), ExpectError: regexp.MustCompile(`(?s)retention.mode.*GOVERNANCE.*COMPLIANCE`)},
		{Config: testAccImmutableBucketConfig_retention(name, "GOVERNANCE", 0, 0), ExpectError: regexp.MustCompile(`(?s)retention.days.*between 1 and`)},
		{Config: testAccImmutableBucketConfig_retention(name, "GOVERNANCE", 30, 7), ExpectError: regexp.MustCompile(`(?s)Lifecycle Expiration Shorter Than Retention.*expiration_days = 7 is shorter than\s+retention.days\s+=\s+30`)},
		{Config: testAccImmutableBucketConfig_retention(name, "GOVERNANCE", 1, -3), ExpectError: regexp.MustCompile(`(?s)expiration_days.*at least 1`)},
		{Config: fmt.Sprintf(`resource "lifeboat_immutable_bucket" "test" { name = %q }`, name), ExpectError: regexp.MustCompile(`(?s)retention.*(required|must be configured)`)},
		// COMPLIANCE can never be weakened.
		{Config: testAccImmutableBucketConfig_retention(name, "COMPLIANCE", 2, 0)},
		{Config: testAccImmutableBucketConfig_retention(name, "GOVERNANCE", 2, 0), ExpectError: regexp.MustCompile(`(?s)COMPLIANCE Retention Cannot Be Weakened.*retention.mode`)},
		{Config: testAccImmutableBucketConfig_retention(name, "COMPLIANCE", 1, 0), ExpectError: regexp.MustCompile(`(?s)COMPLIANCE Retention Cannot Be Weakened.*Keep at least 2 days`)},
		// Strengthening is fine.
		{Config: testAccImmutableBucketConfig_retention(name, "COMPLIANCE", 3, 0)},
	}
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             testAccCheckBucketDestroyed(t, name),
		Steps:                    steps,
	})
}

func TestAccImmutableBucketResource_forceDestroyGovernance(t *testing.T) {
	name := randomName("lb-force")
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             testAccCheckBucketDestroyed(t, name),
		Steps: []resource.TestStep{
			{
				Config: testAccImmutableBucketConfig_force(name, "GOVERNANCE", false),
				Check: func(*terraform.State) error {
					store := testAccClient(t).Store(name)
					for i := 0; i < 3; i++ {
						if _, err := store.Put(context.Background(), fmt.Sprintf("wal/%d", i), strings.NewReader("segment"), objectstore.PutOptions{Size: -1}); err != nil {
							return err
						}
					}
					return nil
				},
			},
			{
				// Without force_destroy, a bucket with objects is not destroyed.
				Config:      testAccImmutableBucketConfig_force(name, "GOVERNANCE", false),
				Destroy:     true,
				ExpectError: regexp.MustCompile(`(?s)Bucket Not Empty.*force_destroy`),
			},
			{Config: testAccImmutableBucketConfig_force(name, "GOVERNANCE", true)},
		},
	})
}

// Destroy of a COMPLIANCE bucket with locked objects fails, saying until
// when; once the lock expires the bucket can go.
func TestAccImmutableBucketResource_destroyRefusedWhileComplianceLocked(t *testing.T) {
	name := randomName("lb-locked")
	lockedFor := 25 * time.Second
	var lockedUntil time.Time
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             testAccCheckBucketDestroyed(t, name),
		Steps: []resource.TestStep{
			{
				Config: testAccImmutableBucketConfig_force(name, "COMPLIANCE", true),
				Check: func(*terraform.State) error {
					// An explicit short retention stands in for the bucket's
					// 1-day default, so the test can clean up after itself.
					lockedUntil = time.Now().Add(lockedFor)
					_, err := testAccClient(t).Store(name).Put(context.Background(), "evidence/drill.json",
						strings.NewReader(`{"passed":true}`), objectstore.PutOptions{Size: -1, RetainUntil: lockedUntil})
					return err
				},
			},
			{
				Config:      testAccImmutableBucketConfig_force(name, "COMPLIANCE", true),
				Destroy:     true,
				ExpectError: regexp.MustCompile(`(?s)Bucket Holds Locked Objects.*COMPLIANCE retention until 20\d\d-`),
			},
			{
				PreConfig: func() { time.Sleep(time.Until(lockedUntil) + 2*time.Second) },
				Config:    testAccImmutableBucketConfig_force(name, "COMPLIANCE", true),
			},
		},
	})
}

// The ransomware check: with the provider's own credentials, a locked object
// version in a COMPLIANCE bucket can be neither deleted nor overwritten.
func TestAccImmutableBucket_ransomwareCannotEraseLockedVersion(t *testing.T) {
	testAccPreCheck(t)
	ctx := context.Background()
	client := testAccClient(t)
	name := randomName("lb-ransom")
	if err := client.CreateBucket(ctx, objectstore.BucketSpec{Name: name, Retention: &objectstore.Retention{Mode: "COMPLIANCE", Days: 1}}); err != nil {
		t.Fatal(err)
	}
	store := client.Store(name)
	orig, err := store.Put(ctx, "pg/base/backup.tar.zst", strings.NewReader("the only good copy"), objectstore.PutOptions{Size: -1})
	if err != nil {
		t.Fatal(err)
	}
	// Attack 1: delete the version, even asking to bypass governance.
	_, err = client.S3().DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(name), Key: aws.String(orig.Key),
		VersionId: aws.String(orig.VersionID), BypassGovernanceRetention: aws.Bool(true)})
	if err == nil {
		t.Fatal("deleting a COMPLIANCE-locked version succeeded")
	}
	if err := store.DeleteVersion(ctx, orig.Key, orig.VersionID); !errors.Is(err, objectstore.ErrObjectLocked) {
		t.Fatalf("DeleteVersion: want ErrObjectLocked, got %v", err)
	}
	// Attack 2: shorten the retention.
	_, err = client.S3().PutObjectRetention(ctx, &s3.PutObjectRetentionInput{Bucket: aws.String(name), Key: aws.String(orig.Key), VersionId: aws.String(orig.VersionID),
		Retention: &types.ObjectLockRetention{Mode: types.ObjectLockRetentionModeCompliance, RetainUntilDate: aws.Time(time.Now().Add(time.Minute))}})
	if err == nil {
		t.Fatal("shortening a COMPLIANCE retention succeeded")
	}
	// Attack 3: overwrite in place. A PUT only adds a new version; the locked
	// one keeps its bytes.
	if _, err := store.Put(ctx, orig.Key, strings.NewReader("encrypted by ransomware"), objectstore.PutOptions{Size: -1}); err != nil {
		t.Fatalf("put of a new version: %v", err)
	}
	rc, _, err := store.GetVersion(ctx, orig.Key, orig.VersionID)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(rc); err != nil {
		t.Fatal(err)
	}
	if buf.String() != "the only good copy" {
		t.Fatalf("locked version now reads %q", buf.String())
	}
	// Attack 4: destroy the bucket with force.
	var locked *objectstore.BucketLockedError
	if err := client.DestroyBucket(ctx, name, true); !errors.As(err, &locked) {
		t.Fatalf("force destroy of a COMPLIANCE bucket: want BucketLockedError, got %v", err)
	}
	if _, err := client.ReadBucket(ctx, name); err != nil {
		t.Fatalf("bucket gone after refused destroy: %v", err)
	}
}

// testAccCheckBucketDestroyed asks the resource's own finder, as Read does.
func testAccCheckBucketDestroyed(t *testing.T, name string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		_, err := findImmutableBucket(context.Background(), testAccClient(t), name)
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		return fmt.Errorf("bucket %s still exists", name)
	}
}

func testAccCheckBucketPosture(t *testing.T, name string, check func(*objectstore.BucketState) error) resource.TestCheckFunc {
	return func(*terraform.State) error {
		st, err := testAccClient(t).ReadBucket(context.Background(), name)
		if err != nil {
			return err
		}
		return check(st)
	}
}

func mustReadBucket(t *testing.T, c *objectstore.Client, name string) *objectstore.BucketState {
	t.Helper()
	st, err := c.ReadBucket(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func testAccImmutableBucketConfig_basic(name string, txDays, attNoncurrentDays int, tags string) string {
	return fmt.Sprintf(`
resource "lifeboat_immutable_bucket" "test" {
  name = %[1]q

  retention {
    mode = "GOVERNANCE"
    days = 1
  }

  encryption {
    algorithm = "AES256"
  }

  lifecycle_tier {
    name            = "transactional"
    prefix          = "pg/"
    expiration_days = %[2]d
  }

  lifecycle_tier {
    name                               = "attachments"
    prefix                             = "attachments/"
    noncurrent_version_expiration_days = %[3]d
  }

  tags = { %[4]s }
}
`, name, txDays, attNoncurrentDays, tags)
}

func testAccImmutableBucketConfig_retention(name, mode string, days, expiration int) string {
	tier := ""
	if expiration != 0 {
		tier = fmt.Sprintf(`
  lifecycle_tier {
    name            = "audit"
    prefix          = "audit/"
    expiration_days = %d
  }`, expiration)
	}
	return fmt.Sprintf(`
resource "lifeboat_immutable_bucket" "test" {
  name = %[1]q
  retention {
    mode = %[2]q
    days = %[3]d
  }
  %[4]s
}
`, name, mode, days, tier)
}

func testAccImmutableBucketConfig_force(name, mode string, force bool) string {
	return fmt.Sprintf(`
resource "lifeboat_immutable_bucket" "test" {
  name          = %[1]q
  force_destroy = %[3]t
  retention {
    mode = %[2]q
    days = 1
  }
}
`, name, mode, force)
}
