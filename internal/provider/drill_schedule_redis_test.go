package provider

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/drill"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/redisx"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/remote"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// A redis drill declared in Terraform: invalid combinations are refused at
// plan naming the attribute; the signed schedule document carries the
// instance, key floor and RPO; run_on_apply restores the newest snapshot
// into a scratch redis-server and passes, and a key floor above what the
// snapshot holds fails the apply with the observed count; import reads
// the redis block back from the document.
func TestAccDrillScheduleResource_redis(t *testing.T) {
	f := newRedisRestoreFixture(t, 200)
	f.snapshot(t)
	// The drill finds redis-server on PATH, as the agent does.
	t.Setenv("PATH", filepath.Dir(f.server)+string(os.PathListSeparator)+os.Getenv("PATH"))
	scratch := t.TempDir()
	signer, err := signature.Generate()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("LIFEBOAT_SIGNING_KEY", signer.String())
	ctx := context.Background()
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             testAccCheckDrillScheduleDestroyed(t, f.bucket, f.layout, "redis-nightly"),
		Steps: []resource.TestStep{
			{
				Config:      testAccRedisDrillConfig(f, scratch, "redis", "", ""),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)Missing Redis Block.*redis\s+\{\s+instance`),
			},
			{
				Config:      testAccRedisDrillConfig(f, scratch, "redis", "redis {\n min_keys = 1\n}", ""),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)Missing Redis Instance.*redis\.instance is required`),
			},
			{
				Config:      testAccRedisDrillConfig(f, scratch, "redis", `redis { instance = "sessions" }`, `database = "odoo"`),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)PostgreSQL Attribute On A Redis Drill.*database is for cluster and tenant drills`),
			},
			{
				Config: testAccRedisDrillConfig(f, scratch, "redis", `redis { instance = "sessions" }`,
					"check {\n name = \"x\"\n sql = \"SELECT 1\"\n expected = \"1\"\n}"),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)PostgreSQL Attribute On A Redis Drill.*check is for cluster and tenant drills`),
			},
			{
				Config:      testAccRedisDrillConfig(f, scratch, "cluster", `redis { instance = "sessions" }`, ""),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)Redis Block On A PostgreSQL Drill.*kind is "cluster"`),
			},
			{
				Config:      testAccRedisDrillConfig(f, scratch, "redis", "redis {\n instance = \"sessions\"\n rpo = \"soon\"\n}", ""),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`redis\.rpo`),
			},
			{
				Config: testAccRedisDrillConfig(f, scratch, "redis", "redis {\n instance = \"sessions\"\n min_keys = 150\n rpo = \"60m\"\n}", ""),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(drillAddr, tfjsonpath.New("last_drill_result"), knownvalue.StringExact("passed")),
					statecheck.ExpectKnownValue(drillAddr, tfjsonpath.New("last_failures"), knownvalue.ListSizeExact(0)),
					statecheck.ExpectKnownValue(drillAddr, tfjsonpath.New("redis").AtMapKey("rpo"), knownvalue.StringExact("60m")),
				},
				Check: func(*terraform.State) error {
					// What the agent accepts: the document, signed by the provider's key.
					trust, err := signature.NewTrust(signer.Public().String())
					if err != nil {
						return err
					}
					doc, err := drill.ReadSchedule(ctx, f.store, f.layout, "redis-nightly", trust)
					if err != nil {
						return err
					}
					if doc.Kind != drill.KindRedis || doc.RedisInstance != "sessions" || doc.RedisMinKeys != 150 || doc.RedisRPOSeconds != 3600 || len(doc.Checks) != 0 {
						return fmt.Errorf("schedule document = %+v", doc)
					}
					ev, err := drill.Latest(ctx, f.store, f.layout, "redis-nightly")
					if err != nil {
						return err
					}
					if !ev.Passed || len(ev.Checks) != 2 || ev.Checks[0].Observed != "200" {
						return fmt.Errorf("evidence = %+v", ev)
					}
					if left, _ := os.ReadDir(scratch); len(left) != 0 {
						return fmt.Errorf("scratch directory not cleared: %v", left)
					}
					return nil
				},
			},
			{
				ResourceName:            drillAddr,
				ImportState:             true,
				ImportStateId:           f.bucket + "/main/redis-nightly",
				ImportStateVerify:       true,
				ImportStateVerifyIgnore: []string{"run_on_apply", "agent_path", "timeouts", "redis.rpo"},
			},
			{
				Config:      testAccRedisDrillConfig(f, scratch, "redis", "redis {\n instance = \"sessions\"\n min_keys = 500\n rpo = \"60m\"\n}", ""),
				ExpectError: regexp.MustCompile(`(?s)Drill Failed.*key count of sessions: expected >= 500, observed 200`),
			},
		},
	})
}

func testAccRedisDrillConfig(f *redisRestoreFixture, scratch, kind, redisBlock, extra string) string {
	return fmt.Sprintf(`
resource "lifeboat_drill_schedule" "test" {
  name                    = "redis-nightly"
  schedule                = "@daily"
  kind                    = %[2]q
  run_on_apply            = true
  evidence_retention_days = 1
  scratch_dir             = %[3]q
  cluster                 = "main"
  repository {
    bucket = %[1]q
  }
  %[4]s
  %[5]s
}
`, f.bucket, kind, scratch, redisBlock, extra)
}

// TestAccDrillScheduleResource_redisOnAgent: a redis drill run on apply by
// the agent on a named host, a separate `lifeboat agent` process with the
// writer's keys and an age identity: the provider asks it (a signed
// request), the agent restores the newest snapshot, encrypted to that
// identity's recipient, into a scratch redis-server, checks its key floor
// and records signed evidence the apply reads back. The plan of the same
// drill sent to a live agent that holds no identity of the recipient
// fails naming the fingerprint (the agent's heartbeat lists what it
// holds), and so does the plan of a drill run here when the provider holds
// none.
func TestAccDrillScheduleResource_redisOnAgent(t *testing.T) {
	const n = 180
	f := newRedisRestoreFixture(t, n)
	// The agents find redis-server on PATH.
	t.Setenv("PATH", filepath.Dir(f.server)+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv(crypt.EnvIdentityFile, "")
	t.Setenv(crypt.EnvIdentity, "")
	ctx := context.Background()
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	file, recipient, err := crypt.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	recipients, err := crypt.ParseRecipients([]string{recipient})
	if err != nil {
		t.Fatal(err)
	}
	m, err := redisx.Snapshot(ctx, redisClient(t, f.src.Addr), f.store, redisx.SnapshotOptions{Layout: l, Instance: "sessions", Recipients: recipients})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := signature.Generate()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("LIFEBOAT_SIGNING_KEY", signer.String())

	bin, dir := buildAgent(t)
	idFile := filepath.Join(dir, "agent.age")
	if err := os.WriteFile(idFile, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	ak, sk := testAccUser(t, access.RoleWriter, f.bucket, l)
	agentCfg := func(identityFile string) repo.AgentConfig {
		cfg := (&providerData{}).agentConfig(f.bucket, "pg", "main", "")
		cfg.AccessKey, cfg.SecretKey, cfg.TrustedKeys, cfg.IdentityFile = ak, sk, []string{signer.Public().String()}, identityFile
		return cfg
	}
	testenv.StartAgent(t, bin, agentCfg(idFile), "redis-host-1", "agent-redis-1", "")
	second := testenv.StartAgent(t, bin, agentCfg(""), "redis-host-2", "agent-redis-2", "")
	waitLive(t, f.store, "redis-host-1")
	waitLive(t, f.store, "redis-host-2")

	scratch := t.TempDir()
	config := func(agent string) string {
		a := ""
		if agent != "" {
			a = fmt.Sprintf("agent = %q", agent)
		}
		return fmt.Sprintf(`
resource "lifeboat_drill_schedule" "test" {
  name                    = "redis-on-agent"
  schedule                = "@daily"
  kind                    = "redis"
  run_on_apply            = true
  evidence_retention_days = 1
  scratch_dir             = %[2]q
  cluster                 = "main"
  %[3]s
  repository {
    bucket = %[1]q
    prefix = "pg"
  }
  redis {
    instance = "sessions"
    min_keys = 150
    rpo      = "60m"
  }
}
`, f.bucket, scratch, a)
	}
	fp := regexp.QuoteMeta(crypt.Fingerprint(recipient))
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             testAccCheckDrillScheduleDestroyed(t, f.bucket, l, "redis-on-agent"),
		Steps: []resource.TestStep{
			{
				// The provider holds no identity: a drill run here cannot open the snapshot.
				Config:      config(""),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)Redis Snapshot Cannot Be Decrypted.*` + fp + `.*runs where Terraform runs`),
			},
			{
				// A live agent without an identity of the recipient: refused at plan.
				Config:      config("redis-host-2"),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)Redis Snapshot Cannot Be Decrypted.*` + fp + `.*the agent on\s+redis-host-2`),
			},
			{
				// Only the agent with the identity runs it (the other would
				// fail the schedule's own slot for want of one).
				PreConfig: second.Stop,
				Config:    config("redis-host-1"),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(drillAddr, tfjsonpath.New("last_drill_result"), knownvalue.StringExact("passed")),
					statecheck.ExpectKnownValue(drillAddr, tfjsonpath.New("last_failures"), knownvalue.ListSizeExact(0)),
				},
				Check: func(*terraform.State) error {
					// The request the apply sent was run by redis-host-1,
					// and its result names the evidence the agent recorded.
					for _, res := range requestResults(t, f.store, remote.KindDrill) {
						if res.Host != "redis-host-1" || res.Evidence == "" {
							continue
						}
						ev, err := drill.Read(ctx, f.store, l, "redis-on-agent", res.Evidence)
						if err != nil {
							return err
						}
						if !ev.Passed || len(ev.Checks) == 0 || ev.Checks[0].Observed != strconv.Itoa(n) || !strings.Contains(ev.Source, m.ID) {
							return fmt.Errorf("evidence of the agent's drill = %+v, want a pass on %d keys of snapshot %s", ev, n, m.ID)
						}
						return nil
					}
					return fmt.Errorf("no drill result of redis-host-1 naming its evidence")
				},
			},
		},
	})
}
