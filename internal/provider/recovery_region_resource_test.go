package provider

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/region"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

const regionAddr = "lifeboat_recovery_region.eu2"

// secondRegion starts a MinIO server of the test's own, standing in for
// the other region.
func secondRegion(t *testing.T) (*testenv.MinIO, *objectstore.Client) {
	t.Helper()
	dir, err := os.MkdirTemp("", "lifeboat-region-")
	if err != nil {
		t.Fatal(err)
	}
	m, err := testenv.StartMinIO(context.Background(), dir, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Stop(); os.RemoveAll(dir) })
	c, err := objectstore.NewClient(context.Background(), objectstore.Config{Endpoint: m.Endpoint, Region: "eu-central-2",
		AccessKey: m.AccessKey, SecretKey: m.SecretKey, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	return m, c
}

func testAccRegionConfig(src, dst string, m *testenv.MinIO, maxLag, interval string, tenants string) string {
	return fmt.Sprintf(`
resource "lifeboat_recovery_region" "eu2" {
  source {
    bucket = %q
    prefix = "pg"
  }
  destination {
    bucket     = %q
    endpoint   = %q
    region     = "eu-central-2"
    access_key = %q
    secret_key = %q
    path_style = true
  }
  clusters = ["main"]
  max_lag  = %q
  interval = %q
  activation {
    group {
      name    = "warehouse"
      tenants = [%s]
      rto     = "30m"
    }
    group {
      name    = "finance"
      tenants = ["globex"]
      rto     = "8h"
    }
  }
}
`, src, dst, m.Endpoint, m.AccessKey, m.SecretKey, maxLag, interval, tenants)
}

// The plan-time rules refuse a destination without object lock, an
// activation tenant no policy backs up and a max_lag below the interval;
// a valid region writes its document into the cluster's repository,
// measures what is pending, and after a copy pass reports nothing pending;
// it imports; destroy removes the document and leaves the copy.
func TestAccRecoveryRegionResource(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	dr, drClient := secondRegion(t)
	client := testAccClient(t)
	src, dst, weak := randomName("lb-rr-src"), randomName("lb-rr-dst"), randomName("lb-rr-weak")
	if err := client.CreateBucket(ctx, objectstore.BucketSpec{Name: src, Retention: &objectstore.Retention{Mode: objectstore.ModeGovernance, Days: 7}}); err != nil {
		t.Fatal(err)
	}
	if err := drClient.CreateBucket(ctx, objectstore.BucketSpec{Name: dst, Retention: &objectstore.Retention{Mode: objectstore.ModeGovernance, Days: 7}}); err != nil {
		t.Fatal(err)
	}
	if _, err := drClient.S3().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(weak)}); err != nil {
		t.Fatal(err)
	}
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	store := client.Store(src)
	if err := repo.WritePolicy(ctx, store, l, repo.Policy{Cluster: "main", Schedule: "0 2 * * *", TenantDatabases: []string{"acme", "globex"}}, nil); err != nil {
		t.Fatal(err)
	}
	seg := l.WALKey("00000001", "000000010000000000000001", "zst")
	if _, err := store.Put(ctx, seg, bytes.NewReader([]byte("segment")), objectstore.PutOptions{Size: 7}); err != nil {
		t.Fatal(err)
	}
	copyPass := func() {
		t.Helper()
		if _, err := region.Copy(ctx, region.Options{Name: dst, Layout: l, Source: store, Dest: drClient.Store(dst)}); err != nil {
			t.Fatal(err)
		}
	}
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy: func(*terraform.State) error {
			if _, err := store.Head(ctx, l.RegionConfigKey(dst)); !errors.Is(err, objectstore.ErrNotFound) {
				return fmt.Errorf("region document after destroy: %v", err)
			}
			if _, err := drClient.Store(dst).Head(ctx, seg); err != nil {
				return fmt.Errorf("the copy did not stay after destroy: %w", err)
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				Config:      testAccRegionConfig(src, weak, dr, "15m", "1m", `"acme"`),
				ExpectError: regexp.MustCompile(`(?s)Destination Bucket Not Protected.*object lock is not enabled`),
			},
			{
				Config:      testAccRegionConfig(src, src, env.MinIO[0], "15m", "1m", `"acme"`),
				ExpectError: regexp.MustCompile(`Destination Is The Source`),
			},
			{
				Config:      testAccRegionConfig(src, dst, dr, "15m", "1m", `"acme", "initech"`),
				ExpectError: regexp.MustCompile(`(?s)Activation Tenant Not Backed Up.*"initech"`),
			},
			{
				Config:      testAccRegionConfig(src, dst, dr, "1m", "5m", `"acme"`),
				ExpectError: regexp.MustCompile(`Max Lag Below The Copy Interval`),
			},
			{
				Config: testAccRegionConfig(src, dst, dr, "15m", "1m", `"acme"`),
				Check: resource.ComposeTestCheckFunc(
					resource.TestCheckResourceAttr(regionAddr, "id", src+"/pg "+dst),
					resource.TestCheckResourceAttr(regionAddr, "pending_objects", "3"), // the segment, the policy and the region document: nothing copied yet
					resource.TestCheckNoResourceAttr(regionAddr, "last_copy_time"),
					resource.TestMatchResourceAttr(regionAddr, "runbook", regexp.MustCompile(`(?s)1\. warehouse.*acme.*2\. finance.*globex`)),
					resource.TestCheckResourceAttrWith(regionAddr, "copy_policy", func(v string) error {
						want, err := access.Policy(access.RoleCopy, dst, l)
						if err != nil || v != want.JSON() {
							return fmt.Errorf("copy_policy is not the copy role's document of the destination (%v):\n%s", err, v)
						}
						return nil
					}),
					func(*terraform.State) error {
						doc, err := region.ReadConfig(ctx, store, l, dst, signature.Trust{})
						if err != nil {
							return err
						}
						if doc.Destination.Endpoint != dr.Endpoint || doc.IntervalSeconds != 60 || len(doc.Activation) != 2 || doc.Activation[0].RTOSeconds != 1800 {
							return fmt.Errorf("region document %+v", doc)
						}
						return nil
					},
				),
			},
			{
				PreConfig: copyPass,
				Config:    testAccRegionConfig(src, dst, dr, "15m", "1m", `"acme"`),
				Check: resource.ComposeTestCheckFunc(
					resource.TestCheckResourceAttr(regionAddr, "pending_objects", "0"),
					resource.TestCheckResourceAttr(regionAddr, "pending_bytes", "0"),
					resource.TestCheckResourceAttrSet(regionAddr, "last_copy_time"),
					resource.TestCheckResourceAttrWith(regionAddr, "lag_seconds", func(v string) error {
						if v == "0" || strings.HasPrefix(v, "-") {
							return fmt.Errorf("lag_seconds = %s, want the canary's round trip", v)
						}
						return nil
					}),
				),
			},
			{
				ResourceName:      regionAddr,
				ImportState:       true,
				ImportStateId:     src + "/pg " + dst,
				ImportStateVerify: true,
				ImportStateVerifyIgnore: []string{"destination.access_key", "destination.secret_key", "destination.path_style",
					"lag_seconds", "pending_objects", "pending_bytes", "last_copy_time", "runbook"},
			},
		},
	})
}

// The drift and lag rules: a destination without versioning or lock, or
// with a shorter retention, is named; a lag over max_lag warns.
func TestRecoveryRegionWeaknessAndLagWarnings(t *testing.T) {
	src := &objectstore.BucketState{Spec: objectstore.BucketSpec{Retention: &objectstore.Retention{Days: 30}}}
	dst := &objectstore.BucketState{Versioning: "Enabled", ObjectLockEnabled: true, Spec: objectstore.BucketSpec{Retention: &objectstore.Retention{Days: 30}}}
	if p := destWeakness(src, dst); len(p) != 0 {
		t.Fatalf("sound destination: %v", p)
	}
	dst.Spec.Retention.Days = 7
	dst.Versioning = "Suspended"
	if p := destWeakness(src, dst); len(p) != 2 || !strings.Contains(p[1], "shorter than the source's 30 days") {
		t.Fatalf("weakened destination: %v", p)
	}
	r := &recoveryRegionResource{}
	m := &recoveryRegionModel{Destination: &regionDestModel{Bucket: types.StringValue("dr")}, MaxLag: types.StringValue("15m"),
		Interval: types.StringValue("1m"), LagSeconds: types.Float64Value(1200), PendingObjects: types.Int64Value(4),
		PendingBytes: types.Int64Value(100), LastCopyTime: types.StringNull()}
	var diags diag.Diagnostics
	r.warn(m, &diags)
	if diags.WarningsCount() != 1 || diags.Warnings()[0].Summary() != "Recovery Region Lag Over Target" {
		t.Fatalf("lag over target: %v", diags)
	}
	m.LagSeconds = types.Float64Value(30)
	diags = nil
	r.warn(m, &diags)
	if diags.WarningsCount() != 0 {
		t.Fatalf("lag within target: %v", diags)
	}
}

// A copying agent's probe record in which the copy keys were allowed a
// forbidden action warns on refresh, naming the actions and the signer;
// one with every action denied, or none at all, does not.
func TestRecoveryRegionCopyProbeWarning(t *testing.T) {
	rec := &access.ProbeRecord{Holder: "db-1", Ran: time.Now(), Results: []access.Result{
		{Check: access.CheckDeleteLockedVersion, Outcome: access.Denied, By: access.ByLock},
		{Check: access.CheckBypassGovernance, Outcome: access.Allowed},
		{Check: access.CheckWriteActivation, Outcome: access.Allowed},
	}, Signer: "0123abcd"}
	var diags diag.Diagnostics
	warnCopyProbe("dr", "main", rec, &diags)
	if diags.WarningsCount() != 1 || diags.Warnings()[0].Summary() != "Recovery Region Copy Keys Too Broad" ||
		!strings.Contains(diags.Warnings()[0].Detail(), "bypass_governance_retention, write_activation_mark") ||
		!strings.Contains(diags.Warnings()[0].Detail(), "signed by 0123abcd") {
		t.Fatalf("too broad: %v", diags)
	}
	rec.Results = rec.Results[:1]
	diags = nil
	warnCopyProbe("dr", "main", rec, &diags)
	warnCopyProbe("dr", "main", nil, &diags)
	if diags.WarningsCount() != 0 {
		t.Fatalf("denied, or no record: %v", diags)
	}
}
