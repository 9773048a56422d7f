package drill

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/redisx"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestAccRedisDrill: the newest snapshot of the harness' Redis, restored
// into a scratch redis-server, passes with a key count floor at its key
// count and the RPO of its signed snapshot schedule; the evidence is
// signed by the agent's key, names the snapshot, and the scratch instance
// and directory are gone afterwards. A floor above the key count, an RPO
// shorter than the snapshot's age, and an unsigned schedule when a key is
// trusted each fail the drill with evidence saying why.
func TestAccRedisDrill(t *testing.T) {
	env := testenv.Require(t)
	if env.Redis == nil {
		t.Fatal("the harness started no Redis")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := objectstore.NewClient(ctx, objectstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	bucket := fmt.Sprintf("drill-redis-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)
	if err := c.CreateBucket(ctx, objectstore.BucketSpec{Name: bucket}); err != nil {
		t.Fatal(err)
	}
	store := c.Store(bucket)
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	agent, _ := signature.Generate()
	trust, _ := signature.NewTrust(agent.Public().String())
	if err := redisx.WriteSchedule(ctx, store, l, redisx.ScheduleDoc{Instance: "sessions", Cluster: "main", Class: "session",
		Schedule: "@every 1h", Updated: time.Now()}, agent); err != nil {
		t.Fatal(err)
	}
	rc, err := redisx.Connect(ctx, redisx.Options{Addr: env.Redis.Addr})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Close() }()
	pipe := rc.Pipeline()
	for i := 0; i < 500; i++ {
		pipe.Set(ctx, fmt.Sprintf("drill:session:%d", i), "v", 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	keys, err := rc.DBSize(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	m, err := redisx.Snapshot(ctx, rc, store, redisx.SnapshotOptions{Layout: l, Instance: "sessions"})
	if err != nil {
		t.Fatal(err)
	}
	run := func(name string, rs RedisSpec) *Evidence {
		t.Helper()
		scratch := t.TempDir()
		rs.Instance = "sessions"
		ev, err := Run(ctx, store, Spec{Schedule: name, Layout: l, Kind: KindRedis, ScratchDir: scratch, Redis: rs,
			Signer: agent, EvidenceRetention: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		left, _ := os.ReadDir(scratch)
		if len(left) != 0 {
			t.Errorf("%s: scratch directory not cleared: %v", name, left)
		}
		got, err := Latest(ctx, store, l, name)
		if err != nil {
			t.Fatal(err)
		}
		if signer, err := got.SignedBy(trust); err != nil || signer != agent.Public().ID() {
			t.Errorf("%s: evidence signer %q, %v", name, signer, err)
		}
		if got.Passed != ev.Passed || got.Kind != KindRedis {
			t.Errorf("%s: stored evidence %+v differs from the run's %+v", name, got, ev)
		}
		return got
	}
	check := func(ev *Evidence, kind string) CheckResult {
		t.Helper()
		for _, r := range ev.Checks {
			if r.Kind == kind {
				return r
			}
		}
		t.Fatalf("no %s check in %+v", kind, ev.Checks)
		return CheckResult{}
	}

	ev := run("redis-pass", RedisSpec{MinKeys: keys, Trust: trust})
	if !ev.Passed || ev.Error != "" || !strings.Contains(ev.Source, m.Key) || !ev.RestoredToTime.Equal(m.TakenAt) || ev.RTOSeconds <= 0 {
		t.Fatalf("drill of a fresh snapshot at its key count: %+v", ev)
	}
	if r := check(ev, CheckKeyCountFloor); r.Observed != fmt.Sprint(keys) {
		t.Errorf("key count observed %q, want %d", r.Observed, keys)
	}
	if r := check(ev, CheckRPO); !r.Passed || r.Expected != "<= 1h0m0s" {
		t.Errorf("RPO from the hourly schedule: %+v", r)
	}

	ev = run("redis-floor", RedisSpec{MinKeys: keys + 1, Trust: trust})
	if r := check(ev, CheckKeyCountFloor); ev.Passed || r.Passed || len(ev.FailedChecks()) != 1 {
		t.Fatalf("floor above the key count: passed %v, %+v", ev.Passed, ev.Checks)
	}

	time.Sleep(1100 * time.Millisecond) // the snapshot is now older than a second
	ev = run("redis-rpo", RedisSpec{MinKeys: keys, RPO: time.Second})
	if r := check(ev, CheckRPO); ev.Passed || r.Passed || !strings.Contains(ev.FailedChecks()[0], "snapshot age") {
		t.Fatalf("RPO shorter than the snapshot's age: passed %v, %+v", ev.Passed, ev.Checks)
	}

	if err := redisx.WriteSchedule(ctx, store, l, redisx.ScheduleDoc{Instance: "sessions", Cluster: "main", Class: "session",
		Schedule: "@every 1h", Updated: time.Now()}, nil); err != nil {
		t.Fatal(err)
	}
	ev = run("redis-unsigned", RedisSpec{MinKeys: keys, Trust: trust})
	if ev.Passed || !strings.Contains(ev.Error, "refusing the Redis snapshot schedule") {
		t.Fatalf("unsigned schedule under a trusted key: passed %v, error %q", ev.Passed, ev.Error)
	}
}
