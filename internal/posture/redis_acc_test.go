package posture_test

import (
	"context"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/posture"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/redisx"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestAccPostureRedisSnapshots: a cluster without Redis schedules passes
// (nothing to restore); a session instance whose schedule is signed passes
// with a snapshot taken from the harness' Redis just now, naming the
// snapshot's manifest as evidence, and fails three hours later as overdue;
// an instance declared but never snapshotted fails; with a trusted key, an
// unsigned schedule fails.
func TestAccPostureRedisSnapshots(t *testing.T) {
	env := testenv.Require(t)
	if env.Redis == nil {
		t.Fatal("the harness started no Redis")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := client(t, env)
	b := bucketName("redis")
	if err := c.CreateBucket(ctx, objectstore.BucketSpec{Name: b}); err != nil {
		t.Fatal(err)
	}
	store := c.Store(b)
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	signer, err := signature.Generate()
	if err != nil {
		t.Fatal(err)
	}
	trust, err := signature.NewTrust(signer.Public().String())
	if err != nil {
		t.Fatal(err)
	}
	evaluate := func(now time.Time, tr signature.Trust) *posture.Report {
		t.Helper()
		o, err := posture.Gather(ctx, posture.Target{Store: store, Prefix: "pg", Clusters: []string{"main"}, Now: now, Trust: tr})
		if err != nil {
			t.Fatal(err)
		}
		return posture.Evaluate(o, posture.Params{Trust: tr})
	}
	now := time.Now().UTC()
	want(t, evaluate(now, trust), posture.ControlRedisSnapshots, "main", posture.Pass, "no Redis instance declared")

	created := now.Add(-3 * time.Hour)
	if err := redisx.WriteSchedule(ctx, store, l, redisx.ScheduleDoc{Instance: "sessions", Cluster: "main", Class: "session",
		Schedule: "@every 1h", Updated: created, Created: created}, signer); err != nil {
		t.Fatal(err)
	}
	rc, err := redisx.Connect(ctx, redisx.Options{Addr: env.Redis.Addr})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Close() }()
	if err := rc.Set(ctx, "session:1", "alice", 0).Err(); err != nil {
		t.Fatal(err)
	}
	m, err := redisx.Snapshot(ctx, rc, store, redisx.SnapshotOptions{Layout: l, Instance: "sessions"})
	if err != nil {
		t.Fatal(err)
	}
	f := want(t, evaluate(now, trust), posture.ControlRedisSnapshots, "main", posture.Pass, "sessions (session): newest snapshot")
	ev := hasEvidence(t, f, l.RedisManifestKey("sessions", m.ID))
	if !ev.Time.Equal(m.TakenAt) {
		t.Errorf("evidence time %s, want the snapshot's %s", ev.Time, m.TakenAt)
	}
	hasEvidence(t, f, l.RedisScheduleKey("sessions"))

	// Three hours on, the hourly schedule has missed two slots.
	f = want(t, evaluate(now.Add(3*time.Hour), trust), posture.ControlRedisSnapshots, "main", posture.Fail, "a snapshot was due at")
	hasEvidence(t, f, l.RedisManifestKey("sessions", m.ID))
	if f.Problem != "Redis Snapshot Overdue" {
		t.Errorf("problem %q", f.Problem)
	}

	// A queue declared three hours ago and never snapshotted.
	if err := redisx.WriteSchedule(ctx, store, l, redisx.ScheduleDoc{Instance: "jobs", Cluster: "main", Class: "queue",
		Schedule: "@every 1h", Updated: created, Created: created}, signer); err != nil {
		t.Fatal(err)
	}
	want(t, evaluate(now, trust), posture.ControlRedisSnapshots, "main", posture.Fail, "jobs (queue): no snapshot, a snapshot was due at")
	if err := redisx.DeleteSchedule(ctx, store, l, "jobs"); err != nil {
		t.Fatal(err)
	}
	want(t, evaluate(now, trust), posture.ControlRedisSnapshots, "main", posture.Pass, "sessions (session)")

	// The same schedule rewritten unsigned: refused by the agent, failed here.
	if err := redisx.WriteSchedule(ctx, store, l, redisx.ScheduleDoc{Instance: "sessions", Cluster: "main", Class: "session",
		Schedule: "@every 1h", Updated: now}, nil); err != nil {
		t.Fatal(err)
	}
	want(t, evaluate(now, trust), posture.ControlRedisSnapshots, "main", posture.Fail, "not signed by a trusted key")
	want(t, evaluate(now, signature.Trust{}), posture.ControlRedisSnapshots, "main", posture.Pass, "sessions (session)")
}
