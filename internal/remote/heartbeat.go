package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/agentd"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// Heartbeat is an agent's sign of life (<root>/agents/<host>.json),
// rewritten every IntervalSeconds.
type Heartbeat struct {
	Host    string `json:"host"`
	Holder  string `json:"holder"`
	Cluster string `json:"cluster"`
	Version string `json:"version"`
	// Executes lists the request kinds this agent executes.
	Executes        []Kind    `json:"executes,omitempty"`
	Started         time.Time `json:"started"`
	LastSeen        time.Time `json:"last_seen"`
	IntervalSeconds float64   `json:"interval_seconds"`
}

// LiveAt reports whether the agent was seen within three of its intervals
// before now: one missed heartbeat is a slow store, three a dead agent.
func (h Heartbeat) LiveAt(now time.Time) bool {
	every := time.Duration(h.IntervalSeconds * float64(time.Second))
	if every <= 0 {
		every = DefaultHeartbeat
	}
	return now.Sub(h.LastSeen) <= 3*every
}

// DefaultHeartbeat is how often an agent publishes its heartbeat.
const DefaultHeartbeat = 30 * time.Second

// PublishHeartbeat writes h (LastSeen set now) under its host.
func PublishHeartbeat(ctx context.Context, store objectstore.Store, l repo.Layout, h Heartbeat) error {
	h.LastSeen = time.Now().UTC()
	b, _ := json.MarshalIndent(h, "", "  ")
	every := time.Duration(h.IntervalSeconds * float64(time.Second))
	if err := agentd.PutRecord(ctx, store, l.HeartbeatKey(h.Host), b, false, 3*every); err != nil {
		return fmt.Errorf("publishing heartbeat %s: %w", l.HeartbeatKey(h.Host), err)
	}
	return nil
}

// ListAgents reads every heartbeat of the cluster, by host.
func ListAgents(ctx context.Context, store objectstore.Store, l repo.Layout) ([]Heartbeat, error) {
	var keys []string
	err := store.List(ctx, l.AgentsDir(), func(o objectstore.ObjectInfo) error {
		if k, ok := l.Parse(o.Key); ok && k.Kind == repo.KindHeartbeat {
			keys = append(keys, o.Key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing agents %s: %w", l.AgentsDir(), err)
	}
	var out []Heartbeat
	for _, k := range keys {
		var h Heartbeat
		if err := readJSON(ctx, store, k, &h); errors.Is(err, objectstore.ErrNotFound) {
			continue
		} else if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Host < out[j].Host })
	return out, nil
}

// LiveAgents are the heartbeats of ListAgents live at now.
func LiveAgents(ctx context.Context, store objectstore.Store, l repo.Layout, now time.Time) ([]Heartbeat, error) {
	all, err := ListAgents(ctx, store, l)
	if err != nil {
		return nil, err
	}
	var live []Heartbeat
	for _, h := range all {
		if h.LiveAt(now) {
			live = append(live, h)
		}
	}
	return live, nil
}
