package wal

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/compression"
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
			body, sum, err := encodeChunks(make([]byte, size), bytes.NewReader(data), m)
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
	if _, _, err := encodeChunks(make([]byte, len(data)), failingReaderAt{data: data, at: 2 * encodeChunk}, m); err == nil {
		t.Fatal("encodeChunks succeeded past a read error")
	}
	if _, _, err := encodeChunks(make([]byte, len(data)), bytes.NewReader(data[:encodeChunk+5]), m); err == nil {
		t.Fatal("encodeChunks succeeded on a file shorter than its size")
	}
}

type staleInfo struct {
	os.FileInfo
	mod time.Time
}

func (s staleInfo) ModTime() time.Time { return s.mod }

// TestEncodeFileRefusesAChangedFile: a file modified between the stat taken
// before archiving and the end of compression is an error, not an object
// whose checksum may describe other bytes.
func TestEncodeFileRefusesAChangedFile(t *testing.T) {
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
	body, sum, err := encodeFile(f, fi, m)
	if err != nil {
		t.Fatal(err)
	}
	if want := sha256.Sum256(data); sum != hex.EncodeToString(want[:]) || len(body) == 0 {
		t.Fatalf("encodeFile of an unchanged file: checksum %s, %d bytes", sum, len(body))
	}
	if _, _, err := encodeFile(f, staleInfo{fi, fi.ModTime().Add(-time.Second)}, m); err == nil || !strings.Contains(err.Error(), "changed") {
		t.Fatalf("encodeFile of a file modified meanwhile: err = %v, want a change error", err)
	}
}
