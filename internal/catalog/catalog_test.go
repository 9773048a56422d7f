package catalog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/wal"
)

var layout = repo.Layout{Prefix: "p", Cluster: "c"}

const segSize = wal.DefaultSegmentSize

func seg(no uint64) string { return wal.Segment{Timeline: 1, No: no}.Name(segSize) }

func put(t *testing.T, s objectstore.Store, key string, body []byte, opts objectstore.PutOptions) {
	t.Helper()
	opts.Size = int64(len(body))
	if _, err := s.Put(context.Background(), key, bytes.NewReader(body), opts); err != nil {
		t.Fatal(err)
	}
}

// addBackup stores a fake physical backup (one part and, unless
// incomplete, its manifest) needing WAL segments from..to.
func addBackup(t *testing.T, s objectstore.Store, start time.Time, from, to uint64, complete bool) *backup.Manifest {
	t.Helper()
	id := backup.NewID(start)
	part := layout.BackupDir(id) + "base.tar.zst/000000"
	put(t, s, part, []byte("data"), objectstore.PutOptions{})
	m := &backup.Manifest{Format: 1, Kind: backup.KindPhysical, ID: id, StartTime: start, StopTime: start.Add(time.Minute),
		Timeline: 1, WALSegmentSize: segSize, WALStart: seg(from), WALStop: seg(to),
		Archives: []backup.Archive{{Name: "base.tar.zst", Parts: []backup.Part{{Key: part, Size: 4}}}}}
	if complete {
		raw, _ := json.Marshal(m)
		put(t, s, layout.BackupManifestKey(id), raw, objectstore.PutOptions{})
	}
	return m
}

func addWAL(t *testing.T, s objectstore.Store, from, to uint64) {
	t.Helper()
	for no := from; no <= to; no++ {
		put(t, s, layout.WALDir()+"00000001/"+seg(no)+".zst", []byte("wal"), objectstore.PutOptions{})
	}
}

func walKeys(t *testing.T, s objectstore.Store) []string {
	var keys []string
	if err := s.List(context.Background(), layout.WALDir(), func(o objectstore.ObjectInfo) error {
		keys = append(keys, o.Key[strings.LastIndexByte(o.Key, '/')+1:])
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return keys
}

func TestBackupWithoutManifestDoesNotExist(t *testing.T) {
	ctx := context.Background()
	s := objectstore.NewMemory("b")
	m := addBackup(t, s, time.Now().Add(-time.Minute), 2, 2, false)
	addWAL(t, s, 1, 5)

	list, err := ListBackups(ctx, s, layout)
	if err != nil || len(list) != 0 {
		t.Fatalf("ListBackups = %v, %v; want nothing", list, err)
	}
	if _, err := Verify(ctx, s, layout, m.ID); !errors.Is(err, backup.ErrNoManifest) {
		t.Fatalf("Verify of an incomplete backup: %v, want ErrNoManifest", err)
	}
	w, err := RestorableWindow(ctx, s, layout)
	if err != nil || w.Restorable {
		t.Fatalf("window %+v, %v: an incomplete backup made the cluster restorable", w, err)
	}
	// Within the grace period it may still be running: left alone.
	res, err := Prune(ctx, s, layout, PruneOptions{FullCount: 1})
	if err != nil || len(res.Incomplete) != 0 {
		t.Fatalf("prune within grace: %+v, %v", res, err)
	}
	// Past it, it is dead: deleted, and no WAL is pruned (no backup kept).
	res, err = Prune(ctx, s, layout, PruneOptions{FullCount: 1, Now: func() time.Time { return time.Now().Add(2 * time.Hour) }})
	if err != nil || len(res.Incomplete) != 1 || res.Incomplete[0] != m.ID || res.WALDeleted != 0 {
		t.Fatalf("prune past grace: %+v, %v", res, err)
	}
	if _, err := s.Head(ctx, m.Archives[0].Parts[0].Key); !errors.Is(err, objectstore.ErrNotFound) {
		t.Fatalf("part of the dead backup still there: %v", err)
	}
	// A delete marker: its version stays for the bucket's lifecycle.
	rc, _, err := s.GetVersion(ctx, m.Archives[0].Parts[0].Key, "1")
	if err != nil {
		t.Fatalf("version of the dead backup's part: %v", err)
	}
	rc.Close()
}

func TestWindowStopsAtGap(t *testing.T) {
	ctx := context.Background()
	s := objectstore.NewMemory("b")
	now := time.Now()
	b1 := addBackup(t, s, now.Add(-3*time.Hour), 2, 3, true)
	addWAL(t, s, 1, 5)
	addWAL(t, s, 8, 10) // 6 and 7 missing

	w, err := RestorableWindow(ctx, s, layout)
	if err != nil {
		t.Fatal(err)
	}
	if !w.Restorable || w.FromBackup != b1.ID || w.LatestSegment != seg(5) || w.NewestSegment != seg(10) || !w.Truncated() {
		t.Fatalf("window %+v: want from %s to %s, truncated before %s", w, b1.ID, seg(5), seg(10))
	}
	if len(w.Gaps) != 1 || w.Gaps[0].From != seg(6) || w.Gaps[0].To != seg(7) || w.Gaps[0].Missing != 2 {
		t.Fatalf("gaps %+v", w.Gaps)
	}
	// A backup after the gap starts a window reaching the newest WAL.
	b2 := addBackup(t, s, now.Add(-time.Hour), 8, 8, true)
	w, _ = RestorableWindow(ctx, s, layout)
	if w.FromBackup != b2.ID || w.LatestSegment != seg(10) || w.Truncated() {
		t.Fatalf("window %+v: want from %s to %s", w, b2.ID, seg(10))
	}
	// Verify of the first backup names the first missing segment.
	rep, err := Verify(ctx, s, layout, b1.ID)
	if err != nil {
		t.Fatal(err)
	}
	named := false
	for _, p := range rep.Problems {
		named = named || (strings.HasSuffix(p.Object, seg(6)) && strings.Contains(p.Reason, "missing"))
	}
	if rep.OK() || !named {
		t.Fatalf("verify problems %+v: want the missing %s", rep.Problems, seg(6))
	}
}

func TestPruneByCountKeepsWALOfKeptBackups(t *testing.T) {
	ctx := context.Background()
	s := objectstore.NewMemory("b")
	now := time.Now()
	var ms []*backup.Manifest
	for i := 0; i < 5; i++ {
		ms = append(ms, addBackup(t, s, now.Add(time.Duration(i-5)*24*time.Hour), uint64(2+2*i), uint64(2+2*i), true))
	}
	addWAL(t, s, 1, 12)
	put(t, s, layout.WALDir()+"00000002/00000002.history.zst", []byte("h"), objectstore.PutOptions{})

	res, err := Prune(ctx, s, layout, PruneOptions{FullCount: 2})
	if err != nil {
		t.Fatal(err)
	}
	wantDeleted := []string{ms[0].ID, ms[1].ID, ms[2].ID}
	if fmt.Sprint(res.Deleted) != fmt.Sprint(wantDeleted) || fmt.Sprint(res.Kept) != fmt.Sprint([]string{ms[3].ID, ms[4].ID}) {
		t.Fatalf("deleted %v kept %v, want deleted %v", res.Deleted, res.Kept, wantDeleted)
	}
	// The oldest kept backup starts at segment 8: 1..7 go, 8..12 and the
	// history file stay.
	if res.WALKeptFrom != seg(8) || res.WALDeleted != 7 {
		t.Fatalf("WAL kept from %s, %d deleted", res.WALKeptFrom, res.WALDeleted)
	}
	keys := walKeys(t, s)
	if len(keys) != 6 || keys[0] != seg(8)+".zst" || keys[5] != "00000002.history.zst" {
		t.Fatalf("WAL left: %v", keys)
	}
	list, _ := ListBackups(ctx, s, layout)
	if len(list) != 2 {
		t.Fatalf("%d backups listed after prune", len(list))
	}
	w, _ := RestorableWindow(ctx, s, layout)
	if !w.Restorable || w.FromBackup != ms[3].ID {
		t.Fatalf("window after prune %+v", w)
	}
	// Nothing more to do on a second run.
	res, err = Prune(ctx, s, layout, PruneOptions{FullCount: 2})
	if err != nil || len(res.Deleted) != 0 || res.WALDeleted != 0 {
		t.Fatalf("second prune %+v, %v", res, err)
	}
}

func TestPruneByDaysKeepsTheBackupBeforeTheWindow(t *testing.T) {
	now := time.Now()
	at := []time.Time{now.Add(-10 * 24 * time.Hour), now.Add(-5 * 24 * time.Hour), now.Add(-2 * 24 * time.Hour), now.Add(-24 * time.Hour)}
	keep := retain(len(at), func(i int) time.Time { return at[i] }, PruneOptions{Days: 3}, now)
	// Restoring to 3 days ago needs the backup of 5 days ago.
	if fmt.Sprint(keep) != "[false true true true]" {
		t.Fatalf("days=3 keeps %v", keep)
	}
	keep = retain(len(at), func(i int) time.Time { return at[i] }, PruneOptions{Days: 3, FullCount: 4}, now)
	if fmt.Sprint(keep) != "[true true true true]" {
		t.Fatalf("days=3 or count=4 keeps %v", keep)
	}
	// The newest backup is kept whatever the policy says.
	keep = retain(2, func(i int) time.Time { return now.Add(-100 * 24 * time.Hour) }, PruneOptions{Days: 1}, now)
	if fmt.Sprint(keep) != "[false true]" {
		t.Fatalf("old backups, days=1 keeps %v", keep)
	}
	// No rule: keep everything.
	keep = retain(3, func(i int) time.Time { return now }, PruneOptions{}, now)
	if fmt.Sprint(keep) != "[true true true]" {
		t.Fatalf("no rule keeps %v", keep)
	}
}

// orderStore records the keys marked deleted, and any attempt to delete a
// version (the writer role may not).
type orderStore struct {
	objectstore.Store
	deleted        []string
	versionDeletes int
}

func (o *orderStore) Delete(ctx context.Context, key string) error {
	err := o.Store.Delete(ctx, key)
	if err == nil {
		o.deleted = append(o.deleted, key)
	}
	return err
}

func (o *orderStore) DeleteVersion(ctx context.Context, key, v string) error {
	o.versionDeletes++
	return o.Store.DeleteVersion(ctx, key, v)
}

// Retention passes the memory store's lock through, as the S3 store's.
func (o *orderStore) Retention(ctx context.Context, key, v string) (time.Time, string, bool) {
	return o.Store.(*objectstore.Memory).Retention(ctx, key, v)
}

// TestPruneMarksManifestFirstAndReportsLocks: prune deletes with delete
// markers only, the manifest first; locked objects are deleted all the
// same (gone from the catalog), and reported with their lock's expiry,
// as their versions stay until then.
func TestPruneMarksManifestFirstAndReportsLocks(t *testing.T) {
	ctx := context.Background()
	mem := objectstore.NewMemory("b")
	s := &orderStore{Store: mem}
	now := time.Now()
	until := now.Add(time.Hour).UTC().Truncate(time.Second)
	old := addBackup(t, mem, now.Add(-48*time.Hour), 2, 2, true)
	// A second part of the old backup under object lock, with two versions.
	locked := layout.BackupDir(old.ID) + "base.tar.zst/000001"
	put(t, mem, locked, []byte("v1"), objectstore.PutOptions{RetainUntil: until})
	put(t, mem, locked, []byte("v2"), objectstore.PutOptions{RetainUntil: until})
	lockedOld := addBackup(t, mem, now.Add(-36*time.Hour), 3, 3, true)
	// This one's manifest is locked (rewritten under lock).
	raw, _ := json.Marshal(lockedOld)
	put(t, mem, layout.BackupManifestKey(lockedOld.ID), raw, objectstore.PutOptions{RetainUntil: until})
	newest := addBackup(t, mem, now.Add(-time.Hour), 4, 4, true)
	addWAL(t, mem, 1, 5)

	res, err := Prune(ctx, s, layout, PruneOptions{FullCount: 1})
	if err != nil {
		t.Fatal(err)
	}
	if s.versionDeletes != 0 {
		t.Fatalf("prune tried to delete %d object versions", s.versionDeletes)
	}
	if len(s.deleted) == 0 || s.deleted[0] != layout.BackupManifestKey(old.ID) {
		t.Fatalf("first deletion %v, want the manifest of %s", s.deleted, old.ID)
	}
	if fmt.Sprint(res.Deleted) != fmt.Sprint([]string{old.ID, lockedOld.ID}) || fmt.Sprint(res.Kept) != fmt.Sprint([]string{newest.ID}) {
		t.Fatalf("deleted %v kept %v", res.Deleted, res.Kept)
	}
	// Both wait for their lock, one object each, until it expires.
	if len(res.Waiting) != 2 || res.Waiting[0].Name != old.ID || res.Waiting[0].Objects != 1 || !res.Waiting[0].Until.Equal(until) ||
		res.Waiting[1].Name != lockedOld.ID || res.Waiting[1].Objects != 1 || !res.Waiting[1].Until.Equal(until) {
		t.Fatalf("waiting %+v", res.Waiting)
	}
	var lockedKeys []string
	for _, lo := range res.Locked {
		lockedKeys = append(lockedKeys, lo.Key)
	}
	if fmt.Sprint(lockedKeys) != fmt.Sprint([]string{locked, layout.BackupManifestKey(lockedOld.ID)}) {
		t.Fatalf("locked %v", lockedKeys)
	}
	// Gone from listings, but every version is still there.
	if _, err := mem.Head(ctx, locked); !errors.Is(err, objectstore.ErrNotFound) {
		t.Fatalf("Head of a pruned part: %v, want ErrNotFound", err)
	}
	versions := 0
	if err := mem.ListVersions(ctx, locked, func(o objectstore.ObjectInfo) error {
		if !o.DeleteMarker {
			versions++
		}
		return nil
	}); err != nil || versions != 2 {
		t.Fatalf("%d versions of the pruned part left (%v), want 2", versions, err)
	}
	// The WAL before the newest backup (from 4) goes.
	if res.WALKeptFrom != seg(4) || res.WALDeleted != 3 || fmt.Sprint(walKeys(t, s)) != fmt.Sprint([]string{seg(4) + ".zst", seg(5) + ".zst"}) {
		t.Fatalf("WAL kept from %s, %d deleted, left %v; want from %s", res.WALKeptFrom, res.WALDeleted, walKeys(t, s), seg(4))
	}
	list, _ := ListBackups(ctx, s, layout)
	if len(list) != 1 || list[0].ID != newest.ID {
		t.Fatalf("listed %+v, want only %s", list, newest.ID)
	}
	// A second run finds nothing to delete: markers are not marked again.
	res, err = Prune(ctx, s, layout, PruneOptions{FullCount: 1})
	if err != nil || len(res.Deleted) != 0 || res.WALDeleted != 0 || res.ObjectsDeleted != 0 {
		t.Fatalf("second prune %+v, %v", res, err)
	}
}

func TestPruneTenantDumpsPerDatabase(t *testing.T) {
	ctx := context.Background()
	s := objectstore.NewMemory("b")
	now := time.Now()
	for _, db := range []string{"a", "b"} {
		for i := 0; i < 3; i++ {
			id := backup.NewID(now.Add(time.Duration(i-3) * time.Hour))
			key := layout.TenantDumpKey(db, id)
			put(t, s, key, []byte("PGDMP"), objectstore.PutOptions{})
			raw, _ := json.Marshal(backup.TenantManifest{Format: 1, Kind: backup.KindTenant, ID: id, Database: db,
				StartTime: now.Add(time.Duration(i-3) * time.Hour), Dump: backup.Part{Key: key, Size: 5}})
			put(t, s, layout.TenantManifestKey(db, id), raw, objectstore.PutOptions{})
		}
	}
	res, err := Prune(ctx, s, layout, PruneOptions{FullCount: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.TenantDeleted) != 2 || len(res.TenantKept) != 4 || !strings.HasPrefix(res.TenantDeleted[0], "a/") || !strings.HasPrefix(res.TenantDeleted[1], "b/") {
		t.Fatalf("tenant prune %+v", res)
	}
	list, _ := ListBackups(ctx, s, layout)
	if len(list) != 4 {
		t.Fatalf("%d dumps listed", len(list))
	}
}

// Two backups started in the same second get ids that differ only by a
// random suffix: the catalog orders them by start time all the same.
func TestBackupsInTheSameSecondAreOrderedByStart(t *testing.T) {
	s := objectstore.NewMemory("b")
	t0 := time.Date(2026, 11, 25, 22, 43, 23, 100e6, time.UTC)
	var ms []*backup.Manifest
	for i := 0; i < 6; i++ {
		ms = append(ms, addBackup(t, s, t0.Add(time.Duration(i)*100*time.Millisecond), uint64(2*i+1), uint64(2*i+1), true))
	}
	addWAL(t, s, 1, 12)
	c, err := Load(context.Background(), s, layout)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range c.Physical {
		if m.ID != ms[i].ID {
			t.Fatalf("Physical[%d] = %s, want %s (started %s)", i, m.ID, ms[i].ID, ms[i].StartTime)
		}
	}
	if w := c.Window(mustWAL(t, s)); w.FromBackup != ms[0].ID {
		t.Fatalf("window from %s, want the oldest backup %s", w.FromBackup, ms[0].ID)
	}
}

func mustWAL(t *testing.T, s objectstore.Store) *WALArchive {
	t.Helper()
	a, err := ListWAL(context.Background(), s, layout, segSize)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestPruneReportsWhatLockStillHolds: an incomplete backup whose parts are
// locked is deleted all the same (delete markers), and reported waiting
// for its lock, with the lock's expiry.
func TestPruneReportsWhatLockStillHolds(t *testing.T) {
	ctx := context.Background()
	mem := objectstore.NewMemory("b")
	now := time.Now()
	until := now.Add(3 * time.Hour).UTC().Truncate(time.Second)
	dead := addBackup(t, mem, now.Add(-5*time.Hour), 1, 1, false)
	put(t, mem, dead.Archives[0].Parts[0].Key, []byte("data"), objectstore.PutOptions{RetainUntil: until})
	gone := addBackup(t, mem, now.Add(-4*time.Hour), 1, 1, false)
	addBackup(t, mem, now.Add(-time.Hour), 1, 1, true)
	res, err := Prune(ctx, mem, layout, PruneOptions{FullCount: 1, Grace: -1})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(res.Incomplete) != fmt.Sprint([]string{dead.ID, gone.ID}) {
		t.Fatalf("deleted incomplete %v, want %s and %s", res.Incomplete, dead.ID, gone.ID)
	}
	if len(res.Waiting) != 1 || res.Waiting[0].Name != dead.ID || !res.Waiting[0].Incomplete || !res.Waiting[0].Until.Equal(until) {
		t.Fatalf("waiting %+v, want %s until %s", res.Waiting, dead.ID, until)
	}
	c, err := Load(ctx, mem, layout)
	if err != nil || len(c.Incomplete) != 0 {
		t.Fatalf("incomplete backups after prune: %+v, %v", c, err)
	}
}

// getCounter counts the objects read, by key.
type getCounter struct {
	objectstore.Store
	gets map[string]int
}

func (g *getCounter) Get(ctx context.Context, key string) (io.ReadCloser, objectstore.ObjectInfo, error) {
	g.gets[key]++
	return g.Store.Get(ctx, key)
}

// TestLoadPhysicalReadsNoTenantManifest: what shows only physical backups
// and the window (a policy's refresh) reads no tenant dump's manifest,
// however many tenants there are.
func TestLoadPhysicalReadsNoTenantManifest(t *testing.T) {
	ctx := context.Background()
	mem := objectstore.NewMemory("b")
	now := time.Now()
	b := addBackup(t, mem, now.Add(-time.Hour), 2, 2, true)
	addWAL(t, mem, 2, 3)
	for i := 0; i < 50; i++ {
		m := &backup.TenantManifest{Format: 1, Kind: backup.KindTenant, ID: backup.NewID(now), Database: fmt.Sprintf("t%02d", i), StartTime: now}
		raw, _ := json.Marshal(m)
		put(t, mem, layout.TenantManifestKey(m.Database, m.ID), raw, objectstore.PutOptions{})
	}
	g := &getCounter{Store: mem, gets: map[string]int{}}
	c, err := LoadPhysical(ctx, g, layout)
	if err != nil || len(c.Physical) != 1 || c.Physical[0].ID != b.ID || len(c.Tenant) != 0 {
		t.Fatalf("LoadPhysical: %+v, %v", c, err)
	}
	if _, err := RestorableWindow(ctx, g, layout); err != nil {
		t.Fatal(err)
	}
	for key := range g.gets {
		if strings.Contains(key, "/tenants/") {
			t.Fatalf("read tenant manifest %s (reads: %v)", key, g.gets)
		}
	}
	full, err := Load(ctx, mem, layout)
	if err != nil || len(full.Tenant) != 50 || len(full.Physical) != 1 {
		t.Fatalf("Load: %d dumps, %d backups, %v", len(full.Tenant), len(full.Physical), err)
	}
}
