package region

import (
	"context"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

// Modes of a recovery region.
const (
	// ModeAgent: the agent copies and verifies (any S3-compatible store).
	ModeAgent = "agent"
	// ModeNative: the store replicates by itself; the agent only measures.
	ModeNative = "native"
)

// Destination is where a recovery region's copy goes.
type Destination struct {
	Bucket   string `json:"bucket"`
	Endpoint string `json:"endpoint,omitempty"`
	Region   string `json:"region,omitempty"`
	// Store names the entry of the agent configuration's "stores" that
	// holds the destination's credentials (default: the region's name).
	Store string `json:"store,omitempty"`
}

// Group is one business-priority group of a region's activation: its
// tenants are restored together, groups in declaration order.
type Group struct {
	Name       string   `json:"name"`
	Tenants    []string `json:"tenants"`
	RTOSeconds float64  `json:"rto_seconds,omitempty"`
}

// ConfigDoc is a recovery region as the provider writes it for the agent
// in each declared cluster's repository (repo.Layout.RegionConfigKey),
// signed like the policy and drill schedules. It holds no secret.
type ConfigDoc struct {
	Format          int         `json:"format"`
	Name            string      `json:"name"`
	Cluster         string      `json:"cluster"`
	Mode            string      `json:"mode"`
	Destination     Destination `json:"destination"`
	IntervalSeconds float64     `json:"interval_seconds"`
	MaxLagSeconds   float64     `json:"max_lag_seconds"`
	Activation      []Group     `json:"activation,omitempty"`
	Updated         time.Time   `json:"updated"`
}

// Interval is the copy interval.
func (d ConfigDoc) Interval() time.Duration {
	return time.Duration(d.IntervalSeconds * float64(time.Second))
}

// MaxLag is the lag target.
func (d ConfigDoc) MaxLag() time.Duration {
	return time.Duration(d.MaxLagSeconds * float64(time.Second))
}

// StoreName is the agent configuration store holding the destination's
// credentials.
func (d ConfigDoc) StoreName() string {
	if d.Destination.Store != "" {
		return d.Destination.Store
	}
	return d.Name
}

// WriteConfig stores d, signed by signer (nil: unsigned; agents that trust
// a key then refuse it).
func WriteConfig(ctx context.Context, store objectstore.Store, l repo.Layout, d ConfigDoc, signer *signature.Signer) error {
	d.Format = 1
	if d.Mode == "" {
		d.Mode = ModeAgent
	}
	return repo.WriteSigned(ctx, store, l.RegionConfigKey(d.Name), "recovery region "+d.Name, d, signer, objectstore.PutOptions{})
}

// ReadConfig reads region name's document; a missing one wraps
// objectstore.ErrNotFound. When trust holds a key, a document without a
// valid signature of one of its keys is refused with a *signature.Error.
func ReadConfig(ctx context.Context, store objectstore.Store, l repo.Layout, name string, trust signature.Trust) (*ConfigDoc, error) {
	return repo.ReadTrusted[ConfigDoc](ctx, store, l.RegionConfigKey(name), "recovery region "+name, trust)
}

// ListConfigs reads every recovery region of the cluster, each checked
// against trust; a refused one is left out and its error returned in
// refused, so one forged document does not stop the others.
func ListConfigs(ctx context.Context, store objectstore.Store, l repo.Layout, trust signature.Trust) (docs []ConfigDoc, refused []error, err error) {
	return repo.ListTrusted(ctx, store, l, l.RegionsDir(), repo.KindRegionConfig,
		func(k repo.Key) string { return k.Region },
		func(n string) (*ConfigDoc, error) { return ReadConfig(ctx, store, l, n, trust) })
}

// DeleteConfig removes region name's document: the agent stops copying.
// The copy and its index at the destination stay.
func DeleteConfig(ctx context.Context, store objectstore.Store, l repo.Layout, name string) error {
	return store.Delete(ctx, l.RegionConfigKey(name))
}
