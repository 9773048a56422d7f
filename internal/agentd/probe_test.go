package agentd

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// TestProbeMetrics: an allowed action is 1, a denied one 0, and a check
// without a verdict has no series (an earlier verdict is withdrawn).
func TestProbeMetrics(t *testing.T) {
	report := access.Report{Results: []access.Result{
		{Check: access.CheckPutLifecycle, Outcome: access.Allowed},
		{Check: access.CheckBypassGovernance, Outcome: access.Denied, By: access.ByPolicy},
		{Check: access.CheckRewritePolicy, Outcome: access.Denied, By: access.ByPolicy},
	}}
	d, err := New(Config{
		Store: objectstore.NewMemory("b"), Agent: repo.AgentConfig{Bucket: "b", Prefix: testLayout.Prefix, Cluster: testLayout.Cluster},
		Probe: func(context.Context) access.Report { return report },
	})
	if err != nil {
		t.Fatal(err)
	}
	d.probe(context.Background())
	g := d.Metrics().WriterForbiddenAllowed
	if v := testutil.ToFloat64(g.WithLabelValues(string(access.CheckPutLifecycle))); v != 1 {
		t.Errorf("put_lifecycle = %v, want 1", v)
	}
	if v := testutil.ToFloat64(g.WithLabelValues(string(access.CheckBypassGovernance))); v != 0 {
		t.Errorf("bypass_governance_retention = %v, want 0", v)
	}
	report.Results[2] = access.Result{Check: access.CheckRewritePolicy, Outcome: access.Unknown, Detail: "policy.json absent"}
	d.probe(context.Background())
	if n := testutil.CollectAndCount(g); n != 2 {
		t.Errorf("%d series after rewrite_policy became unknown, want 2 (put_lifecycle, bypass_governance_retention)", n)
	}
	if testutil.ToFloat64(d.Metrics().WriterProbeAt) <= 0 {
		t.Error("lifeboat_writer_probe_timestamp_seconds not set")
	}
}
