package posture

import (
	"fmt"
	"strings"
	"time"
)

// ControlLiveAgent judges whether any agent of the cluster is alive: the
// scheduled backups, drills and the host-side work Terraform requests
// (restores, drills now) all run on the cluster's agents.
const ControlLiveAgent = "agent.live"

func init() {
	register(Control{ID: ControlLiveAgent, Title: "Cluster has a live agent", Scope: ScopeCluster, Standards: backupStandards,
		Problem: "No Live Agent", Evaluate: liveAgent})
}

func liveAgent(o *Observation, c *ClusterObservation, _ Params) Finding {
	th := "an agent published a heartbeat within three of its intervals"
	if c.AgentsErr != nil {
		f := unknown(c.AgentsErr.Error(), "Give the report credentials that may list the cluster's agents/ folder.")
		f.Threshold, f.Problem = th, "Agent Heartbeats Unreadable"
		return f
	}
	f := Finding{Threshold: th}
	var live, dead []string
	for _, h := range c.Agents {
		f.Evidence = append(f.Evidence, Evidence{Key: c.Layout.HeartbeatKey(h.Host), Time: h.LastSeen, Note: fmt.Sprintf("%s, version %s", h.Holder, h.Version)})
		desc := fmt.Sprintf("%s (last seen %s, %s ago)", h.Host, ts(h.LastSeen), o.Now.Sub(h.LastSeen).Truncate(time.Second))
		if h.LiveAt(o.Now) {
			live = append(live, desc)
		} else {
			dead = append(dead, desc)
		}
	}
	switch {
	case len(live) > 0:
		f.Status = Pass
		f.Observed = "live: " + strings.Join(live, ", ")
	case len(dead) > 0:
		f.Status = Fail
		f.Observed = "no agent alive; last heard: " + strings.Join(dead, ", ")
		f.Remedy = "Restart `lifeboat agent` on the cluster's database host (systemctl status lifeboat-agent); until then no backup, drill or requested restore runs."
	default:
		f.Status = Fail
		f.Observed = "no agent has ever published a heartbeat for this cluster"
		f.Remedy = "Run `lifeboat agent` on the cluster's database host with its bootstrap file (see examples/deploy)."
	}
	return f
}
