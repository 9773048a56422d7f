package restore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/catalog"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/wal"
)

var planLayout = repo.Layout{Prefix: "p", Cluster: "c"}

func segName(tli uint32, no uint64) string {
	return wal.Segment{Timeline: tli, No: no}.Name(wal.DefaultSegmentSize)
}

func putObj(t *testing.T, s objectstore.Store, key string, body []byte) {
	t.Helper()
	if _, err := s.Put(context.Background(), key, bytes.NewReader(body), objectstore.PutOptions{Size: int64(len(body))}); err != nil {
		t.Fatal(err)
	}
}

// forkedRepository: timeline 1 archived segments 1..10 (the old primary
// went on after the fork), timeline 2 branched at 0/5000028 and archived
// 5..8. Backups: a on timeline 1 before the fork, b on timeline 1 after it,
// c on timeline 2.
func forkedRepository(t *testing.T) (s objectstore.Store, a, b, c *backup.Manifest) {
	s = objectstore.NewMemory("b")
	now := time.Now().Add(-4 * time.Hour)
	mk := func(start time.Time, tli uint32, no uint64, stop string) *backup.Manifest {
		id := backup.NewID(start)
		part := planLayout.BackupDir(id) + "base.tar.zst/000000"
		putObj(t, s, part, []byte("data"))
		m := &backup.Manifest{Format: 1, Kind: backup.KindPhysical, ID: id, StartTime: start, StopTime: start.Add(time.Minute),
			Timeline: tli, StopTimeline: tli, WALSegmentSize: wal.DefaultSegmentSize, WALStart: segName(tli, no), WALStop: segName(tli, no),
			StopLSN: stop, Archives: []backup.Archive{{Name: "base.tar.zst", Parts: []backup.Part{{Key: part, Size: 4}}}}}
		raw, _ := json.Marshal(m)
		putObj(t, s, planLayout.BackupManifestKey(id), raw)
		return m
	}
	a = mk(now, 1, 2, "0/2000100")
	b = mk(now.Add(2*time.Hour), 1, 7, "0/7000100")
	c = mk(now.Add(3*time.Hour), 2, 6, "0/6000100")
	for no := uint64(1); no <= 10; no++ {
		putObj(t, s, planLayout.WALDir()+"00000001/"+segName(1, no)+".zst", []byte("wal"))
	}
	for no := uint64(5); no <= 8; no++ {
		putObj(t, s, planLayout.WALDir()+"00000002/"+segName(2, no)+".zst", []byte("wal"))
	}
	if _, err := wal.PushContent(context.Background(), s, wal.Config{Layout: planLayout, SystemIdentifier: 42},
		"00000002.history", []byte("1\t0/5000028\tno recovery target specified\n")); err != nil {
		t.Fatal(err)
	}
	return s, a, b, c
}

// TestPlanFollowsTimelines: the plan picks a backup on the path to the
// target timeline, names that timeline, and reads each segment from the
// branch the history says; a backup or timeline off the path is refused
// at plan, naming the timelines.
func TestPlanFollowsTimelines(t *testing.T) {
	ctx := context.Background()
	s, a, b, c := forkedRepository(t)
	plan := func(tt, id string) (*Plan, error) {
		return PlanCluster(ctx, s, ClusterOptions{Layout: planLayout, TargetTimeline: tt, BackupID: id})
	}

	p, err := plan("latest", "")
	if err != nil || p.Timeline != 2 || p.BackupID != c.ID || p.WALStart != segName(2, 6) || p.WALStop != segName(2, 8) {
		t.Fatalf("latest: %+v, %v; want timeline 2 from backup c, %s..%s", p, err, segName(2, 6), segName(2, 8))
	}
	// From before the fork: timeline 1 up to the switch, 2 after, never
	// timeline 1's segments 5.. (the old primary's branch).
	p, err = plan("", a.ID)
	if err != nil || p.Timeline != 2 || p.WALStart != segName(1, 2) || p.WALStop != segName(2, 8) || p.TimelinePath != "1 -> 2 at 0/5000028" {
		t.Fatalf("backup a to latest: %+v, %v", p, err)
	}
	// Timeline 1 is the old primary's branch: backup b, up to segment 10.
	p, err = plan("1", "")
	if err != nil || p.Timeline != 1 || p.BackupID != b.ID || p.WALStop != segName(1, 10) {
		t.Fatalf("timeline 1: %+v, %v", p, err)
	}
	// current: each backup's own timeline.
	p, err = plan("current", b.ID)
	if err != nil || p.Timeline != 1 || p.WALStop != segName(1, 10) {
		t.Fatalf("current from b: %+v, %v", p, err)
	}
	// b was taken on timeline 1 after timeline 2 branched off: not on 2.
	_, err = plan("2", b.ID)
	var te *catalog.TimelineError
	if !errors.As(err, &te) || !errors.Is(err, catalog.ErrNotOnTimeline) ||
		!strings.Contains(err.Error(), "timeline 2 (from timeline 1 at 0/5000028)") || !strings.Contains(err.Error(), b.ID) {
		t.Fatalf("b on timeline 2: %v, want ErrNotOnTimeline naming the timelines", err)
	}
	if _, err = plan("7", ""); !errors.Is(err, catalog.ErrNoTimeline) {
		t.Fatalf("timeline 7: %v, want ErrNoTimeline", err)
	}
	if _, err = plan("sideways", ""); !errors.Is(err, ErrBadTimeline) {
		t.Fatalf("bad timeline: %v", err)
	}
}
