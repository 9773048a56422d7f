package objectstore

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
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
	trailerHeader = "x-amz-checksum-sha256"
	// streamingUnsignedTrailer is the payload hash the request is signed
	// with: the body is not signed, its checksum comes after it.
	streamingUnsignedTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
)

// trailerBody is a body of known size in aws-chunked content encoding,
// followed by its SHA-256 as the trailer x-amz-checksum-sha256: the store
// hashes the bytes it receives and fails the put unless they have that
// digest. The digest is computed here as the body streams, so the body is
// read once and the caller learns what was sent (sum).
//
// NOTE: the SDK has the same encoding, but computes the trailer inside
// the request (the caller never sees the digest), sends the whole body as
// one chunk (over MinIO's 16 MiB chunk limit) and only over TLS.
type trailerBody struct {
	src     io.Reader
	size    int64
	left    int64 // payload bytes not yet read from src
	inChunk int64 // payload bytes left in the current chunk
	h       hash.Hash
	pending []byte // framing still to send
	ended   bool
	sum     []byte
}

func newTrailerBody(src io.Reader, size int64) *trailerBody {
	return &trailerBody{src: src, size: size, left: size, h: sha256.New()}
}

// encodedLength is the length of the encoded body (Content-Length).
func (b *trailerBody) encodedLength() int64 {
	var n int64
	for left := b.size; left > 0; left -= trailerChunk {
		c := min(left, trailerChunk)
		n += int64(len(strconv.FormatInt(c, 16))) + 2 + c + 2
	}
	// "0\r\n", the trailer line, the final "\r\n".
	return n + 3 + int64(len(trailerHeader)+1+base64.StdEncoding.EncodedLen(sha256.Size)+2) + 2
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
			b.pending = []byte("0\r\n" + trailerHeader + ":" + base64.StdEncoding.EncodeToString(b.sum) + "\r\n\r\n")
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
	return stack.Finalize.Insert(middleware.FinalizeMiddlewareFunc("LifeboatSHA256Trailer",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			req, ok := in.Request.(*smithyhttp.Request)
			if !ok {
				return middleware.FinalizeOutput{}, middleware.Metadata{}, fmt.Errorf("unknown request type %T", in.Request)
			}
			req.Header.Set("Content-Encoding", "aws-chunked")
			req.Header.Set("X-Amz-Decoded-Content-Length", strconv.FormatInt(b.size, 10))
			req.Header.Set("X-Amz-Trailer", trailerHeader)
			return next.HandleFinalize(v4.SetPayloadHash(ctx, streamingUnsignedTrailer), in)
		}), "ComputePayloadHash", middleware.Before)
}
