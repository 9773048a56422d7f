package provider

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/redisx"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

const redisAddr = "lifeboat_redis_persistence.test"

func TestAccRedisPersistenceResource_basic(t *testing.T) {
	env := testenv.Require(t)
	r := env.Redis
	expect := func(attr string, v knownvalue.Check) statecheck.StateCheck {
		return statecheck.ExpectKnownValue(redisAddr, tfjsonpath.New(attr), v)
	}
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		// Destroy leaves the last applied settings (a cache's) in place, in
		// the config file too.
		CheckDestroy: testAccCheckRedisSettings(t, r.Addr, r.ConfigPath, redisx.ClassCache),
		Steps: []resource.TestStep{
			{
				// A session store: RDB + AOF everysec, sessions restored.
				Config: testAccRedisPersistenceConfig_basic(r.Addr, "session", ""),
				ConfigStateChecks: []statecheck.StateCheck{
					expect("id", knownvalue.StringExact(r.Addr)),
					expect("decision", knownvalue.StringExact("restore")),
					expect("appendonly", knownvalue.Bool(true)),
					expect("appendfsync", knownvalue.StringExact("everysec")),
					expect("aof_use_rdb_preamble", knownvalue.Bool(true)),
					expect("save", knownvalue.StringExact(redisx.DefaultSave)),
					expect("maxmemory_policy", knownvalue.StringExact("volatile-lru")),
					expect("config_file", knownvalue.StringExact(r.ConfigPath)),
					expect("last_bgsave_status", knownvalue.StringExact("ok")),
				},
				Check: testAccCheckRedisSettings(t, r.Addr, r.ConfigPath, redisx.ClassSession),
			},
			{
				// Import by address adopts the class the settings serve.
				ResourceName:      redisAddr,
				ImportState:       true,
				ImportStateId:     r.Addr,
				ImportStateVerify: true,
				// NOTE: an AOF rewrite finishing in between may move it.
				ImportStateVerifyIgnore: []string{"last_save_at"},
			},
			{
				// A queue that declares always: every write fsynced, never evicted.
				Config: testAccRedisPersistenceConfig_basic(r.Addr, "queue", `appendfsync = "always"`),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(redisAddr, plancheck.ResourceActionUpdate)},
				},
				ConfigStateChecks: []statecheck.StateCheck{
					expect("appendfsync", knownvalue.StringExact("always")),
					expect("maxmemory_policy", knownvalue.StringExact("noeviction")),
					expect("decision", knownvalue.StringExact("restore")),
				},
			},
			{
				// Someone turns the AOF off and lets the queue evict: refresh
				// finds it and the plan puts it back.
				PreConfig: func() {
					redisDo(t, r.Addr, "CONFIG", "SET", "appendonly", "no", "maxmemory-policy", "allkeys-lru")
				},
				Config: testAccRedisPersistenceConfig_basic(r.Addr, "queue", `appendfsync = "always"`),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(redisAddr, plancheck.ResourceActionUpdate),
						plancheck.ExpectKnownValue(redisAddr, tfjsonpath.New("appendonly"), knownvalue.Bool(true)),
						plancheck.ExpectKnownValue(redisAddr, tfjsonpath.New("maxmemory_policy"), knownvalue.StringExact("noeviction")),
					},
				},
				ConfigStateChecks: []statecheck.StateCheck{expect("appendonly", knownvalue.Bool(true))},
				Check:             testAccCheckRedisSettings(t, r.Addr, r.ConfigPath, redisx.ClassQueue, "always"),
			},
			{
				// CONFIG REWRITE made it durable: after a restart of Redis
				// there is nothing to change.
				PreConfig: func() {
					if err := r.Restart(context.Background()); err != nil {
						t.Fatal(err)
					}
				},
				Config: testAccRedisPersistenceConfig_basic(r.Addr, "queue", `appendfsync = "always"`),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()},
				},
			},
			{
				// Reclassified as a cache: persistence off, rebuilt after a loss.
				Config: testAccRedisPersistenceConfig_basic(r.Addr, "cache", ""),
				ConfigStateChecks: []statecheck.StateCheck{
					expect("decision", knownvalue.StringExact("rebuild")),
					expect("appendonly", knownvalue.Bool(false)),
					expect("save", knownvalue.StringExact("")),
					expect("maxmemory_policy", knownvalue.StringExact("allkeys-lru")),
				},
			},
		},
	})
}

// A server without a config file is refused at plan: the settings would
// not survive its next restart.
func TestAccRedisPersistenceResource_noConfigFile(t *testing.T) {
	testenv.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := testenv.StartRedisWithoutConfig(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config:      testAccRedisPersistenceConfig_basic(r.Addr, "session", ""),
			ExpectError: expectPhrases("Redis Runs Without A Config File", r.Addr, "restart would silently undo them"),
		}},
	})
}

func TestAccInvalidConfig_redisPersistence(t *testing.T) {
	testenv.Require(t)
	const addr = "127.0.0.1:6379" // never reached: plan fails first
	runInvalidConfigs(t, []invalidConfig{
		{name: "unknown class", config: testAccRedisPersistenceConfig_basic(addr, "archive", ""),
			want: []string{"Invalid Attribute Value Match", "class", "cache", "session", "queue"}},
		{name: "always on a cache", config: testAccRedisPersistenceConfig_basic(addr, "cache", `appendfsync = "always"`),
			want: []string{"Invalid Redis Persistence Setting", "appendfsync", "a cache is rebuilt, not restored"}},
		{name: "save on a cache", config: testAccRedisPersistenceConfig_basic(addr, "cache", `save = "60 1"`),
			want: []string{"Invalid Redis Persistence Setting", "save", "a cache is rebuilt"}},
		{name: "evicting queue", config: testAccRedisPersistenceConfig_basic(addr, "queue", `maxmemory_policy = "allkeys-lru"`),
			want: []string{"Invalid Redis Persistence Setting", "maxmemory_policy", "a queue must not evict"}},
		{name: "allkeys session", config: testAccRedisPersistenceConfig_basic(addr, "session", `maxmemory_policy = "allkeys-lfu"`),
			want: []string{"Invalid Redis Persistence Setting", "maxmemory_policy", "without a TTL"}},
		{name: "malformed save", config: testAccRedisPersistenceConfig_basic(addr, "session", `save = "60"`),
			want: []string{"Invalid Redis Persistence Setting", "save", "pairs"}},
		{name: "unknown fsync", config: testAccRedisPersistenceConfig_basic(addr, "queue", `appendfsync = "sometimes"`),
			want: []string{"Invalid Attribute Value Match", "appendfsync"}},
		{name: "no address", config: `
resource "lifeboat_redis_persistence" "test" {
  class = "cache"
}`, want: []string{"Missing Redis Address", "redis"}},
	})
}

// A BGSAVE that fails (its data directory gone) is a warning naming the
// server, from the state a real Redis reports.
func TestRedisPersistence_failingSaveWarns(t *testing.T) {
	testenv.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := testenv.NewRedis(t)
	c, err := redisx.Connect(ctx, redisx.Options{Addr: r.Addr})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	warnings := func() diag.Diagnostics {
		st, err := findRedisPersistence(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		var diags diag.Diagnostics
		warnRedisPersistence(r.Addr, st.Persistence, &diags)
		return diags
	}
	if d := warnings(); len(d) != 0 {
		t.Fatalf("a healthy server warns: %v", d)
	}
	// NOTE: the tests run as root: permissions cannot stop the save, a
	// removed working directory can.
	if err := os.RemoveAll(r.DataDir); err != nil {
		t.Fatal(err)
	}
	redisDo(t, r.Addr, "SET", "k", "v")
	redisDo(t, r.Addr, "BGSAVE")
	deadline := time.Now().Add(30 * time.Second)
	for {
		d := warnings()
		if len(d) == 1 {
			if d[0].Severity() != diag.SeverityWarning || d[0].Summary() != "Redis Persistence Failing" ||
				!strings.Contains(d[0].Detail(), r.Addr) || !strings.Contains(d[0].Detail(), "BGSAVE failed") {
				t.Fatalf("diagnostic = %s: %s", d[0].Summary(), d[0].Detail())
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no warning 30s after a BGSAVE into a removed directory")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func testAccRedisPersistenceConfig_basic(addr, class, extra string) string {
	return fmt.Sprintf(`
resource "lifeboat_redis_persistence" "test" {
  class = %[2]q
  %[3]s
  redis {
    address = %[1]q
  }
}
`, addr, class, extra)
}

// testAccCheckRedisSettings checks the live server and its config file
// hold class' settings (with appendfsync when given).
func testAccCheckRedisSettings(t *testing.T, addr, configPath string, class redisx.Class, appendfsync ...string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		o := redisx.Overrides{}
		if len(appendfsync) > 0 {
			o.AppendFsync = appendfsync[0]
		}
		want, err := redisx.Desired(class, o)
		if err != nil {
			return err
		}
		ctx := context.Background()
		c, err := redisx.Connect(ctx, redisx.Options{Addr: addr})
		if err != nil {
			return err
		}
		defer func() { _ = c.Close() }()
		st, err := redisx.Read(ctx, c)
		if err != nil {
			return err
		}
		if d := redisx.Diff(want, st.Settings); len(d) > 0 {
			return fmt.Errorf("server differs from the %s settings in %v: %+v", class, d, st.Settings)
		}
		conf, err := os.ReadFile(configPath)
		if err != nil {
			return err
		}
		if !strings.Contains(string(conf), "maxmemory-policy "+want.MaxmemoryPolicy) {
			return fmt.Errorf("config file lacks maxmemory-policy %s: CONFIG REWRITE did not persist:\n%s", want.MaxmemoryPolicy, conf)
		}
		return nil
	}
}

// redisDo runs one command on the server, as an operator would.
func redisDo(t *testing.T, addr string, args ...any) {
	t.Helper()
	ctx := context.Background()
	c, err := redisx.Connect(ctx, redisx.Options{Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if err := c.Do(ctx, args...).Err(); err != nil {
		t.Fatal(err)
	}
}
