package wal

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/compression"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"
)

// encodeChunk is the unit of parallel compression: a 16 MiB segment is
// eight chunks, so every core stays busy to the end and finished frames can
// be uploaded while the last ones are still being compressed.
const encodeChunk = 2 << 20

// Streaming an object before its length is known means announcing a length
// predicted from the frames done so far and padding to it (see payload). The
// prediction allows streamMargin more than the worst ratio of the frames
// done so far on the bytes that remain; a stream that would need more than
// maxPadding of padding, or more bytes than announced, is abandoned for an
// exact upload. The chunks of a WAL segment mostly compress alike (on
// pgbench segments any chunk's ratio predicts the whole within 1%), with
// two exceptions the prediction allows for:
//   - a segment PostgreSQL switched early (pg_switch_wal, archive_timeout:
//     common on a quiet server) is zeros from the switch to its end. Those
//     compress to almost nothing, so the zero tail is predicted apart
//     (zeroTail, zeroRunBound) instead of at the data's ratio;
//   - a chunk of the first records after a checkpoint or a switch can
//     compress several times better than the rest: the worst ratio, not
//     the mean, is what the rest is predicted at.
const (
	streamMargin = 0.01
	streamSlack  = 256
)

// maxPadding bounds the padding an object may carry: 3% of its size, and a
// few KiB for small ones.
func maxPadding(size int64) int64 { return max(size*3/100, 16<<10) }

// holdLaterChunks, when set (by tests only), holds the compression of every
// chunk from holdChunksFrom on until it is closed, so the upload
// deterministically starts with frames still to come.
var (
	holdLaterChunks chan struct{}
	holdChunksFrom  = 1
)

// frameEncoded, when set (by tests only), is called as each frame is done.
var frameEncoded func(i int)

// errMispredicted stops a stream whose content does not fit the announced
// length; Push then uploads the exact object instead.
var errMispredicted = errors.New("compressed size outside its prediction")

// source is a WAL file's bytes in memory, mapped or read.
type source struct {
	data []byte
	// r fills data chunk by chunk when the file could not be mapped.
	r io.ReaderAt
	// changed reports whether the file changed since it was opened.
	changed func() error
	release func()
}

// openSource maps f into memory rather than copying it: archive_command
// waits on this work, and on a small machine copying a segment and faulting
// in fresh pages for it costs as much as hashing it. PostgreSQL never writes
// a WAL file once it is ready for archiving; should anything change it
// anyway, the modification time or size differs at the end and the push
// fails before its upload completes, so PostgreSQL retries it, rather than
// storing a checksum that does not describe the object. When the file cannot
// be mapped it is read into memory instead.
func openSource(f *os.File, before os.FileInfo) source {
	size := before.Size()
	src := source{
		changed: func() error {
			after, err := f.Stat()
			if err != nil {
				return err
			}
			if after.Size() != size || !after.ModTime().Equal(before.ModTime()) {
				return errors.New("the file changed while it was being archived")
			}
			return nil
		},
		release: func() {},
	}
	if size > 0 {
		data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED|syscall.MAP_POPULATE)
		if err == nil {
			src.data = data
			src.release = func() { syscall.Munmap(data) } //nolint:errcheck // nothing to do about it
			return src
		}
	}
	src.data, src.r = make([]byte, size), f
	return src
}

// encoding is a file being compressed chunk by chunk in the background:
// each chunk into its own frame (compression.ChunkEncoder), by one worker
// per core, while the checksum of the whole is computed in order alongside.
// The frames, concatenated in order, are the object.
type encoding struct {
	method compression.Method
	data   []byte
	frames []*frame
	stop   atomic.Bool
	wg     sync.WaitGroup

	sumDone chan struct{}
	sum     string
	sumErr  error
}

type frame struct {
	done chan struct{}
	out  []byte
	err  error
	raw  int
}

func (f *frame) finished() bool {
	select {
	case <-f.done:
		return true
	default:
		return false
	}
}

// startEncoding starts compressing data on up to workers goroutines. When r
// is not nil, data is an empty buffer of the file's size, filled from r
// chunk by chunk so that compression starts with the first chunk read. The
// checksum starts at once; the compressors wait until gate is closed (nil:
// no wait).
func startEncoding(data []byte, r io.ReaderAt, method compression.Method, workers int, gate <-chan struct{}) *encoding {
	size := int64(len(data))
	n := int((size + encodeChunk - 1) / encodeChunk)
	if n == 0 {
		n = 1 // an empty file is one empty frame
	}
	e := &encoding{method: method, data: data, frames: make([]*frame, n), sumDone: make(chan struct{})}
	for i := range e.frames {
		e.frames[i] = &frame{done: make(chan struct{}), raw: len(e.chunk(i))}
	}
	work := make(chan int, n)
	hashq := make(chan int, n)
	for range max(1, min(workers, n)) {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			if gate != nil {
				<-gate
			}
			enc, err := method.NewChunkEncoder()
			for i := range work {
				f := e.frames[i]
				switch {
				case err != nil:
					f.err = err
				case e.stop.Load():
					f.err = errors.New("compression stopped")
				default:
					if i >= holdChunksFrom && holdLaterChunks != nil {
						<-holdLaterChunks
					}
					src := e.chunk(i)
					f.out, f.err = enc.Encode(make([]byte, 0, len(src)/2+64), src)
					if frameEncoded != nil {
						frameEncoded(i)
					}
				}
				close(f.done)
			}
		}()
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		h := sha256.New()
		hashed := 0
		for i := range hashq {
			// NOTE: unlike the compressors, no yields: the upload waits
			// for the checksum, so it goes first.
			h.Write(e.chunk(i))
			hashed++
		}
		if hashed == n {
			e.sum = hex.EncodeToString(h.Sum(nil))
		} else if e.sumErr == nil {
			e.sumErr = errors.New("file not read to the end")
		}
		close(e.sumDone)
	}()
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer close(work)
		defer close(hashq)
		for i := range n {
			if r != nil && len(e.chunk(i)) > 0 {
				if _, err := r.ReadAt(e.chunk(i), int64(i)*encodeChunk); err != nil {
					err = fmt.Errorf("reading WAL file: %w", err)
					e.sumErr = err // read by the hasher only after hashq is closed
					for _, f := range e.frames[i:] {
						f.err = err
						close(f.done)
					}
					return
				}
			}
			work <- i
			hashq <- i
		}
	}()
	return e
}

func (e *encoding) chunk(i int) []byte {
	size := int64(len(e.data))
	return e.data[int64(i)*encodeChunk : min(int64(i+1)*encodeChunk, size)]
}

// checksum waits for the hex SHA-256 of the whole file.
func (e *encoding) checksum() (string, error) {
	<-e.sumDone
	return e.sum, e.sumErr
}

// frame waits for frame i.
func (e *encoding) frame(i int) ([]byte, error) {
	f := e.frames[i]
	<-f.done
	if f.err != nil {
		return nil, fmt.Errorf("compressing WAL file: %w", f.err)
	}
	return f.out, nil
}

// close stops the work not yet started and waits for the rest, after which
// data may be released.
func (e *encoding) close() {
	e.stop.Store(true)
	e.wg.Wait()
}

// all waits for every frame and returns the whole object.
func (e *encoding) all() ([]byte, error) {
	total := 0
	for i := range e.frames {
		out, err := e.frame(i)
		if err != nil {
			return nil, err
		}
		total += len(out)
	}
	body := make([]byte, 0, total)
	for _, f := range e.frames {
		body = append(body, f.out...)
	}
	return body, nil
}

// payload is an object ready to be put: its bytes and their length.
type payload struct {
	body   io.Reader
	length int64
	// pipe and ended are set when the body is streamed.
	pipe  *io.PipeReader
	ended chan struct{}
	err   error // the stream's own failure, once ended
}

// finish ends a streamed body, whatever the store read of it, and returns
// the stream's own failure (errMispredicted, a changed file...), if any.
func (u *payload) finish() error {
	if u.pipe == nil {
		return nil
	}
	u.pipe.CloseWithError(errors.New("upload ended"))
	<-u.ended
	return u.err
}

// payload returns the object to put, as soon as its length can be announced:
// S3 needs it before the first byte, but the frames still being compressed
// have no length yet.
//
// When every frame is done, or the method has no padding frame (none, whose
// length is the file's), the length is exact. Otherwise it is predicted from
// the frames done so far, and the body yields the frames as they are done,
// then a padding frame that readers skip (compression.Padding) to reach the
// announced length exactly. Should the frames outgrow the prediction, or need
// more than maxPadding of padding, the body fails with errMispredicted before
// the length is reached, so the store keeps nothing. Before the last byte
// the file is checked unchanged (changed), so a file modified meanwhile is
// never stored.
//
// The data must be whole (the checksum done: Push asks for the payload only
// then), for the zero tail is read from it.
func (e *encoding) payload(changed func() error) (*payload, error) {
	var doneOut, rest, restData, restZero int64
	var zeroRuns int
	ratio := 0.0 // the worst of the frames done
	if e.method.Name != compression.None {
		// The first frame gives the ratio a start.
		if _, err := e.frame(0); err != nil {
			return nil, err
		}
		zeroFrom := zeroTail(e.data)
		for i, f := range e.frames {
			start := int64(i) * encodeChunk
			data := min(max(zeroFrom-start, 0), int64(f.raw)) // bytes before the zero tail
			if f.finished() {
				doneOut += int64(len(f.out))
				if data > 0 {
					ratio = max(ratio, float64(len(f.out))/float64(data))
				}
				continue
			}
			rest += int64(f.raw)
			restData += data
			if zero := int64(f.raw) - data; zero > 0 {
				restZero += zero
				zeroRuns++
			}
		}
	}
	if rest == 0 {
		return e.exact(changed)
	}
	if ratio == 0 {
		ratio = 1 // only zeros done so far: nothing to go by
	}
	zeros, ok := zeroRunBound(e.method, restZero, zeroRuns)
	if !ok {
		zeros = int64(float64(restZero) * ratio * (1 + streamMargin))
	}
	u := &payload{ended: make(chan struct{})}
	u.length = doneOut + int64(float64(restData)*ratio*(1+streamMargin)) + zeros + streamSlack
	pr, pw := io.Pipe()
	u.body, u.pipe = pr, pr
	go func() {
		defer close(u.ended)
		u.err = e.stream(pw, u.length, changed)
		pw.CloseWithError(u.err) // nil: the store sees the end of the body
	}()
	return u, nil
}

// zeroTail returns the offset from which data holds only zero bytes (its
// length when its last byte is not zero, as in a full WAL segment).
func zeroTail(data []byte) int64 {
	var zero [4096]byte
	end := len(data)
	for end >= len(zero) && bytes.Equal(data[end-len(zero):end], zero[:]) {
		end -= len(zero)
	}
	for end > 0 && data[end-1] == 0 {
		end--
	}
	return int64(end)
}

// zeroRunBound bounds what n zero bytes, ending runs frames, compress to
// with method; ok is false for a method it does not know, whose zeros are
// then predicted like the data. zstd stores a run of zeros as RLE blocks
// of at most 128 KiB, a few bytes each, plus a frame's header and the
// start of its run (83 bytes for a frame of 2 MiB of zeros).
func zeroRunBound(method compression.Method, n int64, runs int) (int64, bool) {
	if method.Name != compression.Zstd {
		return 0, false
	}
	return int64(runs)*128 + n>>14, true
}

// encrypted is u encrypted to recipients: the same stream through age,
// its length announced exactly (crypt.Writer.Size of u's), so a streamed
// body stays streamed. Its body fails whenever u's does, and finish
// returns u's own failure (errMispredicted, a changed file...).
func (u *payload) encrypted(recipients *crypt.Recipients) (*payload, error) {
	pr, pw := io.Pipe()
	ew, err := recipients.NewWriter(pw)
	if err != nil {
		return nil, err
	}
	e := &payload{body: pr, pipe: pr, length: ew.Size(u.length), ended: make(chan struct{})}
	go func() {
		defer close(e.ended)
		_, err := io.Copy(ew, u.body)
		if err == nil {
			err = ew.Close()
		}
		if ierr := u.finish(); ierr != nil {
			e.err = ierr
			err = ierr
		}
		pw.CloseWithError(err) // nil: the store sees the end of the body
	}()
	return e, nil
}

// exact waits for every frame and returns the whole object.
func (e *encoding) exact(changed func() error) (*payload, error) {
	body, err := e.all()
	if err == nil {
		err = changed()
	}
	if err != nil {
		return nil, err
	}
	return &payload{body: bytes.NewReader(body), length: int64(len(body))}, nil
}

// stream writes the frames and the padding to w, length bytes in all, or
// fails before the last byte. It returns only its own failures: when w
// fails, the store stopped reading and its error says why.
func (e *encoding) stream(w io.Writer, length int64, changed func() error) error {
	var written int64
	for i := range e.frames {
		out, err := e.frame(i)
		if err != nil {
			return err
		}
		if written+int64(len(out)) > length {
			return errMispredicted
		}
		if i == len(e.frames)-1 {
			if err := changed(); err != nil {
				return err
			}
		}
		if _, err := w.Write(out); err != nil {
			return nil //nolint:nilerr // the store stopped reading: its own error says why (see above)
		}
		written += int64(len(out))
	}
	pad := length - written
	if pad == 0 {
		return nil
	}
	padding, ok := e.method.Padding(int(pad))
	if !ok || pad > maxPadding(written) {
		return errMispredicted
	}
	w.Write(padding) //nolint:errcheck // as above
	return nil
}
