package backup

import (
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"sync/atomic"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
)

// DefaultPartSize is the stored size at which an archive is cut into the
// next part. Each part is one (multipart) upload, so memory does not grow
// with it; a smaller part costs more objects, a larger one a longer retry.
const DefaultPartSize = 512 << 20

// partWriter stores a stream as consecutive objects <prefix>000000,
// <prefix>000001, ... of at most partSize bytes each, recording the size
// and SHA-256 of every part. Each part streams into the store through a
// pipe, so nothing is buffered beyond what the store's uploader holds.
type partWriter struct {
	ctx      context.Context
	store    objectstore.Store
	prefix   string
	partSize int64
	// stored counts bytes acknowledged or in flight, for progress reports.
	stored *atomic.Int64

	// single stores the whole stream under prefix itself, in one object.
	single bool
	// meta is every part's object metadata (encryption).
	meta map[string]string

	pw    *io.PipeWriter
	done  chan error
	key   string
	n     int64
	h     hash.Hash
	parts []Part
}

func newPartWriter(ctx context.Context, store objectstore.Store, prefix string, partSize int64, stored *atomic.Int64) *partWriter {
	if partSize <= 0 {
		partSize = DefaultPartSize
	}
	return &partWriter{ctx: ctx, store: store, prefix: prefix, partSize: partSize, stored: stored}
}

func (w *partWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		if w.pw == nil {
			w.start()
		}
		k := int64(len(p))
		if room := w.partSize - w.n; k > room && !w.single {
			k = room
		}
		n, err := w.pw.Write(p[:k])
		w.h.Write(p[:n])
		w.n += int64(n)
		written += n
		if w.stored != nil {
			w.stored.Add(int64(n))
		}
		if err != nil {
			return written, err
		}
		p = p[k:]
		if w.n == w.partSize && !w.single {
			if err := w.finish(); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

func (w *partWriter) start() {
	pr, pw := io.Pipe()
	w.pw, w.done = pw, make(chan error, 1)
	w.key = fmt.Sprintf("%s%06d", w.prefix, len(w.parts))
	if w.single {
		w.key = w.prefix
	}
	w.n, w.h = 0, sha256.New()
	key := w.key
	go func() {
		// IfAbsent: a part never replaces another backup's object.
		_, err := w.store.Put(w.ctx, key, pr, objectstore.PutOptions{IfAbsent: true, Size: -1, Metadata: w.meta})
		// Unblock the writer if the upload stopped early.
		pr.CloseWithError(fmt.Errorf("uploading %s: %w", key, errOr(err, io.ErrClosedPipe)))
		w.done <- err
	}()
}

// finish ends the current part and waits until the store acknowledged it.
func (w *partWriter) finish() error {
	w.pw.Close()
	err := <-w.done
	w.pw = nil
	if err != nil {
		return fmt.Errorf("uploading %s: %w", w.key, err)
	}
	w.parts = append(w.parts, Part{Key: w.key, Size: w.n, SHA256: fmt.Sprintf("%x", w.h.Sum(nil))})
	return nil
}

// Close stores the last part. A stream of zero bytes still gets one
// (empty) part, so every archive has at least one object.
func (w *partWriter) Close() error {
	if w.pw == nil && len(w.parts) == 0 {
		w.start()
	}
	if w.pw == nil {
		return nil
	}
	return w.finish()
}

// Abort stops the current upload; the store discards it.
func (w *partWriter) Abort(err error) {
	if w.pw != nil {
		_ = w.pw.CloseWithError(err) // always nil: the reader side sees err
		<-w.done                     //nolint:errcheck // the upload's own error: the caller already failed with err
		w.pw = nil
	}
}

func (w *partWriter) storedSize() int64 {
	var n int64
	for _, p := range w.parts {
		n += p.Size
	}
	return n
}

func errOr(err, def error) error {
	if err != nil {
		return err
	}
	return def
}
