package agentd

import (
	"cmp"
	"context"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/redisx"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestAccRedisTargetFromRepository: the Redis instance an agent snapshots,
// and which agent does, come from the signed schedule in the repository
// (its target), not from the hosts' configuration: two running agents
// whose configuration holds only the instance's password (requirepass on
// a real Redis); the schedule names db-a, which takes the snapshots; the
// provider moves it to db-b, which takes over at its next refresh with no
// restart, and db-a stops.
func TestAccRedisTargetFromRepository(t *testing.T) {
	env := testenv.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := testenv.NewRedis(t)
	const password = "sessions-s3cret"
	requirePassword(t, redisx.Options{Addr: r.Addr}, password)
	store := env.MinIO[0].NewStore(t, "redis-target", objectstore.BucketSpec{})
	bucket := store.Bucket()
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	provider, _ := signature.Generate()
	schedule := func(agent string) {
		t.Helper()
		if err := redisx.WriteSchedule(ctx, store, l, redisx.ScheduleDoc{Instance: "sessions", Cluster: "main", Class: "session",
			Schedule: "@every 1s", KeepCount: 2, Target: &redisx.Target{Agent: agent, Address: r.Addr}}, provider); err != nil {
			t.Fatal(err)
		}
	}
	schedule("db-a")

	for _, host := range []string{"db-a", "db-b"} {
		// Only the secret is the host's: no address.
		runRedisAgent(ctx, t, store, repo.AgentConfig{Bucket: bucket, Prefix: l.Prefix, Cluster: l.Cluster, Host: host,
			TrustedKeys: []string{provider.Public().String()}, Redis: map[string]repo.RedisEntry{"sessions": {Password: password}}})
	}
	waitRun := func(holder string, since time.Time) *Run {
		t.Helper()
		return waitRedisRun(ctx, t, store, l, "sessions", holder, since)
	}
	start := time.Now()
	waitRun("db-a", start)

	// The provider names db-b: it takes over live, db-a stops.
	moved := time.Now()
	schedule("db-b")
	first := waitRun("db-b", moved)
	// Wait out db-a's refresh, then every run is db-b's.
	time.Sleep(time.Second)
	settled := time.Now()
	waitRun("db-b", settled)
	for range 10 {
		run, err := ReadRun(ctx, store, l, RedisJobPrefix+"sessions")
		if err != nil {
			t.Fatal(err)
		}
		if run.Started.After(settled) && run.Holder != "db-b" {
			t.Fatalf("run %+v by %s after the schedule moved to db-b", run, run.Holder)
		}
		time.Sleep(200 * time.Millisecond)
	}
	snaps, err := redisx.Snapshots(ctx, store, l, "sessions")
	if err != nil || len(snaps) == 0 {
		t.Fatalf("snapshots %v: %v", snaps, err)
	}
	t.Logf("db-b took over at %s, %d snapshots kept", first.Started.Format(time.RFC3339Nano), len(snaps))
}

// requirePassword writes a key into the Redis at o and sets its
// requirepass to password, as a production instance has one.
func requirePassword(t *testing.T, o redisx.Options, password string) {
	t.Helper()
	ctx := context.Background()
	rc, err := redisx.Connect(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Close() }()
	if err := rc.Set(ctx, "session:1", "alice", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rc.ConfigSet(ctx, "requirepass", password).Err(); err != nil {
		t.Fatal(err)
	}
}

// runRedisAgent runs a daemon with agent's configuration on store until
// the test ends: refreshing the repository's documents every 300 ms, so a
// schedule's change reaches it quickly, and retrying a failed snapshot.
func runRedisAgent(ctx context.Context, t *testing.T, store objectstore.Store, agent repo.AgentConfig) *Daemon {
	t.Helper()
	d, err := New(Config{
		Store: store, Agent: agent,
		Holder: cmp.Or(agent.Host, "A"), Refresh: 300 * time.Millisecond, Tick: 100 * time.Millisecond, LeaseRenew: time.Second,
		StatsInterval: time.Hour, RetryDelay: 300 * time.Millisecond, MaxAttempts: 100, DSN: "host=/nonexistent",
		Logger: discardLogger(),
	}, WithMinGap(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		<-done
	})
	return d
}

// waitRedisRun waits, 45 seconds at most, for a successful snapshot run
// of instance by holder started after since.
func waitRedisRun(ctx context.Context, t *testing.T, store objectstore.Store, l repo.Layout, instance, holder string, since time.Time) *Run {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	var last *Run
	for time.Now().Before(deadline) {
		run, err := ReadRun(ctx, store, l, RedisJobPrefix+instance)
		if err == nil && run != nil {
			last = run
			if run.Holder == holder && run.Result == ResultSuccess && run.Started.After(since) {
				return run
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no successful snapshot of %s by %s since %s; last run %+v", instance, holder, since.Format(time.RFC3339Nano), last)
	return nil
}
