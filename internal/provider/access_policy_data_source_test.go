package provider

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// testAccUser creates the MinIO user <bucket>-<role> with role's document
// for the repository l in bucket (created with mc, as an operator would)
// and returns its keys.
func testAccUser(t *testing.T, role access.Role, bucket string, l repo.Layout) (accessKey, secretKey string) {
	t.Helper()
	return testAccRoleUser(t, bucket+"-"+string(role), role, bucket, l)
}

// TestAccAccessPolicyDataSource renders the writer's document through
// Terraform, creates a MinIO user from the rendered JSON with mc, and checks
// that user may write WAL but never policy.json.
func TestAccAccessPolicyDataSource(t *testing.T) {
	env := testenv.Require(t)
	bucket := testAccStore(t, "lb-access", objectstore.BucketSpec{}).Bucket()
	ctx := context.Background()
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	config := func(role, cluster string) string {
		return fmt.Sprintf(`
data "lifeboat_access_policy" "test" {
  role    = %q
  bucket  = %q
  prefix  = "pg"
  %s
}
`, role, bucket, cluster)
	}
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			// Refusals first: the last step's configuration must be valid
			// for the test's final destroy.
			{Config: config("writer", ""), ExpectError: regexp.MustCompile(`(?s)Invalid Access Policy Scope.*needs a cluster`)},
			{Config: config("operator", `cluster = "main"`), ExpectError: regexp.MustCompile(`(?s)Invalid Attribute Value Match.*role`)},
			{Config: config("writer", `cluster = "*"`), ExpectError: regexp.MustCompile(`(?s)cluster.*must be 1-128 letters`)},
			{
				Config: config("writer", `cluster = "main"`),
				Check: func(s *terraform.State) error {
					doc := s.RootModule().Resources["data.lifeboat_access_policy.test"].Primary.Attributes["json"]
					want, _ := access.Policy(access.RoleWriter, bucket, l)
					if doc != want.JSON() {
						return fmt.Errorf("json differs from the engine's writer document:\n%s", doc)
					}
					w := env.MinIO[0].UserClient(t, bucket+"-w", doc)
					if _, err := w.Store(bucket).Put(ctx, l.WALKey("00000001", "000000010000000000000001", "zst"), strings.NewReader("x"), objectstore.PutOptions{Size: 1}); err != nil {
						return fmt.Errorf("the writer from the rendered document cannot archive WAL: %w", err)
					}
					if _, err := w.Store(bucket).Put(ctx, l.PolicyKey(), strings.NewReader("x"), objectstore.PutOptions{Size: 1}); !errors.Is(err, objectstore.ErrAccessDenied) {
						return fmt.Errorf("the writer from the rendered document put policy.json: %w, want access denied", err)
					}
					return nil
				},
			},
			{
				Config: config("copy", `cluster = "main"`),
				Check: resource.TestCheckResourceAttrWith("data.lifeboat_access_policy.test", "json", func(doc string) error {
					want, _ := access.Policy(access.RoleCopy, bucket, l)
					if doc != want.JSON() || !strings.Contains(doc, `"s3:DeleteObject"`) || !strings.Contains(doc, `"NeverDelete"`) {
						return fmt.Errorf("copy document: %s", doc)
					}
					return nil
				}),
			},
			{
				Config: config("auditor", ""),
				Check: resource.TestCheckResourceAttrWith("data.lifeboat_access_policy.test", "json", func(doc string) error {
					if !strings.Contains(doc, `pg/*/drills/*/evidence/*`) || strings.Contains(doc, "s3:PutObject") {
						return fmt.Errorf("auditor document of every cluster: %s", doc)
					}
					return nil
				}),
			},
		},
	})
}

func TestAgentCredentialsWarning(t *testing.T) {
	d := &providerData{storeConfig: objectstore.Config{AccessKey: "provider-key", SecretKey: "provider-secret"}}
	for _, tt := range []struct {
		creds *agentCredentialsModel
		warn  bool
	}{
		{nil, false},
		{&agentCredentialsModel{AccessKey: types.StringValue("writer-key"), SecretKey: types.StringValue("s")}, false},
		{&agentCredentialsModel{AccessKey: types.StringUnknown(), SecretKey: types.StringValue("s")}, false},
		{&agentCredentialsModel{AccessKey: types.StringValue("provider-key"), SecretKey: types.StringValue("provider-secret")}, true},
	} {
		var diags diag.Diagnostics
		tt.creds.warnIfProviders(d, &diags)
		if got := hasWarning(diags, "Agent Uses The Provider's Keys"); got != tt.warn {
			t.Errorf("%+v: warning %v, want %v (%v)", tt.creds, got, tt.warn, diags)
		}
	}
	// The rendered agent configuration never holds the provider's keys.
	for _, creds := range []*agentCredentialsModel{nil, {AccessKey: types.StringValue("writer-key"), SecretKey: types.StringValue("writer-secret")}} {
		c := d.writerAgentConfig("b", "pg", "main", "zstd", creds)
		if c.AccessKey == "provider-key" || c.SecretKey == "provider-secret" {
			t.Errorf("agent config with %+v holds the provider's keys: %+v", creds, c)
		}
		if creds != nil && (c.AccessKey != "writer-key" || c.SecretKey != "writer-secret") {
			t.Errorf("agent config lost the writer's keys: %+v", c)
		}
	}
}

// A writer profile is written by name only, never with the provider's keys,
// and cannot be given with static keys.
func TestAgentCredentialsProfile(t *testing.T) {
	d := &providerData{storeConfig: objectstore.Config{AccessKey: "provider-key", SecretKey: "provider-secret"}}
	creds := &agentCredentialsModel{Profile: types.StringValue("lifeboat-writer")}
	var diags diag.Diagnostics
	creds.validate(&diags)
	if diags.HasError() {
		t.Fatalf("a profile alone: %v", diags)
	}
	c := d.writerAgentConfig("b", "pg", "main", "zstd", creds)
	if c.Profile != "lifeboat-writer" || c.AccessKey != "" || c.SecretKey != "" {
		t.Fatalf("agent config with a profile: %+v", c)
	}
	body, err := c.Marshal()
	if err != nil || !strings.Contains(string(body), `"profile": "lifeboat-writer"`) {
		t.Fatalf("rendered: %s %v", body, err)
	}
	if c.ObjectStore().Profile != "lifeboat-writer" {
		t.Fatal("the agent's store does not use the profile")
	}
	creds.AccessKey = types.StringValue("k")
	diags = nil
	creds.validate(&diags)
	if !diags.HasError() {
		t.Fatal("a profile with static keys was accepted")
	}
}
