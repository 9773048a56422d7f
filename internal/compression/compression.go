// Package compression holds the stream codecs Lifeboat stores objects with.
//
// The codec of an object is chosen by the extension of its key, never by the
// current configuration, so objects written under an older default stay
// readable after the default changes (WAL-G's internal/compression does the
// same).
package compression

import (
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Method names, as written in the agent configuration.
const (
	Zstd = "zstd"
	LZ4  = "lz4"
	None = "none"
)

// Default is the method used when the configuration names none.
const Default = Zstd

// Method is one codec and the key extension (without the dot) that marks
// objects written with it.
type Method struct {
	Name string
	Ext  string
}

// Methods lists every codec, default first. Readers try extensions in this
// order.
var Methods = []Method{
	{Name: Zstd, Ext: "zst"},
	{Name: LZ4, Ext: "lz4"},
	// NOTE: uncompressed objects carry an explicit ".raw" extension rather
	// than none, so every object name says how to read it and a file name
	// that itself contains a dot (00000002.history) is never mistaken for a
	// codec extension.
	{Name: None, Ext: "raw"},
}

// Lookup returns the method called name; an empty name means Default.
func Lookup(name string) (Method, error) {
	if name == "" {
		name = Default
	}
	for _, m := range Methods {
		if m.Name == strings.ToLower(name) {
			return m, nil
		}
	}
	return Method{}, fmt.Errorf("unknown compression %q: use one of zstd, lz4, none", name)
}

// ByExt returns the method whose extension is ext (without the dot).
func ByExt(ext string) (Method, bool) {
	for _, m := range Methods {
		if m.Ext == ext {
			return m, true
		}
	}
	return Method{}, false
}

// NewWriter returns a writer that compresses into w. Close flushes the
// stream; it does not close w.
func (m Method) NewWriter(w io.Writer) (io.WriteCloser, error) {
	switch m.Name {
	case Zstd:
		// NOTE: the fastest level: on WAL and table data it stores within
		// 1% of the default level's size at about half the CPU
		// (tools/scripts/bench-wal.sh), and CPU is what archive_command waits on.
		return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(2))
	case LZ4:
		return lz4.NewWriter(w), nil
	case None:
		return nopWriteCloser{w}, nil
	}
	return nil, fmt.Errorf("unknown compression %q", m.Name)
}

// NewReader returns a reader of the decompressed content of r. Close
// releases the decoder; it does not close r.
func (m Method) NewReader(r io.Reader) (io.ReadCloser, error) {
	switch m.Name {
	case Zstd:
		d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		return d.IOReadCloser(), nil
	case LZ4:
		return io.NopCloser(lz4.NewReader(r)), nil
	case None:
		return io.NopCloser(r), nil
	}
	return nil, fmt.Errorf("unknown compression %q", m.Name)
}

// NewStreamReader is NewReader for one long stream (a base backup archive
// of many GB) read on a goroutine of its own: in a build with cgo, zstd is
// decoded by the reference C library (about twice the pure-Go decoder's
// speed per core, as for encoding), otherwise by the pure-Go decoder
// decoding ahead on several goroutines. Close releases the decoder; it does
// not close r.
func (m Method) NewStreamReader(r io.Reader) (io.ReadCloser, error) {
	if m.Name == Zstd {
		return newZstdStreamReader(r)
	}
	return m.NewReader(r)
}

type nopWriteCloser struct{ io.Writer }

// Close implements io.Closer; there is nothing to flush.
func (nopWriteCloser) Close() error { return nil }
