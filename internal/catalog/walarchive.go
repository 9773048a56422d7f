package catalog

import (
	"context"
	"sort"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/wal"
)

// WALFile is one archived object under the WAL directory whose name starts
// with a segment name: a complete segment, a .partial or a .backup file.
type WALFile struct {
	Key     string
	Name    string // the file name without the codec extension
	Segment wal.Segment
	// IsSegment is true for a complete segment.
	IsSegment    bool
	Size         int64
	LastModified time.Time
	// RecipientSet is the id of the recipient set the file is encrypted
	// to (from its key); "" when it is not encrypted.
	RecipientSet string
}

// WALArchive is the archived WAL of a cluster, by segment number.
type WALArchive struct {
	SegmentSize uint64
	// Files are sorted by segment number, then timeline, then name.
	Files []WALFile
	// segs maps each segment number to its complete segment with the
	// highest timeline.
	segs map[uint64]WALFile
	nos  []uint64 // sorted segment numbers with a complete segment

	// Timelines are the cluster's timelines: every timeline with a
	// .history file or an archived segment.
	Timelines map[uint32]*Timeline
	// byTLI holds the complete segments of each timeline by number.
	byTLI map[uint32]map[uint64]WALFile
	// path is set on a view of one timeline (On): the spans of WAL
	// PostgreSQL reads to reach it, oldest first.
	path []Span
}

// ListWAL lists the archived WAL of the cluster at l (one listing of the
// WAL directory) and reads its timeline history files (a few lines each).
// Segments are indexed by number with the highest timeline winning (Has,
// RunEnd, Gaps); On gives the view of one timeline's history instead.
func ListWAL(ctx context.Context, store objectstore.Store, l repo.Layout, segSize uint64) (*WALArchive, error) {
	if segSize == 0 {
		segSize = wal.DefaultSegmentSize
	}
	a := &WALArchive{SegmentSize: segSize, segs: map[uint64]WALFile{}}
	var histories []objectstore.ObjectInfo
	err := store.List(ctx, l.WALDir(), func(o objectstore.ObjectInfo) error {
		if f, ok := parseWALKey(l, o, segSize); ok {
			a.Files = append(a.Files, f)
		} else if k, ok := l.Parse(o.Key); ok && k.Kind == repo.KindWAL && isHistoryName(k.Name) {
			histories = append(histories, o)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(a.Files, func(i, j int) bool {
		x, y := a.Files[i], a.Files[j]
		if x.Segment.No != y.Segment.No {
			return x.Segment.No < y.Segment.No
		}
		if x.Segment.Timeline != y.Segment.Timeline {
			return x.Segment.Timeline < y.Segment.Timeline
		}
		return x.Name < y.Name
	})
	for _, f := range a.Files {
		if !f.IsSegment {
			continue
		}
		if _, ok := a.segs[f.Segment.No]; !ok {
			a.nos = append(a.nos, f.Segment.No)
		}
		a.segs[f.Segment.No] = f // sorted: the highest timeline wins
	}
	if err := a.loadTimelines(ctx, store, l, histories); err != nil {
		return nil, err
	}
	return a, nil
}

// parseWALKey reads an archived WAL object whose file name starts with a
// segment name (the repository layout decodes the key).
func parseWALKey(l repo.Layout, o objectstore.ObjectInfo, segSize uint64) (WALFile, bool) {
	k, ok := l.Parse(o.Key)
	if !ok || k.Kind != repo.KindWAL || len(k.Name) < 24 {
		return WALFile{}, false
	}
	seg, err := wal.ParseSegment(k.Name[:24], segSize)
	if err != nil {
		return WALFile{}, false
	}
	return WALFile{Key: o.Key, Name: k.Name, Segment: seg, IsSegment: len(k.Name) == 24,
		Size: o.Size, LastModified: o.LastModified, RecipientSet: k.RecipientSet}, true
}

// Has reports whether segment number no is archived (on any timeline).
func (a *WALArchive) Has(no uint64) bool { _, ok := a.segs[no]; return ok }

// Newest is the archived segment with the highest number.
func (a *WALArchive) Newest() (WALFile, bool) {
	if len(a.nos) == 0 {
		return WALFile{}, false
	}
	return a.segs[a.nos[len(a.nos)-1]], true
}

// RunEnd is the last segment number of the unbroken run of archived
// segments that starts at from; ok is false when from itself is missing.
func (a *WALArchive) RunEnd(from uint64) (uint64, bool) {
	if !a.Has(from) {
		return 0, false
	}
	i := sort.Search(len(a.nos), func(i int) bool { return a.nos[i] >= from })
	end := from
	for ; i+1 < len(a.nos) && a.nos[i+1] == a.nos[i]+1; i++ {
		end = a.nos[i+1]
	}
	return end, true
}

// Gap is a run of missing segments between archived ones.
type Gap struct {
	// From and To are the first and last missing segment names.
	From    string `json:"from"`
	To      string `json:"to"`
	Missing uint64 `json:"missing"`
}

// Gaps lists the missing runs between segment numbers from and to
// (inclusive), named on timeline tli (on a view of one timeline, on the
// timeline its history reads each segment from).
func (a *WALArchive) Gaps(from, to uint64, tli uint32) []Gap {
	var gaps []Gap
	for no := from; no <= to; no++ {
		if a.Has(no) {
			continue
		}
		start := no
		for no+1 <= to && !a.Has(no+1) {
			no++
		}
		gaps = append(gaps, Gap{
			From:    wal.Segment{Timeline: a.timelineOf(start, tli), No: start}.Name(a.SegmentSize),
			To:      wal.Segment{Timeline: a.timelineOf(no, tli), No: no}.Name(a.SegmentSize),
			Missing: no - start + 1,
		})
	}
	return gaps
}

// AllGaps lists the holes between the oldest and newest archived segment.
func (a *WALArchive) AllGaps() []Gap {
	if len(a.nos) == 0 {
		return nil
	}
	newest := a.segs[a.nos[len(a.nos)-1]]
	return a.Gaps(a.nos[0], newest.Segment.No, newest.Segment.Timeline)
}
