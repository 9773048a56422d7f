package agentd

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
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
	r, err := testenv.StartRedis(ctx, t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	rc, err := redisx.Connect(ctx, redisx.Options{Addr: r.Addr})
	if err != nil {
		t.Fatal(err)
	}
	const password = "sessions-s3cret"
	if err := rc.Set(ctx, "session:1", "alice", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rc.ConfigSet(ctx, "requirepass", password).Err(); err != nil {
		t.Fatal(err)
	}
	_ = rc.Close()

	c, err := objectstore.NewClient(ctx, objectstore.Config{
		Endpoint: env.MinIO[0].Endpoint, AccessKey: env.MinIO[0].AccessKey, SecretKey: env.MinIO[0].SecretKey, PathStyle: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	bucket := fmt.Sprintf("redis-target-%08x", rand.Uint32())
	if err := c.CreateBucket(ctx, objectstore.BucketSpec{Name: bucket}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.DestroyBucket(context.Background(), bucket, true) })
	store := c.Store(bucket)
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
		d, err := New(Config{
			Store: store, Agent: repo.AgentConfig{Bucket: bucket, Prefix: l.Prefix, Cluster: l.Cluster, Host: host,
				TrustedKeys: []string{provider.Public().String()},
				// Only the secret is the host's: no address.
				Redis: map[string]repo.RedisEntry{"sessions": {Password: password}}},
			Holder: host, Refresh: 300 * time.Millisecond, Tick: 100 * time.Millisecond, LeaseRenew: time.Second,
			StatsInterval: time.Hour, RetryDelay: 300 * time.Millisecond, MaxAttempts: 100, DSN: "host=/nonexistent",
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
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
	}

	// waitRun waits for a successful snapshot run by holder after since.
	waitRun := func(holder string, since time.Time) *Run {
		t.Helper()
		deadline := time.Now().Add(45 * time.Second)
		var last *Run
		for time.Now().Before(deadline) {
			run, err := ReadRun(ctx, store, l, RedisJobPrefix+"sessions")
			if err == nil && run != nil {
				last = run
				if run.Holder == holder && run.Result == ResultSuccess && run.Started.After(since) {
					return run
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("no successful snapshot by %s since %s; last run %+v", holder, since.Format(time.RFC3339Nano), last)
		return nil
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
