package catalog

import (
	"context"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/wal"
)

// Window is the span of time a cluster can be restored to: from the
// oldest usable base backup to the newest WAL segment reachable from it
// without a gap.
type Window struct {
	// Timeline is the timeline the window follows: the newest one in the
	// archive, along its history (.history files).
	Timeline uint32 `json:"timeline"`
	// Restorable is false when no base backup has all the WAL it needs.
	Restorable bool `json:"restorable"`
	// FromBackup is the oldest usable backup of the window. BackupStart is
	// when it started; Earliest (its stop time) and EarliestLSN are the
	// first point a restore can reach, the backup being consistent only
	// from there.
	FromBackup  string    `json:"from_backup,omitempty"`
	BackupStart time.Time `json:"backup_start,omitempty"`
	Earliest    time.Time `json:"earliest,omitempty"`
	EarliestLSN string    `json:"earliest_lsn,omitempty"`
	// LatestSegment is the last segment of the unbroken WAL run, and Latest
	// when it was archived: an upper bound of the last restorable time.
	LatestSegment string    `json:"latest_segment,omitempty"`
	Latest        time.Time `json:"latest,omitempty"`
	// NewestSegment is the newest archived segment. When it differs from
	// LatestSegment a gap cuts the window short: WAL after the gap is
	// useless until a new base backup is taken.
	NewestSegment string `json:"newest_segment,omitempty"`
	// Gaps are the missing WAL runs between the oldest and newest
	// archived segment.
	Gaps []Gap `json:"gaps,omitempty"`
	// Timelines are all the timelines in the archive, with their parents
	// and forks (a timeline that went on past a child's branch point).
	Timelines []Timeline `json:"timelines,omitempty"`
}

// Truncated reports whether WAL was archived beyond the window's end.
func (w *Window) Truncated() bool { return w.NewestSegment != w.LatestSegment }

// RestorableWindow computes the window of the cluster at l (from the
// physical backups only: tenant dumps are not read).
func RestorableWindow(ctx context.Context, store objectstore.Store, l repo.Layout) (*Window, error) {
	c, err := LoadPhysical(ctx, store, l)
	if err != nil {
		return nil, err
	}
	return c.RestorableWindow(ctx, store)
}

// RestorableWindow lists the archived WAL and computes the window of a
// catalog already loaded, so callers that also list backups read the
// manifests once.
func (c *Catalog) RestorableWindow(ctx context.Context, store objectstore.Store) (*Window, error) {
	a, err := ListWAL(ctx, store, c.Layout, c.WALSegmentSize())
	if err != nil {
		return nil, err
	}
	return c.Window(a), nil
}

// WALSegmentSize is the cluster's wal_segment_size as its backups record
// it (the default when there are none).
func (c *Catalog) WALSegmentSize() uint64 {
	for _, m := range c.Physical {
		if m.WALSegmentSize != 0 {
			return m.WALSegmentSize
		}
	}
	return wal.DefaultSegmentSize
}

// Usable reports whether every WAL segment backup m needs is archived, and
// the end of the unbroken WAL run that starts at its first segment. On a
// view of one timeline (WALArchive.On) the backup must also lie on that
// timeline's history.
func Usable(m *backup.Manifest, a *WALArchive) (end uint64, ok bool) {
	if !a.OnPath(m) {
		return 0, false
	}
	start, err1 := wal.ParseSegment(m.WALStart, a.SegmentSize)
	stop, err2 := wal.ParseSegment(m.WALStop, a.SegmentSize)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	end, ok = a.RunEnd(start.No)
	return end, ok && end >= stop.No
}

// Window computes the restorable window from a loaded catalog and WAL
// listing along the newest timeline's history (or along the timeline of a
// view from WALArchive.On): the newest usable backup decides which WAL run
// the window follows, and the oldest usable backup on that same run starts
// it.
func (c *Catalog) Window(a *WALArchive) *Window {
	all := a
	if a.Timeline() == 0 {
		if v, err := a.On(a.LatestTimeline()); err == nil {
			a = v
		}
	}
	w := &Window{Timeline: a.Timeline(), Gaps: a.AllGaps()}
	if len(all.Timelines) > 1 {
		w.Timelines = all.TimelineList()
	}
	if n, ok := a.Newest(); ok {
		w.NewestSegment = n.Name
	}
	var runEnd uint64
	found := false
	for i := len(c.Physical) - 1; i >= 0; i-- {
		if end, ok := Usable(c.Physical[i], a); ok {
			runEnd, found = end, true
			break
		}
	}
	if !found {
		return w
	}
	for _, m := range c.Physical { // oldest first
		if end, ok := Usable(m, a); ok && end == runEnd {
			w.Restorable = true
			w.FromBackup, w.BackupStart, w.Earliest, w.EarliestLSN = m.ID, m.StartTime, m.StopTime, m.StopLSN
			break
		}
	}
	last := a.segs[runEnd]
	w.LatestSegment, w.Latest = last.Name, last.LastModified
	// NOTE: a backup's stop time is taken after its last upload, which can
	// be later than the store's timestamp of the segment holding its end;
	// the window still reaches at least the backup's consistent point.
	if w.Restorable && w.Latest.Before(w.Earliest) {
		w.Latest = w.Earliest
	}
	return w
}
