package drill

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

// Index is what a refresh of a cluster's drill schedules needs, in one
// object the agent keeps (repo.Layout.DrillIndexKey): every schedule
// document and its newest evidence, each as stored (bytes and metadata),
// so a reader checks the provider's signature on the schedule and the
// agent's on the evidence exactly as it would on the objects themselves.
// Reading the objects costs two or three requests per schedule; a platform
// of 500 tenant drills would pay 1,000 or more on every plan.
//
// The index is a cache, never the authority: a reader falls back to the
// objects when the index is missing, too old (IndexMaxAge), signed by no
// key it trusts, or disagrees with what the reader expects (a schedule it
// just wrote, evidence newer than the index).
type Index struct {
	Format    int          `json:"format"`
	Cluster   string       `json:"cluster"`
	Generated time.Time    `json:"generated"`
	Schedules []IndexEntry `json:"schedules"`

	byName map[string]*IndexEntry
	once   sync.Once
}

// IndexEntry is one schedule in the index.
type IndexEntry struct {
	Name string `json:"name"`
	// Body and Meta are the schedule document's stored bytes and metadata
	// (its signature). NOTE: bytes, not json.RawMessage, which Marshal
	// would compact and so break the signature.
	Body []byte            `json:"body"`
	Meta map[string]string `json:"meta,omitempty"`
	// Evidence is the newest drill's evidence at its first version; nil
	// when the schedule never ran.
	Evidence *IndexEvidence `json:"evidence,omitempty"`
}

// IndexEvidence is one evidence object as stored.
type IndexEvidence struct {
	Key       string            `json:"key"`
	VersionID string            `json:"version_id"`
	Later     int               `json:"later_versions"`
	Body      []byte            `json:"body"`
	Meta      map[string]string `json:"meta,omitempty"`
}

// IndexFormat is the format Index is written in.
const IndexFormat = 1

// IndexMaxAge is how old an index may be for a reader to use it. The agent
// rewrites it whenever a schedule changes or a drill ran, and at least
// every IndexRebuild, so an older one means no agent keeps it.
const IndexMaxAge = time.Hour

// IndexRebuild is how often an agent rewrites the index even when nothing
// it knows of changed: evidence written over by someone else, or a drill
// another agent ran, shows within it.
const IndexRebuild = 15 * time.Minute

// indexMaxSize bounds a read index: about 10 KiB per schedule is generous.
const indexMaxSize = 64 << 20

// indexRetention is the short lock of each index version: it is rewritten
// often, and the bucket's default retention would keep every version for
// its whole period.
const indexRetention = 2 * time.Hour

// BuildIndex reads every drill schedule of the cluster and its newest
// evidence into an Index, at most 8 schedules at a time.
func BuildIndex(ctx context.Context, store objectstore.Store, l repo.Layout, now time.Time) (*Index, error) {
	var names []string
	err := store.List(ctx, l.DrillsDir(), func(o objectstore.ObjectInfo) error {
		if k, ok := l.Parse(o.Key); ok && k.Kind == repo.KindDrillSchedule {
			names = append(names, k.Drill)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing drill schedules: %w", err)
	}
	entries := make([]IndexEntry, len(names))
	errs := make([]error, len(names))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			entries[i], errs[i] = indexEntry(ctx, store, l, name)
		}()
	}
	wg.Wait()
	x := &Index{Format: IndexFormat, Cluster: l.Cluster, Generated: now.UTC()}
	for i, e := range entries {
		if errors.Is(errs[i], objectstore.ErrNotFound) {
			continue // deleted since the listing
		}
		if errs[i] != nil {
			return nil, errs[i]
		}
		x.Schedules = append(x.Schedules, e)
	}
	sort.Slice(x.Schedules, func(i, j int) bool { return x.Schedules[i].Name < x.Schedules[j].Name })
	return x, nil
}

func indexEntry(ctx context.Context, store objectstore.Store, l repo.Layout, name string) (IndexEntry, error) {
	_, body, meta, err := repo.ReadDoc[ScheduleDoc](ctx, store, l.DrillScheduleKey(name), "drill schedule "+name)
	if err != nil {
		return IndexEntry{}, err
	}
	e := IndexEntry{Name: name, Body: body, Meta: meta}
	ev, err := Latest(ctx, store, l, name)
	switch {
	case errors.Is(err, objectstore.ErrNotFound):
	case err != nil:
		return IndexEntry{}, fmt.Errorf("reading the newest evidence of %q: %w", name, err)
	default:
		e.Evidence = &IndexEvidence{Key: ev.Key, VersionID: ev.versionID, Later: ev.LaterVersions, Body: ev.body, Meta: ev.meta}
	}
	return e, nil
}

// WriteIndex stores x, signed by signer (nil: unsigned), each version under
// a short GOVERNANCE lock in a bucket with object lock.
func WriteIndex(ctx context.Context, store objectstore.Store, l repo.Layout, x *Index, signer *signature.Signer) error {
	b, err := json.Marshal(x)
	if err != nil {
		return err
	}
	key := l.DrillIndexKey()
	opts := objectstore.PutOptions{Size: int64(len(b)), Metadata: signer.Sign(key, b, nil),
		RetainUntil: time.Now().Add(indexRetention), RetentionMode: objectstore.ModeGovernance}
	_, err = store.Put(ctx, key, bytes.NewReader(b), opts)
	if errors.Is(err, objectstore.ErrNoObjectLock) {
		opts.RetainUntil, opts.RetentionMode = time.Time{}, ""
		_, err = store.Put(ctx, key, bytes.NewReader(b), opts)
	}
	if err != nil {
		return fmt.Errorf("writing the drill index %s: %w", key, err)
	}
	return nil
}

// StoredIndex is an index as read, with what its signature check needs.
type StoredIndex struct {
	*Index
	body []byte
	meta map[string]string

	// checked holds the signature check by each trusted key already made
	// (Usable): every schedule's refresh asks, and at 500 schedules the
	// index is about a megabyte, hashed again for each.
	mu      sync.Mutex
	checked map[string]error
}

// ReadIndex reads the cluster's index; a missing one wraps
// objectstore.ErrNotFound.
func ReadIndex(ctx context.Context, store objectstore.Store, l repo.Layout) (*StoredIndex, error) {
	x, body, meta, err := repo.ReadDocMax[Index](ctx, store, l.DrillIndexKey(), "drill index", indexMaxSize)
	if err != nil {
		return nil, err
	}
	if x.Format != IndexFormat {
		return nil, fmt.Errorf("drill index %s: format %d, this version reads %d", l.DrillIndexKey(), x.Format, IndexFormat)
	}
	return &StoredIndex{Index: x, body: body, meta: meta}, nil
}

// Usable reports why the index must not be used by a reader trusting
// trust at now ("" when it may): too old, or, when trust holds keys, not
// signed by one of them (a writer of the bucket could otherwise hide a
// failed drill behind an index of its own).
func (s *StoredIndex) Usable(l repo.Layout, trust signature.Trust, now time.Time) string {
	if age := now.Sub(s.Generated); age > IndexMaxAge {
		return fmt.Sprintf("generated %s ago, older than %s: no agent keeps it", age.Round(time.Second), IndexMaxAge)
	}
	if trust.Required() {
		if err := s.signedBy(l.DrillIndexKey(), trust); err != nil {
			return "not signed by a trusted key: " + err.Error()
		}
	}
	return ""
}

// signedBy checks the index's signature as stored at key against trust,
// verifying it once per signing key (the body does not change).
func (s *StoredIndex) signedBy(key string, trust signature.Trust) error {
	pub, ok := trust.Key(signature.SignerID(s.meta))
	if !ok { // unsigned, or by a key trust does not hold: nothing to verify
		_, err := trust.Signed(key, s.body, s.meta)
		return err
	}
	memo := key + "\x00" + pub.String()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err, done := s.checked[memo]; done {
		return err
	}
	_, err := trust.Signed(key, s.body, s.meta)
	if s.checked == nil {
		s.checked = map[string]error{}
	}
	s.checked[memo] = err
	return err
}

// Entry is schedule name's entry, or nil.
func (x *Index) Entry(name string) *IndexEntry {
	x.once.Do(func() {
		x.byName = make(map[string]*IndexEntry, len(x.Schedules))
		for i := range x.Schedules {
			x.byName[x.Schedules[i].Name] = &x.Schedules[i]
		}
	})
	return x.byName[name]
}

// Schedule decodes the entry's schedule document and reports which key of
// trust signed it, as ReadScheduleSigned does on the document.
func (e *IndexEntry) Schedule(l repo.Layout, trust signature.Trust) (*ScheduleDoc, string, error) {
	var d ScheduleDoc
	if err := json.Unmarshal(e.Body, &d); err != nil {
		return nil, "", fmt.Errorf("drill schedule %s in the index: %w", e.Name, err)
	}
	signer, _ := trust.Signed(l.DrillScheduleKey(e.Name), e.Body, e.Meta)
	return &d, signer, nil
}

// Latest decodes the entry's newest evidence as Latest reads it from the
// store; an entry without evidence wraps objectstore.ErrNotFound.
func (e *IndexEntry) Latest() (*Evidence, error) {
	if e.Evidence == nil {
		return nil, fmt.Errorf("no drill evidence for %q: %w", e.Name, objectstore.ErrNotFound)
	}
	var ev Evidence
	if err := json.Unmarshal(e.Evidence.Body, &ev); err != nil {
		return nil, fmt.Errorf("evidence %s in the index: %w", e.Evidence.Key, err)
	}
	ev.Key, ev.LaterVersions, ev.versionID = e.Evidence.Key, e.Evidence.Later, e.Evidence.VersionID
	ev.body, ev.meta = e.Evidence.Body, e.Evidence.Meta
	return &ev, nil
}
