package compression

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"runtime"

	"github.com/pierrec/lz4/v4"
)

// ChunkEncoder compresses whole chunks, each into a self-contained frame.
//
// Frames concatenate: every codec's reader (NewReader, and the zstd and lz4
// command-line tools) reads a sequence of frames as the concatenation of
// their contents. So the chunks of one file can be compressed on several
// cores at once and stored, in order, as one object. One ChunkEncoder is
// used by one goroutine at a time.
type ChunkEncoder struct {
	method Method
	frames frameEncoder // nil for None
}

// frameEncoder appends the frame of src to dst.
type frameEncoder interface {
	encode(dst, src []byte) ([]byte, error)
}

// yieldEvery is how much input a pure-Go encoder compresses between two
// yields of the processor (about a millisecond of work). Go preempts a busy
// goroutine only after 10 ms: without these yields, a goroutine woken by the
// network while every core compresses waits that long for each packet, and
// a round trip of a few milliseconds takes tens.
const yieldEvery = 256 << 10

// NewChunkEncoder returns an encoder of frames of m.
func (m Method) NewChunkEncoder() (*ChunkEncoder, error) {
	e := &ChunkEncoder{method: m}
	switch m.Name {
	case Zstd:
		f, err := newZstdFrames()
		if err != nil {
			return nil, err
		}
		e.frames = f
	case LZ4:
		e.frames = &streamFrames{w: lz4.NewWriter(nil)}
	case None:
	default:
		return nil, fmt.Errorf("unknown compression %q", m.Name)
	}
	return e, nil
}

// Encode appends the frame of src to dst and returns the result.
func (e *ChunkEncoder) Encode(dst, src []byte) ([]byte, error) {
	if e.frames == nil {
		return append(dst, src...), nil
	}
	return e.frames.encode(dst, src)
}

// streamFrames makes frames with a pure-Go stream writer, fed in pieces of
// yieldEvery with a yield between them.
type streamFrames struct {
	w interface {
		io.WriteCloser
		Reset(io.Writer)
	}
}

func (f *streamFrames) encode(dst, src []byte) ([]byte, error) {
	out := bytes.NewBuffer(dst)
	f.w.Reset(out)
	for len(src) > 0 {
		n := min(len(src), yieldEvery)
		if _, err := f.w.Write(src[:n]); err != nil {
			return nil, err
		}
		src = src[n:]
		runtime.Gosched()
	}
	if err := f.w.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// skippableMagic starts a skippable frame, which zstd and lz4 readers both
// pass over (the two formats share the range 0x184D2A50-0x184D2A5F).
const skippableMagic = 0x184D2A5E

// PaddingOverhead is the size of an empty padding frame: any padding is at
// least this long.
const PaddingOverhead = 8

// Padding returns a frame of exactly n bytes that readers of m skip, so an
// object can be brought to a length announced before its content was known.
// It reports false when m has no such frame (none) or n < PaddingOverhead.
func (m Method) Padding(n int) ([]byte, bool) {
	if m.Name == None || n < PaddingOverhead || n-PaddingOverhead > math.MaxUint32 {
		return nil, false
	}
	b := make([]byte, n)
	binary.LittleEndian.PutUint32(b, skippableMagic)
	binary.LittleEndian.PutUint32(b[4:], uint32(n-PaddingOverhead))
	return b, true
}
