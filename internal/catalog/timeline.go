package catalog

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/wal"
)

// ErrNoTimeline means the archive knows no such timeline (no .history file and
// no segment on it). Returned as a *TimelineError.
var ErrNoTimeline = errors.New("timeline not in the archive")

// ErrNotOnTimeline means a backup is not on the history of the requested
// timeline (it was taken on another branch, or after the requested timeline
// branched off). Returned as a *TimelineError.
var ErrNotOnTimeline = errors.New("backup is not on the history of the timeline")

// TimelineError names the timelines involved in a refusal.
type TimelineError struct {
	Err error
	// Timeline is the requested one; Known are the timelines the archive
	// holds, described with their parents.
	Timeline uint32
	Known    []Timeline
	Detail   string
}

func (e *TimelineError) Error() string {
	var known []string
	for _, t := range e.Known {
		known = append(known, t.Describe())
	}
	s := fmt.Sprintf("timeline %d: %v", e.Timeline, e.Err)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if len(known) > 0 {
		s += "; the archive holds " + strings.Join(known, "; ")
	}
	return s
}

// Unwrap lets errors.Is match ErrNoTimeline or ErrNotOnTimeline.
func (e *TimelineError) Unwrap() error { return e.Err }

// Span is a stretch of WAL on one timeline, [Begin, End); End is 0 on the
// last span of a history (the timeline itself, still open).
type Span struct {
	TLI        uint32
	Begin, End wal.LSN
}

// Timeline is one timeline of the cluster as its archive records it.
type Timeline struct {
	ID uint32 `json:"id"`
	// Parent is the timeline it branched off at SwitchLSN (0 for
	// timeline 1, or for a timeline whose .history file is not archived).
	Parent    uint32 `json:"parent,omitempty"`
	SwitchLSN string `json:"switch_lsn,omitempty"`
	// HasHistory is false when the timeline's .history file is not in the
	// archive: timeline 1, or a server promoted while it did not archive
	// (enabling archiving pushes it).
	HasHistory bool `json:"has_history"`
	// HistoryError says why an archived .history file could not be read.
	HistoryError string `json:"history_error,omitempty"`
	// NewestSegment is the newest complete segment archived on it.
	NewestSegment string `json:"newest_segment,omitempty"`
	// ContinuedAfter lists the children this timeline kept writing past
	// the point they branched off: a fork (an old primary that went on
	// after its standby was promoted). Its WAL past that point is on no
	// path to those children.
	ContinuedAfter []uint32 `json:"continued_after,omitempty"`

	path []Span
}

// Path is the WAL PostgreSQL replays to reach this timeline, oldest first.
func (t *Timeline) Path() []Span { return t.path }

// Describe says what the timeline is, for messages.
func (t Timeline) Describe() string {
	s := fmt.Sprintf("timeline %d", t.ID)
	switch {
	case t.Parent != 0:
		s += fmt.Sprintf(" (from timeline %d at %s)", t.Parent, t.SwitchLSN)
	case t.HistoryError != "":
		s += " (history unreadable: " + t.HistoryError + ")"
	case t.ID > 1 && !t.HasHistory:
		s += fmt.Sprintf(" (no %s archived: its parent is unknown)", wal.HistoryFileName(t.ID))
	}
	if len(t.ContinuedAfter) > 0 {
		var kids []string
		for _, c := range t.ContinuedAfter {
			kids = append(kids, fmt.Sprint(c))
		}
		s += " continued past the branch point of timeline " + strings.Join(kids, ", ")
	}
	return s
}

func isHistoryName(name string) bool {
	_, ok := wal.ParseHistoryFileName(name)
	return ok
}

// loadTimelines reads the history files and indexes segments by timeline.
func (a *WALArchive) loadTimelines(ctx context.Context, store objectstore.Store, l repo.Layout, histories []objectstore.ObjectInfo) error {
	a.Timelines = map[uint32]*Timeline{}
	a.byTLI = map[uint32]map[uint64]WALFile{}
	for _, f := range a.Files {
		if !f.IsSegment {
			continue
		}
		tli := f.Segment.Timeline
		if a.byTLI[tli] == nil {
			a.byTLI[tli] = map[uint64]WALFile{}
			a.Timelines[tli] = &Timeline{ID: tli}
		}
		a.byTLI[tli][f.Segment.No] = f
		a.Timelines[tli].NewestSegment = f.Name // Files are sorted by number
	}
	for _, o := range histories {
		k, _ := l.Parse(o.Key)
		tli, _ := wal.ParseHistoryFileName(k.Name)
		if t := a.Timelines[tli]; t != nil && t.HasHistory {
			continue // the same file under a second codec
		}
		t := a.Timelines[tli]
		if t == nil {
			t = &Timeline{ID: tli}
			a.Timelines[tli] = t
		}
		raw, err := wal.ReadObject(ctx, store, o.Key)
		var entries []wal.HistoryEntry
		if err == nil {
			entries, err = wal.ParseHistory(raw)
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// NOTE: not fatal to the listing: the timeline is then known
			// without its parent, so no restore crosses into it, and
			// the reason is shown wherever it is described.
			t.HistoryError = fmt.Sprintf("%s: %v", o.Key, err)
			continue
		}
		t.HasHistory, t.HistoryError = true, ""
		var begin wal.LSN
		t.path = nil
		for _, e := range entries {
			t.path = append(t.path, Span{TLI: e.TLI, Begin: begin, End: e.Switch})
			begin = e.Switch
		}
		t.path = append(t.path, Span{TLI: tli, Begin: begin})
		if n := len(entries); n > 0 {
			t.Parent, t.SwitchLSN = entries[n-1].TLI, entries[n-1].Switch.String()
		}
	}
	for _, t := range a.Timelines {
		if t.path == nil {
			t.path = []Span{{TLI: t.ID}}
		}
	}
	// A parent that archived segments past a child's switch segment went
	// on writing after the child branched off: a fork.
	for _, t := range a.sortedTimelines() {
		if t.Parent == 0 {
			continue
		}
		p := a.Timelines[t.Parent]
		sw, _ := wal.ParseLSN(t.SwitchLSN)
		if p == nil || p.NewestSegment == "" {
			continue
		}
		if n, err := wal.ParseSegment(p.NewestSegment, a.SegmentSize); err == nil && n.No > uint64(sw)/a.SegmentSize {
			p.ContinuedAfter = append(p.ContinuedAfter, t.ID)
		}
	}
	return nil
}

func (a *WALArchive) sortedTimelines() []*Timeline {
	out := make([]*Timeline, 0, len(a.Timelines))
	for _, t := range a.Timelines {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// TimelineList is the archive's timelines, by number.
func (a *WALArchive) TimelineList() []Timeline {
	var out []Timeline
	for _, t := range a.sortedTimelines() {
		out = append(out, *t)
	}
	return out
}

// LatestTimeline is the highest-numbered timeline in the archive (1 for
// an empty one): what a restore to "latest" follows. A timeline known only
// by a history file that cannot be read leads nowhere and is passed over.
func (a *WALArchive) LatestTimeline() uint32 {
	var n uint32 = 1
	for id, t := range a.Timelines {
		if t.HasHistory || t.NewestSegment != "" {
			n = max(n, id)
		}
	}
	return n
}

// On is the view of the archive from timeline tli: each segment number
// holds the file PostgreSQL reads for it when recovering along tli's
// history (the newest timeline of the history that had begun by that
// segment), and nothing else, so runs, gaps and Usable follow that one
// history and never mix branches. An unknown timeline returns a
// *TimelineError wrapping ErrNoTimeline.
func (a *WALArchive) On(tli uint32) (*WALArchive, error) {
	t := a.Timelines[tli]
	if t == nil {
		if tli == 1 && len(a.Timelines) == 0 {
			t = &Timeline{ID: 1, path: []Span{{TLI: 1}}} // an empty archive
		} else {
			return nil, &TimelineError{Err: ErrNoTimeline, Timeline: tli, Known: a.TimelineList()}
		}
	}
	v := &WALArchive{SegmentSize: a.SegmentSize, segs: map[uint64]WALFile{}, Timelines: a.Timelines,
		byTLI: a.byTLI, path: t.path}
	for i, s := range t.path {
		lo := uint64(s.Begin) / a.SegmentSize
		hi := ^uint64(0)
		if i+1 < len(t.path) {
			hi = uint64(t.path[i+1].Begin) / a.SegmentSize
		}
		for no, f := range a.byTLI[s.TLI] {
			if no >= lo && no < hi {
				v.segs[no] = f
			}
		}
	}
	for _, f := range a.Files {
		if f.IsSegment && v.segs[f.Segment.No].Key == f.Key {
			v.Files = append(v.Files, f)
			v.nos = append(v.nos, f.Segment.No)
		}
	}
	return v, nil
}

// Path is the history a view follows (nil on the whole archive).
func (a *WALArchive) Path() []Span { return a.path }

// Timeline is the timeline a view was made for (0 on the whole archive).
func (a *WALArchive) Timeline() uint32 {
	if len(a.path) == 0 {
		return 0
	}
	return a.path[len(a.path)-1].TLI
}

// timelineOf is the timeline a view reads segment no from (def outside a
// view).
func (a *WALArchive) timelineOf(no uint64, def uint32) uint32 {
	tli := def
	for _, s := range a.path {
		if uint64(s.Begin)/a.SegmentSize <= no {
			tli = s.TLI
		}
	}
	return tli
}

// OnPath reports whether backup m lies on the view's history: taken on one
// of its timelines and finished before that timeline branched off towards
// the view's (a backup that ended after the switch holds the other
// branch's changes). Outside a view every backup is on it.
func (a *WALArchive) OnPath(m *backup.Manifest) bool {
	if len(a.path) == 0 {
		return true
	}
	tli := m.Timeline
	if m.StopTimeline != 0 {
		tli = m.StopTimeline
	}
	stop, err := wal.ParseLSN(m.StopLSN)
	if err != nil {
		// No stop LSN recorded: the start of its last segment stands in.
		seg, serr := wal.ParseSegment(m.WALStop, a.SegmentSize)
		if serr != nil {
			return false
		}
		stop = wal.LSN(seg.No * a.SegmentSize)
	}
	for _, s := range a.path {
		if s.TLI == tli {
			return s.End == 0 || stop <= s.End
		}
	}
	return false
}
