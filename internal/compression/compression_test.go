package compression

import (
	"bytes"
	"io"
	"math/rand"
	"os/exec"
	"testing"
)

func TestRoundTripEveryMethod(t *testing.T) {
	data := make([]byte, 3<<20)
	rand.New(rand.NewSource(1)).Read(data[:1<<20]) // part random, part zeros
	for _, m := range Methods {
		t.Run(m.Name, func(t *testing.T) {
			var buf bytes.Buffer
			w, err := m.NewWriter(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(data); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if m.Name != None && buf.Len() >= len(data) {
				t.Errorf("%s did not compress: %d >= %d", m.Name, buf.Len(), len(data))
			}
			r, err := m.NewReader(&buf)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			r.Close()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("%s round trip changed the data", m.Name)
			}
			if byExt, ok := ByExt(m.Ext); !ok || byExt != m {
				t.Fatalf("ByExt(%q) = %v, %v", m.Ext, byExt, ok)
			}
		})
	}
}

// The stream reader (C decoder with cgo, pure Go without) reads what every
// writer wrote, a multi-frame stream (as a multi-threaded server-side
// compressor and WAL chunks produce) included, and a corrupt zstd stream is
// an error, not short data.
func TestStreamReader(t *testing.T) {
	data := make([]byte, 5<<20)
	rand.New(rand.NewSource(2)).Read(data[:2<<20])
	for _, m := range Methods {
		var buf bytes.Buffer
		for _, half := range [][]byte{data[:len(data)/2], data[len(data)/2:]} { // two frames
			w, err := m.NewWriter(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(half); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
		}
		stored := buf.Bytes()
		r, err := m.NewStreamReader(bytes.NewReader(stored))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s (%s build): stream read %d bytes, err %v; want the %d written", m.Name, ZstdImplementation, len(got), err, len(data))
		}
		if m.Name != Zstd {
			continue
		}
		bad := bytes.Clone(stored)
		bad[len(bad)/3] ^= 0xff
		r, err = m.NewStreamReader(bytes.NewReader(bad))
		if err != nil {
			t.Fatal(err)
		}
		got, err = io.ReadAll(r)
		r.Close()
		if err == nil && bytes.Equal(got, data) {
			t.Fatalf("a corrupt zstd stream read back as the original")
		}
		if err == nil {
			t.Fatalf("a corrupt zstd stream read without an error (%d bytes)", len(got))
		}
	}
}

func TestLookup(t *testing.T) {
	if m, err := Lookup(""); err != nil || m.Name != Default {
		t.Fatalf("Lookup(\"\") = %v, %v; want the default", m, err)
	}
	if _, err := Lookup("gzip"); err == nil {
		t.Fatal("Lookup(gzip) succeeded")
	}
}

// TestChunkFramesAndPaddingDecodeAsOneStream: frames of consecutive chunks,
// with padding frames among and after them, read back as the chunks'
// concatenation with every codec, and the zstd and lz4 tools agree.
func TestChunkFramesAndPaddingDecodeAsOneStream(t *testing.T) {
	chunks := [][]byte{make([]byte, 1<<20), bytes.Repeat([]byte("wal record "), 50000), {}, []byte("tail")}
	rand.New(rand.NewSource(2)).Read(chunks[0][:300000])
	var want []byte
	for _, c := range chunks {
		want = append(want, c...)
	}
	for _, m := range Methods {
		t.Run(m.Name, func(t *testing.T) {
			enc, err := m.NewChunkEncoder()
			if err != nil {
				t.Fatal(err)
			}
			var obj []byte
			for i, c := range chunks {
				if obj, err = enc.Encode(obj, c); err != nil {
					t.Fatal(err)
				}
				if pad, ok := m.Padding(PaddingOverhead + 100*i); ok {
					obj = append(obj, pad...)
				} else if m.Name != None {
					t.Fatalf("%s has no padding frame", m.Name)
				}
			}
			if _, ok := m.Padding(PaddingOverhead - 1); ok {
				t.Fatal("padding shorter than its header")
			}
			r, err := m.NewReader(bytes.NewReader(obj))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			r.Close()
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("decoded %d bytes (err %v), want the %d bytes of the chunks", len(got), err, len(want))
			}
			tool := map[string]string{Zstd: "zstd", LZ4: "lz4"}[m.Name]
			if tool == "" {
				return
			}
			if _, err := exec.LookPath(tool); err != nil {
				t.Skipf("%s not installed", tool)
			}
			cmd := exec.Command(tool, "-d", "-c")
			cmd.Stdin = bytes.NewReader(obj)
			out, err := cmd.Output()
			if err != nil || !bytes.Equal(out, want) {
				t.Fatalf("%s -d: %d bytes, err %v; want the %d bytes of the chunks", tool, len(out), err, len(want))
			}
		})
	}
}
