package agentd

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/drill"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/redisx"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/region"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestAccAgentInRecoveryRegionStandsByUntilActivated: between two MinIO
// servers, the provider's signed policy (base backups, tenant dumps,
// verification), a Redis snapshot schedule, a drill schedule and the
// recovery region are copied to the region as the agent copies them. An
// agent started on the region's copy schedules the drill and nothing of
// the primary's (no backup, verification, Redis snapshot nor copy onto
// itself) and says it stands by; the same documents on the primary do
// schedule the backups. `lifeboat region activate`'s mark, written in the
// region and signed by the provider's key, makes the region agent run
// them; an unsigned mark, or one signed by a key the agent does not trust,
// leaves it standing by (counted as refused); a mark written in the
// primary is never copied; removing the mark stands it by again.
func TestAccAgentInRecoveryRegionStandsByUntilActivated(t *testing.T) {
	env := testenv.RequireMinIO(t, 2)
	ctx := context.Background()
	locked := objectstore.BucketSpec{Retention: &objectstore.Retention{Mode: objectstore.ModeGovernance, Days: 1}}
	// NOTE: one bucket name on both servers: the endpoint tells them apart.
	src := env.MinIO[0].NewStore(t, "standby", locked)
	dst := env.MinIO[1].StoreNamed(t, src.Bucket(), locked)
	bucket := src.Bucket()
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	provider, _ := signature.Generate()

	if err := repo.WritePolicy(ctx, src, l, repo.Policy{Cluster: l.Cluster, Schedule: "0 2 * * *",
		VerifySchedule: "0 4 * * *", TenantDatabases: []string{"acme"}}, provider); err != nil {
		t.Fatal(err)
	}
	if err := redisx.WriteSchedule(ctx, src, l, redisx.ScheduleDoc{Instance: "sessions", Cluster: l.Cluster,
		Class: string(redisx.ClassSession), Schedule: "0 * * * *"}, provider); err != nil {
		t.Fatal(err)
	}
	if err := drill.WriteSchedule(ctx, src, l, drill.ScheduleDoc{Name: "weekly", Cluster: l.Cluster,
		Schedule: "0 3 * * 0", Kind: "cluster"}, provider); err != nil {
		t.Fatal(err)
	}
	doc := region.ConfigDoc{Name: "eu2", Cluster: l.Cluster, IntervalSeconds: 60, MaxLagSeconds: 600,
		Destination: region.Destination{Bucket: bucket, Endpoint: env.MinIO[1].Endpoint}}
	if err := region.WriteConfig(ctx, src, l, doc, provider); err != nil {
		t.Fatal(err)
	}
	// The mark where it does not belong: the primary's own repository.
	if _, err := region.Activate(ctx, src, l, "eu2", "someone on the primary", time.Now(), provider); err != nil {
		t.Fatal(err)
	}
	copyPass := func() {
		t.Helper()
		if _, err := region.Copy(ctx, region.Options{Name: "eu2", Layout: l, Source: src, Dest: dst}); err != nil {
			t.Fatal(err)
		}
	}
	copyPass()

	agent := func(store objectstore.Store, endpoint string) *Daemon {
		t.Helper()
		d, err := New(Config{Store: store, Agent: repo.AgentConfig{Bucket: bucket, Endpoint: endpoint, Prefix: l.Prefix,
			Cluster: l.Cluster, TrustedKeys: []string{provider.Public().String()},
			// The region's host reaches a Redis of its own: standing by it
			// must not snapshot it into the primary's history.
			Redis: map[string]repo.RedisEntry{"sessions": {Address: "127.0.0.1:1"}}},
			Holder: "A", Refresh: time.Hour, Tick: time.Hour, DSN: "host=/nonexistent",
			Logger: discardLogger()}, WithMinGap(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	jobNames := func(d *Daemon) map[string]bool {
		d.refresh(ctx)
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.refreshErr != nil {
			t.Fatalf("refresh: %v", d.refreshErr)
		}
		names := map[string]bool{}
		for n := range d.jobs {
			names[n] = true
		}
		return names
	}
	primaryJobs := []string{BackupJob, VerifyJob, RedisJobPrefix + "sessions", DrillJobPrefix + "weekly"}

	// The control: on the primary the same documents schedule everything.
	onPrimary := jobNames(agent(src, env.MinIO[0].Endpoint))
	for _, n := range append(primaryJobs, RegionJobPrefix+"eu2") {
		if !onPrimary[n] {
			t.Fatalf("primary agent: %s not scheduled: %v", n, onPrimary)
		}
	}

	dr := agent(dst, env.MinIO[1].Endpoint)
	inRegion := jobNames(dr)
	if !inRegion[DrillJobPrefix+"weekly"] {
		t.Fatalf("region agent: the drill is not scheduled: %v", inRegion)
	}
	for _, n := range []string{BackupJob, VerifyJob, RedisJobPrefix + "sessions", RegionJobPrefix + "eu2"} {
		if inRegion[n] {
			t.Fatalf("region agent, not activated: %s scheduled (jobs %v)", n, inRegion)
		}
	}
	if got := testutil.ToFloat64(dr.m.RegionStandby.WithLabelValues("eu2")); got != 1 {
		t.Fatalf("lifeboat_recovery_region_standby{region=eu2} = %v, want 1", got)
	}
	if a, err := region.ReadActivation(ctx, dst, l, "eu2", signature.Trust{}); err != nil || a != nil {
		t.Fatalf("the primary's activation mark reached the region: %+v, %v", a, err)
	}

	// Marks the agent's trusted keys did not sign leave it standing by,
	// each refusal counted.
	stranger, _ := signature.Generate()
	for i, signer := range []*signature.Signer{nil, stranger} {
		if _, err := region.Activate(ctx, dst, l, "eu2", "someone with the bucket's keys", time.Now(), signer); err != nil {
			t.Fatal(err)
		}
		if forged := jobNames(dr); forged[BackupJob] || forged[VerifyJob] || forged[RedisJobPrefix+"sessions"] {
			t.Fatalf("mark %d (unsigned, then signed by an untrusted key): jobs %v", i, forged)
		}
		if got := testutil.ToFloat64(dr.m.ConfigRefused.WithLabelValues("recovery_region_activation")); got != float64(i+1) {
			t.Fatalf("mark %d: refused activation marks = %v, want %d", i, got, i+1)
		}
		if got := testutil.ToFloat64(dr.m.RegionStandby.WithLabelValues("eu2")); got != 1 {
			t.Fatalf("mark %d: lifeboat_recovery_region_standby{region=eu2} = %v, want 1", i, got)
		}
	}

	if _, err := region.Activate(ctx, dst, l, "eu2", "operator", time.Now(), provider); err != nil {
		t.Fatal(err)
	}
	active := jobNames(dr)
	for _, n := range primaryJobs {
		if !active[n] {
			t.Fatalf("region agent, activated: %s not scheduled: %v", n, active)
		}
	}
	if active[RegionJobPrefix+"eu2"] {
		t.Fatal("an activated region agent copies the region onto itself")
	}
	if got := testutil.ToFloat64(dr.m.RegionStandby.WithLabelValues("eu2")); got != 0 {
		t.Fatalf("activated: lifeboat_recovery_region_standby{region=eu2} = %v, want 0", got)
	}
	// Another copy pass (the primary back, say) does not undo the mark.
	copyPass()
	trust, _ := signature.NewTrust(provider.Public().String())
	if a, err := region.ReadActivation(ctx, dst, l, "eu2", trust); err != nil || a == nil || a.By != "operator" {
		t.Fatalf("the mark after another copy pass: %+v, %v", a, err)
	}

	if err := region.Deactivate(ctx, dst, l, "eu2"); err != nil {
		t.Fatal(err)
	}
	if again := jobNames(dr); again[BackupJob] || !again[DrillJobPrefix+"weekly"] {
		t.Fatalf("deactivated: jobs %v", again)
	}
}
