package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/wal"
)

// TestBackupsShowsTheFork: after a standby was promoted (timeline 2 from
// 0/5000028) while the old primary went on on timeline 1, `lifeboat
// backups` shows each backup's timeline, how the timelines relate, the
// fork, and that the window follows timeline 2.
func TestBackupsShowsTheFork(t *testing.T) {
	ctx := context.Background()
	cfg := repo.AgentConfig{Bucket: "b", Prefix: "p", Cluster: "c"}
	l := cfg.Layout()
	s := objectstore.NewMemory("b")
	put := func(key string, body []byte) {
		if _, err := s.Put(ctx, key, bytes.NewReader(body), objectstore.PutOptions{Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
	}
	name := func(tli uint32, no uint64) string {
		return wal.Segment{Timeline: tli, No: no}.Name(wal.DefaultSegmentSize)
	}
	start := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	for i, b := range []struct {
		tli  uint32
		no   uint64
		stop string
	}{{1, 2, "0/2000100"}, {2, 6, "0/6000100"}} {
		id := backup.NewID(start.Add(time.Duration(i) * time.Hour))
		m := backup.Manifest{Format: 1, Kind: backup.KindPhysical, ID: id, StartTime: start.Add(time.Duration(i) * time.Hour),
			StopTime: start.Add(time.Duration(i)*time.Hour + time.Minute), Timeline: b.tli, StopTimeline: b.tli, StopLSN: b.stop,
			WALSegmentSize: wal.DefaultSegmentSize, WALStart: name(b.tli, b.no), WALStop: name(b.tli, b.no)}
		raw, _ := json.Marshal(m)
		put(l.BackupManifestKey(id), raw)
	}
	for no := uint64(1); no <= 9; no++ {
		put(l.WALKey("00000001", name(1, no), "zst"), []byte("wal"))
	}
	for no := uint64(5); no <= 7; no++ {
		put(l.WALKey("00000002", name(2, no), "zst"), []byte("wal"))
	}
	if _, err := wal.PushContent(ctx, s, wal.Config{Layout: l, SystemIdentifier: 7}, "00000002.history",
		[]byte("1\t0/5000028\tno recovery target specified\n")); err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	if err := runBackups(ctx, cfg, s, false, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"TIMELINE",
		"timeline 1 continued past the branch point of timeline 2, newest segment " + name(1, 9),
		"timeline 2 (from timeline 1 at 0/5000028), newest segment " + name(2, 7),
		"restorable window on timeline 2:",
		"(segment " + name(2, 7) + ")",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	t.Log(out.String())
	if strings.Contains(out.String(), "WAL gap") {
		t.Errorf("the old primary's branch shows as a gap:\n%s", out.String())
	}
}
