package remote

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/agentd"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// Heartbeat is an agent's sign of life (see repo.Heartbeat).
type Heartbeat = repo.Heartbeat

// DefaultHeartbeat is how often an agent publishes its heartbeat.
const DefaultHeartbeat = repo.DefaultHeartbeat

// PublishHeartbeat writes h (LastSeen set now) under its host, each
// version locked for three intervals only.
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
	return repo.ListHeartbeats(ctx, store, l)
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
