package compression

import (
	"bytes"
	"fmt"

	"github.com/klauspost/compress/zstd"
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
	zstd   *zstd.Encoder
}

// ChunkWindow is the zstd window of chunk frames. WAL and table pages find
// their matches close by: on real segments a 1 MiB window stores within
// 0.01% of the 8 MiB default, and each encoder's history costs an eighth of
// the memory to set up, which a short-lived archive_command pays for in
// page faults (scripts/bench-wal.sh).
const ChunkWindow = 1 << 20

// NewChunkEncoder returns an encoder of frames of m.
func (m Method) NewChunkEncoder() (*ChunkEncoder, error) {
	e := &ChunkEncoder{method: m}
	switch m.Name {
	case Zstd:
		z, err := zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstd.SpeedFastest),
			zstd.WithEncoderConcurrency(1),
			zstd.WithWindowSize(ChunkWindow),
			// An empty file still gets a valid (empty) frame.
			zstd.WithZeroFrames(true))
		if err != nil {
			return nil, err
		}
		e.zstd = z
	case LZ4, None:
	default:
		return nil, fmt.Errorf("unknown compression %q", m.Name)
	}
	return e, nil
}

// Encode appends the frame of src to dst and returns the result.
func (e *ChunkEncoder) Encode(dst, src []byte) ([]byte, error) {
	switch e.method.Name {
	case Zstd:
		return e.zstd.EncodeAll(src, dst), nil
	case LZ4:
		buf := bytes.NewBuffer(dst)
		w := lz4.NewWriter(buf)
		if _, err := w.Write(src); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	return append(dst, src...), nil
}
