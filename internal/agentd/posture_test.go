package agentd

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/posture"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

// TestPostureMetricsAreTheEngineFindings: lifeboat_posture_finding shows
// the posture engine's verdict on the agent's own job records, failing
// then passing, exactly one status at a time.
func TestPostureMetricsAreTheEngineFindings(t *testing.T) {
	ctx := context.Background()
	store := objectstore.NewMemory("b")
	writePolicy(t, store, "@hourly")
	d := testDaemon(t, store, "A")
	now := time.Now().UTC()
	status := func(control string) map[posture.Status]float64 {
		out := map[posture.Status]float64{}
		for _, s := range posture.Statuses() {
			out[s] = testutil.ToFloat64(d.Metrics().PostureFinding.WithLabelValues(control, testLayout.Cluster, string(s)))
		}
		return out
	}
	for _, c := range []struct {
		result string
		want   posture.Status
	}{{ResultFailure, posture.Fail}, {ResultSuccess, posture.Pass}} {
		if err := WriteRun(ctx, store, testLayout, Run{Job: VerifyJob, Result: c.result, Holder: "A", Started: now, Finished: now, Error: "x"}); err != nil {
			t.Fatal(err)
		}
		if err := d.postureStats(ctx); err != nil {
			t.Fatal(err)
		}
		got := status(posture.ControlVerification)
		for s, v := range got {
			if want := map[bool]float64{true: 1, false: 0}[s == c.want]; v != want {
				t.Fatalf("verification %s: lifeboat_posture_finding{status=%q} = %v, want %v (all: %v)", c.result, s, v, want, got)
			}
		}
	}
	// No server reachable: the WAL controls say unknown, never pass.
	if got := status(posture.ControlWALArchiving); got[posture.Unknown] != 1 {
		t.Fatalf("WAL archiving without a server: %v, want unknown", got)
	}
	if testutil.ToFloat64(d.Metrics().PostureAt) == 0 {
		t.Fatal("lifeboat_posture_timestamp_seconds not set")
	}
}

// TestAgentStoresPostureReports: with a report interval, the stats pass
// stores the report (HTML and JSON) in the repository, and not again
// before the interval has passed.
func TestAgentStoresPostureReports(t *testing.T) {
	ctx := context.Background()
	store := objectstore.NewMemory("b")
	writePolicy(t, store, "@hourly")
	d := testDaemon(t, store, "A")
	d.cfg.PostureReportInterval = time.Hour
	signer, _ := signature.Generate()
	d.signer = signer
	count := func() int {
		n := 0
		if err := store.List(ctx, testLayout.PostureReportsDir(), func(objectstore.ObjectInfo) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if err := d.postureStats(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 2 {
		t.Fatalf("%d reports stored, want the HTML and the JSON", n)
	}
	trust, _ := signature.NewTrust(signer.Public().String())
	entries, err := posture.ListReports(ctx, store, testLayout, trust)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.SignedBy != signer.Public().ID() || e.SignatureError != nil {
			t.Fatalf("%s: signed by %q (%v), want the agent's key", e.Key, e.SignedBy, e.SignatureError)
		}
	}
	time.Sleep(1100 * time.Millisecond) // a new report id
	if err := d.postureStats(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 2 {
		t.Fatalf("%d reports after a second pass within the interval, want still 2", n)
	}
}
