package objectstore

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"strconv"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// trailerChunk is the payload of one aws-chunked chunk. MinIO reads a
// whole chunk into memory before passing it on and refuses chunks over
// 16 MiB; S3 wants at least 8 KiB but for the last. 1 MiB keeps the
// framing negligible and the store's buffer small.
const trailerChunk = 1 << 20

const (
	trailerSHA256 = "x-amz-checksum-sha256"
	trailerCRC32C = "x-amz-checksum-crc32c"
	// streamingUnsignedTrailer is the payload hash the request is signed
	// with: the body is not signed, its checksum comes after it.
	streamingUnsignedTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// trailerBody is a body of known size in aws-chunked content encoding,
// followed by a checksum of it as a trailer (x-amz-checksum-sha256 or
// x-amz-checksum-crc32c): the store computes the checksum of the bytes it
// receives and fails the put unless they have it. The checksum is
// computed here as the body streams, so the body is read once and the
// caller learns what was sent (sum); with a CRC32C trailer the body's
// SHA-256 is computed in the same pass (sha256), so the caller knows the
// SHA-256 of exactly the bytes the store checked.
//
// NOTE: the SDK has the same encoding, but computes the trailer inside
// the request (the caller never sees the checksum), sends the whole body
// as one chunk (over MinIO's 16 MiB chunk limit) and only over TLS.
type trailerBody struct {
	src     io.Reader
	size    int64
	left    int64 // payload bytes not yet read from src
	inChunk int64 // payload bytes left in the current chunk
	header  string
	h       hash.Hash // the trailer's checksum
	sha     hash.Hash // the SHA-256, when the trailer is another checksum
	pending []byte    // framing still to send
	ended   bool
	sum     []byte // the trailer's checksum, once the body ended
	sha256  []byte // the body's SHA-256, once it ended
}

func newTrailerBody(src io.Reader, size int64) *trailerBody {
	return &trailerBody{src: src, size: size, left: size, header: trailerSHA256, h: sha256.New()}
}

// newCRC32CTrailerBody is a trailerBody whose trailer is the CRC32C,
// hashing the SHA-256 too.
func newCRC32CTrailerBody(src io.Reader, size int64) *trailerBody {
	return &trailerBody{src: src, size: size, left: size, header: trailerCRC32C, h: crc32.New(castagnoli), sha: sha256.New()}
}

// encodedLength is the length of the encoded body (Content-Length).
func (b *trailerBody) encodedLength() int64 {
	var n int64
	for left := b.size; left > 0; left -= trailerChunk {
		c := min(left, trailerChunk)
		n += int64(len(strconv.FormatInt(c, 16))) + 2 + c + 2
	}
	// "0\r\n", the trailer line, the final "\r\n".
	return n + 3 + int64(len(b.header)+1+base64.StdEncoding.EncodedLen(b.h.Size())+2) + 2
}

func (b *trailerBody) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(b.pending) > 0 {
			k := copy(p[n:], b.pending)
			b.pending = b.pending[k:]
			n += k
			continue
		}
		if b.inChunk > 0 {
			want := min(int64(len(p)-n), b.inChunk)
			k, err := b.src.Read(p[n : n+int(want)])
			b.h.Write(p[n : n+k])
			if b.sha != nil {
				b.sha.Write(p[n : n+k])
			}
			b.inChunk -= int64(k)
			b.left -= int64(k)
			n += k
			if b.inChunk == 0 {
				b.pending = []byte("\r\n")
			}
			if errors.Is(err, io.EOF) && b.inChunk > 0 {
				return n, fmt.Errorf("body ended %d bytes short of its size: %w", b.left, io.ErrUnexpectedEOF)
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return n, err
			}
			if k == 0 || b.inChunk > 0 {
				// Give the caller what there is rather than wait.
				return n, nil
			}
			continue
		}
		if b.left > 0 {
			b.inChunk = min(b.left, trailerChunk)
			b.pending = []byte(strconv.FormatInt(b.inChunk, 16) + "\r\n")
			continue
		}
		if !b.ended {
			// The body must end where its size says: a longer one would
			// be stored cut, under a digest of the cut bytes.
			var one [1]byte
			if k, _ := io.ReadFull(b.src, one[:]); k > 0 {
				return n, fmt.Errorf("body longer than its size of %d bytes", b.size)
			}
			b.ended = true
			b.sum = b.h.Sum(nil)
			b.sha256 = b.sum
			if b.sha != nil {
				b.sha256 = b.sha.Sum(nil)
			}
			b.pending = []byte("0\r\n" + b.header + ":" + base64.StdEncoding.EncodeToString(b.sum) + "\r\n\r\n")
			continue
		}
		return n, io.EOF
	}
	return n, nil
}

// trailerRequest is the middleware that makes the request carry the
// encoded body: it is signed as STREAMING-UNSIGNED-PAYLOAD-TRAILER and
// announces the encoding, the decoded length and the trailer.
func (b *trailerBody) trailerRequest(stack *middleware.Stack) error {
	return stack.Finalize.Insert(middleware.FinalizeMiddlewareFunc("LifeboatChecksumTrailer",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			req, ok := in.Request.(*smithyhttp.Request)
			if !ok {
				return middleware.FinalizeOutput{}, middleware.Metadata{}, fmt.Errorf("unknown request type %T", in.Request)
			}
			req.Header.Set("Content-Encoding", "aws-chunked")
			req.Header.Set("X-Amz-Decoded-Content-Length", strconv.FormatInt(b.size, 10))
			req.Header.Set("X-Amz-Trailer", b.header)
			return next.HandleFinalize(v4.SetPayloadHash(ctx, streamingUnsignedTrailer), in)
		}), "ComputePayloadHash", middleware.Before)
}
