package wal

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"syscall"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/compression"
)

// encodeChunk is the unit of parallel compression: a 16 MiB segment is four
// chunks, which keeps every core busy to the end.
const encodeChunk = 4 << 20

// encodeFile returns the size bytes of f compressed with method, and the hex
// SHA-256 of those bytes.
//
// The file is mapped into memory rather than copied: archive_command waits on
// this work, and on a small machine copying a segment and faulting in fresh
// pages for it costs as much as hashing it. PostgreSQL never writes a WAL file
// once it is ready for archiving; should anything change it anyway, the
// modification time or size differs afterwards and the push fails, so
// PostgreSQL retries it, rather than storing a checksum that does not
// describe the object. When the file cannot be mapped it is read instead.
func encodeFile(f *os.File, before os.FileInfo, method compression.Method) ([]byte, string, error) {
	size := before.Size()
	if size == 0 {
		return encodeChunks(nil, nil, method)
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED|syscall.MAP_POPULATE)
	if err != nil {
		return encodeChunks(make([]byte, size), f, method)
	}
	defer syscall.Munmap(data) //nolint:errcheck // nothing to do about it
	body, sum, err := encodeChunks(data, nil, method)
	if err != nil {
		return nil, "", err
	}
	after, err := f.Stat()
	if err != nil {
		return nil, "", err
	}
	if after.Size() != size || !after.ModTime().Equal(before.ModTime()) {
		return nil, "", errors.New("the file changed while it was being archived")
	}
	return body, sum, nil
}

// encodeChunks compresses data and returns it with its hex SHA-256. When r
// is not nil, data is an empty buffer of the file's size, filled from r chunk
// by chunk so compression starts with the first chunk read.
//
// Each chunk is compressed into its own frame (compression.ChunkEncoder) by
// one worker per core, while the checksum is computed in order alongside;
// the frames are concatenated in order into one object.
func encodeChunks(data []byte, r io.ReaderAt, method compression.Method) ([]byte, string, error) {
	size := int64(len(data))
	n := int((size + encodeChunk - 1) / encodeChunk)
	if n == 0 {
		n = 1 // an empty file is one empty frame
	}
	chunk := func(i int) []byte {
		return data[int64(i)*encodeChunk : min(int64(i+1)*encodeChunk, size)]
	}

	work := make(chan int, n)
	hashq := make(chan int, n)
	outs := make([][]byte, n)
	errs := make(chan error, n+1)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			enc, err := method.NewChunkEncoder()
			if err != nil {
				errs <- err
				for range work { // drain so the reader never blocks
				}
				return
			}
			for i := range work {
				src := chunk(i)
				out, err := enc.Encode(make([]byte, 0, len(src)/2+64), src)
				if err != nil {
					errs <- err
					continue
				}
				outs[i] = out
			}
		}()
	}
	h := sha256.New()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range hashq {
			h.Write(chunk(i))
		}
	}()

	var readErr error
	for i := range n {
		if r != nil && len(chunk(i)) > 0 {
			if _, err := r.ReadAt(chunk(i), int64(i)*encodeChunk); err != nil {
				readErr = err
				break
			}
		}
		work <- i
		hashq <- i
	}
	close(work)
	close(hashq)
	wg.Wait()
	if readErr != nil {
		return nil, "", fmt.Errorf("reading WAL file: %w", readErr)
	}
	select {
	case err := <-errs:
		return nil, "", fmt.Errorf("compressing WAL file: %w", err)
	default:
	}
	total := 0
	for _, o := range outs {
		total += len(o)
	}
	body := make([]byte, 0, total)
	for _, o := range outs {
		body = append(body, o...)
	}
	return body, hex.EncodeToString(h.Sum(nil)), nil
}
