package wal

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// aheadFixture is a pg_wal directory with ready segments and a MinIO
// bucket to push them ahead into.
type aheadFixture struct {
	store  objectstore.Store
	cfg    Config
	walDir string
	ahead  Ahead
}

func newAheadFixture(t *testing.T, bucketPrefix string) *aheadFixture {
	t.Helper()
	store := testenv.Require(t).MinIO[0].NewStore(t, bucketPrefix, objectstore.BucketSpec{})
	walDir := filepath.Join(t.TempDir(), "pg_wal")
	if err := os.MkdirAll(filepath.Join(walDir, "archive_status"), 0o700); err != nil {
		t.Fatal(err)
	}
	f := &aheadFixture{store: store, cfg: testConfig("zstd"), walDir: walDir, ahead: Ahead{Dir: AheadDir("", walDir, sysA)}}
	if err := f.ahead.Prepare(); err != nil {
		t.Fatal(err)
	}
	return f
}

// ready writes segment name with content seed and marks it ready.
func (f *aheadFixture) ready(t *testing.T, name string, seed int64) string {
	t.Helper()
	p, _ := walFile(t, f.walDir, name, 16<<20, seed)
	if err := os.WriteFile(filepath.Join(f.walDir, "archive_status", name+".ready"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAccPushAheadRecordOnlyForTheSameBytes pushes segments ahead into
// MinIO and checks what archive_command may conclude from the records: the
// same file is found (and the record used up), a file rewritten under the
// same name is not (and its full push is refused, the archived bytes
// staying), and records naming another repository, cluster or checksum
// are never trusted.
func TestAccPushAheadRecordOnlyForTheSameBytes(t *testing.T) {
	f := newAheadFixture(t, "wal-ahead")
	ctx := context.Background()
	const segA, segB, segC = "000000010000000000000011", "000000010000000000000012", "000000010000000000000013"

	pathA := f.ready(t, segA, 1)
	r, err := f.ahead.Push(ctx, f.store, f.cfg, f.walDir, segA, "test")
	if err != nil || r == nil {
		t.Fatalf("Push ahead: %+v, %v", r, err)
	}
	info, err := f.store.Head(ctx, r.Key)
	if err != nil {
		t.Fatalf("the record names %s, which is not stored: %v", r.Key, err)
	}
	if info.Metadata[MetaSHA256] != r.SHA256 || r.Size != 16<<20 || r.ETag == "" {
		t.Fatalf("record %+v does not describe the stored object %+v", r, info.Metadata)
	}
	if fi, err := os.Stat(f.ahead.path(segA, extRecord)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("record file: %v, %v; want mode 0600", fi, err)
	}
	// A second push ahead (another agent, a later pass) does nothing.
	if again, err := f.ahead.Push(ctx, f.store, f.cfg, f.walDir, segA, "test"); again != nil || err != nil {
		t.Fatalf("second push ahead of a recorded segment: %+v, %v", again, err)
	}
	ok, err := f.ahead.Found(ctx, pathA, f.cfg, f.store.Bucket(), time.Second)
	if err != nil || !ok {
		t.Fatalf("Found(%s) = %v, %v; want the record found", segA, ok, err)
	}
	if _, err := os.Stat(f.ahead.path(segA, extHit)); err != nil {
		t.Fatalf("the used record is not counted as a hit: %v", err)
	}

	// The name comes back with other bytes (a crash, another timeline's
	// reuse): the record is not trusted, and the full push is refused.
	pathB := f.ready(t, segB, 2)
	if _, err := f.ahead.Push(ctx, f.store, f.cfg, f.walDir, segB, "test"); err != nil {
		t.Fatal(err)
	}
	walFile(t, f.walDir, segB, 16<<20, 3)
	if ok, err := f.ahead.Found(ctx, pathB, f.cfg, f.store.Bucket(), time.Second); ok || err != nil {
		t.Fatalf("Found(%s rewritten) = %v, %v; want not found", segB, ok, err)
	}
	if _, err := Push(ctx, f.store, f.cfg, pathB); !errors.Is(err, ErrConflict) {
		t.Fatalf("full push of the rewritten %s: %v, want a conflict", segB, err)
	}

	// Records that do not describe this repository, cluster or file are
	// never trusted, even with the file's own checksum.
	pathC := f.ready(t, segC, 4)
	size, sum, err := fileSum(pathC)
	if err != nil {
		t.Fatal(err)
	}
	good := AheadRecord{Name: segC, Size: size, SHA256: sum, SystemIdentifier: "7312345678901234567", Bucket: f.store.Bucket(),
		Key: f.cfg.Layout.WALKey("00000001", segC, "zst")}
	other := repo.Layout{Prefix: "pfx", Cluster: "other"}
	for what, forged := range map[string]func(*AheadRecord){
		"another bucket":     func(r *AheadRecord) { r.Bucket = "elsewhere" },
		"another cluster":    func(r *AheadRecord) { r.Key = other.WALKey("00000001", segC, "zst") },
		"another system":     func(r *AheadRecord) { r.SystemIdentifier = "7312345678901234999" },
		"another segment":    func(r *AheadRecord) { r.Key = f.cfg.Layout.WALKey("00000001", segA, "zst") },
		"another checksum":   func(r *AheadRecord) { r.SHA256 = sum[:63] + "0" },
		"another size":       func(r *AheadRecord) { r.Size-- },
		"no checksum at all": func(r *AheadRecord) { r.SHA256, r.Size = "", size },
	} {
		r := good
		forged(&r)
		if r.SHA256 == good.SHA256 && what == "another checksum" {
			r.SHA256 = sum[:63] + "1"
		}
		if err := f.ahead.write(r); err != nil {
			t.Fatal(err)
		}
		if ok, err := f.ahead.Found(ctx, pathC, f.cfg, f.store.Bucket(), 0); ok || err != nil {
			t.Fatalf("a record with %s was trusted (%v, %v)", what, ok, err)
		}
	}
	// Control: the same record unforged is trusted, so the cases above
	// failed for their forgery. (Records are trusted as written: only the
	// agent and archive_command, as the PostgreSQL account, write there.)
	if err := f.ahead.write(good); err != nil {
		t.Fatal(err)
	}
	if ok, err := f.ahead.Found(ctx, pathC, f.cfg, f.store.Bucket(), 0); !ok || err != nil {
		t.Fatalf("the matching record was not trusted: %v, %v", ok, err)
	}
}

// TestAccPushAheadLockAndKilledPusher checks the lock a push ahead holds:
// a second pusher stands back, archive_command waits for the push (and
// then finds its record), and a lock whose holder is gone, with no record
// (an agent killed mid-upload), makes archive_command push itself.
func TestAccPushAheadLockAndKilledPusher(t *testing.T) {
	f := newAheadFixture(t, "wal-ahead-lock")
	ctx := context.Background()
	const seg = "000000010000000000000021"
	path := f.ready(t, seg, 5)

	held, err := os.OpenFile(f.ahead.path(seg, extLock), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(held.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ahead.Push(ctx, f.store, f.cfg, f.walDir, seg, "second"); !errors.Is(err, ErrAheadBusy) {
		t.Fatalf("push ahead under another's lock: %v, want ErrAheadBusy", err)
	}
	// archive_command waits for the holder; it ends without a record (as
	// a killed agent's would): not found, after the wait.
	start := time.Now()
	go func() {
		time.Sleep(300 * time.Millisecond)
		held.Close() // the holder dies: the kernel drops its lock
	}()
	ok, err := f.ahead.Found(ctx, path, f.cfg, f.store.Bucket(), 10*time.Second)
	if ok || err != nil {
		t.Fatalf("Found with a dead holder and no record = %v, %v", ok, err)
	}
	if waited := time.Since(start); waited < 250*time.Millisecond || waited > 5*time.Second {
		t.Fatalf("archive_command waited %s for the holder; want until it was gone (~300ms)", waited)
	}
	if _, err := Push(ctx, f.store, f.cfg, path); err != nil {
		t.Fatalf("archive_command's own push after the killed pusher: %v", err)
	}

	// A push ahead under way: archive_command waits for it, then finds
	// its record rather than compressing and uploading the same bytes.
	const seg2 = "000000010000000000000022"
	path2 := f.ready(t, seg2, 6)
	pushed := make(chan error, 1)
	go func() {
		_, err := f.ahead.Push(ctx, f.store, f.cfg, f.walDir, seg2, "agent")
		pushed <- err
	}()
	waitedOnLock := false
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if _, err := os.Stat(f.ahead.path(seg2, extRecord)); err == nil {
			break // done before it was seen: Found reads the record
		}
		// A visible lock file is a locked one (see Ahead.lock).
		if _, err := os.Stat(f.ahead.path(seg2, extLock)); err == nil {
			waitedOnLock = true
			break
		}
	}
	ok, err = f.ahead.Found(ctx, path2, f.cfg, f.store.Bucket(), 30*time.Second)
	if perr := <-pushed; perr != nil {
		t.Fatal(perr)
	}
	if !ok || err != nil {
		t.Fatalf("Found during the push ahead (waited on its lock: %v) = %v, %v; want it found once the push ended", waitedOnLock, ok, err)
	}
	t.Logf("archive_command waited on the push ahead's lock: %v", waitedOnLock)
}

// TestAccPushAheadCollect counts archive_command's outcomes and prunes
// what no longer serves once PostgreSQL marked the segments done.
func TestAccPushAheadCollect(t *testing.T) {
	f := newAheadFixture(t, "wal-ahead-collect")
	ctx := context.Background()
	const hit, miss, stale = "000000010000000000000031", "000000010000000000000032", "000000010000000000000033"
	hitPath := f.ready(t, hit, 7)
	f.ready(t, miss, 8)
	f.ready(t, stale, 9)
	for _, s := range []string{hit, stale} {
		if _, err := f.ahead.Push(ctx, f.store, f.cfg, f.walDir, s, "agent"); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := f.ahead.Found(ctx, hitPath, f.cfg, f.store.Bucket(), 0); !ok || err != nil {
		t.Fatalf("Found: %v, %v", ok, err)
	}
	f.ahead.Missed(miss)
	// While PostgreSQL still lists them as ready, nothing is counted or
	// removed: the agent must not push them again meanwhile.
	c, err := f.ahead.Collect(f.walDir, 0)
	if err != nil || c != (AheadCounts{}) {
		t.Fatalf("Collect with the segments still ready = %+v, %v", c, err)
	}
	for _, s := range []string{hit, miss, stale} {
		if !f.ahead.Settled(s) {
			t.Fatalf("%s not settled", s)
		}
		if err := os.Rename(filepath.Join(f.walDir, "archive_status", s+".ready"), filepath.Join(f.walDir, "archive_status", s+".done")); err != nil {
			t.Fatal(err)
		}
	}
	c, err = f.ahead.Collect(f.walDir, 0)
	if err != nil || c != (AheadCounts{Hits: 1, Misses: 1}) {
		t.Fatalf("Collect = %+v, %v; want one hit and one miss", c, err)
	}
	entries, _ := os.ReadDir(f.ahead.Dir)
	for _, e := range entries {
		if e.Name() != activeName {
			t.Errorf("%s left in the push-ahead directory after the segments were done", e.Name())
		}
	}
	// The record format is what the docs describe.
	raw, _ := json.Marshal(AheadRecord{})
	for _, field := range []string{"name", "size", "sha256", "system_identifier", "bucket", "key", "pushed"} {
		if !json.Valid(raw) || !containsKey(raw, field) {
			t.Errorf("record JSON lacks %q: %s", field, raw)
		}
	}
}

func containsKey(raw []byte, key string) bool {
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return false
	}
	_, ok := m[key]
	return ok
}
