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
	testenv.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f := newRedisRepo(t, testenv.NewRedis(t), "redis-target")
	schedule := func(agent string) {
		t.Helper()
		f.schedule(ctx, t, 2, redisx.Target{Agent: agent})
	}
	schedule("db-a")
	dbA := f.agent(ctx, t, "db-a")
	f.agent(ctx, t, "db-b")
	store, l := f.store, f.l
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
	// Once db-a's refresh dropped the job, every run is db-b's. (A fixed
	// wait for the refresh is not enough on a loaded machine; db-a's
	// refresh and its job starts are one loop, so no run of db-a starts
	// after the job is gone.)
	waitUntil(t, 30*time.Second, "db-a dropped the snapshot job", func() bool {
		dbA.mu.Lock()
		defer dbA.mu.Unlock()
		_, ok := dbA.jobs[RedisJobPrefix+"sessions"]
		return !ok
	})
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

// redisRepo is a Redis that requires a password (as a production
// instance does) and holds a key, and the repository pg/main in a bucket
// of the first MinIO server, whose documents the provider's key signs.
type redisRepo struct {
	r        *testenv.Redis
	conn     redisx.Options // how to reach r, without the password
	password string
	store    *objectstore.S3
	l        repo.Layout
	provider *signature.Signer
}

func newRedisRepo(t *testing.T, r *testenv.Redis, bucketPrefix string) *redisRepo {
	t.Helper()
	f := &redisRepo{r: r, conn: redisx.Options{Addr: r.Addr}, password: "sessions-s3cret",
		store: testenv.Require(t).MinIO[0].NewStore(t, bucketPrefix, objectstore.BucketSpec{}), l: repo.Layout{Prefix: "pg", Cluster: "main"}}
	if r.TLS != nil {
		f.conn.TLS, f.conn.TLSServerName, f.conn.TLSCACert = true, r.TLS.ServerName, r.TLS.CACert
	}
	f.provider, _ = signature.Generate()
	ctx := context.Background()
	rc, err := redisx.Connect(ctx, f.conn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Close() }()
	if err := rc.Set(ctx, "session:1", "alice", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rc.ConfigSet(ctx, "requirepass", f.password).Err(); err != nil {
		t.Fatal(err)
	}
	return f
}

// schedule writes the signed snapshot schedule of the instance "sessions",
// every second keeping keep, with the target tg (its address r's unless
// set).
func (f *redisRepo) schedule(ctx context.Context, t *testing.T, keep int, tg redisx.Target) {
	t.Helper()
	tg.Address = cmp.Or(tg.Address, f.r.Addr)
	if err := redisx.WriteSchedule(ctx, f.store, f.l, redisx.ScheduleDoc{Instance: "sessions", Cluster: f.l.Cluster, Class: "session",
		Schedule: "@every 1s", KeepCount: keep, Target: &tg}, f.provider); err != nil {
		t.Fatal(err)
	}
}

// agent runs an agent named host on the repository whose configuration
// holds only the instance's password: no address, no TLS settings.
func (f *redisRepo) agent(ctx context.Context, t *testing.T, host string) *Daemon {
	t.Helper()
	return runRedisAgent(ctx, t, f.store, repo.AgentConfig{Bucket: f.store.Bucket(), Prefix: f.l.Prefix, Cluster: f.l.Cluster, Host: host,
		TrustedKeys: []string{f.provider.Public().String()}, Redis: map[string]repo.RedisEntry{"sessions": {Password: f.password}}}, 300*time.Millisecond)
}

// runRedisAgent runs a daemon with agent's configuration on store until
// the test ends, refreshing the repository's documents and retrying a
// failed snapshot every `every`, so that a schedule's change reaches it
// quickly.
func runRedisAgent(ctx context.Context, t *testing.T, store objectstore.Store, agent repo.AgentConfig, every time.Duration) *Daemon {
	t.Helper()
	d, err := New(Config{
		Store: store, Agent: agent,
		Holder: cmp.Or(agent.Host, "A"), Refresh: every, Tick: 100 * time.Millisecond, LeaseRenew: time.Second,
		StatsInterval: time.Hour, RetryDelay: every, MaxAttempts: 100, DSN: "host=/nonexistent",
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
