package posture

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Anomaly controls judge the cluster against its own history, read from the
// repository (History, the catalog): no fixed threshold fits every
// database, but a sudden change against the cluster's own past is how an
// attack or an accident shows up in backups before anyone restores them.
//
//   - WAL compressibility collapsing: encrypted data does not compress, so a
//     mass encryption by ransomware shows in the WAL (and the next base
//     backup) as a ratio near 1 where it used to be several times that.
//   - WAL volume surging: rewriting every row (encrypting, a runaway job)
//     archives far more WAL per window than the cluster usually does.
//   - Backup or dump size dropping: a mass deletion shows as a newest dump
//     much smaller than the ones before it.
//
// Each finding carries the baseline and the observed value in Measures, so
// the agent exports them as metrics, and names the objects concerned.
const (
	ControlWALCompression = "anomaly.wal_compression"
	ControlWALVolume      = "anomaly.wal_volume"
	ControlSizeDrop       = "anomaly.backup_size_drop"
)

// Measure names in Finding.Measures.
const (
	MeasureObserved = "observed"
	MeasureBaseline = "baseline"
)

// DefaultWALSegmentSize is PostgreSQL's default WAL segment size, used when
// no base backup recorded the cluster's own.
const DefaultWALSegmentSize = 16 << 20

func init() {
	anomalyStandards := []Standard{ISO27001A813, SOC2A12, DORAArt12, NISTCP9, NIS2Art21c}
	register(
		Control{ID: ControlWALCompression, Title: "WAL compressibility holds against the cluster's own history", Scope: ScopeCluster,
			Standards: anomalyStandards, Problem: "WAL Compressibility Collapsed",
			Parameters: func(p Params) map[string]string {
				return map[string]string{"window": p.AnomalyWindow.String(), "collapse_factor": fmt.Sprint(p.CollapseFactor)}
			},
			Evaluate: walCompression},
		Control{ID: ControlWALVolume, Title: "WAL volume per window within the cluster's usual range", Scope: ScopeCluster,
			Standards: anomalyStandards, Problem: "WAL Volume Surge",
			Parameters: func(p Params) map[string]string {
				return map[string]string{"window": p.AnomalyWindow.String(), "surge_factor": fmt.Sprint(p.SurgeFactor)}
			},
			Evaluate: walVolume},
		Control{ID: ControlSizeDrop, Title: "Newest base backup and tenant dumps not much smaller than before", Scope: ScopeCluster,
			Standards: anomalyStandards, Problem: "Backup Size Dropped",
			Parameters: func(p Params) map[string]string {
				return map[string]string{"max_drop": fmt.Sprintf("%.0f%%", p.MaxSizeDrop*100)}
			},
			Evaluate: sizeDrop},
	)
}

// minBaseline is how many earlier values a baseline needs: fewer is not a
// history to judge against.
const minBaseline = 3

func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := append([]float64(nil), vs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// segmentSize is the cluster's WAL segment size, from its newest base
// backup.
func segmentSize(c *ClusterObservation) float64 {
	if c.Catalog != nil {
		for i := len(c.Catalog.Physical) - 1; i >= 0; i-- {
			if s := c.Catalog.Physical[i].WALSegmentSize; s > 0 {
				return float64(s)
			}
		}
	}
	return DefaultWALSegmentSize
}

func historyUnknown(c *ClusterObservation, th string) (Finding, bool) {
	if c.History == nil {
		f := unknown("the repository's history was not read", "Give the report credentials that may list the repository.")
		f.Threshold = th
		return f, true
	}
	if c.History.Err != nil {
		f := unknown("history unreadable: "+c.History.Err.Error(), "Give the report credentials that may list the repository.")
		f.Threshold = th
		return f, true
	}
	return Finding{}, false
}

// splitWindow splits the WAL segments into those archived before the last
// window and those within it.
func splitWindow(h *History, now time.Time, w time.Duration) (before, last []WALObject) {
	from := now.Add(-w)
	for _, s := range h.WAL {
		if s.Time.After(from) {
			last = append(last, s)
		} else {
			before = append(before, s)
		}
	}
	return before, last
}

func walCompression(o *Observation, c *ClusterObservation, p Params) Finding {
	th := fmt.Sprintf("median ratio of the last %s at least 1/%g of the earlier segments' median", p.AnomalyWindow, p.CollapseFactor)
	if f, bad := historyUnknown(c, th); bad {
		return f
	}
	seg := segmentSize(c)
	ratio := func(s WALObject) float64 {
		if s.Stored <= 0 {
			return 0
		}
		return seg / float64(s.Stored)
	}
	before, last := splitWindow(c.History, o.Now, p.AnomalyWindow)
	var base, obs []float64
	for _, s := range before {
		base = append(base, ratio(s))
	}
	for _, s := range last {
		obs = append(obs, ratio(s))
	}
	f := Finding{Threshold: th}
	if len(base) < minBaseline || len(obs) == 0 {
		f.Status = Unknown
		f.Observed = fmt.Sprintf("%d segment(s) in the last %s, %d before: not enough to judge", len(obs), p.AnomalyWindow, len(base))
		f.Remedy = "Nothing to do: the control judges once the cluster has archived WAL for a while."
		return f
	}
	b, m := median(base), median(obs)
	f.Measures = map[string]float64{MeasureBaseline: b, MeasureObserved: m}
	f.Observed = fmt.Sprintf("%.2fx over %d segment(s) of the last %s, against %.2fx over %d earlier segment(s)", m, len(obs), p.AnomalyWindow, b, len(base))
	if m*p.CollapseFactor >= b {
		f.Status = Pass
		return f
	}
	f.Status = Fail
	for _, s := range last {
		if ratio(s)*p.CollapseFactor < b && len(f.Evidence) < 10 {
			f.Evidence = append(f.Evidence, Evidence{Key: s.Key, Time: s.Time, Note: fmt.Sprintf("compresses %.2fx", ratio(s))})
		}
	}
	f.Remedy = "Find what writes incompressible data: mass encryption by ransomware looks like this. Check the database now, and keep the backups from before the collapse (they are locked)."
	return f
}

func walVolume(o *Observation, c *ClusterObservation, p Params) Finding {
	th := fmt.Sprintf("WAL archived in the last %s at most %gx the median of earlier windows (at least one segment)", p.AnomalyWindow, p.SurgeFactor)
	if f, bad := historyUnknown(c, th); bad {
		return f
	}
	h := c.History
	f := Finding{Threshold: th}
	if len(h.WAL) == 0 {
		f.Status, f.Observed = Unknown, "no WAL archived"
		f.Remedy = "Nothing to do until the cluster archives WAL."
		return f
	}
	seg := segmentSize(c)
	from := o.Now.Add(-p.AnomalyWindow)
	first := h.WAL[0].Time
	for _, s := range h.WAL {
		if s.Time.Before(first) {
			first = s.Time
		}
	}
	// Earlier windows, counted back from the last one, up to a week of them.
	n := int(from.Sub(first) / p.AnomalyWindow)
	if n > 7*24*int(time.Hour/p.AnomalyWindow+1) {
		n = 7 * 24 * int(time.Hour/p.AnomalyWindow+1)
	}
	if n < minBaseline {
		f.Status = Unknown
		f.Observed = fmt.Sprintf("WAL history covers %d earlier window(s) of %s: not enough to judge", max(n, 0), p.AnomalyWindow)
		f.Remedy = "Nothing to do: the control judges once the cluster has archived WAL for a while."
		return f
	}
	counts := make([]float64, n)
	var last []WALObject
	for _, s := range h.WAL {
		if s.Time.After(from) {
			last = append(last, s)
			continue
		}
		i := int(from.Sub(s.Time) / p.AnomalyWindow)
		if i < n {
			counts[i] += seg
		}
	}
	b := max(median(counts), seg)
	m := float64(len(last)) * seg
	f.Measures = map[string]float64{MeasureBaseline: b, MeasureObserved: m}
	f.Observed = fmt.Sprintf("%s of WAL in the last %s (%d segment(s)), against a median of %s per window over %d earlier window(s)",
		formatValue(m, "bytes"), p.AnomalyWindow, len(last), formatValue(median(counts), "bytes"), n)
	if m <= p.SurgeFactor*b {
		f.Status = Pass
		return f
	}
	f.Status = Warn
	for i, s := range last {
		if i < 3 || i == len(last)-1 {
			f.Evidence = append(f.Evidence, Evidence{Key: s.Key, Time: s.Time, Note: "archived in the surge"})
		}
	}
	f.Remedy = "Find what rewrites so much data (a migration, a runaway job, or an attacker encrypting rows) and whether it was expected."
	return f
}

func sizeDrop(_ *Observation, c *ClusterObservation, p Params) Finding {
	th := fmt.Sprintf("newest at least %.0f%% of the median of the earlier ones", (1-p.MaxSizeDrop)*100)
	if c.CatalogErr != nil {
		f := unknown("catalog unreadable: "+c.CatalogErr.Error(), "Give the report credentials that may list and read the repository.")
		f.Threshold = th
		return f
	}
	if c.Catalog == nil {
		f := unknown("catalog not read", "Give the report credentials that may list and read the repository.")
		f.Threshold = th
		return f
	}
	f := Finding{Threshold: th}
	type judged struct {
		what, key    string
		t            time.Time
		newest, base float64
		earlier      int
	}
	var all []judged
	// Base backups: the uncompressed size PostgreSQL sent.
	if ph := c.Catalog.Physical; len(ph) > minBaseline {
		var sizes []float64
		for _, m := range ph[:len(ph)-1] {
			sizes = append(sizes, float64(m.DataSize))
		}
		nw := ph[len(ph)-1]
		all = append(all, judged{what: "base backup " + nw.ID, key: c.Layout.BackupManifestKey(nw.ID), t: nw.StopTime,
			newest: float64(nw.DataSize), base: median(sizes), earlier: len(sizes)})
	}
	// Tenant dumps, per database: the dump's stored size.
	byDB := map[string][]int{}
	var dbs []string
	for i, t := range c.Catalog.Tenant {
		if _, ok := byDB[t.Database]; !ok {
			dbs = append(dbs, t.Database)
		}
		byDB[t.Database] = append(byDB[t.Database], i)
	}
	sort.Strings(dbs)
	for _, db := range dbs {
		idx := byDB[db]
		if len(idx) <= minBaseline {
			continue
		}
		var sizes []float64
		for _, i := range idx[:len(idx)-1] {
			sizes = append(sizes, float64(c.Catalog.Tenant[i].Dump.Size))
		}
		nw := c.Catalog.Tenant[idx[len(idx)-1]]
		all = append(all, judged{what: "dump of " + db, key: c.Layout.TenantManifestKey(db, nw.ID), t: nw.StopTime,
			newest: float64(nw.Dump.Size), base: median(sizes), earlier: len(sizes)})
	}
	if len(all) == 0 {
		f.Status = Unknown
		f.Observed = fmt.Sprintf("no base backup or tenant with more than %d earlier backups: not enough to judge", minBaseline)
		f.Remedy = "Nothing to do: the control judges once backups have a history."
		return f
	}
	var dropped, lines []string
	worst := 1.0
	for _, j := range all {
		share := 1.0
		if j.base > 0 {
			share = j.newest / j.base
		}
		worst = min(worst, share)
		line := fmt.Sprintf("%s: %s, %.0f%% of the median %s of %d earlier", j.what, formatValue(j.newest, "bytes"), share*100, formatValue(j.base, "bytes"), j.earlier)
		lines = append(lines, line)
		if share < 1-p.MaxSizeDrop {
			dropped = append(dropped, line)
			f.Evidence = append(f.Evidence, Evidence{Key: j.key, Time: j.t, Note: line})
		}
	}
	f.Measures = map[string]float64{MeasureObserved: worst, MeasureBaseline: 1}
	if len(dropped) == 0 {
		f.Status, f.Observed = Pass, strings.Join(lines, "; ")
		return f
	}
	f.Status, f.Observed = Fail, strings.Join(dropped, "; ")
	f.Remedy = "Check whether data was deleted (a mass deletion shows as a much smaller dump); restore the missing rows from the earlier backups, which stay locked."
	return f
}
