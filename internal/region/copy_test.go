package region

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// recorder is a destination that records the order of puts and can fail
// the puts of chosen keys.
type recorder struct {
	objectstore.Store
	mu     sync.Mutex
	puts   []string
	failOn func(key string) bool
}

func (r *recorder) Put(ctx context.Context, key string, body io.Reader, opts objectstore.PutOptions) (objectstore.ObjectInfo, error) {
	r.mu.Lock()
	fail := r.failOn != nil && r.failOn(key)
	r.mu.Unlock()
	if fail {
		return objectstore.ObjectInfo{}, fmt.Errorf("put %s: %w", key, objectstore.ErrUnreachable)
	}
	info, err := r.Store.Put(ctx, key, body, opts)
	if err == nil {
		r.mu.Lock()
		r.puts = append(r.puts, key)
		r.mu.Unlock()
	}
	return info, err
}

func (r *recorder) order() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for i, k := range r.puts {
		out[k] = i
	}
	return out
}

func (r *recorder) reset() {
	r.mu.Lock()
	r.puts = nil
	r.mu.Unlock()
}

func put(t *testing.T, s objectstore.Store, key string, body []byte) string {
	t.Helper()
	if _, err := s.Put(context.Background(), key, bytes.NewReader(body), objectstore.PutOptions{Size: int64(len(body))}); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// fixture is a small repository: two timelines of WAL with a history file,
// a base backup with its manifest, a tenant dump with its, configuration
// and operational objects.
type fixture struct {
	l            repo.Layout
	src          *objectstore.Memory
	dst          *recorder
	parts        []string
	manifest     string
	tenantDump   string
	tenantMan    string
	history      string
	segments     []string
	leases, jobs string
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{l: repo.Layout{Prefix: "pg", Cluster: "main"}, src: objectstore.NewMemory("primary"),
		dst: &recorder{Store: objectstore.NewMemory("dr")}}
	l := f.l
	for i := 1; i <= 3; i++ {
		k := l.WALKey("00000001", fmt.Sprintf("0000000100000000000000%02X", i), "zst")
		put(t, f.src, k, []byte(strings.Repeat("w", 100+i)))
		f.segments = append(f.segments, k)
	}
	k := l.WALKey("00000002", "000000020000000000000004", "zst")
	put(t, f.src, k, []byte("segment on timeline 2"))
	f.segments = append(f.segments, k)
	f.history = l.WALKey("00000002", "00000002.history", "zst")
	put(t, f.src, f.history, []byte("1\t0/3000000\tbefore the switch\n"))

	id := "20261130T070000Z-ab12"
	var parts []part
	for i := 0; i < 3; i++ {
		key := l.BackupArchiveDir(id, "base.tar.zst") + fmt.Sprintf("%06d", i)
		parts = append(parts, part{Key: key, SHA256: put(t, f.src, key, []byte(strings.Repeat("p", 1000+i)))})
		f.parts = append(f.parts, key)
	}
	pgm := l.BackupObjectKey(id, repo.BackupPGManifest)
	pgmPart := part{Key: pgm, SHA256: put(t, f.src, pgm, []byte(`{"PostgreSQL-Backup-Manifest-Version": 1}`))}
	f.parts = append(f.parts, pgm)
	m := map[string]any{"id": id, "wal_start": "000000010000000000000002", "wal_stop": "000000010000000000000003",
		"archives": []any{map[string]any{"name": "base.tar.zst", "parts": parts}}, "backup_manifest": pgmPart}
	b, _ := json.Marshal(m)
	f.manifest = l.BackupManifestKey(id)
	put(t, f.src, f.manifest, b)

	f.tenantDump = l.TenantDumpKey("shop", id)
	sum := put(t, f.src, f.tenantDump, []byte("PGDMP tenant"))
	tm, _ := json.Marshal(map[string]any{"database": "shop", "dump": map[string]any{"key": f.tenantDump, "sha256": sum}})
	f.tenantMan = l.TenantManifestKey("shop", id)
	put(t, f.src, f.tenantMan, tm)

	put(t, f.src, l.PolicyKey(), []byte(`{"cluster":"main"}`))
	put(t, f.src, l.ClusterInfoKey(), []byte(`{"system_identifier":"1"}`))
	f.leases = l.LeaseKey("backup", 1)
	put(t, f.src, f.leases, []byte(`{}`))
	f.jobs = l.JobRecordKey("backup")
	put(t, f.src, f.jobs, []byte(`{}`))
	return f
}

func (f *fixture) opts() Options {
	return Options{Name: "eu2", Layout: f.l, Source: f.src, Dest: f.dst, Workers: 4}
}

func sameBytes(t *testing.T, a, b objectstore.Store, key string) {
	t.Helper()
	da, err := digest(context.Background(), a, key)
	if err != nil {
		t.Fatalf("source %s: %v", key, err)
	}
	db, err := digest(context.Background(), b, key)
	if err != nil {
		t.Fatalf("destination %s: %v", key, err)
	}
	if da != db {
		t.Fatalf("%s differs", key)
	}
}

// A pass copies every object of the cluster but the agents' leases and
// run records, byte-identical, manifests and the timeline history after
// what they name; a second pass copies nothing again.
func TestCopyOrderAndIdempotence(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	st, err := Copy(ctx, f.opts())
	if err != nil {
		t.Fatal(err)
	}
	if st.PendingObjects != 0 || st.Copied != 14 {
		t.Fatalf("status %+v: want 14 copied, none pending", st)
	}
	order := f.dst.order()
	for _, k := range append(append([]string{}, f.parts...), f.segments...) {
		sameBytes(t, f.src, f.dst, k)
	}
	for _, p := range f.parts {
		if order[p] >= order[f.manifest] {
			t.Fatalf("manifest written before its part %s: %v", p, f.dst.puts)
		}
	}
	if order[f.tenantDump] >= order[f.tenantMan] {
		t.Fatal("tenant manifest written before its dump")
	}
	for _, s := range f.segments {
		if strings.Contains(s, "/00000001/") && order[s] >= order[f.history] {
			t.Fatalf("history written before segment %s of the parent timeline", s)
		}
	}
	for _, k := range []string{f.leases, f.jobs} {
		if _, err := f.dst.Head(ctx, k); !errors.Is(err, objectstore.ErrNotFound) {
			t.Fatalf("%s copied: %v", k, err)
		}
	}
	// Metadata travels with the object (signatures, WAL checksums).
	info, err := f.dst.Head(ctx, f.manifest)
	if err != nil || info.Metadata[MetaSourceETag] == "" {
		t.Fatalf("manifest at the destination: %+v, %v", info, err)
	}

	f.dst.reset()
	st, err = Copy(ctx, f.opts())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range f.dst.puts {
		if !strings.HasPrefix(k, f.l.RegionDir("eu2")) {
			t.Fatalf("second pass wrote %s again", k)
		}
	}
	if st.Copied != 0 || st.PendingObjects != 0 {
		t.Fatalf("second pass %+v", st)
	}
}

// A manifest whose part cannot be copied stays behind (pending, not at the
// destination), and follows on the pass after the part arrives.
func TestManifestWaitsForItsParts(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	down := true
	f.dst.failOn = func(k string) bool { return down && k == f.parts[1] }
	st, err := Copy(ctx, f.opts())
	var ce *CopyError
	if !errors.As(err, &ce) || !errors.Is(err, objectstore.ErrUnreachable) {
		t.Fatalf("want a CopyError wrapping ErrUnreachable, got %v", err)
	}
	if _, err := f.dst.Head(ctx, f.manifest); !errors.Is(err, objectstore.ErrNotFound) {
		t.Fatalf("manifest at the destination before its part: %v", err)
	}
	if st.PendingObjects != 2 || st.OldestPending.IsZero() || st.Failures != 1 {
		t.Fatalf("status %+v: want the part and the manifest pending", st)
	}
	// The tenant dump's manifest did not wait for the backup.
	if _, err := f.dst.Head(ctx, f.tenantMan); err != nil {
		t.Fatal(err)
	}
	down = false
	f.dst.reset()
	st, err = Copy(ctx, f.opts())
	if err != nil {
		t.Fatal(err)
	}
	if st.Copied != 2 || st.PendingObjects != 0 {
		t.Fatalf("catch-up pass %+v", st)
	}
	order := f.dst.order()
	if order[f.parts[1]] >= order[f.manifest] {
		t.Fatal("manifest before its part on the catch-up pass")
	}
}

// The history file waits for every segment of the timelines before it.
func TestHistoryWaitsForParentTimeline(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.dst.failOn = func(k string) bool { return k == f.segments[0] }
	if _, err := Copy(ctx, f.opts()); err == nil {
		t.Fatal("no error with a segment failing")
	}
	if _, err := f.dst.Head(ctx, f.history); !errors.Is(err, objectstore.ErrNotFound) {
		t.Fatalf("history copied before its parent timeline: %v", err)
	}
	// The backup needs segments 2 and 3 only: it went.
	if _, err := f.dst.Head(ctx, f.manifest); err != nil {
		t.Fatal(err)
	}
}

// A pass killed after writing objects but before its index segment: the
// next pass finds them by their source ETag, verifies them and does not
// write them again.
func TestResumeVerifiesWithoutRewriting(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	if _, err := Copy(ctx, f.opts()); err != nil {
		t.Fatal(err)
	}
	// Forget the index: as if no segment had been written.
	fresh := &recorder{Store: objectstore.NewMemory("dr")}
	err := f.dst.List(ctx, "", func(o objectstore.ObjectInfo) error {
		if strings.HasPrefix(o.Key, f.l.RegionsDir()) {
			return nil
		}
		rc, info, err := f.dst.Get(ctx, o.Key)
		if err != nil {
			return err
		}
		defer rc.Close()
		_, err = fresh.Store.Put(ctx, o.Key, rc, objectstore.PutOptions{Size: info.Size, Metadata: info.Metadata})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	o := f.opts()
	o.Dest = fresh
	st, err := Copy(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range fresh.puts {
		if !strings.HasPrefix(k, f.l.RegionDir("eu2")) {
			t.Fatalf("resumed pass wrote %s again", k)
		}
	}
	if st.Copied != 14 {
		t.Fatalf("resumed pass verified %d objects, want 14", st.Copied)
	}
}

// Verify finds a destination object changed behind the copy's back; the
// next pass copies it again; a changed source object is copied again.
func TestVerifyFindsCorruptionAndCopyRepairs(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	if _, err := Copy(ctx, f.opts()); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(ctx, f.opts())
	if err != nil || len(rep.Problems) != 0 || rep.Checked != 14 {
		t.Fatalf("clean verify: %+v, %v", rep, err)
	}
	put(t, f.dst.Store, f.parts[0], []byte("bit rot"))
	rep, err = Verify(ctx, f.opts())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 1 || rep.Problems[0].Key != f.parts[0] || !errors.Is(rep.Problems[0].Err, ErrMismatch) {
		t.Fatalf("verify after corruption: %+v", rep)
	}
	put(t, f.src, f.l.PolicyKey(), []byte(`{"cluster":"main","changed":true}`))
	st, err := Copy(ctx, f.opts())
	if err != nil {
		t.Fatal(err)
	}
	if st.Copied != 2 {
		t.Fatalf("repair pass copied %d, want the corrupted part and the changed policy", st.Copied)
	}
	sameBytes(t, f.src, f.dst, f.parts[0])
	sameBytes(t, f.src, f.dst, f.l.PolicyKey())
	if rep, err := Verify(ctx, f.opts()); err != nil || len(rep.Problems) != 0 {
		t.Fatalf("verify after repair: %+v, %v", rep, err)
	}
}

// Measure reports what is pending without copying; lag is the age of the
// oldest pending object plus the canary round trip.
func TestMeasure(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	st, err := Measure(ctx, f.opts())
	if err != nil {
		t.Fatal(err)
	}
	if st.PendingObjects != 14 || st.PendingBytes == 0 || st.OldestPending.IsZero() {
		t.Fatalf("before any copy: %+v", st)
	}
	if _, err := Copy(ctx, f.opts()); err != nil {
		t.Fatal(err)
	}
	st, err = Measure(ctx, f.opts())
	if err != nil {
		t.Fatal(err)
	}
	if st.PendingObjects != 0 || st.CanaryRTTSeconds <= 0 {
		t.Fatalf("after a copy: %+v", st)
	}
	if lag := st.Lag(st.ListedAt); lag.Seconds() != st.CanaryRTTSeconds {
		t.Fatalf("lag with nothing pending %s, want the canary's %.6fs", lag, st.CanaryRTTSeconds)
	}
}

// The index compacts into a full segment, and reads back the same.
func TestIndexCompaction(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	idx := &Index{Entries: map[string]Entry{}}
	for i := 0; i < compactEvery+3; i++ {
		e := map[string]Entry{fmt.Sprintf("k%03d", i): {ETag: "e", Size: int64(i)}}
		var inv []string
		if i == compactEvery+1 {
			inv = []string{"k000"}
		}
		if err := idx.append(ctx, f.dst, f.l, "eu2", e, inv, nil, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ReadIndex(ctx, f.dst, f.l, "eu2")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Entries) != compactEvery+2 || got.Entries["k005"].Size != 5 {
		t.Fatalf("index of %d entries, want %d", len(got.Entries), compactEvery+2)
	}
	if _, ok := got.Entries["k000"]; ok {
		t.Fatal("invalidated entry still in the index")
	}
}

// uncheckedStore is a destination without S3 additional checksums: it
// takes a put checked on arrival without checking anything, answers no
// checksum, and (corrupt) stores other bytes than it received for WAL.
type uncheckedStore struct {
	objectstore.Store
	corrupt        bool
	refuse         bool
	checked, plain int
	mu             sync.Mutex
}

func (u *uncheckedStore) Put(ctx context.Context, key string, body io.Reader, opts objectstore.PutOptions) (objectstore.ObjectInfo, error) {
	data, err := io.ReadAll(body)
	if err != nil {
		return objectstore.ObjectInfo{}, err
	}
	sum := sha256.Sum256(data)
	u.mu.Lock()
	checked := opts.VerifyCRC32C || opts.VerifySHA256
	if checked {
		u.checked++
	} else {
		u.plain++
	}
	corrupt, refuse := u.corrupt, u.refuse
	u.mu.Unlock()
	if refuse && checked {
		// As a store that knows no aws-chunked encoding.
		return objectstore.ObjectInfo{}, fmt.Errorf("put %s: api error NotImplemented: a header you provided implies functionality that is not implemented", key)
	}
	if corrupt && strings.Contains(key, "/wal/") && len(data) > 0 {
		data = append([]byte{}, data...)
		data[0] ^= 0xff
	}
	info, err := u.Store.Put(ctx, key, bytes.NewReader(data), objectstore.PutOptions{Size: opts.Size, Metadata: opts.Metadata, IfAbsent: opts.IfAbsent})
	if checked {
		// What the sender hashed (or gave); no store confirmed it.
		info.SHA256 = cmp.Or(opts.SHA256, hex.EncodeToString(sum[:]))
		info.SHA256Checked, info.CRC32CChecked = false, false
	}
	return info, err
}

// A destination that confirms no checksum has what the copy writes read
// back: other bytes stored are found, never recorded as verified (the
// backup whose WAL they are waits), and written again by a later pass;
// the rest of a pass is written plainly, without asking for a check it
// would not make.
func TestUncheckedDestinationIsReadBack(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	u := &uncheckedStore{Store: objectstore.NewMemory("dr"), corrupt: true}
	o := f.opts()
	o.Dest = u
	_, err := Copy(ctx, o)
	var ce *CopyError
	if !errors.As(err, &ce) || !errors.Is(err, ErrMismatch) || ce.Failed != len(f.segments) {
		t.Fatalf("want a mismatch for each of the %d WAL segments, got %v", len(f.segments), err)
	}
	idx, err := ReadIndex(ctx, u, f.l, "eu2")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range append([]string{f.history, f.manifest}, f.segments...) {
		if _, ok := idx.Entries[k]; ok {
			t.Fatalf("%s recorded as verified", k)
		}
	}
	for _, k := range f.parts {
		if _, ok := idx.Entries[k]; !ok {
			t.Fatalf("%s, stored intact, not recorded", k)
		}
	}
	if u.checked != 1 || u.plain == 0 {
		t.Fatalf("%d checked puts and %d plain ones: want one checked, the rest plain", u.checked, u.plain)
	}
	u.corrupt = false
	st, err := Copy(ctx, o)
	if err != nil || st.PendingObjects != 0 {
		t.Fatalf("second pass %+v, %v", st, err)
	}
	for _, k := range append([]string{f.history, f.manifest}, f.segments...) {
		sameBytes(t, f.src, u, k)
	}
}

// A destination that refuses puts checked on arrival (no S3 additional
// checksums, no aws-chunked encoding) still gets a verified copy: written
// plainly and read back.
func TestDestinationRefusingChecksumsIsWrittenPlainly(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	u := &uncheckedStore{Store: objectstore.NewMemory("dr"), refuse: true}
	o := f.opts()
	o.Dest = u
	st, err := Copy(ctx, o)
	if err != nil || st.PendingObjects != 0 || st.Copied != 14 {
		t.Fatalf("pass %+v, %v", st, err)
	}
	if u.checked != 1 || u.plain == 0 {
		t.Fatalf("%d checked puts and %d plain ones: want one checked, the rest plain", u.checked, u.plain)
	}
	for _, k := range append(append([]string{f.manifest, f.history}, f.parts...), f.segments...) {
		sameBytes(t, f.src, u, k)
	}
	if rep, err := Verify(ctx, o); err != nil || len(rep.Problems) != 0 {
		t.Fatalf("verify: %+v, %v", rep, err)
	}
}

// A source object whose bytes are not the ones its manifest names (a base
// backup part, a tenant dump) is never recorded as verified, whether the
// destination checks on arrival or is read back, and the manifest naming
// it is not copied; everything else is.
func TestSourceNotItsManifestIsNeverRecorded(t *testing.T) {
	ctx := context.Background()
	for _, refuse := range []bool{false, true} {
		t.Run(fmt.Sprintf("read back=%v", refuse), func(t *testing.T) {
			f := newFixture(t)
			put(t, f.src, f.parts[1], []byte(strings.Repeat("p", 1000)+"x"))
			put(t, f.src, f.tenantDump, []byte("PGDMP tenant, changed"))
			u := &uncheckedStore{Store: objectstore.NewMemory("dr"), refuse: refuse}
			o := f.opts()
			o.Dest = u
			if !refuse {
				o.Dest = f.dst
			}
			_, err := Copy(ctx, o)
			var ce *CopyError
			// Checked on arrival, the destination refuses them (the
			// manifests' digests go ahead); read back, the copy finds
			// the SHA-256 it hashed is not the manifests'.
			if !errors.As(err, &ce) || ce.Failed != 2 || !errors.Is(err, ErrMismatch) || refuse != errors.Is(err, ErrSourceMismatch) {
				t.Fatalf("want the part and the dump refused as not their manifests', got %v", err)
			}
			if !refuse {
				for _, k := range []string{f.parts[1], f.tenantDump} {
					if _, err := o.Dest.Head(ctx, k); !errors.Is(err, objectstore.ErrNotFound) {
						t.Fatalf("%s stored after the destination refused it: %v", k, err)
					}
				}
			}
			idx, err := ReadIndex(ctx, o.Dest, f.l, "eu2")
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{f.parts[1], f.tenantDump, f.manifest, f.tenantMan} {
				if _, ok := idx.Entries[k]; ok {
					t.Fatalf("%s recorded as verified", k)
				}
			}
			for _, k := range []string{f.manifest, f.tenantMan} {
				if _, err := o.Dest.Head(ctx, k); !errors.Is(err, objectstore.ErrNotFound) {
					t.Fatalf("%s copied: %v", k, err)
				}
			}
			for _, k := range append([]string{f.parts[0], f.history}, f.segments...) {
				if _, ok := idx.Entries[k]; !ok {
					t.Fatalf("%s not recorded", k)
				}
			}
		})
	}
}

// TestParallel: every item once, on no more goroutines than asked (at
// least one); a done context hands out nothing more.
func TestParallel(t *testing.T) {
	items := make([]int, 100)
	for i := range items {
		items[i] = i
	}
	for _, workers := range []int{0, 1, 3} {
		var mu sync.Mutex
		seen := map[int]int{}
		var running, most atomic.Int32
		parallel(context.Background(), workers, items, func(i int) {
			n := running.Add(1)
			defer running.Add(-1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			time.Sleep(100 * time.Microsecond)
			mu.Lock()
			seen[i]++
			mu.Unlock()
		})
		if len(seen) != len(items) || int(most.Load()) > max(workers, 1) {
			t.Fatalf("%d workers: %d items seen, %d at once", workers, len(seen), most.Load())
		}
		for i, n := range seen {
			if n != 1 {
				t.Fatalf("%d workers: item %d seen %d times", workers, i, n)
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var calls atomic.Int32
	parallel(ctx, 3, items, func(int) { calls.Add(1) })
	if calls.Load() != 0 {
		t.Fatalf("a done context still handed out %d items", calls.Load())
	}
}
