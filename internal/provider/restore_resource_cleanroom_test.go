package provider

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// A restore with a restorer's credentials reads with them only (its audit
// record says so, and was written with the provider's); then, after an
// attacker with the writer's keys dropped the live table and hid the base
// backup behind a delete marker, a clean-room restore as of the declared
// compromise time brings the rows back, its plan listing what the
// attacker wrote, with a fresh superuser password; plan-time refusals.
func TestAccRestoreResource_cleanRoom(t *testing.T) {
	f := newRestoreFixture(t)
	env := testenv.Require(t)
	ctx := context.Background()
	layout := repo.Layout{Prefix: "pg", Cluster: "main"}
	exec := func(sql string) { t.Helper(); f.exec(t, sql) }
	exec("DROP TABLE IF EXISTS vault")
	exec("CREATE TABLE vault (id int PRIMARY KEY, secret text)")
	exec("INSERT INTO vault SELECT g, 'gold' FROM generate_series(1, 30) g")
	switchAndWaitArchived(t, f.pool, 90*time.Second)

	restorer, _ := testAccRoleUser(t, randomName("restorer"), access.RoleRestorer, f.bucket, layout)
	writer, writerSecret := testAccRoleUser(t, randomName("writer"), access.RoleWriter, f.bucket, layout)
	admin := testAccClient(t).Store(f.bucket)
	signer, _ := signature.Generate()
	t.Setenv("LIFEBOAT_SIGNING_KEY", signer.String())
	trust, _ := signature.NewTrust(signer.Public().String())

	dir1, dir2 := filepath.Join(f.scratch, "restorer-only"), filepath.Join(f.scratch, "clean-room")
	port1, _ := testenv.FreePort()
	port2, _ := testenv.FreePort()
	checkDestroy := func(dir string) func(*terraform.State) error {
		return func(*terraform.State) error {
			if _, err := os.Stat(dir); err == nil {
				return fmt.Errorf("restored copy %s still exists after destroy", dir)
			}
			return nil
		}
	}
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             checkDestroy(dir1),
		Steps: []resource.TestStep{{
			// Restorer credentials only: the restore (to latest, whose
			// recovery point is kept for the apply with the provider's
			// keys) reads with them, and never writes with them.
			Config: testAccRestoreConfig_cleanRoom(f, restorer, dir1, port1, false, "", "30"),
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue(restoreAddr, tfjsonpath.New("check_results"), knownvalue.MapExact(map[string]knownvalue.Check{"vault": knownvalue.StringExact("pass")})),
				statecheck.ExpectKnownValue(restoreAddr, tfjsonpath.New("superuser_password"), knownvalue.Null()),
			},
			Check: func(*terraform.State) error {
				e, err := lastAudit(ctx, admin, layout, trust)
				if err != nil {
					return err
				}
				r := e.Record
				if r.Result != restore.AuditSucceeded || r.ReadAccessKeyID != restorer || r.WriteAccessKeyID == restorer || r.WriteAccessKeyID == "" ||
					r.FrontEnd != restore.FrontEndProvider || e.SignatureError != nil || !e.Locked || r.DataDirectory != dir1 {
					return fmt.Errorf("audit record of the restorer-only restore: %+v (signature %v, locked %v)", r, e.SignatureError, e.Locked)
				}
				return nil
			},
		}},
	})

	// The attack: the live table wrecked, the base backups hidden behind
	// delete markers with the writer's keys.
	time.Sleep(1100 * time.Millisecond)
	notAfter := time.Now().UTC().Truncate(time.Second).Format(time.RFC3339)
	time.Sleep(1100 * time.Millisecond)
	exec("UPDATE vault SET secret = 'ENCRYPTED'")
	exec("DROP TABLE vault")
	switchAndWaitArchived(t, f.pool, 90*time.Second)
	wc := env.MinIO[0].Client(t, writer, writerSecret)
	var manifests []string
	if err := admin.List(ctx, layout.BaseBackupsDir(), func(o objectstore.ObjectInfo) error {
		if k, ok := layout.Parse(o.Key); ok && k.Kind == repo.KindBackupManifest {
			manifests = append(manifests, o.Key)
		}
		return nil
	}); err != nil || len(manifests) == 0 {
		t.Fatalf("manifests %v: %v", manifests, err)
	}
	for _, k := range manifests {
		if err := wc.Store(f.bucket).Delete(ctx, k); err != nil {
			t.Fatalf("the writer hides %s: %v", k, err)
		}
	}

	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             checkDestroy(dir2),
		Steps: []resource.TestStep{{
			Config: testAccRestoreConfig_cleanRoom(f, restorer, dir2, port2, true, notAfter, "30"),
			ConfigPlanChecks: resource.ConfigPlanChecks{
				PreApply: []plancheck.PlanCheck{
					plancheck.ExpectKnownValue(restoreAddr, tfjsonpath.New("forensic_summary"),
						knownvalue.StringRegexp(regexp.MustCompile(`[1-9]\d* delete markers .*base backup manifest delete marker`))),
					plancheck.ExpectKnownValue(restoreAddr, tfjsonpath.New("recovery_source"), knownvalue.StringRegexp(regexp.MustCompile(`^backup:`))),
					plancheck.ExpectUnknownValue(restoreAddr, tfjsonpath.New("superuser_password")),
				},
			},
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue(restoreAddr, tfjsonpath.New("check_results"),
					knownvalue.MapExact(map[string]knownvalue.Check{"vault": knownvalue.StringExact("pass")})),
				statecheck.ExpectKnownValue(restoreAddr, tfjsonpath.New("superuser_password"), knownvalue.StringRegexp(regexp.MustCompile(`^.{24,}$`))),
				statecheck.ExpectKnownValue(restoreAddr, tfjsonpath.New("forensic_changes"), knownvalue.ListPartial(map[int]knownvalue.Check{
					0: knownvalue.StringRegexp(regexp.MustCompile(`^20\d\d-`)),
				})),
			},
			Check: func(*terraform.State) error {
				e, err := lastAudit(ctx, admin, layout, trust)
				if err != nil {
					return err
				}
				if r := e.Record; !r.CleanRoom || r.NotAfter == "" || r.ReadAccessKeyID != restorer || r.Result != restore.AuditSucceeded {
					return fmt.Errorf("clean-room audit record %+v", r)
				}
				return nil
			},
		}},
	})
}

// A clean room is refused at plan without restorer credentials, for a
// tenant, with a point in time after not_after, and not_after without it.
func TestAccRestoreResource_cleanRoomRefusals(t *testing.T) {
	f := &restoreFixture{bucket: "lb-unused", agent: "/usr/local/bin/lifeboat", scratch: t.TempDir()}
	base := testAccRestoreConfig_cluster(f, "latest", filepath.Join(f.scratch, "x"), 5999, "0")
	with := func(extra string) string {
		return strings.Replace(base, `kind          = "cluster"`, `kind          = "cluster"`+"\n"+extra, 1)
	}
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{Config: with(`clean_room = true`), ExpectError: regexp.MustCompile(`(?s)Clean Room Needs Restorer Credentials`)},
			{Config: with(`not_after = "2026-01-01T00:00:00Z"`), ExpectError: regexp.MustCompile(`(?s)not_after Needs clean_room`)},
			{Config: strings.Replace(with(`clean_room = true
  not_after = "2026-01-01T00:00:00Z"
  credentials {
    access_key = "r"
    secret_key = "s"
  }`), `point_in_time = "latest"`, `point_in_time = "2026-01-02T00:00:00Z"`, 1), ExpectError: regexp.MustCompile(`(?s)Point In Time After The Compromise`)},
			{Config: with(`credentials {
    access_key = "r"
  }`), ExpectError: regexp.MustCompile(`(?s)Incomplete Restorer Credentials`)},
			{Config: with(`listen_addresses = "not an address"`), ExpectError: regexp.MustCompile(`(?s)Invalid Listen Address`)},
		},
	})
}

// lastAudit is the newest restore audit record of layout.
func lastAudit(ctx context.Context, store objectstore.Store, layout repo.Layout, trust signature.Trust) (*restore.AuditEntry, error) {
	all, err := restore.ListAudit(ctx, store, layout, trust)
	if err != nil {
		return nil, err
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("no restore audit record")
	}
	return &all[len(all)-1], nil
}

func testAccRestoreConfig_cleanRoom(f *restoreFixture, restorer, dir string, port int, cleanRoom bool, notAfter, expected string) string {
	na := ""
	if notAfter != "" {
		na = fmt.Sprintf("not_after = %q", notAfter)
	}
	return fmt.Sprintf(`
resource "lifeboat_restore" "test" {
  kind       = "cluster"
  agent_path = %[5]q
  clean_room = %[7]t
  %[8]s

  cluster = "main"
  repository {
    bucket = %[2]q
    prefix = "pg"
  }
  credentials {
    access_key = %[6]q
    secret_key = "secret-%[6]s"
  }
  target {
    data_directory = %[3]q
    port           = %[4]d
  }
  check {
    name     = "vault"
    sql      = "SELECT count(*) FILTER (WHERE secret = 'gold') FROM vault"
    expected = %[9]q
  }
}
`, "", f.bucket, dir, port, f.agent, restorer, cleanRoom, na, expected)
}
