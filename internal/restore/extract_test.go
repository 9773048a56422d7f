package restore

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
)

// tarOf builds a tar of the named files (directories first, as BASE_BACKUP
// sends them).
func tarOf(t *testing.T, dirs []string, files map[string][]byte, order []string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range dirs {
		if err := tw.WriteHeader(&tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: 0o700}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range order {
		body := files[name]
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o600, Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// untar lays out every file byte for byte, whatever its size against the
// write chunk, and counts what it wrote.
func TestUntarWritesEveryFileExactly(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := map[string]int{
		"PG_VERSION":         3,
		"global/pg_control":  8192,
		"base/1/empty":       0,
		"base/1/chunk":       writeChunk,
		"base/1/chunk+1":     writeChunk + 1,
		"base/5/16384":       9*writeChunk + 12345,
		"base/5/16384.1":     2*writeChunk - 1,
		"pg_wal/placeholder": 1,
		"base/5/16384_fsm":   24576,
		"base/5/after_a_gap": writeChunk / 2,
	}
	files := map[string][]byte{}
	var order []string
	var total int64
	for name, n := range sizes {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		files[name] = b
		order = append(order, name)
		total += int64(n)
	}
	archive := tarOf(t, []string{"global", "base", "base/1", "base/5", "pg_wal"}, files, order)
	dir := t.TempDir()
	var extracted atomic.Int64
	// A reader handing out odd-sized pieces, as a decompressor does.
	sy := newFileSyncer()
	if err := untar(&oddReader{r: bytes.NewReader(archive), rng: rng}, dir, owner{uid: -1}, &extracted, sy); err != nil {
		t.Fatal(err)
	}
	if err := sy.finish(); err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes laid out, want %d (or content differs)", name, len(got), len(want))
		}
	}
	if extracted.Load() != total {
		t.Errorf("extracted %d bytes, want %d", extracted.Load(), total)
	}
}

// A stream that ends inside a file fails the restore: the end of the
// decompressed stream is not the end of the file.
func TestUntarTruncatedStreamFails(t *testing.T) {
	body := bytes.Repeat([]byte("x"), writeChunk+100)
	archive := tarOf(t, nil, map[string][]byte{"big": body}, []string{"big"})
	cut := archive[:512+writeChunk+50] // header + part of the body
	var extracted atomic.Int64
	sy := newFileSyncer()
	defer sy.finish()
	err := untar(bytes.NewReader(cut), t.TempDir(), owner{uid: -1}, &extracted, sy)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("untar of a truncated stream: %v, want io.ErrUnexpectedEOF", err)
	}
}

// An entry that cannot be created (here: a file the tar names twice) fails
// the restore.
func TestUntarDuplicateEntryFails(t *testing.T) {
	archive := tarOf(t, nil, map[string][]byte{"a": []byte("one")}, []string{"a", "a"})
	var extracted atomic.Int64
	sy := newFileSyncer()
	defer sy.finish()
	err := untar(bytes.NewReader(archive), t.TempDir(), owner{uid: -1}, &extracted, sy)
	if !errors.Is(err, os.ErrExist) {
		t.Fatalf("untar of a duplicate entry: %v, want os.ErrExist", err)
	}
}

type oddReader struct {
	r   io.Reader
	rng *rand.Rand
}

func (o *oddReader) Read(p []byte) (int, error) {
	if n := 1 + o.rng.IntN(100_000); len(p) > n {
		p = p[:n]
	}
	return o.r.Read(p)
}

// storeParts cuts data into parts of partSize under prefix in store and
// returns their manifest entries.
func storeParts(t *testing.T, store objectstore.Store, prefix string, data []byte, partSize int) []backup.Part {
	t.Helper()
	var parts []backup.Part
	for i := 0; len(data) > 0 || i == 0; i++ {
		n := min(partSize, len(data))
		body := data[:n]
		data = data[n:]
		key := fmt.Sprintf("%s%06d", prefix, i)
		if _, err := store.Put(context.Background(), key, bytes.NewReader(body), objectstore.PutOptions{Size: int64(n)}); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(body)
		parts = append(parts, backup.Part{Key: key, Size: int64(n), SHA256: hex.EncodeToString(sum[:])})
	}
	return parts
}

// The part stream hands on every part's bytes in order (parts of several
// chunks, a last short one), each checked on its own goroutine.
func TestPartStreamDeliversPartsInOrder(t *testing.T) {
	data := make([]byte, 3*chunkSize+chunkSize/3)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	store := objectstore.NewMemory("b")
	parts := storeParts(t, store, "a/part", data, 2*chunkSize-7)
	var downloaded atomic.Int64
	ps := newPartStream(context.Background(), store, parts, 3, &downloaded)
	defer ps.Close()
	got, err := io.ReadAll(ps)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("stream of %d bytes differs from the %d stored", len(got), len(data))
	}
	if downloaded.Load() != int64(len(data)) {
		t.Fatalf("downloaded %d, want %d", downloaded.Load(), len(data))
	}
}

// A part whose bytes do not match the manifest's SHA-256 fails the stream
// with ErrChecksum, and the part's last chunk is never handed on.
func TestPartStreamRefusesACorruptPart(t *testing.T) {
	data := bytes.Repeat([]byte("lifeboat"), chunkSize/4) // two chunks
	store := objectstore.NewMemory("b")
	parts := storeParts(t, store, "a/part", data, len(data))
	// The stored object is replaced by one of the same size, one byte off.
	bad := bytes.Clone(data)
	bad[len(bad)-1] ^= 1
	if _, err := store.Put(context.Background(), parts[0].Key, bytes.NewReader(bad), objectstore.PutOptions{Size: int64(len(bad))}); err != nil {
		t.Fatal(err)
	}
	var downloaded atomic.Int64
	ps := newPartStream(context.Background(), store, parts, 2, &downloaded)
	defer ps.Close()
	got, err := io.ReadAll(ps)
	if !errors.Is(err, ErrChecksum) {
		t.Fatalf("reading a corrupt part: %v, want ErrChecksum", err)
	}
	if len(got) >= len(data) {
		t.Fatalf("%d bytes of the corrupt part were handed on, want fewer than its %d", len(got), len(data))
	}
}

// The reader ahead of untar delivers the decoder's bytes in order, whatever
// the sizes read, and its error after them; stopped mid-stream, it stops
// reading the decoder.
func TestAheadReader(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, size := range []int{0, 1, aheadBufSize - 1, aheadBufSize, aheadBufSize + 1, aheadBufCount*aheadBufSize + 12345} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(rng.IntN(256))
		}
		a := newAheadReader(iotest.HalfReader(bytes.NewReader(data)))
		var got bytes.Buffer
		buf := make([]byte, 1+rng.IntN(3*aheadBufSize))
		for {
			n, err := a.Read(buf[:1+rng.IntN(len(buf))])
			got.Write(buf[:n])
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%d bytes: %v", size, err)
			}
		}
		if !bytes.Equal(got.Bytes(), data) {
			t.Fatalf("%d bytes: read %d differing bytes", size, got.Len())
		}
		if n, err := a.Read(buf); n != 0 || err != io.EOF {
			t.Fatalf("%d bytes: read after the end: %d, %v", size, n, err)
		}
		a.stopAndWait()
	}

	broken := errors.New("corrupt frame")
	a := newAheadReader(io.MultiReader(bytes.NewReader(make([]byte, aheadBufSize+7)), iotest.ErrReader(broken)))
	if n, err := io.Copy(io.Discard, a); !errors.Is(err, broken) || n != aheadBufSize+7 {
		t.Fatalf("read %d bytes, %v: want %d bytes then the decoder's error", n, err, aheadBufSize+7)
	}
	a.stopAndWait()

	// Stopped with the reader gone: the goroutine ends, and no longer reads.
	var reads atomic.Int64
	endless := readerFunc(func(p []byte) (int, error) { reads.Add(1); return len(p), nil })
	a = newAheadReader(endless)
	if _, err := io.ReadFull(a, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	a.stopAndWait()
	after := reads.Load()
	time.Sleep(20 * time.Millisecond)
	if reads.Load() != after {
		t.Fatal("the decoder is still read after stopAndWait")
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }
