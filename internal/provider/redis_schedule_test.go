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

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/redisx"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestAccRedisPersistenceResource_snapshotSchedule: a session Redis with a
// snapshot block publishes its schedule and retention as a document signed
// by the provider's key, which an agent trusting that key accepts; the
// document rewritten outside Terraform (unsigned) plans as an update that
// signs it again; a changed instance name moves it; import by address and
// repository brings the snapshot block in (and refuses an instance without
// a schedule); removing the block removes it.
func TestAccRedisPersistenceResource_snapshotSchedule(t *testing.T) {
	env := testenv.Require(t)
	bucket := randomName("lb-redis")
	key, err := signature.Generate()
	if err != nil {
		t.Fatal(err)
	}
	trust, _ := signature.NewTrust(key.Public().String())
	client := testAccClient(t)
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	agent := "db-eu-1" // the agent the schedule names
	agentReads := func(instance, schedule string, keep int) resource.TestCheckFunc {
		return func(*terraform.State) error {
			d, err := redisx.ReadSchedule(context.Background(), client.Store(bucket), l, instance, trust)
			if err != nil {
				return err
			}
			if d.Schedule != schedule || d.KeepCount != keep || d.Class != "session" || d.Cluster != "main" {
				return fmt.Errorf("schedule document %+v", d)
			}
			// The target: which agent, and where it reaches Redis; never
			// a password.
			if d.Target == nil || d.Target.Agent != agent || d.Target.Address != env.Redis.Addr {
				return fmt.Errorf("schedule document's target %+v, want agent %s at %s", d.Target, agent, env.Redis.Addr)
			}
			return nil
		}
	}
	gone := func(instance string) resource.TestCheckFunc {
		return func(*terraform.State) error {
			_, err := redisx.ReadSchedule(context.Background(), client.Store(bucket), l, instance, trust)
			if !errors.Is(err, objectstore.ErrNotFound) {
				return fmt.Errorf("schedule of %s still there: %v", instance, err)
			}
			return nil
		}
	}
	cfg := func(instance, schedule string, keep int, on ...string) string {
		agent := "db-eu-1"
		if len(on) > 0 {
			agent = on[0]
		}
		return testAccRedisScheduleConfig(key.String(), bucket, env.Redis.Addr, fmt.Sprintf(`
  cluster = "main"
  repository {
    bucket = lifeboat_immutable_bucket.repo.name
    prefix = "pg"
  }
  snapshot {
    instance   = %q
    schedule   = %q
    keep_count = %d
    agent      = %q
  }`, instance, schedule, keep, agent))
	}
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             testAccCheckBucketDestroyed(t, bucket),
		Steps: []resource.TestStep{
			{
				Config: cfg("sessions", "@hourly", 24),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(redisAddr, tfjsonpath.New("signed_by"), knownvalue.StringExact(key.Public().ID())),
				},
				Check: agentReads("sessions", "@hourly", 24),
			},
			{
				// A writer of the bucket rewrites the schedule (every
				// minute, unsigned): the agent refuses it, the plan
				// restores the declared one, signed.
				PreConfig: func() {
					body := []byte(`{"format":1,"instance":"sessions","cluster":"main","class":"session","schedule":"* * * * *"}`)
					if _, err := client.Store(bucket).Put(context.Background(), l.RedisScheduleKey("sessions"), bytes.NewReader(body),
						objectstore.PutOptions{Size: int64(len(body))}); err != nil {
						t.Fatal(err)
					}
					if _, err := redisx.ReadSchedule(context.Background(), client.Store(bucket), l, "sessions", trust); !errors.Is(err, signature.ErrUnsigned) {
						t.Fatalf("the agent's read of an unsigned schedule: %v, want ErrUnsigned", err)
					}
				},
				Config: cfg("sessions", "@hourly", 24),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(redisAddr, plancheck.ResourceActionUpdate),
						plancheck.ExpectKnownValue(redisAddr, tfjsonpath.New("snapshot").AtMapKey("schedule"), knownvalue.StringExact("@hourly")),
						plancheck.ExpectKnownValue(redisAddr, tfjsonpath.New("signed_by"), knownvalue.StringExact(key.Public().ID())),
					},
				},
				Check: agentReads("sessions", "@hourly", 24),
			},
			{
				// Renamed: the schedule moves.
				Config: cfg("web-sessions", "@every 15m", 96),
				Check:  resource.ComposeTestCheckFunc(agentReads("web-sessions", "@every 15m", 96), gone("sessions")),
			},
			{
				// Another agent takes the snapshots: an update in place of
				// the signed target, which running agents pick up.
				PreConfig: func() { agent = "db-eu-2" },
				Config:    cfg("web-sessions", "@every 15m", 96, "db-eu-2"),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(redisAddr, plancheck.ResourceActionUpdate),
						plancheck.ExpectKnownValue(redisAddr, tfjsonpath.New("snapshot").AtMapKey("agent"), knownvalue.StringExact("db-eu-2")),
					},
				},
				Check: agentReads("web-sessions", "@every 15m", 96),
			},
			{
				// Import by address and where the schedule is brings the
				// snapshot block in, schedule and retention read back.
				ResourceName:            redisAddr,
				ImportState:             true,
				ImportStateId:           env.Redis.Addr + "," + bucket + "/pg,main,web-sessions",
				ImportStateVerify:       true,
				ImportStateVerifyIgnore: []string{"last_save_at"},
			},
			{
				// An instance without a schedule is not imported as one.
				ResourceName:  redisAddr,
				ImportState:   true,
				ImportStateId: env.Redis.Addr + "," + bucket + "/pg,main,sessions",
				ExpectError:   regexp.MustCompile(`Redis Snapshot Schedule Not Found[\s\S]*redis-schedules/sessions`),
			},
			{
				ResourceName:  redisAddr,
				ImportState:   true,
				ImportStateId: env.Redis.Addr + "," + bucket + "/pg,main",
				ExpectError:   regexp.MustCompile(`Invalid Import ID[\s\S]*has 2\s+comma-separated\s+fields`),
			},
			{
				// No snapshot block: no schedule.
				Config: testAccRedisScheduleConfig(key.String(), bucket, env.Redis.Addr, ""),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(redisAddr, tfjsonpath.New("signed_by"), knownvalue.Null()),
				},
				Check: gone("web-sessions"),
			},
		},
	})
}

func testAccRedisScheduleConfig(key, bucket, addr, extra string) string {
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

resource "lifeboat_redis_persistence" "test" {
  class = "session"
  redis {
    address = %[3]q
  }
  %[4]s
}
`, key, bucket, addr, extra)
}

func TestAccInvalidConfig_redisSnapshot(t *testing.T) {
	testenv.Require(t)
	const addr = "127.0.0.1:6379" // never reached: plan fails first
	block := func(class, body string) string {
		return fmt.Sprintf(`
resource "lifeboat_redis_persistence" "test" {
  class = %q
  redis {
    address = %q
  }
  %s
}`, class, addr, body)
	}
	full := `cluster = "main"
  repository {
    bucket = "b-redis"
  }
  snapshot {
    instance = "sessions"
    schedule = "@hourly"
  }`
	runInvalidConfigs(t, []invalidConfig{
		{name: "snapshots of a cache", config: block("cache", full),
			want: []string{"Snapshots Of A Cache", "snapshot", "a cache is rebuilt"}},
		{name: "no cluster", config: block("session", `repository {
    bucket = "b-redis"
  }
  snapshot {
    instance = "sessions"
    schedule = "@hourly"
  }`), want: []string{"Missing Cluster", "cluster"}},
		{name: "no repository", config: block("queue", `cluster = "main"
  snapshot {
    instance = "q"
    schedule = "@hourly"
  }`), want: []string{"Missing Repository Bucket", "repository.bucket"}},
		{name: "no schedule", config: block("session", strings.Replace(full, `schedule = "@hourly"`, "", 1)),
			want: []string{"Missing Snapshot Schedule", "snapshot.schedule"}},
		{name: "bad schedule", config: block("session", strings.Replace(full, `"@hourly"`, `"every hour"`, 1)),
			want: []string{"snapshot.schedule"}},
		{name: "bad instance", config: block("session", strings.Replace(full, `"sessions"`, `"a/b"`, 1)),
			want: []string{"snapshot.instance"}},
		{name: "zero keep", config: block("session", strings.Replace(full, `schedule = "@hourly"`, "schedule = \"@hourly\"\n    keep_count = 0", 1)),
			want: []string{"snapshot.keep_count"}},
	})
}

// TestAccRedisPersistenceResource_savedPlanAfterBGSAVE: plans are honest
// about what the server reports. A plan changes only the snapshot
// retention; before the saved plan is applied, the world moves on (a
// BGSAVE moves last_save_at); the apply succeeds (no "Provider produced
// inconsistent result"), and the state has the new last_save_at.
func TestAccRedisPersistenceResource_savedPlanAfterBGSAVE(t *testing.T) {
	env := testenv.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r := testenv.NewRedis(t)
	store := env.MinIO[0].NewStore(t, "lb-redis-plan", objectstore.BucketSpec{})
	bucket := store.Bucket()
	tf := terraformCLI(t)
	config := func(keep int) string {
		return fmt.Sprintf(`
terraform {
  required_providers {
    lifeboat = { source = "lifeboat-dr/lifeboat" }
  }
}

resource "lifeboat_redis_persistence" "test" {
  class   = "session"
  cluster = "main"
  redis {
    address = %q
  }
  repository {
    bucket = %q
  }
  snapshot {
    instance   = "sessions"
    schedule   = "@hourly"
    keep_count = %d
  }
}

output "last_save_at" {
  value = lifeboat_redis_persistence.test.last_save_at
}
`, r.Addr, bucket, keep)
	}
	tf.Write(t, config(24))
	tf.Run(t, "apply", "-auto-approve")
	before := strings.TrimSpace(tf.Run(t, "output", "-raw", "last_save_at"))

	tf.Write(t, config(48))
	tf.Run(t, "plan", "-out=tfplan")
	shown := tf.Run(t, "show", "-json", "tfplan")
	if !strings.Contains(shown, `"last_save_at":true`) {
		t.Fatalf("the update plans last_save_at as known: it cannot promise what the server reports at apply\n%s", shown)
	}
	// The world moves on: a second later, a BGSAVE.
	time.Sleep(1100 * time.Millisecond)
	redisDo(t, r.Addr, "SET", "k", "v")
	redisDo(t, r.Addr, "BGSAVE")
	waitSaved(t, r.Addr, before)
	tf.Run(t, "apply", "tfplan")
	after := strings.TrimSpace(tf.Run(t, "output", "-raw", "last_save_at"))
	if after == before {
		t.Fatalf("last_save_at still %s after a BGSAVE and an apply", after)
	}
	d, err := redisx.ReadSchedule(ctx, store, repo.Layout{Cluster: "main"}, "sessions", signature.Trust{})
	if err != nil || d.KeepCount != 48 {
		t.Fatalf("schedule after the saved plan: %+v, %v", d, err)
	}
	tf.Run(t, "destroy", "-auto-approve")
}

// waitSaved waits until the server's last save is not before.
func waitSaved(t *testing.T, addr, before string) {
	t.Helper()
	ctx := context.Background()
	c, err := redisx.Connect(ctx, redisx.Options{Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := redisx.Read(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Persistence.BgsaveInProgress && st.Persistence.LastSave.UTC().Format(time.RFC3339) != before {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the BGSAVE did not finish")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
