package posture

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/drill"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/wal"
)

// History is what a cluster's repository shows over time, read from the
// objects themselves (their keys, sizes and times) and the drill evidence:
// the report's plots and the anomaly controls' baselines read it, so
// neither needs a database of past reports.
type History struct {
	// Drills are every drill of every schedule, oldest first.
	Drills []DrillRun
	// WAL are the archived WAL segments (not .partial or .history files),
	// oldest first.
	WAL []WALObject
	// Folders are the current objects of each data folder, oldest first.
	Folders map[repo.Folder][]Sized
	// Err is the first read that failed; what was read before it stays.
	Err error
}

// DrillRun is one drill's outcome, from its evidence.
type DrillRun struct {
	Schedule      string
	Key           string
	Finished      time.Time
	RTOSeconds    float64
	TargetSeconds float64
	Passed        bool
}

// WALObject is one archived WAL segment: when it was stored and how many
// bytes it took (compressed, and encrypted when it is).
type WALObject struct {
	Key    string
	Name   string
	Time   time.Time
	Stored int64
	// Written is when PostgreSQL last wrote the segment, as wal-push
	// recorded it (zero: not recorded, or not read): Time minus Written
	// is how long the segment waited to be archived.
	Written time.Time
}

// maxLagReads bounds the segments whose push record (object metadata) a
// report reads for the archive lag plot: the newest ones, one HEAD each.
const maxLagReads = maxPoints

// Sized is an object's time and stored size.
type Sized struct {
	Time time.Time
	Size int64
}

// HistoryFolders are the folders whose growth the report plots.
var HistoryFolders = []repo.Folder{repo.FolderBaseBackups, repo.FolderWAL, repo.FolderTenants, repo.FolderDrills}

// gatherHistory lists the cluster's data folders (one listing each) and
// reads every drill's evidence.
func gatherHistory(ctx context.Context, store objectstore.Store, c *ClusterObservation) *History {
	h := &History{Folders: map[repo.Folder][]Sized{}}
	l := c.Layout
	for _, folder := range HistoryFolders {
		var objs []Sized
		err := store.List(ctx, l.Dir(folder), func(o objectstore.ObjectInfo) error {
			objs = append(objs, Sized{Time: o.LastModified, Size: o.Size})
			if folder != repo.FolderWAL {
				return nil
			}
			if k, ok := l.Parse(o.Key); ok && k.Kind == repo.KindWAL && isSegmentName(k.Name) {
				h.WAL = append(h.WAL, WALObject{Key: o.Key, Name: k.Name, Time: o.LastModified, Stored: o.Size})
			}
			return nil
		})
		if err != nil && h.Err == nil {
			h.Err = fmt.Errorf("listing %s: %w", l.Dir(folder), err)
		}
		sort.SliceStable(objs, func(i, j int) bool { return objs[i].Time.Before(objs[j].Time) })
		h.Folders[folder] = objs
	}
	sort.SliceStable(h.WAL, func(i, j int) bool { return h.WAL[i].Time.Before(h.WAL[j].Time) })
	// The lag is in each segment's push record, which a listing does not
	// carry: read the newest segments' records.
	for i := max(0, len(h.WAL)-maxLagReads); i < len(h.WAL); i++ {
		info, err := store.Head(ctx, h.WAL[i].Key)
		if err != nil {
			if h.Err == nil {
				h.Err = fmt.Errorf("reading the push record of %s: %w", h.WAL[i].Key, err)
			}
			break
		}
		if w, err := time.Parse(time.RFC3339Nano, info.Metadata[wal.MetaWritten]); err == nil {
			h.WAL[i].Written = w
		}
	}
	for _, d := range c.Drills {
		evs, err := drill.List(ctx, store, l, d.Schedule.Name)
		if err != nil {
			if h.Err == nil {
				h.Err = fmt.Errorf("reading the evidence of drill %s: %w", d.Schedule.Name, err)
			}
			continue
		}
		for _, ev := range evs {
			target := ev.RTOTargetSeconds
			if target == 0 {
				target = d.Schedule.RTOTargetSeconds
			}
			h.Drills = append(h.Drills, DrillRun{Schedule: d.Schedule.Name, Key: ev.Key, Finished: ev.Finished,
				RTOSeconds: ev.RTOSeconds, TargetSeconds: target, Passed: ev.Passed})
		}
	}
	sort.SliceStable(h.Drills, func(i, j int) bool { return h.Drills[i].Finished.Before(h.Drills[j].Finished) })
	return h
}

// isSegmentName reports whether name is a WAL segment's (24 hex digits),
// not a .history or .partial file's.
func isSegmentName(name string) bool {
	if len(name) != 24 {
		return false
	}
	for _, r := range name {
		if (r < '0' || r > '9') && (r < 'A' || r > 'F') {
			return false
		}
	}
	return true
}

// Plot names.
const (
	PlotDrillRTO = "drill_rto"
	PlotWALLag   = "wal_lag"
	PlotGrowth   = "growth"
)

// Series is one line of a plot of the report.
type Series struct {
	Cluster string `json:"cluster"`
	Plot    string `json:"plot"`
	Name    string `json:"name"`
	// Unit is "seconds" or "bytes".
	Unit string `json:"unit"`
	// Limit is the threshold drawn across the plot (the RTO target, the
	// RPO); 0: none.
	Limit  float64 `json:"limit,omitempty"`
	Points []Point `json:"points"`
}

// Point is one value at a time; Bad marks a failed drill.
type Point struct {
	T   time.Time `json:"t"`
	V   float64   `json:"v"`
	Bad bool      `json:"bad,omitempty"`
}

// maxPoints bounds a series: a repository with a year of WAL has hundreds
// of thousands of segments, a plot needs a few hundred points.
const maxPoints = 400

// historySeries turns a cluster's history into the report's plots:
// restore time of every drill against its RTO target, the archive lag of
// each segment against the RPO (how long written data existed only on the
// server, from the segments' push records), and the stored bytes of each
// data folder over time.
func historySeries(c *ClusterObservation, p Params) []Series {
	h := c.History
	if h == nil {
		return nil
	}
	var out []Series
	bySchedule := map[string]*Series{}
	var order []string
	for _, d := range h.Drills {
		s := bySchedule[d.Schedule]
		if s == nil {
			s = &Series{Cluster: c.Cluster, Plot: PlotDrillRTO, Name: d.Schedule, Unit: "seconds"}
			bySchedule[d.Schedule] = s
			order = append(order, d.Schedule)
		}
		s.Points = append(s.Points, Point{T: d.Finished, V: d.RTOSeconds, Bad: !d.Passed})
		s.Limit = d.TargetSeconds
		if p.RTOTarget > 0 {
			s.Limit = p.RTOTarget.Seconds()
		}
	}
	for _, name := range order {
		s := bySchedule[name]
		s.Points = thin(s.Points)
		out = append(out, *s)
	}
	lag := Series{Cluster: c.Cluster, Plot: PlotWALLag, Name: "archive lag", Unit: "seconds", Limit: p.RPO.Seconds()}
	for _, w := range h.WAL {
		if w.Written.IsZero() {
			continue
		}
		// NOTE: clocks of the database host and the store differ by a
		// little; a negative lag is that skew, not a segment archived
		// before it was written.
		v := max(w.Time.Sub(w.Written).Seconds(), 0)
		lag.Points = append(lag.Points, Point{T: w.Time, V: v, Bad: v > p.RPO.Seconds()})
	}
	if len(lag.Points) > 0 {
		lag.Points = thin(lag.Points)
		out = append(out, lag)
	}
	for _, folder := range HistoryFolders {
		objs := h.Folders[folder]
		if len(objs) == 0 {
			continue
		}
		s := Series{Cluster: c.Cluster, Plot: PlotGrowth, Name: string(folder), Unit: "bytes"}
		var total int64
		for _, o := range objs {
			total += o.Size
			s.Points = append(s.Points, Point{T: o.Time, V: float64(total)})
		}
		s.Points = thin(s.Points)
		out = append(out, s)
	}
	return out
}

// thin keeps at most maxPoints points, evenly spaced, always the last one
// and every bad one (a failed drill, a gap beyond the RPO must not vanish
// from the plot).
func thin(ps []Point) []Point {
	if len(ps) <= maxPoints {
		return ps
	}
	step := float64(len(ps)) / float64(maxPoints)
	var out []Point
	next := 0.0
	for i, pt := range ps {
		if float64(i) >= next || pt.Bad || i == len(ps)-1 {
			out = append(out, pt)
			if float64(i) >= next {
				next += step
			}
		}
	}
	return out
}
