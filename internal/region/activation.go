package region

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// Activation is the mark `lifeboat region activate` writes in the region's
// copy of a cluster's repository. Until it exists, an agent started in the
// region stands by: it serves restore requests and drills from the copy,
// and runs none of the primary's schedules (base backups, tenant dumps,
// verification, Redis snapshots), which would write its own database's
// backups into the primary's copied history.
type Activation struct {
	Region      string    `json:"region"`
	ActivatedAt time.Time `json:"activated_at"`
	By          string    `json:"by,omitempty"`
}

// Activate marks recovery region name active for the cluster of l in
// dest (the region's store). Marking twice keeps the newest mark.
func Activate(ctx context.Context, dest objectstore.Store, l repo.Layout, name, by string, now time.Time) (*Activation, error) {
	a := &Activation{Region: name, ActivatedAt: now.UTC(), By: by}
	b, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	key := l.RegionActivationKey(name)
	if _, err := dest.Put(ctx, key, bytes.NewReader(b), objectstore.PutOptions{Size: int64(len(b))}); err != nil {
		return nil, fmt.Errorf("marking recovery region %s active at %s: %w", name, key, err)
	}
	return a, nil
}

// Deactivate removes the mark: agents in the region stand by again.
func Deactivate(ctx context.Context, dest objectstore.Store, l repo.Layout, name string) error {
	key := l.RegionActivationKey(name)
	if err := dest.Delete(ctx, key); err != nil && !errors.Is(err, objectstore.ErrNotFound) {
		return fmt.Errorf("removing recovery region %s's activation mark %s: %w", name, key, err)
	}
	return nil
}

// ReadActivation reads the mark; nil, nil when the region is not active.
func ReadActivation(ctx context.Context, dest objectstore.Store, l repo.Layout, name string) (*Activation, error) {
	key := l.RegionActivationKey(name)
	rc, _, err := dest.Get(ctx, key)
	if errors.Is(err, objectstore.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading recovery region %s's activation mark %s: %w", name, key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("reading recovery region %s's activation mark %s: %w", name, key, err)
	}
	var a Activation
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("recovery region %s's activation mark %s: %w", name, key, err)
	}
	return &a, nil
}
