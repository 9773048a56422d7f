package wal

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/compression"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// TestEncodeChunksRoundTrip: whatever the size (empty, below, at and across
// chunk boundaries), the chunked frames decode with the codec's ordinary
// reader to the original bytes, and the checksum is theirs.
func TestEncodeChunksRoundTrip(t *testing.T) {
	for _, size := range []int{0, 41, encodeChunk - 1, encodeChunk, 2*encodeChunk + 123, 4 * encodeChunk} {
		data := make([]byte, size)
		rnd := rand.New(rand.NewSource(int64(size)))
		for i := 0; i < size; i += 8192 {
			rnd.Read(data[i : i+min(700, size-i)])
		}
		want := sha256.Sum256(data)
		for _, m := range compression.Methods {
			e := startEncoding(make([]byte, size), bytes.NewReader(data), m, 2, nil)
			sum, err := e.checksum()
			if err != nil {
				t.Fatalf("%s, %d bytes: %v", m.Name, size, err)
			}
			body, err := e.all()
			e.close()
			if err != nil {
				t.Fatalf("%s, %d bytes: %v", m.Name, size, err)
			}
			if sum != hex.EncodeToString(want[:]) {
				t.Fatalf("%s, %d bytes: checksum %s, want %x", m.Name, size, sum, want)
			}
			r, err := m.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			r.Close()
			if err != nil {
				t.Fatalf("%s, %d bytes: decoding: %v", m.Name, size, err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("%s, %d bytes: decoded %d bytes that differ from the original", m.Name, size, len(got))
			}
			if m.Name != compression.None && size > encodeChunk && len(body) > size/2 {
				t.Errorf("%s, %d bytes: stored %d bytes, expected real compression", m.Name, size, len(body))
			}
		}
	}
}

type failingReaderAt struct {
	data []byte
	at   int64
}

func (f failingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= f.at {
		return 0, errors.New("disk read error")
	}
	return bytes.NewReader(f.data).ReadAt(p, off)
}

// TestEncodeChunksReadErrors: a read failure, or a file shorter than its size
// said, is an error, never a short object.
func TestEncodeChunksReadErrors(t *testing.T) {
	m, _ := compression.Lookup("")
	data := make([]byte, 3*encodeChunk)
	for _, r := range []io.ReaderAt{failingReaderAt{data: data, at: 2 * encodeChunk}, bytes.NewReader(data[:encodeChunk+5])} {
		e := startEncoding(make([]byte, len(data)), r, m, 2, nil)
		if _, err := e.checksum(); err == nil {
			t.Fatalf("%T: checksum of a file not read to the end", r)
		}
		if _, err := e.all(); err == nil {
			t.Fatalf("%T: frames of a file not read to the end", r)
		}
		e.close()
	}
}

type staleInfo struct {
	os.FileInfo
	mod time.Time
}

func (s staleInfo) ModTime() time.Time { return s.mod }

// TestChangedFileIsRefused: a file modified between the stat taken before
// archiving and the end of compression is an error, never an object whose
// checksum may describe other bytes.
func TestChangedFileIsRefused(t *testing.T) {
	path, data := walFile(t, t.TempDir(), seg1, 2*encodeChunk, 3)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	m, _ := compression.Lookup("")
	for _, stale := range []bool{false, true} {
		before := fi
		if stale {
			before = staleInfo{fi, fi.ModTime().Add(-time.Second)}
		}
		src := openSource(f, before)
		e := startEncoding(src.data, src.r, m, 2, nil)
		sum, err := e.checksum()
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.exact(src.changed)
		e.close()
		src.release()
		if want := sha256.Sum256(data); sum != hex.EncodeToString(want[:]) {
			t.Fatalf("checksum of the mapped file %s, want %x", sum, want)
		}
		if stale != (err != nil) || (stale && !strings.Contains(err.Error(), "changed")) {
			t.Fatalf("file changed: %v; err = %v", stale, err)
		}
	}
}

// doneEncoding is an encoding whose frames are all finished: the frames of
// chunks, as startEncoding would make them.
func doneEncoding(t *testing.T, m compression.Method, chunks ...[]byte) (*encoding, []byte, int64) {
	t.Helper()
	enc, err := m.NewChunkEncoder()
	if err != nil {
		t.Fatal(err)
	}
	e := &encoding{method: m}
	var want []byte
	var total int64
	for _, c := range chunks {
		out, err := enc.Encode(nil, c)
		if err != nil {
			t.Fatal(err)
		}
		f := &frame{done: make(chan struct{}), out: out, raw: len(c)}
		close(f.done)
		e.frames = append(e.frames, f)
		want = append(want, c...)
		total += int64(len(out))
	}
	return e, want, total
}

// TestStreamMeetsTheAnnouncedLengthOrFails: a streamed object is exactly
// the announced length, frames then padding, and decodes to the original;
// when it cannot be (outgrown, padding too short or too long, no padding
// frame, file changed), the stream fails before the announced length, so
// the store keeps nothing.
func TestStreamMeetsTheAnnouncedLengthOrFails(t *testing.T) {
	random := make([]byte, 300000)
	rand.New(rand.NewSource(4)).Read(random)
	chunks := [][]byte{bytes.Repeat([]byte("insert into stock_move "), 40000), random, make([]byte, 100000)}
	ok := func() error { return nil }
	for _, m := range compression.Methods {
		e, want, total := doneEncoding(t, m, chunks...)
		cases := []struct {
			name    string
			length  int64
			changed func() error
			wantErr error
		}{
			{"exact", total, ok, nil},
			{"padded", total + 5000, ok, nil},
			{"outgrown", total - 1, ok, errMispredicted},
			{"padding shorter than a frame", total + compression.PaddingOverhead - 1, ok, errMispredicted},
			{"padding over the bound", total + maxPadding(total) + 1, ok, errMispredicted},
			{"file changed", total, func() error { return errors.New("the file changed") }, nil},
		}
		for _, c := range cases {
			if m.Name == compression.None && c.name == "padded" {
				c.wantErr = errMispredicted // nothing to pad raw bytes with
			}
			var buf bytes.Buffer
			err := e.stream(&buf, c.length, c.changed)
			switch {
			case c.name == "file changed":
				if err == nil || !strings.Contains(err.Error(), "changed") || int64(buf.Len()) >= c.length {
					t.Fatalf("%s, %s: err = %v after %d of %d bytes; want a change error before the end", m.Name, c.name, err, buf.Len(), c.length)
				}
			case c.wantErr != nil:
				if !errors.Is(err, c.wantErr) || int64(buf.Len()) >= c.length {
					t.Fatalf("%s, %s: err = %v after %d of %d bytes; want %v before the end", m.Name, c.name, err, buf.Len(), c.length, c.wantErr)
				}
			default:
				if err != nil || int64(buf.Len()) != c.length {
					t.Fatalf("%s, %s: err = %v, %d bytes; want %d", m.Name, c.name, err, buf.Len(), c.length)
				}
				r, _ := m.NewReader(&buf)
				got, err := io.ReadAll(r)
				r.Close()
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("%s, %s: decoded %d bytes, err %v; want the %d original bytes", m.Name, c.name, len(got), err, len(want))
				}
			}
		}
	}
}

// releasingStore closes a channel on its first Put: the upload has started.
type releasingStore struct {
	objectstore.Store
	release chan struct{}
	walPuts int
}

func (s *releasingStore) Put(ctx context.Context, key string, body io.Reader, opts objectstore.PutOptions) (objectstore.ObjectInfo, error) {
	if strings.Contains(key, "/wal/") {
		if s.walPuts++; s.walPuts == 1 {
			close(s.release)
		}
	}
	return s.Store.Put(ctx, key, body, opts)
}

// TestPushStreamsOrFallsBackToTheExactObject: with the upload started while
// frames are still being compressed, a segment whose chunks compress alike
// is stored padded to its predicted length, and so is a segment PostgreSQL
// switched early (data, then zeros to the end: its zero tail is predicted
// apart, not at the data's ratio); one whose first chunk misleads the
// prediction (zeros, then random bytes) is not stored half-way: the stream
// fails and the exact object is uploaded instead. Either way the archive
// reads back byte for byte.
func TestPushStreamsOrFallsBackToTheExactObject(t *testing.T) {
	ctx := context.Background()
	mixed := make([]byte, 16<<20)
	rand.New(rand.NewSource(5)).Read(mixed[encodeChunk:])
	for _, c := range []struct {
		name     string
		data     func(t *testing.T, dir string) (string, []byte)
		wantPuts int
		padded   bool
	}{
		{"alike", func(t *testing.T, dir string) (string, []byte) { return walFile(t, dir, seg1, 16<<20, 6) }, 1, true},
		{"switched early", func(t *testing.T, dir string) (string, []byte) {
			_, data := walFile(t, dir, seg1, 5<<20+12345, 7)
			data = append(data, make([]byte, 16<<20-len(data))...)
			path := filepath.Join(dir, seg1)
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			return path, data
		}, 1, true},
		{"misleading", func(t *testing.T, dir string) (string, []byte) {
			path := filepath.Join(dir, seg1)
			if err := os.WriteFile(path, mixed, 0o600); err != nil {
				t.Fatal(err)
			}
			return path, mixed
		}, 2, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			holdLaterChunks = make(chan struct{})
			defer func() { holdLaterChunks = nil }()
			store := &releasingStore{Store: objectstore.NewMemory("b"), release: holdLaterChunks}
			path, data := c.data(t, t.TempDir())
			res, err := Push(ctx, store, testConfig(""), path)
			if err != nil {
				t.Fatal(err)
			}
			walPuts := store.walPuts
			info, err := store.Head(ctx, res.Key)
			if err != nil {
				t.Fatal(err)
			}
			m, _ := compression.Lookup("")
			exact, _ := startEncoding(data, nil, m, 2, nil).all()
			if walPuts != c.wantPuts || info.Size != res.StoredSize || (info.Size > int64(len(exact))) != c.padded {
				t.Fatalf("%d WAL puts, stored %d bytes (StoredSize %d) for %d exact; want %d puts, padded %v",
					walPuts, info.Size, res.StoredSize, len(exact), c.wantPuts, c.padded)
			}
			if c.padded && info.Size-int64(len(exact)) > maxPadding(int64(len(exact))) {
				t.Fatalf("padding of %d bytes over the bound", info.Size-int64(len(exact)))
			}
			got, err := fetchBytes(t, store, testConfig(""), seg1)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("fetched %d bytes (err %v), want the %d pushed", len(got), err, len(data))
			}
		})
	}
}

// TestStreamPredictsAtTheWorstRatio: a first chunk that compresses far
// better than the rest (the first records after a checkpoint or a switch)
// does not sink the prediction: with two frames done, the rest is
// predicted at the worse one's ratio, and the stream is the announced
// length, padded within the bound, and decodes to the original.
func TestStreamPredictsAtTheWorstRatio(t *testing.T) {
	_, wal := walFile(t, t.TempDir(), seg1, 3*encodeChunk, 8)
	data := append(bytes.Repeat([]byte("insert into stock_move "), encodeChunk/23+1)[:encodeChunk], wal...)
	holdLaterChunks, holdChunksFrom = make(chan struct{}), 2
	defer func() { holdLaterChunks, holdChunksFrom = nil, 1 }()
	m, _ := compression.Lookup("")
	e := startEncoding(data, nil, m, 2, nil)
	defer e.close()
	for i := range 2 {
		if _, err := e.frame(i); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.checksum(); err != nil {
		t.Fatal(err)
	}
	u, err := e.payload(func() error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	close(holdLaterChunks)
	body, err := io.ReadAll(u.body)
	if ferr := u.finish(); err != nil || ferr != nil {
		t.Fatalf("stream: %v, %v", err, ferr)
	}
	exact, err := e.all()
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(body)) != u.length || u.length < int64(len(exact)) || u.length-int64(len(exact)) > maxPadding(int64(len(exact))) {
		t.Fatalf("streamed %d bytes of %d announced for %d exact", len(body), u.length, len(exact))
	}
	r, _ := m.NewReader(bytes.NewReader(body))
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("decoded %d bytes (err %v), want the %d original", len(got), err, len(data))
	}
}

// TestConfirmBesideTheCompression: a push whose settings await
// confirmation compresses meanwhile (the confirmation below answers only
// once a frame is compressed), stores the segment once it is confirmed,
// and stores nothing when it is not.
func TestConfirmBesideTheCompression(t *testing.T) {
	ctx := context.Background()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	refused := errors.New("settings changed")
	for _, answer := range []error{nil, refused} {
		var once sync.Once
		compressed := make(chan struct{})
		frameEncoded = func(int) { once.Do(func() { close(compressed) }) }
		mem := objectstore.NewMemory("b")
		cfg := testConfig("")
		cfg.Compressors = 2
		frameFirst := false
		cfg.Confirm = func(context.Context) error {
			// Bounded only so that a push that compresses after the
			// confirmation (the defect) fails rather than hangs: a frame
			// may take seconds on a loaded machine under -race.
			select {
			case <-compressed:
				frameFirst = true
			case <-time.After(30 * time.Second):
			}
			return answer
		}
		path, data := walFile(t, t.TempDir(), seg1, 4*encodeChunk, 3)
		_, err := Push(ctx, mem, cfg, path)
		frameEncoded = nil
		if !frameFirst {
			t.Fatal("the confirmation was awaited before any compression")
		}
		stored := versions(t, mem, cfg.Layout.WALTimelineDir("00000001")+seg1)
		if answer != nil {
			if !errors.Is(err, refused) || len(stored) != 0 {
				t.Fatalf("not confirmed: err = %v, %d objects stored; want the refusal, nothing stored", err, len(stored))
			}
			continue
		}
		if err != nil || len(stored) != 1 {
			t.Fatalf("confirmed: err = %v, %d objects stored; want 1", err, len(stored))
		}
		got, err := fetchBytes(t, mem, testConfig(""), seg1)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("fetched %d bytes (err %v), want the %d pushed", len(got), err, len(data))
		}
	}
}

// TestZeroTail: the zero tail starts after the last byte that is not zero.
func TestZeroTail(t *testing.T) {
	for _, c := range []struct {
		data []byte
		want int64
	}{
		{nil, 0},
		{make([]byte, 10000), 0},
		{append([]byte{1}, make([]byte, 9000)...), 1},
		{append(make([]byte, 5000), 1), 5001},
		{append(append(make([]byte, 4096), 7), make([]byte, 3*4096+5)...), 4097},
	} {
		if got := zeroTail(c.data); got != c.want {
			t.Fatalf("zeroTail of %d bytes = %d, want %d", len(c.data), got, c.want)
		}
	}
}

// checkHoldingStore holds the repository's cluster check until a frame has
// been compressed, or until wait has passed, and records which came first.
type checkHoldingStore struct {
	objectstore.Store
	clusterKey string
	compressed chan struct{}
	wait       time.Duration
	// frameFirst is set when the check was released by a compressed frame.
	frameFirst bool
}

func (s *checkHoldingStore) Get(ctx context.Context, key string) (io.ReadCloser, objectstore.ObjectInfo, error) {
	if key == s.clusterKey {
		select {
		case <-s.compressed:
			s.frameFirst = true
		case <-time.After(s.wait):
		}
	}
	return s.Store.Get(ctx, key)
}

// TestCompressionBesideTheChecksOnlyWithSpareProcessors: wal-push runs more
// Go processors than compressors, and then compression starts at once,
// beside the repository checks (the cluster check below completes only
// once a frame is compressed); a process without a spare processor (the
// agent) compresses only after them. Either way a failed check (here a
// foreign cluster) stores nothing.
func TestCompressionBesideTheChecksOnlyWithSpareProcessors(t *testing.T) {
	ctx := context.Background()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	for _, c := range []struct {
		name        string
		compressors int
		frameFirst  bool
	}{
		{"spare processors", 2, true},
		{"one processor per compressor", 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			mem := objectstore.NewMemory("b")
			first, _ := walFile(t, t.TempDir(), "000000010000000000000009", 1<<10, 1)
			if _, err := Push(ctx, mem, testConfig(""), first); err != nil {
				t.Fatal(err)
			}
			var once sync.Once
			compressed := make(chan struct{})
			frameEncoded = func(int) { once.Do(func() { close(compressed) }) }
			defer func() { frameEncoded = nil }()
			cfg := testConfig("")
			// A frame is awaited 30 s at most (seconds on a loaded
			// machine under -race; the bound only keeps the defect from
			// hanging), and 300 ms where none may come first.
			store := &checkHoldingStore{Store: mem, clusterKey: cfg.Layout.ClusterInfoKey(), compressed: compressed, wait: 30 * time.Second}
			if !c.frameFirst {
				store.wait = 300 * time.Millisecond
			}
			cfg.SystemIdentifier, cfg.Compressors = sysB, c.compressors
			path, _ := walFile(t, t.TempDir(), seg1, 4*encodeChunk, 2)
			_, err := Push(ctx, store, cfg, path)
			if !errors.Is(err, repo.ErrForeignCluster) {
				t.Fatalf("push into another cluster's repository: err = %v, want ErrForeignCluster", err)
			}
			if store.frameFirst != c.frameFirst {
				t.Fatalf("a frame was compressed before the cluster check completed: %v, want %v", store.frameFirst, c.frameFirst)
			}
			if v := versions(t, mem, cfg.Layout.WALTimelineDir("00000001")+seg1); len(v) != 0 {
				t.Fatalf("a push refused by its checks stored %d objects", len(v))
			}
		})
	}
}
