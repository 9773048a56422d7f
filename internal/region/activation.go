package region

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

// Activation is the mark `lifeboat region activate` writes in the region's
// copy of a cluster's repository. Until it exists, an agent started in the
// region stands by: it serves restore requests and drills from the copy,
// and runs none of the primary's schedules (base backups, tenant dumps,
// verification, Redis snapshots), which would write its own database's
// backups into the primary's copied history.
//
// The mark is signed by whoever may activate the region: the provider's
// signing key, or an operator's key listed in the region agents'
// trusted_keys. An agent with trusted keys acts only on a mark one of them
// signed, so credentials that can write into the region's bucket (the copy
// role's, denied the key anyway) cannot start backups there.
type Activation struct {
	Region      string    `json:"region"`
	ActivatedAt time.Time `json:"activated_at"`
	By          string    `json:"by,omitempty"`
}

// Activate marks recovery region name active for the cluster of l in
// dest (the region's store), signed by signer (nil: unsigned, which only
// agents without trusted keys accept). Marking twice keeps the newest mark.
func Activate(ctx context.Context, dest objectstore.Store, l repo.Layout, name, by string, now time.Time, signer *signature.Signer) (*Activation, error) {
	a := &Activation{Region: name, ActivatedAt: now.UTC(), By: by}
	key := l.RegionActivationKey(name)
	if err := repo.WriteSigned(ctx, dest, key, "recovery region "+name+"'s activation mark "+key, a, signer, objectstore.PutOptions{}); err != nil {
		return nil, fmt.Errorf("marking recovery region %s active: %w", name, err)
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
// When trust holds keys, a mark not signed by one of them is refused: the
// error wraps a *signature.Error, and the region is not active.
func ReadActivation(ctx context.Context, dest objectstore.Store, l repo.Layout, name string, trust signature.Trust) (*Activation, error) {
	key := l.RegionActivationKey(name)
	a, err := repo.ReadTrusted[Activation](ctx, dest, key, "recovery region "+name+"'s activation mark "+key, trust)
	if errors.Is(err, objectstore.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading recovery region %s's activation mark: %w", name, err)
	}
	return a, nil
}
