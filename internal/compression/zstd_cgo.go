//go:build cgo

package compression

import (
	"io"

	"github.com/DataDog/zstd"
)

// ZstdImplementation names the zstd encoder of chunk frames in this build:
// the reference C library (a build with cgo), about twice as fast as the
// pure-Go one. Both builds write standard frames any zstd reader reads.
const ZstdImplementation = "c"

// zstdLevel is the level of chunk frames: level 1 of the C library stores
// WAL a little smaller than the pure-Go encoder's fastest level, at about
// half its CPU (tools/scripts/bench-wal.sh).
const zstdLevel = 1

// cFrames encodes zstd frames with the reference C library, reusing one
// compression context. A cgo call releases its processor, so the network
// goroutines keep running while every core compresses: no yields needed.
// The frames carry no checksum of their own (the C default): Lifeboat
// records and checks the SHA-256 of every object's content.
type cFrames struct {
	ctx     zstd.Ctx
	scratch []byte
}

func newZstdFrames() (frameEncoder, error) {
	return &cFrames{ctx: zstd.NewCtx()}, nil
}

func (f *cFrames) encode(dst, src []byte) ([]byte, error) {
	if bound := zstd.CompressBound(len(src)); cap(f.scratch) < bound {
		f.scratch = make([]byte, bound)
	}
	out, err := f.ctx.CompressLevel(f.scratch, src, zstdLevel)
	if err != nil {
		return nil, err
	}
	return append(dst, out...), nil
}

// newZstdStreamReader decodes a long zstd stream with the C library's
// streaming decoder. A cgo call releases its processor, so the goroutines
// downloading and writing keep running beside it.
func newZstdStreamReader(r io.Reader) (io.ReadCloser, error) {
	return zstd.NewReader(r), nil
}
