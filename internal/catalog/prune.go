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

// LockedObject is an object version Prune had to leave because object
// lock still protects it.
type LockedObject struct {
	Key       string `json:"key"`
	VersionID string `json:"version_id,omitempty"`
	Reason    string `json:"reason"`
	// Until is when the lock expires (zero when the store does not say).
	Until time.Time `json:"until,omitempty"`
}

// Waiting is a backup, dump or incomplete backup that retention lets go
// but object lock still holds: nothing of it, or only part of it, was
// removed. A later prune after Until removes the rest.
type Waiting struct {
	// Kind is backup.KindPhysical or backup.KindTenant; Name the id, or
	// "<database>/<id>" for a dump.
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Incomplete is true for a backup that had no manifest.
	Incomplete bool `json:"incomplete,omitempty"`
	// Listed is true while its manifest is locked: it is still a complete
	// backup (and keeps its WAL).
	Listed bool `json:"listed,omitempty"`
	// Objects counts the locked versions left; Until is when the last of
	// their locks expires (zero when the store does not say).
	Objects int       `json:"objects"`
	Until   time.Time `json:"until,omitempty"`
}

// PruneResult says what Prune kept and removed.
type PruneResult struct {
	// Kept and Deleted are physical backup ids, oldest first.
	Kept    []string `json:"kept"`
	Deleted []string `json:"deleted"`
	// TenantKept and TenantDeleted are "<database>/<id>".
	TenantKept    []string `json:"tenant_kept"`
	TenantDeleted []string `json:"tenant_deleted"`
	// Incomplete are the incomplete backups removed ("<id>" or
	// "<database>/<id>").
	Incomplete []string `json:"incomplete"`
	// Waiting are what retention lets go but object lock holds: not in
	// Deleted, TenantDeleted or Incomplete, which list only what is gone.
	Waiting []Waiting `json:"waiting,omitempty"`
	// WALWaiting counts the WAL files left under object lock, until
	// WALWaitingUntil.
	WALWaiting      int       `json:"wal_waiting,omitempty"`
	WALWaitingUntil time.Time `json:"wal_waiting_until,omitempty"`
	// WALKeptFrom is the oldest WAL segment kept ("" when no WAL was
	// pruned because no physical backup is kept); WALDeleted counts the
	// WAL files removed.
	WALKeptFrom string `json:"wal_kept_from,omitempty"`
	WALDeleted  int    `json:"wal_deleted"`
	// ObjectsDeleted counts object versions removed, BytesDeleted their size.
	ObjectsDeleted int   `json:"objects_deleted"`
	BytesDeleted   int64 `json:"bytes_deleted"`
	// Locked lists, once each, the objects left under object lock. A
	// backup whose manifest is locked is kept whole and listed here.
	Locked []LockedObject `json:"locked,omitempty"`
}

// Prune enforces opts on the cluster at l. Safety rules, each tested:
//   - the newest complete physical backup is never deleted;
//   - WAL from the first segment of the oldest kept physical backup on is
//     never deleted, nor any timeline history file, and no WAL at all when
//     no physical backup is kept;
//   - a backup's manifest is deleted before its parts, so a prune that
//     stops half-way leaves an incomplete backup (which a later prune
//     removes), never a listed backup with missing parts; when the manifest
//     cannot be deleted (object lock) the parts are left too;
//   - an incomplete backup is deleted only once its newest object is older
//     than the grace period, so a running backup is not pulled from under
//     its agent;
//   - a version under object lock is reported once and not retried in the
//     same run.
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
	p := &pruner{ctx: ctx, store: store, dry: opts.DryRun, res: &PruneResult{}, locked: map[string]time.Time{}}
	res := p.res
	t := now()

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
		d, err := p.deleteBackup(l.BackupDir(m.ID), l.BackupManifestKey(m.ID))
		if err != nil {
			return res, err
		}
		switch {
		case d.manifestLocked:
			// Locked manifest: the backup stays, so does its WAL.
			res.Kept = append(res.Kept, m.ID)
			if oldestKept == nil || m.StartTime.Before(oldestKept.StartTime) {
				oldestKept = m
			}
			res.Waiting = append(res.Waiting, d.waiting(backup.KindPhysical, m.ID, false))
		case d.locked > 0:
			res.Waiting = append(res.Waiting, d.waiting(backup.KindPhysical, m.ID, false))
		default:
			res.Deleted = append(res.Deleted, m.ID)
		}
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
			switch {
			case d.manifestLocked:
				res.TenantKept = append(res.TenantKept, name)
				res.Waiting = append(res.Waiting, d.waiting(backup.KindTenant, name, false))
			case d.locked > 0:
				res.Waiting = append(res.Waiting, d.waiting(backup.KindTenant, name, false))
			default:
				res.TenantDeleted = append(res.TenantDeleted, name)
			}
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
			d, err = p.deleteBackup(l.BackupDir(in.ID), "")
		} else {
			name = in.Database + "/" + in.ID
			d, err = p.deleteKeys("", []string{l.TenantDumpKey(in.Database, in.ID)})
		}
		if err != nil {
			return res, err
		}
		if d.locked > 0 {
			res.Waiting = append(res.Waiting, d.waiting(in.Kind, name, true))
			continue
		}
		res.Incomplete = append(res.Incomplete, name)
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
	ctx    context.Context
	store  objectstore.Store
	dry    bool
	res    *PruneResult
	locked map[string]time.Time // key -> lock expiry (zero: unknown)
}

// deletion is what deleting one backup's versions did.
type deletion struct {
	// manifestLocked: the manifest could not be deleted, so nothing else
	// was tried.
	manifestLocked bool
	// locked counts the versions left under lock; until is the latest of
	// their expiries (zero when unknown).
	locked int
	until  time.Time
}

func (d deletion) waiting(kind, name string, incomplete bool) Waiting {
	return Waiting{Kind: kind, Name: name, Incomplete: incomplete, Listed: d.manifestLocked, Objects: d.locked, Until: d.until}
}

// deleteBackup removes every version under dir, manifestKey first (when
// set); when the manifest is locked it deletes nothing else.
func (p *pruner) deleteBackup(dir, manifestKey string) (deletion, error) {
	var versions []objectstore.ObjectInfo
	if err := p.store.ListVersions(p.ctx, dir, func(o objectstore.ObjectInfo) error {
		versions = append(versions, o)
		return nil
	}); err != nil {
		return deletion{}, err
	}
	return p.deleteVersions(manifestKey, versions)
}

// deleteKeys removes every version of keys, manifestKey first.
func (p *pruner) deleteKeys(manifestKey string, keys []string) (deletion, error) {
	var versions []objectstore.ObjectInfo
	for _, k := range keys {
		if err := p.store.ListVersions(p.ctx, k, func(o objectstore.ObjectInfo) error {
			if o.Key == k {
				versions = append(versions, o)
			}
			return nil
		}); err != nil {
			return deletion{}, err
		}
	}
	return p.deleteVersions(manifestKey, versions)
}

func (p *pruner) deleteVersions(manifestKey string, versions []objectstore.ObjectInfo) (deletion, error) {
	// Safety rule: the manifest goes first (see Prune).
	sort.SliceStable(versions, func(i, j int) bool {
		return versions[i].Key == manifestKey && versions[j].Key != manifestKey
	})
	var d deletion
	for _, v := range versions {
		locked, until, err := p.deleteVersion(v)
		if err != nil {
			return d, err
		}
		if !locked {
			continue
		}
		d.locked++
		if until.After(d.until) {
			d.until = until
		}
		if v.Key == manifestKey {
			d.manifestLocked = true
			return d, nil
		}
	}
	return d, nil
}

// retentionReader is the optional store capability that tells when an
// object version's lock expires.
type retentionReader interface {
	Retention(ctx context.Context, key, versionID string) (until time.Time, mode string, ok bool)
}

// deleteVersion removes one version; locked reports a version left under
// object lock (recorded once per key), until when its lock expires (zero
// when the store does not say).
func (p *pruner) deleteVersion(v objectstore.ObjectInfo) (locked bool, until time.Time, err error) {
	if until, seen := p.locked[v.Key]; seen {
		return true, until, nil // reported already: not retried in this run
	}
	if !p.dry {
		if v.VersionID == "" {
			err = p.store.Delete(p.ctx, v.Key)
		} else {
			err = p.store.DeleteVersion(p.ctx, v.Key, v.VersionID)
		}
	}
	if errors.Is(err, objectstore.ErrObjectLocked) {
		if rr, ok := p.store.(retentionReader); ok {
			if u, _, ok := rr.Retention(p.ctx, v.Key, v.VersionID); ok {
				until = u.UTC()
			}
		}
		p.locked[v.Key] = until
		p.res.Locked = append(p.res.Locked, LockedObject{Key: v.Key, VersionID: v.VersionID, Reason: err.Error(), Until: until})
		return true, until, nil
	}
	if err != nil {
		return false, time.Time{}, fmt.Errorf("prune: %w", err)
	}
	p.res.ObjectsDeleted++
	p.res.BytesDeleted += v.Size
	return false, time.Time{}, nil
}

// pruneWAL deletes the WAL files (segments, .partial, .backup) before the
// first segment m needs. Timeline history files are never deleted: a
// restore on a later timeline needs all of them.
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
	deleted := map[string]bool{}
	var doomed []objectstore.ObjectInfo
	err = p.store.ListVersions(p.ctx, l.WALDir(), func(o objectstore.ObjectInfo) error {
		f, ok := parseWALKey(l, o, segSize)
		if !ok || strings.Contains(f.Name, ".history") || f.Segment.No >= first.No {
			return nil
		}
		doomed = append(doomed, o)
		return nil
	})
	if err != nil {
		return err
	}
	waiting := map[string]bool{}
	for _, o := range doomed {
		locked, until, err := p.deleteVersion(o)
		if err != nil {
			return err
		}
		if locked {
			waiting[o.Key] = true
			if until.After(p.res.WALWaitingUntil) {
				p.res.WALWaitingUntil = until
			}
		} else if !o.DeleteMarker {
			deleted[o.Key] = true
		}
	}
	// NOTE: a file counts as deleted only when none of its versions is
	// left: one locked version keeps it in the archive.
	for k := range waiting {
		delete(deleted, k)
	}
	p.res.WALDeleted = len(deleted)
	p.res.WALWaiting = len(waiting)
	return nil
}
