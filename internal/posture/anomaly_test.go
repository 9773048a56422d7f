package posture

import (
	"testing"
	"time"
)

// TestWALVolumeSurge: the last hour's WAL against the hours before it: the
// usual volume passes, ten times it warns naming the segments; a day of
// history is needed before judging.
func TestWALVolumeSurge(t *testing.T) {
	c := &ClusterObservation{Cluster: "main", History: &History{}}
	add := func(at time.Time, n int) {
		for i := 0; i < n; i++ {
			c.History.WAL = append(c.History.WAL, WALObject{Key: "pg/main/wal/" + at.Format(time.RFC3339), Time: at.Add(time.Duration(i) * time.Second), Stored: 1 << 20})
		}
	}
	judge := func() Finding {
		o := &Observation{Now: now, Clusters: []ClusterObservation{*c}}
		return Judge(o, Params{}, ControlWALVolume)[0]
	}
	add(now.Add(-30*time.Minute), 2)
	if f := judge(); f.Status != Unknown {
		t.Fatalf("half an hour of WAL: %s %q, want unknown", f.Status, f.Observed)
	}
	for h := 2; h <= 24; h++ {
		add(now.Add(-time.Duration(h)*time.Hour), 2)
	}
	f := judge()
	if f.Status != Pass || f.Measures[MeasureObserved] != 2*DefaultWALSegmentSize || f.Measures[MeasureBaseline] != 2*DefaultWALSegmentSize {
		t.Fatalf("usual volume: %s %q %v", f.Status, f.Observed, f.Measures)
	}
	add(now.Add(-20*time.Minute), 18)
	f = judge()
	if f.Status != Warn || len(f.Evidence) == 0 || f.Problem != "WAL Volume Surge" {
		t.Fatalf("ten times the usual volume: %s %q %+v", f.Status, f.Observed, f)
	}
}
