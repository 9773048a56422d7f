package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/wal"
)

func segOn(tli uint32, no uint64) string { return wal.Segment{Timeline: tli, No: no}.Name(segSize) }

func addWALOn(t *testing.T, s objectstore.Store, tli uint32, from, to uint64) {
	t.Helper()
	for no := from; no <= to; no++ {
		put(t, s, layout.WALDir()+segOn(tli, no)[:8]+"/"+segOn(tli, no)+".zst", []byte("wal"), objectstore.PutOptions{})
	}
}

// addHistory archives a timeline history file through wal-push's code.
func addHistory(t *testing.T, s objectstore.Store, tli uint32, content string) {
	t.Helper()
	if _, err := wal.PushContent(context.Background(), s, wal.Config{Layout: layout, SystemIdentifier: 42},
		wal.HistoryFileName(tli), []byte(content)); err != nil {
		t.Fatal(err)
	}
}

// addBackupOn stores a complete fake backup on timeline tli, stopping at
// stopLSN, needing segments from..to.
func addBackupOn(t *testing.T, s objectstore.Store, start time.Time, tli uint32, from, to uint64, stopLSN string) *backup.Manifest {
	t.Helper()
	id := backup.NewID(start)
	part := layout.BackupDir(id) + "base.tar.zst/000000"
	put(t, s, part, []byte("data"), objectstore.PutOptions{})
	m := &backup.Manifest{Format: 1, Kind: backup.KindPhysical, ID: id, StartTime: start, StopTime: start.Add(time.Minute),
		Timeline: tli, StopTimeline: tli, WALSegmentSize: segSize, WALStart: segOn(tli, from), WALStop: segOn(tli, to),
		StopLSN: stopLSN, Archives: []backup.Archive{{Name: "base.tar.zst", Parts: []backup.Part{{Key: part, Size: 4}}}}}
	raw, _ := json.Marshal(m)
	put(t, s, layout.BackupManifestKey(id), raw, objectstore.PutOptions{})
	return m
}

// TestWindowFollowsTimelineHistory: a standby promoted at 0/5000028
// (timeline 2 archives segments 5..8) while the old primary went on on
// timeline 1 (segments up to 10). The window follows timeline 2's history:
// timeline 1 up to segment 4, timeline 2 from segment 5, never timeline
// 1's segments past the fork; a backup taken on timeline 1 after the fork
// does not start it; the fork is reported.
func TestWindowFollowsTimelineHistory(t *testing.T) {
	ctx := context.Background()
	s := objectstore.NewMemory("b")
	now := time.Now()
	a := addBackupOn(t, s, now.Add(-3*time.Hour), 1, 2, 2, "0/2000100")
	addBackupOn(t, s, now.Add(-time.Hour), 1, 7, 7, "0/7000100") // old primary, after the fork
	addWALOn(t, s, 1, 1, 10)
	addHistory(t, s, 2, "1\t0/5000028\tno recovery target specified\n")
	addWALOn(t, s, 2, 5, 8)

	w, err := RestorableWindow(ctx, s, layout)
	if err != nil {
		t.Fatal(err)
	}
	if w.Timeline != 2 || !w.Restorable || w.FromBackup != a.ID || w.LatestSegment != segOn(2, 8) || w.NewestSegment != segOn(2, 8) || len(w.Gaps) != 0 {
		t.Fatalf("window %+v: want timeline 2 from %s to %s, no gap", w, a.ID, segOn(2, 8))
	}
	if len(w.Timelines) != 2 || w.Timelines[1].Parent != 1 || w.Timelines[1].SwitchLSN != "0/5000028" ||
		len(w.Timelines[0].ContinuedAfter) != 1 || w.Timelines[0].ContinuedAfter[0] != 2 {
		t.Fatalf("timelines %+v: want 2 from 1 at 0/5000028, 1 continued after 2 branched", w.Timelines)
	}
	if d := w.Timelines[0].Describe(); !strings.Contains(d, "continued past the branch point of timeline 2") {
		t.Fatalf("describe: %q", d)
	}

	// A segment missing on timeline 2 is a gap even though timeline 1 has
	// that number: its content is the other branch's.
	if err := s.Delete(ctx, layout.WALDir()+"00000002/"+segOn(2, 7)+".zst"); err != nil {
		t.Fatal(err)
	}
	w, _ = RestorableWindow(ctx, s, layout)
	if w.LatestSegment != segOn(2, 6) || len(w.Gaps) != 1 || w.Gaps[0].From != segOn(2, 7) {
		t.Fatalf("window %+v: want the run to end at %s before the gap at %s", w, segOn(2, 6), segOn(2, 7))
	}

	// The view of timeline 1 is the old primary's branch, up to 10.
	all, err := ListWAL(ctx, s, layout, segSize)
	if err != nil {
		t.Fatal(err)
	}
	v1, err := all.On(1)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := v1.Newest(); n.Name != segOn(1, 10) {
		t.Fatalf("timeline 1 newest %s", n.Name)
	}
	if _, err := all.On(7); !errors.Is(err, ErrNoTimeline) || !strings.Contains(err.Error(), "timeline 2 (from timeline 1 at 0/5000028)") {
		t.Fatalf("On(7): %v, want ErrNoTimeline naming the known timelines", err)
	}
}

func TestParseHistory(t *testing.T) {
	es, err := wal.ParseHistory([]byte("1\t0/5000028\tno recovery target specified\n\n2\t0/9000000\tat restore point \"x\"\n"))
	if err != nil || len(es) != 2 || es[1].TLI != 2 || es[1].Switch != 0x9000000 {
		t.Fatalf("ParseHistory: %+v, %v", es, err)
	}
	if _, err := wal.ParseHistory([]byte("2\t0/9000000\tx\n1\t0/5000028\ty\n")); err == nil {
		t.Fatal("a history going back in timelines was accepted")
	}
}

// TestVerifyNamesAChangedHistoryFile: a restore follows the timeline
// history files, so verify re-reads them against their stored checksums:
// one whose bytes changed fails verify, named.
func TestVerifyNamesAChangedHistoryFile(t *testing.T) {
	ctx := context.Background()
	s := objectstore.NewMemory("b")
	now := time.Now()
	b := addBackupOn(t, s, now.Add(-time.Hour), 1, 2, 2, "0/2000100")
	addHistory(t, s, 2, "1\t0/5000028\tno recovery target specified\n")
	var key string
	_ = s.List(ctx, layout.WALDir(), func(o objectstore.ObjectInfo) error {
		if strings.Contains(o.Key, ".history") {
			key = o.Key
		}
		return nil
	})
	body, info, err := s.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(body)
	body.Close()
	raw[len(raw)-1] ^= 0x01
	put(t, s, key, raw, objectstore.PutOptions{Metadata: info.Metadata})
	rep, err := Verify(ctx, s, layout, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	named := false
	for _, p := range rep.Problems {
		named = named || (p.Object == key && strings.Contains(p.Reason, "history"))
	}
	if !named {
		t.Fatalf("verify problems %+v: want %s named", rep.Problems, key)
	}
}

// TestVerifyChecksEveryTimelinesHistory: after a failover the old primary
// went on on timeline 1 (segments 5..8) beside timeline 2 (5..8), and
// timeline 1's segment 6 is missing. The whole-archive index sees segment
// 6 (timeline 2's), so only the per-timeline check finds that a restore
// along timeline 1 would stop there; timeline 2's history has no gap.
func TestVerifyChecksEveryTimelinesHistory(t *testing.T) {
	ctx := context.Background()
	s := objectstore.NewMemory("b")
	m := addBackupOn(t, s, time.Now().Add(-time.Hour), 1, 2, 2, "0/2000100")
	addWALOn(t, s, 1, 1, 5)
	addWALOn(t, s, 1, 7, 8)
	addHistory(t, s, 2, "1\t0/5000028\tno recovery target specified\n")
	addWALOn(t, s, 2, 5, 8)
	r, err := Verify(ctx, s, layout, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	var onTL1, onTL2 []Problem
	for _, p := range r.Problems {
		if strings.Contains(p.Reason, "timeline 1's history") {
			onTL1 = append(onTL1, p)
		}
		if strings.Contains(p.Reason, "timeline 2's history") {
			onTL2 = append(onTL2, p)
		}
	}
	if len(onTL1) != 1 || onTL1[0].Object != layout.WALTimelineDir("00000001")+segOn(1, 6) || len(onTL2) != 0 {
		t.Fatalf("timeline 1 problems %+v, timeline 2 problems %+v; want %s missing on timeline 1 only", onTL1, onTL2, segOn(1, 6))
	}
}
