package provider

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/config"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/region"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// The regional-disruption scenario as the example declares it, applied
// against two MinIO servers: both buckets locked, the region's document in
// the cluster's repository, and after a copy pass the runbook lists the
// groups in activation order.
func TestAccScenarioRegionalDisruption(t *testing.T) {
	testenv.Require(t)
	ctx := context.Background()
	body, err := os.ReadFile("../../examples/scenarios/regional-disruption/main.tf")
	if err != nil {
		t.Fatal(err)
	}
	// NOTE: the test serves the provider in-process; the example's
	// required_providers names the registry source a user installs.
	hcl := regexp.MustCompile(`(?s)terraform \{\n  required_providers \{.*?\n  \}\n\}\n`).ReplaceAllString(string(body), "")
	if hcl == string(body) {
		t.Fatal("the example's terraform block was not found")
	}
	// NOTE: the harness serves one in-process provider for every provider
	// configuration, so the last one configured would serve both: the
	// aliased provider and the bucket it creates are replaced by a bucket
	// made here, and the region references it by name.
	n := len(hcl)
	hcl = regexp.MustCompile(`(?s)# The recovery region's store\.\nprovider "lifeboat" \{.*?\n\}\n`).ReplaceAllString(hcl, "")
	hcl = regexp.MustCompile(`(?s)# The copy's bucket keeps.*?resource "lifeboat_immutable_bucket" "dr" \{.*?\n\}\n`).ReplaceAllString(hcl, "")
	hcl = strings.Replace(hcl, "lifeboat_immutable_bucket.dr.name", "var.dr_bucket", 1)
	if len(hcl) >= n || strings.Contains(hcl, "lifeboat.dr") || strings.Contains(hcl, "immutable_bucket.dr") {
		t.Fatalf("the example changed shape; adapt the test:\n%s", hcl)
	}
	dr, drClient := secondRegion(t)
	src, dst := randomName("lb-scn-src"), randomName("lb-scn-dr")
	if err := drClient.CreateBucket(ctx, objectstore.BucketSpec{Name: dst, Retention: &objectstore.Retention{Mode: objectstore.ModeGovernance, Days: 1}}); err != nil {
		t.Fatal(err)
	}
	vars := config.Variables{
		"source_bucket": config.StringVariable(src), "dr_bucket": config.StringVariable(dst),
		"dr_endpoint": config.StringVariable(dr.Endpoint), "dr_region": config.StringVariable("eu-central-2"),
		"dr_access_key": config.StringVariable(dr.AccessKey), "dr_secret_key": config.StringVariable(dr.SecretKey),
		"retention_mode": config.StringVariable("GOVERNANCE"), "retention_days": config.IntegerVariable(1),
	}
	l := repo.Layout{Prefix: "pg", Cluster: "odoo-main"}
	copyPass := func() {
		store := testAccClient(t).Store(src)
		if _, err := store.Put(ctx, l.WALKey("00000001", "000000010000000000000001", "zst"), bytes.NewReader([]byte("wal")), objectstore.PutOptions{Size: 3}); err != nil {
			t.Fatal(err)
		}
		if _, err := region.Copy(ctx, region.Options{Name: dst, Layout: l, Source: store, Dest: drClient.Store(dst)}); err != nil {
			t.Fatal(err)
		}
	}
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: hcl, ConfigVariables: vars,
				Check: resource.ComposeTestCheckFunc(
					resource.TestCheckResourceAttr(regionAddr, "clusters.0", "odoo-main"),
					resource.TestMatchResourceAttr(regionAddr, "runbook", regexp.MustCompile(`(?s)1\. warehouse \(RTO 30m0s\).*acme_logistics.*globex.*2\. transport.*initech_cargo.*3\. finance.*acme_finance`)),
					func(*terraform.State) error {
						doc, err := region.ReadConfig(ctx, testAccClient(t).Store(src), l, dst, signature.Trust{})
						if err != nil {
							return fmt.Errorf("region document: %w", err)
						}
						if doc.Destination.Store != "dr" || len(doc.Activation) != 3 {
							return fmt.Errorf("region document %+v", doc)
						}
						return nil
					},
				),
			},
			{
				PreConfig: copyPass,
				Config:    hcl, ConfigVariables: vars,
				Check: resource.ComposeTestCheckFunc(
					resource.TestCheckResourceAttr(regionAddr, "pending_objects", "0"),
					resource.TestCheckResourceAttrWith(regionAddr, "runbook", func(v string) error {
						if !strings.Contains(v, "odoo-main") {
							return fmt.Errorf("runbook without the cluster:\n%s", v)
						}
						return nil
					}),
				),
			},
		},
	})
}
