package redisx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// testStore is a fresh bucket in the harness' MinIO.
func testStore(t *testing.T) objectstore.Store {
	t.Helper()
	ctx := context.Background()
	c, err := objectstore.NewClient(ctx, objectstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("redisx-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)
	if err := c.CreateBucket(ctx, objectstore.BucketSpec{Name: name}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.DestroyBucket(context.Background(), name, true) })
	return c.Store(name)
}

// A snapshot taken while a writer runs restores into a new instance with
// every key written before the snapshot began, with its value, and a
// consistent prefix of the keys written during it.
func TestSnapshot_underWriteLoadRestoresIntoNewInstance(t *testing.T) {
	testenv.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src := testenv.NewRedis(t)
	c := connect(t, src.Addr)
	const fixed = 2000
	pipe := c.Pipeline()
	for i := 0; i < fixed; i++ {
		pipe.Set(ctx, fmt.Sprintf("k:%d", i), fmt.Sprintf("value-%d-%s", i, strings.Repeat("x", i%64)), 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	// The writer: w:0, w:1, ... one at a time, acknowledged in order.
	var written atomic.Int64
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		wc := connect(t, src.Addr)
		for j := int64(0); ; j++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			if err := wc.Set(ctx, fmt.Sprintf("w:%d", j), j, 0).Err(); err != nil {
				done <- err
				return
			}
			written.Store(j + 1)
		}
	}()
	time.Sleep(100 * time.Millisecond)
	before := written.Load()
	store := testStore(t)
	layout := repo.Layout{Prefix: "acc", Cluster: "odoo"}
	m, err := Snapshot(ctx, c, store, SnapshotOptions{Layout: layout, Instance: "sessions"})
	close(stop)
	if werr := <-done; werr != nil {
		t.Fatal(werr)
	}
	if err != nil {
		t.Fatal(err)
	}
	after := written.Load()
	if m.RDBSize == 0 || m.StoredSize == 0 || len(m.RDBSHA256) != 64 || m.Key != layout.RedisSnapshotKey("sessions", m.ID, "zst") {
		t.Fatalf("manifest %+v", m)
	}

	dst := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dst, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := RestoreSnapshot(ctx, store, layout, "sessions", "", filepath.Join(dst, "data"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != m.ID {
		t.Fatalf("restored %s, want the newest %s", got.ID, m.ID)
	}
	restored, err := testenv.StartRedis(ctx, dst, false)
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Stop()
	rc := connect(t, restored.Addr)
	for _, i := range []int{0, 1, 777, fixed - 1} {
		v, err := rc.Get(ctx, fmt.Sprintf("k:%d", i)).Result()
		if want := fmt.Sprintf("value-%d-%s", i, strings.Repeat("x", i%64)); err != nil || v != want {
			t.Fatalf("k:%d = %q, %v; want %q", i, v, err, want)
		}
	}
	n, err := rc.DBSize(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	ws := n - fixed
	if ws < before || ws > after {
		t.Fatalf("restored %d writer keys; %d were acknowledged before the snapshot began and %d by its end", ws, before, after)
	}
	// A point-in-time copy: the writer's keys form a prefix.
	for _, j := range []int64{0, ws / 2, ws - 1} {
		if v, err := rc.Get(ctx, fmt.Sprintf("w:%d", j)).Int64(); err != nil || v != j {
			t.Fatalf("w:%d = %d, %v", j, v, err)
		}
	}
	if ex, _ := rc.Exists(ctx, fmt.Sprintf("w:%d", ws)).Result(); ex != 0 {
		t.Fatalf("w:%d restored, but only %d writer keys: not a point-in-time copy", ws, ws)
	}
	t.Logf("snapshot %s: %d keys, rdb %d bytes, stored %d bytes; writer keys %d (before %d, after %d)", m.ID, n, m.RDBSize, m.StoredSize, ws, before, after)
}

// A manifest whose checksum does not match the stored bytes restores
// nothing: no dump.rdb appears for Redis to load.
func TestRestoreSnapshot_refusesChecksumMismatch(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	c := connect(t, env.Redis.Addr)
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	store := testStore(t)
	layout := repo.Layout{Cluster: "odoo"}
	m, err := Snapshot(ctx, c, store, SnapshotOptions{Layout: layout, Instance: "queue", Compression: "lz4"})
	if err != nil {
		t.Fatal(err)
	}
	bad := *m
	bad.ID = m.ID + "x"
	bad.RDBSHA256 = strings.Repeat("0", 64)
	body, _ := json.Marshal(bad)
	if _, err := store.Put(ctx, layout.RedisManifestKey("queue", bad.ID), strings.NewReader(string(body)), objectstore.PutOptions{Size: int64(len(body))}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := RestoreSnapshot(ctx, store, layout, "queue", bad.ID, dir, nil); !errors.Is(err, ErrChecksumMismatch) {
		t.Fatalf("err = %v, want ErrChecksumMismatch", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "dump.rdb")); !os.IsNotExist(err) {
		t.Fatalf("dump.rdb exists after a mismatch: %v", err)
	}
	if _, err := RestoreSnapshot(ctx, store, layout, "queue", m.ID, dir, nil); err != nil {
		t.Fatalf("the good lz4 snapshot: %v", err)
	}
	if _, err := RestoreSnapshot(ctx, store, layout, "other", "", dir, nil); !errors.Is(err, ErrSnapshotNotFound) {
		t.Fatalf("no snapshots: err = %v, want ErrSnapshotNotFound", err)
	}
}

// A failing BGSAVE fails the snapshot and writes no manifest.
func TestSnapshot_failedSaveWritesNoManifest(t *testing.T) {
	testenv.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := testenv.NewRedis(t)
	c := connect(t, r.Addr)
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(r.DataDir); err != nil {
		t.Fatal(err)
	}
	store := testStore(t)
	layout := repo.Layout{Cluster: "odoo"}
	if _, err := Snapshot(ctx, c, store, SnapshotOptions{Layout: layout, Instance: "sessions"}); !errors.Is(err, ErrSaveFailed) {
		t.Fatalf("err = %v, want ErrSaveFailed", err)
	}
	all, err := Snapshots(ctx, store, layout, "sessions")
	if err != nil || len(all) != 0 {
		t.Fatalf("snapshots after a failed save: %v, %v", all, err)
	}
}
