package objectstore

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
)

// The encoded body is as long as announced, decodes to the payload and
// ends with the payload's SHA-256 as its trailer; a body shorter or longer
// than its size fails the read.
func TestTrailerBody(t *testing.T) {
	for _, size := range []int{1, 100, trailerChunk - 1, trailerChunk, trailerChunk + 1, 3*trailerChunk + 17} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			payload := make([]byte, size)
			_, _ = rand.Read(payload)
			b := newTrailerBody(bytes.NewReader(payload), int64(size))
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
			if want := "x-amz-checksum-sha256:" + base64.StdEncoding.EncodeToString(sum[:]); trailer != want {
				t.Fatalf("trailer %q, want %q", trailer, want)
			}
			if !bytes.Equal(b.sum, sum[:]) {
				t.Fatal("sum differs from the payload's")
			}
		})
	}
	if _, err := io.ReadAll(newTrailerBody(strings.NewReader("short"), 10)); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short body: %v", err)
	}
	if _, err := io.ReadAll(newTrailerBody(strings.NewReader("longer than said"), 4)); err == nil {
		t.Fatal("a body longer than its size went through")
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
