package agentd

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/posture"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/region"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestAccRegionLagPostureBetweenTwoMinIOServers: the agent copies the
// primary (first MinIO server) to a recovery region on the second and
// records each pass's status in the primary repository; a posture report
// reading the primary only judges region.lag from it: pass within max_lag,
// fail over it, unknown once the record is stale or for a region that
// never recorded a pass.
func TestAccRegionLagPostureBetweenTwoMinIOServers(t *testing.T) {
	env := testenv.RequireMinIO(t, 2)
	ctx := context.Background()
	src := env.MinIO[0].NewStore(t, "lag-primary", objectstore.BucketSpec{})
	dst := env.MinIO[1].NewStore(t, "lag-dr", objectstore.BucketSpec{})
	l := repo.Layout{Prefix: "pg", Cluster: "main"}

	seg := l.WALKey("00000001", "000000010000000000000001", "zst")
	if _, err := src.Put(ctx, seg, bytes.NewReader([]byte("wal")), objectstore.PutOptions{Size: 3}); err != nil {
		t.Fatal(err)
	}
	doc := region.ConfigDoc{Name: "eu2", Cluster: l.Cluster, Destination: region.Destination{Bucket: dst.Bucket(), Endpoint: env.MinIO[1].Endpoint},
		IntervalSeconds: 1, MaxLagSeconds: 600}
	if err := region.WriteConfig(ctx, src, l, doc, nil); err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{
		Store: src, Agent: repo.AgentConfig{Bucket: src.Bucket(), Prefix: l.Prefix, Cluster: l.Cluster},
		Holder: "A", Refresh: 100 * time.Millisecond, Tick: 50 * time.Millisecond, LeaseRenew: 100 * time.Millisecond,
		StatsInterval: time.Hour, DSN: "host=/nonexistent", Logger: discardLogger(),
		RegionStore: func(region.ConfigDoc) (objectstore.Store, error) { return dst, nil },
	}, WithMinGap(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- d.Run(runCtx) }()
	var rec *region.StatusRecord
	waitUntil(t, 30*time.Second, "the copy's status recorded in the primary", func() bool {
		if _, err := dst.Head(ctx, seg); err != nil {
			return false
		}
		rec, err = region.ReadStatusRecord(ctx, src, l, "eu2", signature.Trust{})
		return err == nil && rec != nil
	})
	cancel()
	<-done
	rec, err = region.ReadStatusRecord(ctx, src, l, "eu2", signature.Trust{})
	if err != nil || rec == nil {
		t.Fatalf("status record: %v, %v", rec, err)
	}
	if rec.Destination != "s3://"+dst.Bucket() || rec.MaxLagSeconds != 600 || rec.Status.PendingObjects != 0 || rec.LagSeconds <= 0 || rec.LagSeconds > 60 {
		t.Fatalf("status record %+v", rec)
	}
	if _, err := dst.Head(ctx, l.RegionStatusKey("eu2")); err == nil {
		t.Fatal("the status record was copied to the region: it is operational, for the primary only")
	}

	judge := func(now time.Time) posture.Finding {
		t.Helper()
		o, err := posture.Gather(ctx, posture.Target{Store: src, Prefix: l.Prefix, Clusters: []string{l.Cluster}, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		f, ok := posture.Evaluate(o, posture.Params{}).Find(posture.ControlRegionLag, l.Cluster)
		if !ok {
			t.Fatal("no region.lag finding")
		}
		return f
	}
	f := judge(time.Now())
	if f.Status != posture.Pass || !strings.Contains(f.Observed, "eu2 lag") || len(f.Evidence) != 2 || f.Evidence[1].Key != l.RegionStatusKey("eu2") {
		t.Fatalf("within max lag: %s %q %+v, want pass with the status record as evidence", f.Status, f.Observed, f.Evidence)
	}
	// The same record judged against a max lag below what it measured.
	doc.MaxLagSeconds = rec.LagSeconds / 2
	if err := region.WriteConfig(ctx, src, l, doc, nil); err != nil {
		t.Fatal(err)
	}
	if f := judge(time.Now()); f.Status != posture.Fail || !strings.Contains(f.Observed, "over max lag: eu2") {
		t.Fatalf("over max lag: %s %q, want fail", f.Status, f.Observed)
	}
	// An hour later with a copy every second: the copy stopped.
	doc.MaxLagSeconds = 600
	if err := region.WriteConfig(ctx, src, l, doc, nil); err != nil {
		t.Fatal(err)
	}
	if f := judge(time.Now().Add(time.Hour)); f.Status != posture.Unknown || !strings.Contains(f.Observed, "the copy stopped") {
		t.Fatalf("stale record: %s %q, want unknown", f.Status, f.Observed)
	}
	// A second region nobody copied yet.
	other := region.ConfigDoc{Name: "us1", Cluster: l.Cluster, Destination: region.Destination{Bucket: "elsewhere"}, IntervalSeconds: 60, MaxLagSeconds: 600}
	if err := region.WriteConfig(ctx, src, l, other, nil); err != nil {
		t.Fatal(err)
	}
	if f := judge(time.Now()); f.Status != posture.Unknown || !strings.Contains(f.Observed, "us1: no copy pass recorded yet") || !strings.Contains(f.Observed, "within: eu2") {
		t.Fatalf("a region never copied: %s %q, want unknown naming us1", f.Status, f.Observed)
	}
}
