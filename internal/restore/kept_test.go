package restore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
)

// memRepo is a repository in the in-memory store holding only what
// planning reads: base backup manifests and archived WAL segment names.
type memRepo struct {
	t     *testing.T
	store objectstore.Store
	l     repo.Layout
	seg   int
}

func newMemRepo(t *testing.T) *memRepo {
	return &memRepo{t: t, store: objectstore.NewMemory("repo"), l: repo.Layout{Prefix: "pg", Cluster: "main"}, seg: 1}
}

func (r *memRepo) put(key string, body []byte) {
	r.t.Helper()
	if _, err := r.store.Put(context.Background(), key, bytes.NewReader(body), objectstore.PutOptions{Size: int64(len(body))}); err != nil {
		r.t.Fatal(err)
	}
}

// segment archives the next WAL segment of timeline 1.
func (r *memRepo) segment() string {
	name := fmt.Sprintf("%08X%08X%08X", 1, 0, r.seg)
	r.seg++
	r.put(r.l.WALKey("00000001", name, "zst"), []byte("wal"))
	return name
}

// backup records a complete base backup over the next segment.
func (r *memRepo) backup(id string) {
	r.t.Helper()
	seg := r.segment()
	m := backup.Manifest{Format: 1, Kind: backup.KindPhysical, ID: id, Cluster: "main", StartTime: time.Now(), StopTime: time.Now(),
		Timeline: 1, StopTimeline: 1, WALSegmentSize: 16 << 20, WALStart: seg, WALStop: seg,
		Archives: []backup.Archive{{Name: "base.tar.zst", Compression: "zstd"}}}
	body, err := json.Marshal(m)
	if err != nil {
		r.t.Fatal(err)
	}
	r.put(r.l.BackupManifestKey(id), body)
}

// TestPlanKept: a restore to latest planned, then planned again after a
// newer backup finished (what Terraform does when it applies a saved
// plan), names the same backup; once released, or once that backup is
// gone, the newest one.
func TestPlanKept(t *testing.T) {
	ctx := context.Background()
	r := newMemRepo(t)
	r.backup("20261130T010000Z")
	r.segment()
	req := restore.Request{Kind: restore.KindCluster, Layout: r.l, DataDir: "/srv/restore", Port: 5499}
	source := func(req restore.Request) string {
		t.Helper()
		p, err := restore.PlanKept(ctx, r.store, req)
		if err != nil {
			t.Fatal(err)
		}
		if p.NotKept != nil {
			t.Fatalf("not kept: %v", p.NotKept)
		}
		return p.Source.String()
	}

	if got := source(req); got != "backup:20261130T010000Z+wal" {
		t.Fatalf("first plan: %s", got)
	}
	r.backup("20261130T020000Z")
	r.segment()
	if got := source(req); got != "backup:20261130T010000Z+wal" {
		t.Fatalf("plan again after a newer backup: %s, want the backup the first plan named", got)
	}
	// Another restore (another target) is planned on its own.
	other := req
	other.DataDir = "/srv/restore-2"
	if got := source(other); got != "backup:20261130T020000Z+wal" {
		t.Fatalf("another restore: %s, want the newest backup", got)
	}
	// A fixed point in time is never kept: it chooses the same way every time.
	if p, err := restore.PlanRestore(ctx, r.store, req); err != nil || p.Source.String() != "backup:20261130T020000Z+wal" {
		t.Fatalf("PlanRestore (nothing kept): %v %v", p, err)
	}

	if err := restore.ReleaseKept(ctx, r.store, req); err != nil {
		t.Fatal(err)
	}
	if got := source(req); got != "backup:20261130T020000Z+wal" {
		t.Fatalf("plan after release: %s, want the newest backup", got)
	}
	if err := restore.ReleaseKept(ctx, r.store, req); err != nil {
		t.Fatalf("second release: %v", err)
	}

	// The kept backup pruned: the next plan chooses afresh.
	r.backup("20261130T030000Z")
	if got := source(req); got != "backup:20261130T030000Z+wal" {
		t.Fatalf("plan after release: %s", got)
	}
	r.backup("20261130T040000Z")
	if err := r.store.Delete(ctx, r.l.BackupManifestKey("20261130T030000Z")); err != nil {
		t.Fatal(err)
	}
	if got := source(req); got != "backup:20261130T040000Z+wal" {
		t.Fatalf("plan after the kept backup was pruned: %s, want the newest", got)
	}
}
