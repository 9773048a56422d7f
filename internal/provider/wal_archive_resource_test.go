package provider

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/pg"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

const walAddr = "lifeboat_wal_archive.test"

// buildAgent is the lifeboat agent built from this tree (once per test
// binary) and a scratch folder of the test's own, both reachable by the
// postgres account.
func buildAgent(t *testing.T) (bin, dir string) {
	t.Helper()
	return testenv.Lifeboat(t), testenv.Dir(t)
}

func TestAccWalArchiveResource_basic(t *testing.T) {
	env := testenv.Require(t)
	pgSrv := env.Postgres
	agent, dir := buildAgent(t)
	bucket := randomName("lb-wal")
	cfgPath := filepath.Join(dir, "agent.json")
	// The agent archives as the writer, a MinIO user created from the
	// writer's document: never with the provider's keys.
	ak, sk := testAccUser(t, access.RoleWriter, bucket, repo.Layout{Prefix: "pg", Cluster: "main"})
	config := func(rpo string) string {
		return testAccWalArchiveConfig_basic(bucket, pgSrv.DSN("postgres"), agent, cfgPath, rpo, ak, sk)
	}
	resetArchiving(t, pgSrv) // start from a fresh cluster's settings, whatever ran before
	t.Cleanup(func() { resetArchiving(t, pgSrv) })
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy: resource.ComposeTestCheckFunc(
			testAccCheckWalArchivePaused(t, pgSrv.DSN("postgres")),
			testAccCheckBucketDestroyed(t, bucket),
		),
		Steps: []resource.TestStep{
			{
				// A fresh cluster: archive_mode waits for a restart.
				Config: config("10s"),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(walAddr, tfjsonpath.New("pending_restart"), knownvalue.Bool(true)),
					statecheck.ExpectKnownValue(walAddr, tfjsonpath.New("archive_timeout"), knownvalue.StringExact("5s")),
					statecheck.ExpectKnownValue(walAddr, tfjsonpath.New("verified_segment"), knownvalue.Null()),
					statecheck.ExpectKnownValue(walAddr, tfjsonpath.New("archive_command"), knownvalue.StringRegexp(regexp.MustCompile(`^\S+/lifeboat wal-push --config \S+/agent.json %p$`))),
				},
				Check: func(*terraform.State) error {
					fi, err := os.Stat(cfgPath)
					if err != nil {
						return err
					}
					if fi.Mode().Perm() != 0o600 {
						return fmt.Errorf("agent config mode %o, want 0600", fi.Mode().Perm())
					}
					content, err := os.ReadFile(cfgPath)
					if err != nil {
						return err
					}
					if strings.Contains(string(content), env.MinIO[0].SecretKey) || strings.Contains(string(content), env.MinIO[0].AccessKey+`"`) ||
						!strings.Contains(string(content), `"access_key": "`+ak+`"`) {
						return fmt.Errorf("agent config must hold the writer's keys, never the provider's:\n%s", content)
					}
					cmd, _ := pgSrv.Psql("postgres", "show archive_command")
					if strings.Contains(cmd, env.MinIO[0].SecretKey) {
						return fmt.Errorf("archive_command holds the secret key: %s", cmd)
					}
					return nil
				},
			},
			{
				// After the restart, the outstanding verification is a planned update.
				PreConfig: func() {
					if err := pgSrv.Restart(context.Background()); err != nil {
						t.Fatal(err)
					}
				},
				Config: config("10s"),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(walAddr, plancheck.ResourceActionUpdate)},
				},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(walAddr, tfjsonpath.New("pending_restart"), knownvalue.Bool(false)),
					statecheck.ExpectKnownValue(walAddr, tfjsonpath.New("verified_segment"), knownvalue.StringRegexp(regexp.MustCompile(`^[0-9A-F]{24}$`))),
				},
				Check: resource.TestCheckResourceAttrWith(walAddr, "verified_segment", func(seg string) error {
					return testAccCheckSegmentArchived(t, bucket, seg)
				}),
			},
			{
				// Import by repository path and a password-less connection
				// (the password from PGPASSWORD): the server's settings are
				// adopted, rpo read back from archive_timeout. Settings that
				// live only in Terraform take their defaults.
				PreConfig:         func() { t.Setenv("PGPASSWORD", pgSrv.Password) },
				ResourceName:      walAddr,
				ImportState:       true,
				ImportStateId:     bucket + "/pg/main " + fmt.Sprintf("postgres://%s@%s:%d/postgres?sslmode=disable", pgSrv.User, pgSrv.Host, pgSrv.Port),
				ImportStateVerify: true,
				ImportStateVerifyIgnore: []string{"postgres", "verified_segment", "verified_at",
					"manage_agent_config_file", "verify_timeout", "on_destroy", "timeouts",
					// Keys live only in Terraform: an imported agent_config has none.
					"agent_credentials", "agent_config"},
			},
			{
				ResourceName:  walAddr,
				ImportState:   true,
				ImportStateId: bucket + "/pg/main " + pgSrv.DSN("postgres"),
				ExpectError:   regexp.MustCompile(`Password In Import ID`),
			},
			{
				ResourceName:  walAddr,
				ImportState:   true,
				ImportStateId: "main",
				ExpectError:   regexp.MustCompile(`(?s)Invalid Import ID.*<bucket>/\[<prefix>/\]<cluster> <postgres connection>`),
			},
			{
				// Drift: ALTER SYSTEM by hand shows as an update and is put back.
				PreConfig: func() {
					if out, err := pgSrv.Psql("postgres", "ALTER SYSTEM SET archive_timeout = 600"); err != nil {
						t.Fatalf("%v: %s", err, out)
					}
					if out, err := pgSrv.Psql("postgres", "select pg_reload_conf()"); err != nil {
						t.Fatalf("%v: %s", err, out)
					}
				},
				Config: config("10s"),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(walAddr, plancheck.ResourceActionUpdate)},
				},
				Check: func(*terraform.State) error {
					if v, _ := pgSrv.Psql("postgres", "show archive_timeout"); v != "5s" {
						return fmt.Errorf("archive_timeout = %q after apply, want 5s", v)
					}
					return nil
				},
			},
			{
				// A new RPO changes archive_timeout in place.
				Config: config("2m"),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(walAddr, tfjsonpath.New("archive_timeout"), knownvalue.StringExact("60s")),
				},
			},
			{
				// Refresh only: counters and timestamps never make a diff.
				RefreshState: true,
			},
			{
				Config:   config("2m"),
				PlanOnly: true,
			},
		},
	})
}

func TestAccWalArchiveResource_badInput(t *testing.T) {
	env := testenv.Require(t)
	port, _ := testenv.FreePort()
	agent := "/usr/local/bin/lifeboat"
	existing := testAccStore(t, "lb-walbad", objectstore.BucketSpec{}).Bucket()
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{Config: testAccWalArchiveConfig_only(existing, env.Postgres.DSN("postgres"), agent, "0s"), ExpectError: regexp.MustCompile(`(?s)Duration Too Short.*rpo`)},
			{Config: testAccWalArchiveConfig_only(existing, env.Postgres.DSN("postgres"), agent, "soon"), ExpectError: regexp.MustCompile(`(?s)Invalid Duration.*rpo`)},
			{Config: testAccWalArchiveConfig_only(existing, "postgres://user@host:notaport/db", agent, "1m"), ExpectError: regexp.MustCompile(`(?s)Malformed PostgreSQL DSN.*postgres.dsn`)},
			{Config: testAccWalArchiveConfig_only(existing, fmt.Sprintf("postgres://postgres:x@127.0.0.1:%d/postgres?sslmode=disable", port), agent, "1m"), ExpectError: regexp.MustCompile(`(?s)Error Connecting To PostgreSQL.*127.0.0.1:` + fmt.Sprint(port))},
			{Config: testAccWalArchiveConfig_only("lb-no-such-bucket", env.Postgres.DSN("postgres"), agent, "1m"), ExpectError: regexp.MustCompile(`(?s)Repository Bucket Not Found.*repository.bucket "lb-no-such-bucket"`)},
			{Config: testAccWalArchiveConfig_only(existing, env.Postgres.DSN("postgres"), "bin/lifeboat", "1m"), ExpectError: regexp.MustCompile(`(?s)Relative Path.*agent_path`)},
		},
	})
}

func testAccCheckSegmentArchived(t *testing.T, bucket, segment string) error {
	found := false
	err := testAccClient(t).Store(bucket).List(context.Background(), "", func(o objectstore.ObjectInfo) error {
		if strings.Contains(o.Key, "/wal/") && strings.Contains(o.Key, segment) {
			found = true
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("verified segment %s is not in bucket %s", segment, bucket)
	}
	return nil
}

func testAccWalArchiveConfig_basic(bucket, dsn, agent, cfgPath, rpo, accessKey, secretKey string) string {
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
  rpo     = %[5]q

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
    access_key = %[6]q
    secret_key = %[7]q
  }
}
`, bucket, dsn, agent, cfgPath, rpo, accessKey, secretKey)
}

// testAccCheckWalArchivePaused asks the resource's own finder, as Read
// does, whether destroy with on_destroy = "pause" left the server retaining
// WAL: archive_command fails on purpose and no longer runs the agent.
func testAccCheckWalArchivePaused(t *testing.T, dsn string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		ctx := context.Background()
		pool, err := pg.Pool(ctx, dsn)
		if err != nil {
			return err
		}
		st, err := findWALArchive(ctx, pool)
		if err != nil {
			return err
		}
		cmd := st.Settings.ArchiveCommand
		if _, _, agent := pg.ParseArchiveCommand(cmd); agent || !strings.HasPrefix(cmd, "/bin/false") {
			return fmt.Errorf("after destroy with on_destroy = \"pause\", archive_command = %q", cmd)
		}
		return nil
	}
}

func testAccWalArchiveConfig_only(bucket, dsn, agent, rpo string) string {
	return fmt.Sprintf(`
resource "lifeboat_wal_archive" "test" {
  cluster = "bad"
  rpo     = %[4]q
  postgres {
    dsn = %[2]q
  }
  repository {
    bucket = %[1]q
  }
  agent_path = %[3]q
  verify     = false
}
`, bucket, dsn, agent, rpo)
}

// pgPool is the pool type the engine's pg package uses.
type pgPool = *pgxpool.Pool

var execCommand = exec.Command

// resetArchiving puts the shared test cluster back to no archiving, so the
// next test starts from a fresh cluster's settings.
func resetArchiving(t *testing.T, pgSrv *testenv.Postgres) {
	for _, name := range []string{"archive_command", "archive_mode", "archive_timeout"} {
		// NOTE: one statement per call: ALTER SYSTEM refuses to run in the
		// transaction psql wraps several statements in.
		if out, err := pgSrv.Psql("postgres", "ALTER SYSTEM RESET "+name); err != nil {
			t.Errorf("resetting %s: %v: %s", name, err, out)
		}
	}
	if err := pgSrv.Restart(context.Background()); err != nil {
		t.Errorf("restarting after reset: %v", err)
	}
}
