package restore

import (
	"errors"
	"io"
)

// Decoding ahead of the writes. One zstd frame per archive (PostgreSQL's
// server-side compression) is decoded by one goroutine whatever is done:
// each byte needs the decoder's state after every byte before it. What can
// move off that goroutine is the rest of laying the files out: tar
// parsing, the copies into the page cache, the writeback hints. The buffers
// are small and few, so what the decoder wrote is still in the shared cache
// when the writing goroutine copies it into the page cache (4 MiB buffers
// were measured to double the kernel's share of the restore).
const (
	aheadBufSize  = 256 << 10
	aheadBufCount = 4
)

// aheadReader reads r on a goroutine of its own, aheadBufCount buffers of
// aheadBufSize ahead of its reader.
type aheadReader struct {
	full chan *aheadBuf
	free chan *aheadBuf
	stop chan struct{}
	done chan struct{}
	cur  *aheadBuf
	off  int
	err  error
}

type aheadBuf struct {
	b   []byte
	n   int
	err error
}

var errAheadStopped = errors.New("reading ahead stopped")

func newAheadReader(r io.Reader) *aheadReader {
	a := &aheadReader{
		full: make(chan *aheadBuf, aheadBufCount), free: make(chan *aheadBuf, aheadBufCount),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	for range aheadBufCount {
		a.free <- &aheadBuf{b: make([]byte, aheadBufSize)}
	}
	go a.run(r)
	return a
}

func (a *aheadReader) run(r io.Reader) {
	defer close(a.done)
	for {
		var b *aheadBuf
		select {
		case b = <-a.free:
		case <-a.stop:
			return
		}
		b.n, b.err = io.ReadFull(r, b.b)
		if errors.Is(b.err, io.ErrUnexpectedEOF) {
			b.err = io.EOF
		}
		// Never blocks: full holds every buffer there is.
		a.full <- b
		if b.err != nil {
			return
		}
	}
}

// Read implements io.Reader.
func (a *aheadReader) Read(p []byte) (int, error) {
	for a.cur == nil || a.off == a.cur.n {
		if a.err != nil {
			return 0, a.err
		}
		if a.cur != nil {
			if a.cur.err != nil {
				a.err = a.cur.err
				return 0, a.err
			}
			a.free <- a.cur
			a.cur = nil
		}
		select {
		case b := <-a.full:
			a.cur, a.off = b, 0
		case <-a.done:
			// run returned without a buffer for us: stopped, or its last
			// one is already taken (then a.err is set above).
			select {
			case b := <-a.full:
				a.cur, a.off = b, 0
			default:
				a.err = errAheadStopped
				return 0, a.err
			}
		}
	}
	n := copy(p, a.cur.b[a.off:a.cur.n])
	a.off += n
	return n, nil
}

// stopAndWait stops reading ahead and returns once the goroutine no longer
// reads r, so r may be closed. A read of r in progress must end by itself:
// the caller cancels what r reads from first.
func (a *aheadReader) stopAndWait() {
	select {
	case <-a.stop:
	default:
		close(a.stop)
	}
	<-a.done
}
