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
	p := &pruner{ctx: ctx, store: store, dry: opts.DryRun, res: &PruneResult{}, locked: map[string]bool{}}
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
		ok, err := p.deleteBackup(l.BackupDir(m.ID), l.BackupManifestKey(m.ID))
		if err != nil {
			return res, err
		}
		if ok {
			res.Deleted = append(res.Deleted, m.ID)
		} else {
			// Locked manifest: the backup stays, so does its WAL.
			res.Kept = append(res.Kept, m.ID)
			if oldestKept == nil || m.StartTime.Before(oldestKept.StartTime) {
				oldestKept = m
			}
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
			ok, err := p.deleteKeys(mk, []string{mk, m.Dump.Key})
			if err != nil {
				return res, err
			}
			if ok {
				res.TenantDeleted = append(res.TenantDeleted, name)
			} else {
				res.TenantKept = append(res.TenantKept, name)
			}
		}
	}

	// Incomplete backups past the grace period.
	for _, in := range c.Incomplete {
		if t.Sub(in.LastModified) < grace {
			continue
		}
		var err error
		name := in.ID
		if in.Kind == backup.KindPhysical {
			_, err = p.deleteBackup(l.BackupDir(in.ID), "")
		} else {
			name = in.Database + "/" + in.ID
			_, err = p.deleteKeys("", []string{l.TenantDumpKey(in.Database, in.ID)})
		}
		if err != nil {
			return res, err
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
	locked map[string]bool
}

// deleteBackup removes every version under dir, manifestKey first (when
// set); it returns false, having deleted nothing else, when the manifest
// is locked.
func (p *pruner) deleteBackup(dir, manifestKey string) (bool, error) {
	var versions []objectstore.ObjectInfo
	if err := p.store.ListVersions(p.ctx, dir, func(o objectstore.ObjectInfo) error {
		versions = append(versions, o)
		return nil
	}); err != nil {
		return false, err
	}
	return p.deleteVersions(manifestKey, versions)
}

// deleteKeys removes every version of keys, manifestKey first.
func (p *pruner) deleteKeys(manifestKey string, keys []string) (bool, error) {
	var versions []objectstore.ObjectInfo
	for _, k := range keys {
		if err := p.store.ListVersions(p.ctx, k, func(o objectstore.ObjectInfo) error {
			if o.Key == k {
				versions = append(versions, o)
			}
			return nil
		}); err != nil {
			return false, err
		}
	}
	return p.deleteVersions(manifestKey, versions)
}

func (p *pruner) deleteVersions(manifestKey string, versions []objectstore.ObjectInfo) (bool, error) {
	// Safety rule: the manifest goes first (see Prune).
	sort.SliceStable(versions, func(i, j int) bool {
		return versions[i].Key == manifestKey && versions[j].Key != manifestKey
	})
	for _, v := range versions {
		locked, err := p.deleteVersion(v)
		if err != nil {
			return false, err
		}
		if locked && v.Key == manifestKey {
			return false, nil
		}
	}
	return true, nil
}

// deleteVersion removes one version; locked reports a version left under
// object lock (recorded once per key).
func (p *pruner) deleteVersion(v objectstore.ObjectInfo) (locked bool, err error) {
	if p.locked[v.Key] {
		return true, nil // reported already: not retried in this run
	}
	if !p.dry {
		if v.VersionID == "" {
			err = p.store.Delete(p.ctx, v.Key)
		} else {
			err = p.store.DeleteVersion(p.ctx, v.Key, v.VersionID)
		}
	}
	if errors.Is(err, objectstore.ErrObjectLocked) {
		p.locked[v.Key] = true
		p.res.Locked = append(p.res.Locked, LockedObject{Key: v.Key, VersionID: v.VersionID, Reason: err.Error()})
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("prune: %w", err)
	}
	p.res.ObjectsDeleted++
	p.res.BytesDeleted += v.Size
	return false, nil
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
	for _, o := range doomed {
		locked, err := p.deleteVersion(o)
		if err != nil {
			return err
		}
		if !locked && !o.DeleteMarker {
			deleted[o.Key] = true
		}
	}
	p.res.WALDeleted = len(deleted)
	return nil
}
