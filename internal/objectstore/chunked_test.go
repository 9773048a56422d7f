package objectstore

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
	"strings"
	"testing"
)

// The encoded body is as long as announced, decodes to the payload and
// ends with the payload's SHA-256 (or CRC32C) as its trailer; the body's
// SHA-256 is known after either; a body shorter or longer than its size
// fails the read.
func TestTrailerBody(t *testing.T) {
	for _, crc := range []bool{false, true} {
		for _, size := range []int{1, 100, trailerChunk - 1, trailerChunk, trailerChunk + 1, 3*trailerChunk + 17} {
			t.Run(fmt.Sprintf("crc32c=%v/%d", crc, size), func(t *testing.T) {
				payload := make([]byte, size)
				_, _ = rand.Read(payload)
				b := newTrailerBody(bytes.NewReader(payload), int64(size))
				if crc {
					b = newCRC32CTrailerBody(bytes.NewReader(payload), int64(size))
				}
				// Odd read sizes, as a transport's buffer would.
				var enc bytes.Buffer
				buf := make([]byte, 7777)
				for {
					n, err := b.Read(buf)
					enc.Write(buf[:n])
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
				}
				if int64(enc.Len()) != b.encodedLength() {
					t.Fatalf("encoded %d bytes, announced %d", enc.Len(), b.encodedLength())
				}
				got, trailer := decodeChunked(t, enc.Bytes())
				if !bytes.Equal(got, payload) {
					t.Fatal("decoded payload differs")
				}
				sum := sha256.Sum256(payload)
				want := "x-amz-checksum-sha256:" + base64.StdEncoding.EncodeToString(sum[:])
				if crc {
					c := binary.BigEndian.AppendUint32(nil, crc32.Checksum(payload, crc32.MakeTable(crc32.Castagnoli)))
					want = "x-amz-checksum-crc32c:" + base64.StdEncoding.EncodeToString(c)
					if !bytes.Equal(b.sum, c) {
						t.Fatal("CRC32C differs from the payload's")
					}
				}
				if trailer != want {
					t.Fatalf("trailer %q, want %q", trailer, want)
				}
				if !bytes.Equal(b.sha256, sum[:]) {
					t.Fatal("SHA-256 differs from the payload's")
				}
			})
		}
	}
	for _, mk := range []func(io.Reader, int64) *trailerBody{newTrailerBody, newCRC32CTrailerBody} {
		if _, err := io.ReadAll(mk(strings.NewReader("short"), 10)); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("short body: %v", err)
		}
		if _, err := io.ReadAll(mk(strings.NewReader("longer than said"), 4)); err == nil {
			t.Fatal("a body longer than its size went through")
		}
	}
}

// decodeChunked decodes aws-chunked content: the payload and the trailer
// line.
func decodeChunked(t *testing.T, enc []byte) ([]byte, string) {
	t.Helper()
	var out []byte
	for {
		i := bytes.Index(enc, []byte("\r\n"))
		if i < 0 {
			t.Fatalf("no chunk header in %q", enc)
		}
		n, err := strconv.ParseInt(string(enc[:i]), 16, 64)
		if err != nil {
			t.Fatal(err)
		}
		enc = enc[i+2:]
		if n == 0 {
			break
		}
		if n > trailerChunk {
			t.Fatalf("chunk of %d bytes", n)
		}
		out = append(out, enc[:n]...)
		if string(enc[n:n+2]) != "\r\n" {
			t.Fatal("chunk not ended by CRLF")
		}
		enc = enc[n+2:]
	}
	if !bytes.HasSuffix(enc, []byte("\r\n\r\n")) {
		t.Fatalf("trailer %q not ended by CRLF CRLF", enc)
	}
	return out, fmt.Sprint(string(enc[:len(enc)-4]))
}
