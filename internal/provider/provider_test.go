package provider

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// testAccProtoV6ProviderFactories serves the provider in-process to the
// real Terraform CLI that terraform-plugin-testing drives.
var testAccProtoV6ProviderFactories = map[string]func() (tfprotov6.ProviderServer, error){
	"lifeboat": NewServer("test"),
}

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.Spec{MinIO: 1, Postgres: true, Redis: true}))
}

// testAccPreCheck skips unless the harness started the services.
func testAccPreCheck(t *testing.T) {
	testenv.Require(t)
}

// testAccClient is an object-store client with the provider's own
// credentials (the harness exports them to the environment).
func testAccClient(t *testing.T) *objectstore.Client {
	t.Helper()
	c, err := objectstore.NewClient(context.Background(), objectstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testAccStore is a test's own bucket on the MinIO server the provider's
// credentials reach, named prefix-<random>, made as spec says and
// destroyed (as far as its locks allow) when the test ends; Bucket() is
// its name.
func testAccStore(t *testing.T, prefix string, spec objectstore.BucketSpec) *objectstore.S3 {
	t.Helper()
	return testenv.Require(t).MinIO[0].NewStore(t, prefix, spec)
}

func randomName(prefix string) string {
	return fmt.Sprintf("%s-%08x", prefix, rand.Uint32())
}

func TestProviderSchemaIsValid(t *testing.T) {
	// The framework validates schemas (and every resource's) when serving
	// GetProviderSchema; an invalid one returns error diagnostics.
	srv, err := testAccProtoV6ProviderFactories["lifeboat"]()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.GetProviderSchema(context.Background(), &tfprotov6.GetProviderSchemaRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range resp.Diagnostics {
		if d.Severity == tfprotov6.DiagnosticSeverityError {
			t.Errorf("schema diagnostic: %s: %s", d.Summary, d.Detail)
		}
	}
	if _, ok := resp.ResourceSchemas["lifeboat_immutable_bucket"]; !ok {
		t.Fatal("lifeboat_immutable_bucket is not served")
	}
}

// A wrong endpoint or rejected credentials fail at the first resource that
// needs the store, with one error naming what failed.
func TestAccProvider_badStoreSettings(t *testing.T) {
	env := testenv.Require(t)
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	config := func(provider string) string {
		return provider + testAccImmutableBucketConfig_force(randomName("lb-cfg"), "GOVERNANCE", false)
	}
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: config(fmt.Sprintf(`provider "lifeboat" {
  endpoint   = %q
  access_key = "not-a-key"
  secret_key = "not-a-secret"
  path_style = true
}`, env.MinIO[0].Endpoint)),
				ExpectError: regexp.MustCompile(`(?s)Error Creating Immutable Bucket.*rejected the request.*access_key`),
			},
			{
				Config: config(fmt.Sprintf(`provider "lifeboat" {
  endpoint   = "http://127.0.0.1:%d"
  path_style = true
}`, port)),
				ExpectError: regexp.MustCompile(`(?s)Error Creating Immutable Bucket.*could not be reached.*127.0.0.1:` + fmt.Sprint(port)),
			},
		},
	})
}
