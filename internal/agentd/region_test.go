package agentd

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/region"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

// TestAgentCopiesToRecoveryRegion: the daemon schedules the recovery
// region the provider signed (and not one signed by another key), copies
// the repository on its interval and reports lag, pending and failures;
// with the destination failing, failures count and pending stays.
func TestAgentCopiesToRecoveryRegion(t *testing.T) {
	ctx := context.Background()
	store := objectstore.NewMemory("primary")
	dest := objectstore.NewMemory("dr")
	provider, _ := signature.Generate()
	attacker, _ := signature.Generate()
	var down atomic.Bool
	d, err := New(Config{
		Store: store, Agent: repo.AgentConfig{Bucket: "primary", Prefix: testLayout.Prefix, Cluster: testLayout.Cluster,
			TrustedKeys: []string{provider.Public().String()}},
		Holder: "A", Refresh: 100 * time.Millisecond, Tick: 50 * time.Millisecond, LeaseRenew: 100 * time.Millisecond,
		StatsInterval: time.Hour, DSN: "host=/nonexistent", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		RegionStore: func(doc region.ConfigDoc) (objectstore.Store, error) {
			if doc.Destination.Bucket != "dr" {
				t.Errorf("destination %q", doc.Destination.Bucket)
			}
			if down.Load() {
				return nil, errors.New("destination unreachable")
			}
			return dest, nil
		},
	}, WithMinGap(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	seg := testLayout.WALKey("00000001", "000000010000000000000001", "zst")
	if _, err := store.Put(ctx, seg, bytes.NewReader([]byte("wal")), objectstore.PutOptions{Size: 3}); err != nil {
		t.Fatal(err)
	}
	doc := region.ConfigDoc{Name: "eu2", Cluster: testLayout.Cluster, Destination: region.Destination{Bucket: "dr"},
		IntervalSeconds: 1, MaxLagSeconds: 60}
	if err := region.WriteConfig(ctx, store, testLayout, doc, provider); err != nil {
		t.Fatal(err)
	}
	forged := doc
	forged.Name = "evil"
	if err := region.WriteConfig(ctx, store, testLayout, forged, attacker); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- d.Run(runCtx) }()
	defer func() { cancel(); <-done }()

	waitUntil(t, 10*time.Second, "the segment copied", func() bool {
		_, err := dest.Head(ctx, seg)
		return err == nil
	})
	d.mu.Lock()
	_, forgedJob := d.jobs[RegionJobPrefix+"evil"]
	d.mu.Unlock()
	if forgedJob {
		t.Fatal("a region signed by another key was scheduled")
	}
	if got := testutil.ToFloat64(d.m.ConfigRefused.WithLabelValues("recovery_region")); got < 1 {
		t.Fatalf("lifeboat_config_refused_total{document=recovery_region} = %v", got)
	}
	waitUntil(t, 5*time.Second, "metrics set", func() bool {
		return testutil.ToFloat64(d.m.RegionLastCopy.WithLabelValues("eu2")) > 0
	})
	if lag := testutil.ToFloat64(d.m.RegionLag.WithLabelValues("eu2")); lag <= 0 || lag > 60 {
		t.Fatalf("lifeboat_recovery_region_lag_seconds = %v", lag)
	}
	if p := testutil.ToFloat64(d.m.RegionPendingObjects.WithLabelValues("eu2")); p != 0 {
		t.Fatalf("pending %v after a pass", p)
	}

	if f := testutil.ToFloat64(d.m.RegionCopyFailures.WithLabelValues("eu2")); f != 0 {
		t.Fatalf("%v failures before the destination failed", f)
	}
	down.Store(true)
	waitUntil(t, 10*time.Second, "a failure counted", func() bool {
		return testutil.ToFloat64(d.m.RegionCopyFailures.WithLabelValues("eu2")) >= 1
	})
	r, err := ReadRun(ctx, store, testLayout, RegionJobPrefix+"eu2")
	if err != nil || r == nil {
		t.Fatalf("run record: %+v, %v", r, err)
	}
}

func waitUntil(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
