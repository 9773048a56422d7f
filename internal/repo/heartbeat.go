package repo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
)

// DefaultHeartbeat is how often an agent publishes its heartbeat.
const DefaultHeartbeat = 30 * time.Second

// Heartbeat is an agent's sign of life (Layout.HeartbeatKey), rewritten
// every IntervalSeconds by the agent on Host.
type Heartbeat struct {
	Host    string `json:"host"`
	Holder  string `json:"holder"`
	Cluster string `json:"cluster"`
	Version string `json:"version"`
	// Executes lists the request kinds this agent executes.
	Executes []string `json:"executes,omitempty"`
	// Identities are the fingerprints of the age identities the agent
	// holds (its identity_file): public, they say which encrypted backups
	// and snapshots a restore or drill it runs can open, so a plan that
	// sends one there is checked before it is applied.
	Identities      []string  `json:"identities,omitempty"`
	Started         time.Time `json:"started"`
	LastSeen        time.Time `json:"last_seen"`
	IntervalSeconds float64   `json:"interval_seconds"`
	// HoldsRestores is true when Restores is reported: the agent lists
	// the copies of the restore requests it executed that still exist on
	// its host (a data directory holding its restore, a database on its
	// server), by request id. A copy removed outside Terraform drops out,
	// so refresh can plan it again.
	HoldsRestores bool     `json:"holds_restores,omitempty"`
	Restores      []string `json:"restores,omitempty"`
	// RestoresListed is when the agent began looking for those copies: a
	// restore that finished after it may be missing from Restores.
	RestoresListed time.Time `json:"restores_listed,omitzero"`
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

// ListHeartbeats reads every heartbeat of the cluster, by host.
func ListHeartbeats(ctx context.Context, store objectstore.Store, l Layout) ([]Heartbeat, error) {
	var keys []string
	err := store.List(ctx, l.AgentsDir(), func(o objectstore.ObjectInfo) error {
		if k, ok := l.Parse(o.Key); ok && k.Kind == KindHeartbeat {
			keys = append(keys, o.Key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing agents %s: %w", l.AgentsDir(), err)
	}
	var out []Heartbeat
	for _, k := range keys {
		h, err := readHeartbeat(ctx, store, k)
		if errors.Is(err, objectstore.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Host < out[j].Host })
	return out, nil
}

func readHeartbeat(ctx context.Context, store objectstore.Store, key string) (Heartbeat, error) {
	var h Heartbeat
	rc, _, err := store.Get(ctx, key)
	if err != nil {
		return h, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 1<<16))
	if err != nil {
		return h, fmt.Errorf("reading %s: %w", key, err)
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return h, fmt.Errorf("heartbeat %s: %w", key, err)
	}
	return h, nil
}
