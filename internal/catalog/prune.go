package catalog

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/wal"
)

// DefaultGrace is how old an incomplete backup must be before Prune takes
// it for dead rather than still running.
const DefaultGrace = time.Hour

// PruneOptions is a retention policy. FullCount and Days combine: a backup
// is kept when either rule keeps it. With neither set, every complete
// backup is kept and only dead incomplete backups are removed.
type PruneOptions struct {
	// FullCount keeps the newest FullCount physical backups (and, per
	// database, the newest FullCount dumps).
	FullCount int
	// Days keeps what a restore to any point of the last Days days needs:
	// every backup started within them, and the newest one started before.
	Days int
	// Grace is the age below which an incomplete backup is left alone, as
	// it may still be running: 0 means DefaultGrace, negative means none.
	Grace time.Duration
	// DryRun computes the result without deleting anything.
	DryRun bool
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// HeldObject is an object Prune marked deleted whose current version
// object lock still holds: the bucket's lifecycle can remove it only after
// Until.
type HeldObject struct {
	Key       string    `json:"key"`
	VersionID string    `json:"version_id,omitempty"`
	Mode      string    `json:"mode,omitempty"`
	Until     time.Time `json:"until"`
}

// Waiting is a backup, dump or incomplete backup Prune marked deleted
// (gone from listings, the catalog and restores) whose versions object
// lock still holds: the bucket's lifecycle removes them after Until.
type Waiting struct {
	// Kind is backup.KindPhysical or backup.KindTenant; Name the id, or
	// "<database>/<id>" for a dump.
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Incomplete is true for a backup that had no manifest.
	Incomplete bool `json:"incomplete,omitempty"`
	// Objects counts its objects still under lock; Until is when the last
	// of their locks expires.
	Objects int       `json:"objects"`
	Until   time.Time `json:"until"`
}

// PruneResult says what Prune kept and marked deleted. Nothing of it was
// destroyed: every object marked deleted keeps its versions until their
// lock expires and the bucket's lifecycle removes noncurrent versions.
type PruneResult struct {
	// Kept and Deleted (marked deleted) are physical backup ids, oldest
	// first.
	Kept    []string `json:"kept"`
	Deleted []string `json:"deleted"`
	// TenantKept and TenantDeleted are "<database>/<id>".
	TenantKept    []string `json:"tenant_kept"`
	TenantDeleted []string `json:"tenant_deleted"`
	// Incomplete are the incomplete backups marked deleted ("<id>" or
	// "<database>/<id>").
	Incomplete []string `json:"incomplete"`
	// Waiting are those of Deleted, TenantDeleted and Incomplete whose
	// versions object lock still holds.
	Waiting []Waiting `json:"waiting,omitempty"`
	// WALWaiting counts the WAL files marked deleted whose versions object
	// lock holds until WALWaitingUntil.
	WALWaiting      int       `json:"wal_waiting,omitempty"`
	WALWaitingUntil time.Time `json:"wal_waiting_until,omitempty"`
	// WALKeptFrom is the oldest WAL segment kept ("" when no WAL was
	// pruned because no physical backup is kept); WALDeleted counts the
	// WAL files marked deleted.
	WALKeptFrom string `json:"wal_kept_from,omitempty"`
	WALDeleted  int    `json:"wal_deleted"`
	// ObjectsDeleted counts the objects marked deleted (delete markers
	// placed), BytesDeleted their size: storage the bucket frees once
	// lifecycle removes their versions.
	ObjectsDeleted int   `json:"objects_deleted"`
	BytesDeleted   int64 `json:"bytes_deleted"`
	// Locked lists the objects marked deleted whose current version object
	// lock still holds.
	Locked []HeldObject `json:"locked,omitempty"`
}

// Prune enforces opts on the cluster at l.
//
// Prune never destroys an object version: it removes a backup, dump or WAL
// file with a delete marker (Store.Delete), which takes it out of every
// listing, the catalog and restores at once, while its versions stay until
// their object lock expires and the bucket's lifecycle removes noncurrent
// versions of the data folders (the backup policy's rules). So an agent
// holding the writer role, which may never delete a version, can prune,
// and a prune made by mistake is undone by removing the markers.
//
// Safety rules, each tested:
//   - the newest complete physical backup is never deleted;
//   - WAL from the first segment of the oldest kept physical backup on is
//     never deleted, nor any timeline history file, and no WAL at all when
//     no physical backup is kept;
//   - a backup's manifest is deleted before its parts, so a prune that
//     stops half-way leaves an incomplete backup (which a later prune
//     removes), never a listed backup with missing parts;
//   - an incomplete backup is deleted only once its newest object is older
//     than the grace period, so a running backup is not pulled from under
//     its agent.
func Prune(ctx context.Context, store objectstore.Store, l repo.Layout, opts PruneOptions) (*PruneResult, error) {
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	if opts.FullCount < 0 || opts.Days < 0 {
		return nil, errors.New("retention: full_count and days must not be negative")
	}
	grace := opts.Grace
	if grace == 0 {
		grace = DefaultGrace
	}
	if grace < 0 {
		grace = 0
	}
	c, err := Load(ctx, store, l)
	if err != nil {
		return nil, err
	}
	t := now()
	p := &pruner{ctx: ctx, store: store, dry: opts.DryRun, res: &PruneResult{}, now: t}
	res := p.res

	// Physical backups.
	keep := retain(len(c.Physical), func(i int) time.Time { return c.Physical[i].StartTime }, opts, t)
	var oldestKept *backup.Manifest
	for i, m := range c.Physical {
		if keep[i] {
			res.Kept = append(res.Kept, m.ID)
			if oldestKept == nil {
				oldestKept = m
			}
			continue
		}
		d, err := p.deleteUnder(l.BackupDir(m.ID), l.BackupManifestKey(m.ID))
		if err != nil {
			return res, err
		}
		res.Deleted = append(res.Deleted, m.ID)
		d.report(res, backup.KindPhysical, m.ID, false)
	}

	// Tenant dumps, per database.
	byDB := map[string][]*backup.TenantManifest{}
	var dbs []string
	for _, m := range c.Tenant {
		if _, ok := byDB[m.Database]; !ok {
			dbs = append(dbs, m.Database)
		}
		byDB[m.Database] = append(byDB[m.Database], m)
	}
	sort.Strings(dbs)
	for _, db := range dbs {
		dumps := byDB[db]
		keep := retain(len(dumps), func(i int) time.Time { return dumps[i].StartTime }, opts, t)
		for i, m := range dumps {
			name := db + "/" + m.ID
			if keep[i] {
				res.TenantKept = append(res.TenantKept, name)
				continue
			}
			mk := l.TenantManifestKey(db, m.ID)
			d, err := p.deleteKeys(mk, []string{mk, m.Dump.Key})
			if err != nil {
				return res, err
			}
			res.TenantDeleted = append(res.TenantDeleted, name)
			d.report(res, backup.KindTenant, name, false)
		}
	}

	// Incomplete backups past the grace period.
	for _, in := range c.Incomplete {
		if t.Sub(in.LastModified) < grace {
			continue
		}
		var d deletion
		var err error
		name := in.ID
		if in.Kind == backup.KindPhysical {
			d, err = p.deleteUnder(l.BackupDir(in.ID), "")
		} else {
			name = in.Database + "/" + in.ID
			d, err = p.deleteKeys("", []string{l.TenantDumpKey(in.Database, in.ID)})
		}
		if err != nil {
			return res, err
		}
		res.Incomplete = append(res.Incomplete, name)
		d.report(res, in.Kind, name, true)
	}

	// WAL older than what the oldest kept backup needs.
	if oldestKept != nil {
		if err := p.pruneWAL(l, oldestKept); err != nil {
			return res, err
		}
	}
	return res, nil
}

// retain decides which of n backups (oldest first, start times by at) a
// policy keeps.
func retain(n int, at func(int) time.Time, opts PruneOptions, now time.Time) []bool {
	keep := make([]bool, n)
	if n == 0 {
		return keep
	}
	if opts.FullCount == 0 && opts.Days == 0 {
		for i := range keep {
			keep[i] = true
		}
		return keep
	}
	// The newest backup is always kept.
	keep[n-1] = true
	for i := n - 1; i >= 0 && i >= n-opts.FullCount; i-- {
		keep[i] = true
	}
	if opts.Days > 0 {
		cutoff := now.Add(-time.Duration(opts.Days) * 24 * time.Hour)
		for i := n - 1; i >= 0; i-- {
			keep[i] = true
			if !at(i).After(cutoff) {
				// The newest backup started before the window: restores
				// to the window's first days start from it.
				break
			}
		}
	}
	return keep
}

type pruner struct {
	ctx   context.Context
	store objectstore.Store
	dry   bool
	res   *PruneResult
	now   time.Time
}

// deletion is what marking one backup deleted left under object lock.
type deletion struct {
	// held counts its objects whose current version is still locked;
	// until is the latest of their expiries.
	held  int
	until time.Time
}

// report adds a deletion that left objects under lock to res.Waiting.
func (d deletion) report(res *PruneResult, kind, name string, incomplete bool) {
	if d.held > 0 {
		res.Waiting = append(res.Waiting, Waiting{Kind: kind, Name: name, Incomplete: incomplete, Objects: d.held, Until: d.until})
	}
}

// current lists the current versions under prefix that are objects, not
// delete markers: what a listing shows. Their version ids tell their
// lock. exact, when set, keeps only that key.
func (p *pruner) current(prefix, exact string, out *[]objectstore.ObjectInfo) error {
	return p.store.ListVersions(p.ctx, prefix, func(o objectstore.ObjectInfo) error {
		if o.IsLatest && !o.DeleteMarker && (exact == "" || o.Key == exact) {
			*out = append(*out, o)
		}
		return nil
	})
}

// deleteUnder marks every object under dir deleted, manifestKey first
// (when set).
func (p *pruner) deleteUnder(dir, manifestKey string) (deletion, error) {
	var objs []objectstore.ObjectInfo
	if err := p.current(dir, "", &objs); err != nil {
		return deletion{}, err
	}
	return p.deleteObjects(manifestKey, objs)
}

// deleteKeys marks keys deleted, manifestKey first.
func (p *pruner) deleteKeys(manifestKey string, keys []string) (deletion, error) {
	var objs []objectstore.ObjectInfo
	for _, k := range keys {
		if err := p.current(k, k, &objs); err != nil {
			return deletion{}, err
		}
	}
	return p.deleteObjects(manifestKey, objs)
}

func (p *pruner) deleteObjects(manifestKey string, objs []objectstore.ObjectInfo) (deletion, error) {
	// Safety rule: the manifest goes first (see Prune).
	sort.SliceStable(objs, func(i, j int) bool {
		return objs[i].Key == manifestKey && objs[j].Key != manifestKey
	})
	var d deletion
	for _, o := range objs {
		until, held, err := p.delete(o)
		if err != nil {
			return d, err
		}
		if held {
			d.held++
			if until.After(d.until) {
				d.until = until
			}
		}
	}
	return d, nil
}

// retentionReader is the optional store capability that tells when an
// object version's lock expires.
type retentionReader interface {
	Retention(ctx context.Context, key, versionID string) (until time.Time, mode string, ok bool)
}

// delete marks o (a current version) deleted: a delete marker, never a
// version deletion. held reports that o's version stays locked until
// until, so the bucket cannot remove it before.
func (p *pruner) delete(o objectstore.ObjectInfo) (until time.Time, held bool, err error) {
	if !p.dry {
		if err := p.store.Delete(p.ctx, o.Key); err != nil {
			return time.Time{}, false, fmt.Errorf("prune: %w", err)
		}
	}
	p.res.ObjectsDeleted++
	p.res.BytesDeleted += o.Size
	rr, ok := p.store.(retentionReader)
	if !ok || o.VersionID == "" {
		return time.Time{}, false, nil
	}
	u, mode, ok := rr.Retention(p.ctx, o.Key, o.VersionID)
	if !ok || !u.After(p.now) {
		return time.Time{}, false, nil
	}
	u = u.UTC()
	p.res.Locked = append(p.res.Locked, HeldObject{Key: o.Key, VersionID: o.VersionID, Mode: mode, Until: u})
	return u, true, nil
}

// pruneWAL marks deleted the WAL files (segments, .partial, .backup)
// before the first segment m needs. Timeline history files are never
// deleted: a restore on a later timeline needs all of them.
func (p *pruner) pruneWAL(l repo.Layout, m *backup.Manifest) error {
	segSize := m.WALSegmentSize
	if segSize == 0 {
		segSize = wal.DefaultSegmentSize
	}
	first, err := wal.ParseSegment(m.WALStart, segSize)
	if err != nil {
		return fmt.Errorf("manifest of %s: %w", m.ID, err)
	}
	p.res.WALKeptFrom = m.WALStart
	var all []objectstore.ObjectInfo
	if err := p.current(l.WALDir(), "", &all); err != nil {
		return err
	}
	for _, o := range all {
		f, ok := parseWALKey(l, o, segSize)
		if !ok || strings.Contains(f.Name, ".history") || f.Segment.No >= first.No {
			continue
		}
		until, held, err := p.delete(o)
		if err != nil {
			return err
		}
		p.res.WALDeleted++
		if held {
			p.res.WALWaiting++
			if until.After(p.res.WALWaitingUntil) {
				p.res.WALWaitingUntil = until
			}
		}
	}
	return nil
}
