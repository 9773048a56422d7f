//go:build !cgo

package compression

import (
	"github.com/klauspost/compress/zstd"
)

// ZstdImplementation names the zstd encoder of chunk frames in this build:
// the pure-Go encoder (a build without cgo). Both builds write standard
// frames any zstd reader reads.
const ZstdImplementation = "go"

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
