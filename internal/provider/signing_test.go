package provider

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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

// TestAccSigning_policyRewrittenOutsideIsSignedAgain: with a signing key,
// the provider signs the policy it writes, so an agent that trusts the key
// accepts it; a policy rewritten by anyone else (here: the same content,
// unsigned, as a writer of the bucket could) is refused by that agent and
// shows in the next plan as an update of signed_by, which signs it again.
func TestAccSigning_policyRewrittenOutsideIsSignedAgain(t *testing.T) {
	env := testenv.Require(t)
	bucket := randomName("lb-signed")
	key, err := signature.Generate()
	if err != nil {
		t.Fatal(err)
	}
	trust, _ := signature.NewTrust(key.Public().String())
	client := testAccClient(t)
	layout := repo.Layout{Prefix: "pg", Cluster: "main"}
	agentAccepts := func(*terraform.State) error {
		_, err := repo.ReadPolicy(context.Background(), client.Store(bucket), layout, trust)
		return err
	}
	config := testAccSigningConfig(key.String(), bucket, env.Postgres.DSN("postgres"))
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             testAccCheckBucketDestroyed(t, bucket),
		Steps: []resource.TestStep{
			{
				Config: config,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(policyAddr, tfjsonpath.New("signed_by"), knownvalue.StringExact(key.Public().ID())),
				},
				Check: agentAccepts,
			},
			{
				// A writer of the bucket replaces the policy with the same
				// content, unsigned: the agent refuses it, the plan signs it.
				PreConfig: func() {
					ctx := context.Background()
					rc, _, err := client.Store(bucket).Get(ctx, layout.PolicyKey())
					if err != nil {
						t.Fatal(err)
					}
					var body bytes.Buffer
					_, _ = body.ReadFrom(rc)
					rc.Close()
					if _, err := client.Store(bucket).Put(ctx, layout.PolicyKey(), bytes.NewReader(body.Bytes()), objectstore.PutOptions{Size: int64(body.Len())}); err != nil {
						t.Fatal(err)
					}
					if _, err := repo.ReadPolicy(ctx, client.Store(bucket), layout, trust); !errors.Is(err, signature.ErrUnsigned) {
						t.Fatalf("the agent's read of an unsigned policy: %v, want ErrUnsigned", err)
					}
				},
				Config: config,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(policyAddr, plancheck.ResourceActionUpdate),
						plancheck.ExpectKnownValue(policyAddr, tfjsonpath.New("signed_by"), knownvalue.StringExact(key.Public().ID())),
					},
				},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(policyAddr, tfjsonpath.New("signed_by"), knownvalue.StringExact(key.Public().ID())),
				},
				Check: agentAccepts,
			},
		},
	})
}

func testAccSigningConfig(key, bucket, dsn string) string {
	return fmt.Sprintf(`
provider "lifeboat" {
  signing_key = %[1]q
}

resource "lifeboat_immutable_bucket" "repo" {
  name          = %[2]q
  force_destroy = true
  retention {
    mode = "GOVERNANCE"
    days = 1
  }
}

resource "lifeboat_backup_policy" "test" {
  cluster  = "main"
  schedule = "0 2 * * *"
  postgres {
    dsn = %[3]q
  }
  repository {
    bucket = lifeboat_immutable_bucket.repo.name
    prefix = "pg"
  }
  retention {
    full_count = 3
  }
}
`, key, bucket, dsn)
}

// TestAgentConfigTrustsTheProviderKey: the agent configuration the provider
// renders (lifeboat_wal_archive's agent_config, restores, drills) carries the
// provider's public key, and never its private key.
func TestAgentConfigTrustsTheProviderKey(t *testing.T) {
	key, _ := signature.Generate()
	d := &providerData{signer: key}
	cfg := d.agentConfig("b", "pg", "main", "")
	if len(cfg.TrustedKeys) != 1 || cfg.TrustedKeys[0] != key.Public().String() {
		t.Fatalf("trusted_keys = %v, want the provider's public key", cfg.TrustedKeys)
	}
	if _, err := cfg.Trust(); err != nil {
		t.Fatal(err)
	}
	if cfg := (&providerData{}).agentConfig("b", "pg", "main", ""); cfg.TrustedKeys != nil {
		t.Fatalf("no signing key, trusted_keys = %v", cfg.TrustedKeys)
	}
}
