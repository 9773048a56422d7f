package posture

import (
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// A cluster passes while one agent's heartbeat is fresh; with only stale
// heartbeats, or none ever, it fails naming what was last heard.
func TestLiveAgent(t *testing.T) {
	o := observation()
	c := &o.Clusters[0]
	if f, _ := Evaluate(o, Params{}).Find(ControlLiveAgent, "main"); f.Status != Unknown {
		t.Fatalf("unreadable heartbeats: %s, want unknown", f.Status)
	}
	c.AgentsErr = nil
	if f, _ := Evaluate(o, Params{}).Find(ControlLiveAgent, "main"); f.Status != Fail || !strings.Contains(f.Observed, "ever") {
		t.Fatalf("no heartbeat ever: %s %q, want fail", f.Status, f.Observed)
	}
	c.Agents = []repo.Heartbeat{
		{Host: "db-eu-1", Holder: "a", LastSeen: now.Add(-10 * time.Minute), IntervalSeconds: 30},
		{Host: "db-eu-2", Holder: "b", LastSeen: now.Add(-20 * time.Second), IntervalSeconds: 30},
	}
	f, _ := Evaluate(o, Params{}).Find(ControlLiveAgent, "main")
	if f.Status != Pass || !strings.Contains(f.Observed, "db-eu-2") || strings.Contains(f.Observed, "db-eu-1") || len(f.Evidence) != 2 {
		t.Fatalf("one live agent: %s %q (%d evidence), want pass naming db-eu-2", f.Status, f.Observed, len(f.Evidence))
	}
	c.Agents = c.Agents[:1]
	if f, _ := Evaluate(o, Params{}).Find(ControlLiveAgent, "main"); f.Status != Fail || !strings.Contains(f.Observed, "db-eu-1") {
		t.Fatalf("only a stale agent: %s %q, want fail naming db-eu-1", f.Status, f.Observed)
	}
}
