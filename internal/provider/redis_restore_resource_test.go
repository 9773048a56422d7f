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
	"github.com/redis/go-redis/v9"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/redisx"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

const redisRestoreAddr = "lifeboat_redis_restore.test"

// redisRestoreFixture is a Redis with n keys and a fresh bucket its
// snapshots go into (repository "main", instance "sessions").
type redisRestoreFixture struct {
	src    *testenv.Redis
	bucket string
	layout repo.Layout
	store  objectstore.Store
	server string // redis-server
}

func newRedisRestoreFixture(t *testing.T, n int) *redisRestoreFixture {
	t.Helper()
	testenv.Require(t)
	ctx := context.Background()
	src := testenv.NewRedis(t)
	server, err := testenv.Tool("redis-server")
	if err != nil {
		t.Fatal(err)
	}
	store := testAccStore(t, "lb-redis-restore", objectstore.BucketSpec{})
	f := &redisRestoreFixture{src: src, bucket: store.Bucket(), layout: repo.Layout{Cluster: "main"}, server: server, store: store}
	c := redisClient(t, src.Addr)
	for i := 0; i < n; i++ {
		if err := c.Set(ctx, fmt.Sprintf("session:%d", i), fmt.Sprintf("user-%d", i), 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func redisClient(t *testing.T, addr string) *redis.Client {
	t.Helper()
	c, err := redisx.Connect(context.Background(), redisx.Options{Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func (f *redisRestoreFixture) snapshot(t *testing.T) *redisx.SnapshotManifest {
	t.Helper()
	m, err := redisx.Snapshot(context.Background(), redisClient(t, f.src.Addr), f.store, redisx.SnapshotOptions{Layout: f.layout, Instance: "sessions"})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// checkRestored checks the instance on port has want keys, each with the
// source's value.
func checkRestored(t *testing.T, port, want int) resource.TestCheckFunc {
	return func(*terraform.State) error {
		ctx := context.Background()
		c, err := redisx.Connect(ctx, redisx.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port)})
		if err != nil {
			return err
		}
		defer func() { _ = c.Close() }()
		if n, err := c.DBSize(ctx).Result(); err != nil || n != int64(want) {
			return fmt.Errorf("restored DBSIZE = %d, %v; want %d", n, err, want)
		}
		for _, i := range []int{0, want / 2, want - 1} {
			if v, err := c.Get(ctx, fmt.Sprintf("session:%d", i)).Result(); err != nil || v != fmt.Sprintf("user-%d", i) {
				return fmt.Errorf("session:%d = %q, %v", i, v, err)
			}
		}
		return nil
	}
}

func testAccRedisRestoreConfig(bucket, dir string, port int, server, extra string) string {
	return fmt.Sprintf(`
data "lifeboat_recovery_points" "main" {
  cluster    = "main"
  repository = { bucket = %[1]q }
}

resource "lifeboat_redis_restore" "test" {
  cluster      = "main"
  instance     = "sessions"
  directory    = %[2]q
  port         = %[3]d
  redis_server = %[4]q
  repository {
    bucket = %[1]q
  }
  %[5]s
}

output "listed" {
  value = [for s in data.lifeboat_recovery_points.main.redis_snapshots : s.id if s.instance == "sessions"]
}
`, bucket, dir, port, server, extra)
}

// TestAccRedisRestoreResource: the plan names the newest snapshot and its
// age; the apply loads it into a new redis-server on a fresh directory and
// port with the same key count and values, and passes its checks; the
// catalog data source lists the snapshot; destroy stops the instance and
// removes the directory. A key count floor above what the snapshot holds
// fails the apply naming min_keys.
func TestAccRedisRestoreResource(t *testing.T) {
	const n = 1500
	f := newRedisRestoreFixture(t, n)
	m := f.snapshot(t)
	dir := filepath.Join(t.TempDir(), "restored")
	port, _ := testenv.FreePort()
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy: func(*terraform.State) error {
			if redisx.Running(context.Background(), dir, port, "") {
				return fmt.Errorf("the restored Redis still answers on %d after destroy", port)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				return fmt.Errorf("%s still there after destroy: %v", dir, err)
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				Config: testAccRedisRestoreConfig(f.bucket, dir, port, f.server, `min_keys = 1000
  sample_keys = ["session:0", "session:1499"]`),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectKnownValue(redisRestoreAddr, tfjsonpath.New("snapshot_id"), knownvalue.StringExact(m.ID)),
						plancheck.ExpectKnownValue(redisRestoreAddr, tfjsonpath.New("snapshot_age"), knownvalue.StringRegexp(regexp.MustCompile(`^[0-9]+s$`))),
						plancheck.ExpectUnknownValue(redisRestoreAddr, tfjsonpath.New("key_count")),
					},
				},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(redisRestoreAddr, tfjsonpath.New("key_count"), knownvalue.Int64Exact(n)),
					statecheck.ExpectKnownValue(redisRestoreAddr, tfjsonpath.New("address"), knownvalue.StringExact(fmt.Sprintf("127.0.0.1:%d", port))),
					statecheck.ExpectKnownValue("data.lifeboat_recovery_points.main", tfjsonpath.New("redis_snapshots").AtSliceIndex(0).AtMapKey("id"), knownvalue.StringExact(m.ID)),
					statecheck.ExpectKnownValue("data.lifeboat_recovery_points.main", tfjsonpath.New("redis_snapshots").AtSliceIndex(0).AtMapKey("rdb_sha256"), knownvalue.StringExact(m.RDBSHA256)),
				},
				Check: checkRestored(t, port, n),
			},
			{
				// A newer snapshot appears: the restore keeps what it restored.
				PreConfig: func() { time.Sleep(1100 * time.Millisecond); f.snapshot(t) },
				Config: testAccRedisRestoreConfig(f.bucket, dir, port, f.server, `min_keys = 1000
  sample_keys = ["session:0", "session:1499"]`),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(redisRestoreAddr, plancheck.ResourceActionNoop),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(redisRestoreAddr, tfjsonpath.New("snapshot_id"), knownvalue.StringExact(m.ID)),
				},
			},
		},
	})

	// A floor the snapshot cannot reach fails the apply, naming min_keys.
	dir2 := filepath.Join(t.TempDir(), "floor")
	port2, _ := testenv.FreePort()
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config:      testAccRedisRestoreConfig(f.bucket, dir2, port2, f.server, `min_keys = 100000`),
			ExpectError: expectPhrases("Redis Restore Failed", "min_keys", fmt.Sprintf("%d keys, fewer than the floor 100000", n)),
		}},
	})
	if err := redisx.Teardown(context.Background(), dir2, port2, ""); err != nil {
		t.Fatal(err)
	}
}

// TestAccInvalidConfig_redisRestore: bad input fails at plan naming the
// attribute.
func TestAccInvalidConfig_redisRestore(t *testing.T) {
	f := newRedisRestoreFixture(t, 10)
	f.snapshot(t)
	server := f.server
	runInvalidConfigs(t, []invalidConfig{
		{name: "unknown snapshot", config: testAccRedisRestoreConfig(f.bucket, "/tmp/lb-redis-x", 6390, server, `snapshot = "20200101T000000Z-dead"`),
			want: []string{"Redis Snapshot Not Found", "snapshot", "20200101T000000Z-dead"}},
		{name: "relative directory", config: testAccRedisRestoreConfig(f.bucket, "restored", 6390, server, ""),
			want: []string{"directory"}},
		{name: "port out of range", config: testAccRedisRestoreConfig(f.bucket, "/tmp/lb-redis-x", 70000, server, ""),
			want: []string{"port"}},
		{name: "negative floor", config: testAccRedisRestoreConfig(f.bucket, "/tmp/lb-redis-x", 6390, server, "min_keys = -1"),
			want: []string{"min_keys"}},
		{name: "password with a line break", config: testAccRedisRestoreConfig(f.bucket, "/tmp/lb-redis-x", 6390, server, `password = "a\nrename-command CONFIG \"\""`),
			want: []string{"password", "line break"}},
		{name: "empty password", config: testAccRedisRestoreConfig(f.bucket, "/tmp/lb-redis-x", 6390, server, `password = ""`),
			want: []string{"password"}},
	})
}

// TestAccRedisRestoreResource_savedPlanKeepsItsSnapshot: a restore of
// "latest" is reviewed as a saved plan; a newer snapshot (with more keys)
// is taken before the apply; the apply restores the snapshot the plan
// named, with the key count it had.
func TestAccRedisRestoreResource_savedPlanKeepsItsSnapshot(t *testing.T) {
	const n = 300
	f := newRedisRestoreFixture(t, n)
	planned := f.snapshot(t)
	dir := filepath.Join(t.TempDir(), "restored")
	port, _ := testenv.FreePort()
	tf := terraformCLI(t)
	tf.Write(t, `
terraform {
  required_providers {
    lifeboat = { source = "lifeboat-dr/lifeboat" }
  }
}
`+testAccRedisRestoreConfig(f.bucket, dir, port, f.server, ""))
	tf.Run(t, "plan", "-out=tfplan")
	shown := tf.Run(t, "show", "-json", "tfplan")
	if !strings.Contains(shown, `"snapshot_id":"`+planned.ID+`"`) {
		t.Fatalf("the plan does not name snapshot %s:\n%s", planned.ID, shown)
	}
	// The world moves on: more keys, a newer snapshot.
	time.Sleep(1100 * time.Millisecond)
	if err := redisClient(t, f.src.Addr).Set(context.Background(), "after-plan", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	newer := f.snapshot(t)
	if newer.ID == planned.ID {
		t.Fatal("no newer snapshot")
	}
	tf.Run(t, "apply", "tfplan")
	if err := checkRestored(t, port, n)(nil); err != nil {
		t.Fatalf("the saved plan did not restore the snapshot it named: %v", err)
	}
	if got := tf.Run(t, "show", "-json"); !strings.Contains(got, `"snapshot_id":"`+planned.ID+`"`) || strings.Contains(got, newer.ID) {
		t.Fatalf("state names another snapshot than %s:\n%s", planned.ID, got)
	}
	tf.Run(t, "destroy", "-auto-approve")
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("%s left after destroy: %v", dir, err)
	}
}

// TestAccRedisRestoreResource_encrypted: a snapshot encrypted to an age
// recipient is refused at plan, naming the recipient's fingerprint, when
// no identity is configured; with the identity file the apply decrypts it
// into a new instance with every key and value.
func TestAccRedisRestoreResource_encrypted(t *testing.T) {
	f := newRedisRestoreFixture(t, 120)
	file, recipient, err := crypt.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	recipients, err := crypt.ParseRecipients([]string{recipient})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := redisx.Snapshot(context.Background(), redisClient(t, f.src.Addr), f.store,
		redisx.SnapshotOptions{Layout: f.layout, Instance: "sessions", Recipients: recipients}); err != nil {
		t.Fatal(err)
	}
	idFile := filepath.Join(t.TempDir(), "restorer.age")
	if err := os.WriteFile(idFile, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(crypt.EnvIdentityFile, "")
	t.Setenv(crypt.EnvIdentity, "")
	dir := filepath.Join(t.TempDir(), "restored")
	port, _ := testenv.FreePort()
	cfg := testAccRedisRestoreConfig(f.bucket, dir, port, f.server, "")
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:      cfg,
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)Redis Snapshot Cannot Be Decrypted.*` + crypt.Fingerprint(recipient)),
			},
			{
				PreConfig: func() { t.Setenv(crypt.EnvIdentityFile, idFile) },
				Config:    cfg,
				Check:     checkRestored(t, port, 120),
			},
		},
	})
}

// checkAuth checks that the instance on port refuses a client without
// the password, and serves want keys to one with it.
func checkAuth(port, want int, password string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		ctx := context.Background()
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		if c, err := redisx.Connect(ctx, redisx.Options{Addr: addr}); err == nil {
			_ = c.Close()
			return fmt.Errorf("the restored instance on %s answers without a password", addr)
		} else if !strings.Contains(err.Error(), "NOAUTH") {
			return fmt.Errorf("without a password: %v, want NOAUTH", err)
		}
		c, err := redisx.Connect(ctx, redisx.Options{Addr: addr, Password: password})
		if err != nil {
			return fmt.Errorf("with the password: %w", err)
		}
		defer func() { _ = c.Close() }()
		if n, err := c.DBSize(ctx).Result(); err != nil || n != int64(want) {
			return fmt.Errorf("DBSIZE = %d, %v; want %d", n, err, want)
		}
		return nil
	}
}

// TestAccRedisRestoreResource_password: the new instance requires the
// declared password (requirepass, quotes and spaces kept): a client
// without it gets NOAUTH, one with it reads every key, and the apply's own
// checks authenticate. After a newer snapshot the restore plans nothing
// (refresh reaches the instance with the password); a new password
// replaces the restore, and the old one no longer opens it; destroy stops
// the instance, which it reaches with the password.
func TestAccRedisRestoreResource_password(t *testing.T) {
	const n = 200
	f := newRedisRestoreFixture(t, n)
	f.snapshot(t)
	dir := filepath.Join(t.TempDir(), "restored")
	port, _ := testenv.FreePort()
	const first, second = `s3cret "quoted" pass`, "another-s3cret"
	cfg := func(password string) string {
		return testAccRedisRestoreConfig(f.bucket, dir, port, f.server, fmt.Sprintf(`min_keys = %d
  sample_keys = ["session:0"]
  password = %q`, n, password))
	}
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy: func(*terraform.State) error {
			if redisx.Running(context.Background(), dir, port, second) {
				return fmt.Errorf("the restored Redis still answers on %d after destroy", port)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				return fmt.Errorf("%s still there after destroy: %v", dir, err)
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				Config: cfg(first),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(redisRestoreAddr, tfjsonpath.New("key_count"), knownvalue.Int64Exact(n)),
				},
				Check: checkAuth(port, n, first),
			},
			{
				PreConfig: func() { time.Sleep(1100 * time.Millisecond); f.snapshot(t) },
				Config:    cfg(first),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(redisRestoreAddr, plancheck.ResourceActionNoop),
				}},
				Check: checkAuth(port, n, first),
			},
			{
				Config: cfg(second),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(redisRestoreAddr, plancheck.ResourceActionDestroyBeforeCreate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(checkAuth(port, n, second), func(*terraform.State) error {
					if redisx.Running(context.Background(), dir, port, first) {
						return fmt.Errorf("the replaced instance still opens with the old password")
					}
					return nil
				}),
			},
		},
	})
}
