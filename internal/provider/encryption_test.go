package provider

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestAccEncryption declares client-side encryption on lifeboat_wal_archive
// and lifeboat_backup_policy through Terraform:
//   - a recipient that is not an age public key fails the plan, naming it;
//   - the agent configuration and the signed policy carry the recipients,
//     the WAL the agent archives on apply and the first backup are stored
//     encrypted, and neither holds an identity;
//   - a lifeboat_restore of that backup fails at plan without an identity,
//     naming the recipient, and plans with the provider's identity_file;
//   - an identity file other accounts can read is refused at the provider.
func TestAccEncryption(t *testing.T) {
	env := testenv.Require(t)
	pgSrv := env.Postgres
	t.Setenv(crypt.EnvIdentityFile, "")
	t.Setenv(crypt.EnvIdentity, "")
	agent, dir := buildAgent(t)
	bucket := randomName("lb-crypt")
	layout := repo.Layout{Prefix: "pg", Cluster: "main"}
	cfgPath := filepath.Join(dir, "agent.json")
	ak, sk := testAccUser(t, access.RoleWriter, bucket, layout)
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	recipient := id.Recipient().String()
	otherID, _ := age.GenerateX25519Identity()
	other := otherID.Recipient().String()
	signer, _ := signature.Generate()
	t.Setenv("LIFEBOAT_SIGNING_KEY", signer.String())
	idFile := filepath.Join(dir, "restorer.txt")
	if err := os.WriteFile(idFile, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	exposed := filepath.Join(dir, "exposed.txt")
	if err := os.WriteFile(exposed, []byte(id.String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(exposed, 0o644); err != nil {
		t.Fatal(err)
	}
	// archive_mode on already, so the archive is proven on the first apply.
	resetArchiving(t, pgSrv)
	if out, err := pgSrv.Psql("postgres", "ALTER SYSTEM SET archive_mode = on"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if err := pgSrv.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resetArchiving(t, pgSrv) })
	client := testAccClient(t)
	config := func(provider, rec, extra string) string {
		return provider + testAccEncryptionConfig(bucket, pgSrv.DSN("postgres"), agent, cfgPath, ak, sk, rec) + extra
	}
	restoreCfg := fmt.Sprintf(`
resource "lifeboat_restore" "test" {
  kind       = "cluster"
  agent_path = %[1]q
  cluster    = "main"
  repository {
    bucket = lifeboat_immutable_bucket.repo.name
    prefix = "pg"
  }
  target {
    data_directory = %[2]q
    port           = 5999
  }
  depends_on = [lifeboat_backup_policy.test]
}
`, agent, filepath.Join(dir, "restored"))
	fp := crypt.Fingerprint(recipient)

	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             testAccCheckBucketDestroyed(t, bucket),
		Steps: []resource.TestStep{
			{
				// A private key where a recipient belongs, and a typo.
				Config:      config("", "age1notakey\", \""+id.String(), ""),
				ExpectError: regexp.MustCompile(`Invalid Age Recipient(.|\n)*encryption.recipients\[0\]`),
			},
			{
				Config: config("", recipient, ""),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(walAddr, tfjsonpath.New("verified_segment"), knownvalue.StringRegexp(regexp.MustCompile(`^[0-9A-F]{24}$`))),
					statecheck.ExpectKnownValue(walAddr, tfjsonpath.New("agent_config"), knownvalue.StringRegexp(regexp.MustCompile(`"recipients": \[\s*"`+recipient+`"`))),
					statecheck.ExpectKnownValue(policyAddr, tfjsonpath.New("encryption").AtMapKey("recipients").AtSliceIndex(0), knownvalue.StringExact(recipient)),
					statecheck.ExpectKnownValue("data.lifeboat_recovery_points.test", tfjsonpath.New("backups").AtSliceIndex(0).AtMapKey("encrypted_to"),
						knownvalue.ListExact([]knownvalue.Check{knownvalue.StringExact(fp)})),
				},
				Check: func(s *terraform.State) error {
					ctx := context.Background()
					store := client.Store(bucket)
					content, err := os.ReadFile(cfgPath)
					if err != nil {
						return err
					}
					if strings.Contains(string(content), "AGE-SECRET-KEY") || strings.Contains(string(content), "identity_file") {
						return fmt.Errorf("the writer's agent configuration holds an identity:\n%s", content)
					}
					p, err := repo.ReadPolicy(ctx, store, layout, signature.Trust{})
					if err != nil {
						return err
					}
					if p.Encryption == nil || len(p.Encryption.Recipients) != 1 || p.Encryption.Recipients[0] != recipient {
						return fmt.Errorf("policy encryption = %+v", p.Encryption)
					}
					seg := s.RootModule().Resources[walAddr].Primary.Attributes["verified_segment"]
					var walKeys []string
					if err := store.List(ctx, layout.WALDir(), func(o objectstore.ObjectInfo) error {
						if strings.Contains(o.Key, seg) {
							walKeys = append(walKeys, o.Key)
						}
						return nil
					}); err != nil {
						return err
					}
					if len(walKeys) != 1 || !strings.HasSuffix(walKeys[0], ".age") {
						return fmt.Errorf("verified segment %s stored as %v, want one encrypted object", seg, walKeys)
					}
					m, err := backup.ReadManifest(ctx, store, layout, s.RootModule().Resources[policyAddr].Primary.Attributes["last_backup_id"])
					if err != nil {
						return err
					}
					if m.Encryption == nil || m.Encryption.Recipients[0] != fp {
						return fmt.Errorf("first backup's encryption = %v, want %s", m.Encryption, fp)
					}
					return nil
				},
			},
			{
				// Refresh reads the recipients back from the stored policy:
				// one rewritten (validly signed, so signed_by stays) to
				// another recipient is drift the plan puts back.
				PreConfig: func() {
					rewritePolicyEncryption(t, client.Store(bucket), layout, signer, &repo.Encryption{Recipients: []string{other}})
				},
				Config: config("", recipient, ""),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(policyAddr, plancheck.ResourceActionUpdate),
					expectBefore{policyAddr, "encryption", map[string]any{"recipients": []any{other}}},
					plancheck.ExpectKnownValue(policyAddr, tfjsonpath.New("encryption").AtMapKey("recipients"),
						knownvalue.ListExact([]knownvalue.Check{knownvalue.StringExact(recipient)})),
				}},
				Check: func(*terraform.State) error { return storedRecipients(client.Store(bucket), layout, recipient) },
			},
			{
				// ... and one rewritten without encryption (backups would
				// go out in the clear) too.
				PreConfig: func() { rewritePolicyEncryption(t, client.Store(bucket), layout, signer, nil) },
				Config:    config("", recipient, ""),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(policyAddr, plancheck.ResourceActionUpdate),
					expectBefore{policyAddr, "encryption", nil},
				}},
				Check: func(*terraform.State) error { return storedRecipients(client.Store(bucket), layout, recipient) },
			},
			{
				// The restorer without an identity: refused at plan.
				Config:      config("", recipient, restoreCfg),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`No Identity Decrypts The Backup(.|\n)*` + fp),
			},
			{
				Config:      config(fmt.Sprintf("provider \"lifeboat\" {\n  identity_file = %q\n}\n", exposed), recipient, restoreCfg),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`Invalid Identity File(.|\n)*chmod 600`),
			},
			{
				// With the identity: the restore plans (and is not applied).
				Config:             config(fmt.Sprintf("provider \"lifeboat\" {\n  identity_file = %q\n}\n", idFile), recipient, restoreCfg),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
			},
		},
	})
}

func testAccEncryptionConfig(bucket, dsn, agent, cfgPath, ak, sk, recipient string) string {
	return fmt.Sprintf(`
resource "lifeboat_immutable_bucket" "repo" {
  name          = %[1]q
  force_destroy = true
  retention {
    mode = "GOVERNANCE"
    days = 1
  }
}

resource "lifeboat_wal_archive" "test" {
  cluster = "main"
  rpo     = "1m"
  postgres {
    dsn = %[2]q
  }
  repository {
    bucket = lifeboat_immutable_bucket.repo.name
    prefix = "pg"
  }
  agent_path               = %[3]q
  agent_config_path        = %[4]q
  manage_agent_config_file = true
  verify_timeout           = "90s"
  on_destroy               = "pause"
  agent_credentials {
    access_key = %[5]q
    secret_key = %[6]q
  }
  encryption {
    recipients = [%[7]q]
  }
}

resource "lifeboat_backup_policy" "test" {
  cluster          = "main"
  schedule         = "0 2 * * *"
  backup_on_create = true
  postgres {
    dsn = %[2]q
  }
  repository {
    bucket = lifeboat_immutable_bucket.repo.name
    prefix = "pg"
  }
  retention {
    full_count = 2
  }
  encryption {
    recipients = [%[7]q]
  }
  depends_on = [lifeboat_wal_archive.test]
}

data "lifeboat_recovery_points" "test" {
  cluster = lifeboat_backup_policy.test.cluster
  repository = {
    bucket = lifeboat_immutable_bucket.repo.name
    prefix = "pg"
  }
}
`, bucket, dsn, agent, cfgPath, ak, sk, recipient)
}

// rewritePolicyEncryption replaces the stored policy's encryption, signed
// by signer (the provider's own key: only the recipients differ).
func rewritePolicyEncryption(t *testing.T, store objectstore.Store, l repo.Layout, signer *signature.Signer, e *repo.Encryption) {
	t.Helper()
	ctx := context.Background()
	p, err := repo.ReadPolicy(ctx, store, l, signature.Trust{})
	if err != nil {
		t.Fatal(err)
	}
	p.Encryption = e
	if err := repo.WritePolicy(ctx, store, l, *p, signer); err != nil {
		t.Fatal(err)
	}
}

// storedRecipients checks the stored policy encrypts to want alone.
func storedRecipients(store objectstore.Store, l repo.Layout, want string) error {
	p, err := repo.ReadPolicy(context.Background(), store, l, signature.Trust{})
	if err != nil {
		return err
	}
	if p.Encryption == nil || len(p.Encryption.Recipients) != 1 || p.Encryption.Recipients[0] != want {
		return fmt.Errorf("stored policy encryption = %+v, want %s", p.Encryption, want)
	}
	return nil
}

// expectBefore checks the value of a top-level attribute (or block) of a
// resource before a planned change: what refresh read.
type expectBefore struct {
	addr, attr string
	want       any
}

func (e expectBefore) CheckPlan(_ context.Context, req plancheck.CheckPlanRequest, resp *plancheck.CheckPlanResponse) {
	for _, rc := range req.Plan.ResourceChanges {
		if rc.Address != e.addr {
			continue
		}
		before, _ := rc.Change.Before.(map[string]any)
		if got := before[e.attr]; !reflect.DeepEqual(got, e.want) {
			resp.Error = fmt.Errorf("%s.%s before the change = %#v, want %#v", e.addr, e.attr, got, e.want)
		}
		return
	}
	resp.Error = fmt.Errorf("no planned change of %s", e.addr)
}
