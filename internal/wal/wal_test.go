package wal

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

const (
	sysA = uint64(7312345678901234567)
	sysB = uint64(7312345678901234999)
	seg1 = "000000010000000000000001"
)

func testConfig(compression string) Config {
	return Config{Layout: repo.Layout{Prefix: "pfx", Cluster: "main"}, Compression: compression, SystemIdentifier: sysA}
}

// walFile writes a file that looks like WAL: mostly compressible, partly
// random, seeded so two seeds give different content of the same size.
func walFile(t testing.TB, dir, name string, size int, seed int64) (string, []byte) {
	t.Helper()
	data := make([]byte, size)
	rnd := rand.New(rand.NewSource(seed))
	for i := 0; i < size; i += 8192 {
		rnd.Read(data[i : i+min(512, size-i)])
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, data
}

func versions(t *testing.T, store objectstore.Store, prefix string) []objectstore.ObjectInfo {
	t.Helper()
	var out []objectstore.ObjectInfo
	if err := store.ListVersions(context.Background(), prefix, func(i objectstore.ObjectInfo) error {
		out = append(out, i)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func fetchBytes(t *testing.T, store objectstore.Store, cfg Config, name string) ([]byte, error) {
	t.Helper()
	dest := filepath.Join(t.TempDir(), "RECOVERYXLOG")
	if _, err := Fetch(context.Background(), store, cfg, name, dest); err != nil {
		if _, serr := os.Stat(dest); serr == nil {
			t.Errorf("failed fetch left %s behind", dest)
		}
		return nil, err
	}
	return os.ReadFile(dest)
}

func TestPushFetchRoundTripEveryCompression(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct{ compression, ext string }{{"", "zst"}, {"zstd", "zst"}, {"lz4", "lz4"}, {"none", "raw"}} {
		t.Run(c.compression, func(t *testing.T) {
			store := objectstore.NewMemory("b")
			cfg := testConfig(c.compression)
			path, data := walFile(t, t.TempDir(), seg1, 16<<20, 1)
			res, err := Push(ctx, store, cfg, path)
			if err != nil {
				t.Fatal(err)
			}
			wantKey := "pfx/main/wal/00000001/" + seg1 + "." + c.ext
			if res.Key != wantKey || res.AlreadyArchived || res.Size != 16<<20 {
				t.Fatalf("push result %+v, want key %s", res, wantKey)
			}
			info, err := store.Head(ctx, wantKey)
			if err != nil {
				t.Fatal(err)
			}
			if info.Metadata[MetaSHA256] != res.SHA256 || info.Metadata[MetaSize] != "16777216" || info.Metadata[MetaSystemID] != "7312345678901234567" {
				t.Fatalf("metadata %v", info.Metadata)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if w, err := time.Parse(time.RFC3339Nano, info.Metadata[MetaWritten]); err != nil || !w.Equal(fi.ModTime()) {
				t.Fatalf("written %q (%v), want the file's mtime %s", info.Metadata[MetaWritten], err, fi.ModTime())
			}
			if c.ext != "raw" && info.Size >= int64(len(data)) {
				t.Errorf("stored %d bytes for %d: not compressed", info.Size, len(data))
			}
			if res.StoredSize != info.Size {
				t.Errorf("StoredSize %d, object is %d bytes", res.StoredSize, info.Size)
			}
			// Read back under a different default: the extension decides.
			other := testConfig("lz4")
			if c.ext == "lz4" {
				other = testConfig("zstd")
			}
			got, err := fetchBytes(t, store, other, seg1)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Fatal("fetched bytes differ from pushed bytes")
			}
		})
	}
}

func TestRepushIdenticalSucceedsWithoutWriting(t *testing.T) {
	ctx := context.Background()
	store := objectstore.NewMemory("b")
	path, _ := walFile(t, t.TempDir(), seg1, 1<<20, 1)
	first, err := Push(ctx, store, testConfig("zstd"), path)
	if err != nil {
		t.Fatal(err)
	}
	// PostgreSQL re-archives after a crash; the default may have changed
	// meanwhile: identical bytes are accepted under any codec.
	for _, c := range []string{"zstd", "lz4", "none"} {
		res, err := Push(ctx, store, testConfig(c), path)
		if err != nil {
			t.Fatalf("re-push with %s: %v", c, err)
		}
		if !res.AlreadyArchived || res.Key != first.Key {
			t.Fatalf("re-push with %s: %+v", c, res)
		}
	}
	if v := versions(t, store, "pfx/main/wal/"); len(v) != 1 {
		t.Fatalf("re-push wrote: %d object versions, want 1", len(v))
	}
}

func TestPushDifferentContentRefusedAndOriginalIntact(t *testing.T) {
	ctx := context.Background()
	store := objectstore.NewMemory("b")
	path, original := walFile(t, t.TempDir(), seg1, 1<<20, 1)
	if _, err := Push(ctx, store, testConfig("zstd"), path); err != nil {
		t.Fatal(err)
	}
	otherPath, _ := walFile(t, t.TempDir(), seg1, 1<<20, 2)
	// Also under another codec: a new default must not open a side door.
	for _, c := range []string{"zstd", "lz4", "none"} {
		_, err := Push(ctx, store, testConfig(c), otherPath)
		var ce *ConflictError
		if !errors.Is(err, ErrConflict) || !errors.As(err, &ce) {
			t.Fatalf("%s: push of different content: err = %v, want ErrConflict", c, err)
		}
		if ce.Archived == ce.Pushed || ce.Archived == "" {
			t.Fatalf("conflict error %+v", ce)
		}
	}
	if v := versions(t, store, "pfx/main/wal/"); len(v) != 1 {
		t.Fatalf("refused push wrote: %d versions", len(v))
	}
	got, err := fetchBytes(t, store, testConfig("zstd"), seg1)
	if err != nil || !bytes.Equal(got, original) {
		t.Fatalf("original not intact: %v", err)
	}
}

func TestHistoryFileNeverOverwritten(t *testing.T) {
	ctx := context.Background()
	store := objectstore.NewMemory("b")
	dir := t.TempDir()
	hist := filepath.Join(dir, "00000002.history")
	if err := os.WriteFile(hist, []byte("1\t0/3000000\tno recovery target specified\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := Push(ctx, store, testConfig(""), hist)
	if err != nil {
		t.Fatal(err)
	}
	if res.Key != "pfx/main/wal/00000002/00000002.history.zst" {
		t.Fatalf("key %s", res.Key)
	}
	// A second promotion picking timeline 2 again (split brain) must not
	// replace the history the archive already has.
	if err := os.WriteFile(hist, []byte("1\t0/5000000\tbefore 2024-01-01\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Push(ctx, store, testConfig(""), hist); !errors.Is(err, ErrConflict) {
		t.Fatalf("overwrite of .history: err = %v, want ErrConflict", err)
	}
	got, err := fetchBytes(t, store, testConfig(""), "00000002.history")
	if err != nil || !strings.Contains(string(got), "0/3000000") {
		t.Fatalf("history after refused overwrite: %q, %v", got, err)
	}
}

func TestConcurrentPushersWriteOnce(t *testing.T) {
	ctx := context.Background()
	store := objectstore.NewMemory("b")
	same, _ := walFile(t, t.TempDir(), seg1, 1<<20, 1)
	different, _ := walFile(t, t.TempDir(), seg1, 1<<20, 2)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := same
			if i%2 == 1 {
				p = different
			}
			_, errs[i] = Push(ctx, store, testConfig(""), p)
		}()
	}
	wg.Wait()
	if v := versions(t, store, "pfx/main/wal/"); len(v) != 1 {
		t.Fatalf("%d versions written by concurrent pushers, want 1", len(v))
	}
	ok, conflicts := pushOutcomes(t, errs)
	if ok != 4 || conflicts != 4 {
		t.Fatalf("%d succeeded, %d conflicts; want 4 and 4 (one content wins, all its pushers succeed)", ok, conflicts)
	}
}

// pushOutcomes counts concurrent pushes' results: those that succeeded and
// those refused with ErrConflict; any other error fails the test.
func pushOutcomes(t *testing.T, errs []error) (ok, conflicts int) {
	t.Helper()
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrConflict):
			conflicts++
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	return ok, conflicts
}

func TestForeignClusterRefused(t *testing.T) {
	ctx := context.Background()
	store := objectstore.NewMemory("b")
	path, _ := walFile(t, t.TempDir(), seg1, 1<<20, 1)
	if _, err := Push(ctx, store, testConfig(""), path); err != nil {
		t.Fatal(err)
	}
	foreign := testConfig("")
	foreign.SystemIdentifier = sysB
	next, _ := walFile(t, t.TempDir(), "000000010000000000000002", 1<<20, 3)
	_, err := Push(ctx, store, foreign, next)
	var fe *repo.ForeignClusterError
	if !errors.Is(err, repo.ErrForeignCluster) || !errors.As(err, &fe) || fe.Repository != sysA || fe.Local != sysB {
		t.Fatalf("push from another cluster: err = %v, want ForeignClusterError", err)
	}
	if v := versions(t, store, "pfx/main/wal/"); len(v) != 1 {
		t.Fatalf("foreign push wrote: %d versions", len(v))
	}
	foreign.SystemIdentifier = 0
	if _, err := Push(ctx, store, foreign, next); err == nil {
		t.Fatal("push without a system identifier succeeded")
	}
}

func TestFetchMissingIsSegmentNotFound(t *testing.T) {
	ctx := context.Background()
	store := objectstore.NewMemory("b")
	dir := t.TempDir()
	// A .partial of the segment is archived: its key starts with the
	// segment's name, and must not be mistaken for it.
	partial, _ := walFile(t, dir, seg1+".partial", 1<<20, 1)
	if _, err := Push(ctx, store, testConfig(""), partial); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{seg1, "000000010000000000000009", "00000005.history"} {
		if _, err := fetchBytes(t, store, testConfig(""), name); !errors.Is(err, ErrSegmentNotFound) {
			t.Fatalf("fetch %s: err = %v, want ErrSegmentNotFound", name, err)
		}
	}
	if _, err := Fetch(ctx, store, testConfig(""), "../../etc/passwd", filepath.Join(dir, "x")); err == nil || errors.Is(err, ErrSegmentNotFound) {
		t.Fatalf("fetch of a non-WAL name: err = %v, want a name error", err)
	}
}

func TestFetchCorruptObjectFailsChecksum(t *testing.T) {
	ctx := context.Background()
	for _, c := range []string{"zstd", "lz4", "none"} {
		t.Run(c, func(t *testing.T) {
			store := objectstore.NewMemory("b")
			path, _ := walFile(t, t.TempDir(), seg1, 1<<20, 1)
			res, err := Push(ctx, store, testConfig(c), path)
			if err != nil {
				t.Fatal(err)
			}
			r, info, err := store.Get(ctx, res.Key)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(r)
			r.Close()
			// Bit rot in three places. (A single flipped bit may be
			// harmless: a few bits of a compressed stream carry nothing,
			// e.g. in its entropy tables, and then the content still
			// decodes intact and rightly passes.)
			for _, at := range []int{len(body) / 4, len(body) / 2, len(body) * 3 / 4} {
				body[at] ^= 0x40
			}
			if _, err := store.Put(ctx, res.Key, bytes.NewReader(body), objectstore.PutOptions{Size: int64(len(body)), Metadata: info.Metadata}); err != nil {
				t.Fatal(err)
			}
			_, err = fetchBytes(t, store, testConfig(c), seg1)
			var ce *ChecksumError
			if !errors.Is(err, ErrChecksum) || !errors.As(err, &ce) {
				t.Fatalf("fetch of a corrupt object: err = %v, want ErrChecksum", err)
			}
		})
	}
}

func TestPushRejectsNonWALNames(t *testing.T) {
	store := objectstore.NewMemory("b")
	path, _ := walFile(t, t.TempDir(), "postgresql.conf", 100, 1)
	if _, err := Push(context.Background(), store, testConfig(""), path); err == nil {
		t.Fatal("pushed a file that is not WAL")
	}
}

func TestTimeline(t *testing.T) {
	for name, want := range map[string]string{
		seg1:                               "00000001",
		"0000000A00000003000000FF":         "0000000A",
		"0000000200000000000000AB.partial": "00000002",
		"00000003.history":                 "00000003",
		"000000010000000000000002.00000028.backup": "00000001",
	} {
		if got, err := Timeline(name); err != nil || got != want {
			t.Errorf("Timeline(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
	for _, bad := range []string{"", "RECOVERYXLOG", "00000001000000000000001", "0000000100000000000000zz", "00000001.history.zst"} {
		if _, err := Timeline(bad); err == nil {
			t.Errorf("Timeline(%q) accepted", bad)
		}
	}
}

func TestSystemIdentifierFromPGControl(t *testing.T) {
	pgdata := t.TempDir()
	if _, err := SystemIdentifier(pgdata); err == nil {
		t.Fatal("no pg_control: no error")
	}
	if err := os.MkdirAll(filepath.Join(pgdata, "global"), 0o700); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 8192)
	binary.LittleEndian.PutUint64(b, sysA)
	if err := os.WriteFile(filepath.Join(pgdata, "global", "pg_control"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := SystemIdentifier(pgdata); err != nil || got != sysA {
		t.Fatalf("SystemIdentifier = %d, %v; want %d", got, err, sysA)
	}
}
