//go:build !cgo

package compression

import (
	"io"

	"github.com/klauspost/compress/zstd"
)

// ZstdImplementation names the zstd encoder of chunk frames in this build:
// the pure-Go encoder (a build without cgo). Both builds write standard
// frames any zstd reader reads.
const ZstdImplementation = "go"

// chunkWindow is the zstd window of chunk frames of this (pure-Go) build. WAL and
// table pages find their matches close by: on real segments a 1 MiB window
// stores within 0.01% of the 8 MiB default, and each encoder's history costs
// an eighth of the memory to set up, which a short-lived archive_command
// pays for in page faults (tools/scripts/bench-wal.sh).
const chunkWindow = 1 << 20

// newZstdFrames returns the pure-Go zstd frame encoder.
func newZstdFrames() (frameEncoder, error) {
	z, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(chunkWindow),
		// An empty chunk still gets a valid (empty) frame.
		zstd.WithZeroFrames(true),
		// Lifeboat records the SHA-256 of every object's content and checks
		// it on every read: the frames' own (weaker) checksum would only
		// cost a pass over the data.
		zstd.WithEncoderCRC(false))
	if err != nil {
		return nil, err
	}
	return &streamFrames{w: z}, nil
}

// newZstdStreamReader decodes a long zstd stream with the pure-Go decoder,
// decoding blocks ahead on other goroutines.
func newZstdStreamReader(r io.Reader) (io.ReadCloser, error) {
	d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(4), zstd.WithDecoderLowmem(false))
	if err != nil {
		return nil, err
	}
	return d.IOReadCloser(), nil
}
