package provider

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"time"

	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/drill"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

// readCache is what the resources of one provider process (one Terraform
// command: a plan, an apply) share of what they read from a repository, so
// that 500 resources of one repository cost a few requests, not 500 times
// a few. It is short-lived by construction: Terraform starts a provider
// process per command, and Configure makes a new cache.
type readCache struct {
	mu         sync.Mutex
	drillIndex map[string]*onceIndex
}

type onceIndex struct {
	once sync.Once
	x    *drill.StoredIndex
}

// bucketsSeen holds the buckets (per client) found to exist, so that the
// 500 drill schedules of one apply check their bucket once, not 500 times.
// Clients belong to one provider process (providerData.clients), which
// makes this per Terraform command too. Only existence is kept: a missing
// bucket is asked again, so one created later in the same apply is found.
var bucketsSeen sync.Map

type bucketSeenKey struct {
	client *objectstore.Client
	bucket string
}

// drillIndex is the drill index of the repository at l in store, read at
// most once per provider process; nil when there is none or it cannot be
// read (readers then read the objects themselves).
func (c *readCache) drillIndexOf(ctx context.Context, store objectstore.Store, l repo.Layout) *drill.StoredIndex {
	key := store.Bucket() + "\x00" + l.Root()
	c.mu.Lock()
	if c.drillIndex == nil {
		c.drillIndex = map[string]*onceIndex{}
	}
	o, ok := c.drillIndex[key]
	if !ok {
		o = &onceIndex{}
		c.drillIndex[key] = o
	}
	c.mu.Unlock()
	o.once.Do(func() {
		x, err := drill.ReadIndex(ctx, store, l)
		if err != nil {
			if !errors.Is(err, objectstore.ErrNotFound) {
				tflog.Warn(ctx, "drill index unreadable: reading each schedule instead", map[string]any{"key": l.DrillIndexKey(), "error": err.Error()})
			}
			return
		}
		o.x = x
	})
	return o.x
}

// indexedDrill is schedule m's entry in its repository's drill index when
// refresh may take it in place of reading the schedule and its evidence:
// the index is fresh and signed by a key trust holds (when it holds any),
// and the entry agrees with the state: the schedule document is the one
// the state describes (signed by the same key), and its evidence is not
// older than the state's. Otherwise nil: a schedule written, or a drill run,
// after the agent indexed them is read from the objects, as is any drift
// the index cannot vouch for.
func (d *providerData) indexedDrill(ctx context.Context, store objectstore.Store, m *drillScheduleModel, trust signature.Trust) (*drill.ScheduleDoc, *drill.IndexEntry) {
	if m.Kind.IsNull() || m.Kind.IsUnknown() { // just imported: adopt reads the document
		return nil, nil
	}
	l := m.layout()
	x := d.reads.drillIndexOf(ctx, store, l)
	if x == nil {
		return nil, nil
	}
	if why := x.Usable(l, trust, time.Now()); why != "" {
		tflog.Debug(ctx, "drill index not used", map[string]any{"key": l.DrillIndexKey(), "why": why})
		return nil, nil
	}
	e := x.Entry(m.Name.ValueString())
	if e == nil {
		return nil, nil
	}
	doc, signedBy, err := e.Schedule(l, d.trust())
	if err != nil || signedBy != m.SignedBy.ValueString() || !sameSchedule(doc, m.doc()) {
		return nil, nil
	}
	if k := m.LastEvidenceKey; !k.IsNull() && !k.IsUnknown() && (e.Evidence == nil || e.Evidence.Key < k.ValueString()) {
		return nil, nil
	}
	return doc, e
}

// sameSchedule compares two schedule documents by what they ask of the
// agent, not when they were written.
func sameSchedule(a *drill.ScheduleDoc, b drill.ScheduleDoc) bool {
	x := *a
	x.Format, x.Updated, x.Created = 0, time.Time{}, time.Time{}
	b.Format, b.Updated, b.Created = 0, time.Time{}, time.Time{}
	if len(x.Checks) == 0 {
		x.Checks = nil
	}
	if len(b.Checks) == 0 {
		b.Checks = nil
	}
	return reflect.DeepEqual(x, b)
}
