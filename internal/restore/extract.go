package restore

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/compression"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
)

// chunkSize is the size of one ranged read. In memory at once: Parallel
// chunks downloading or downloaded ahead of the decompressor, one being
// checksummed, one handed on and one being read (newPartStream). The
// decompressor takes a chunk in about 30 ms at the speed it decodes, a
// chunk downloads in a fraction of that from a store nearby: more chunks
// ahead, or larger ones (8 MiB and twice as many ahead: 150 MB peak RSS
// against 82 MB restoring 1.6 GB), bought no speed.
const chunkSize = 4 << 20

// ErrChecksum means a downloaded part does not match the size or SHA-256 its
// manifest recorded.
var ErrChecksum = errors.New("backup part does not match its manifest")

// partStream is the concatenation of an archive's parts, downloaded in
// ranged chunks by parallel workers and delivered in order, each part's
// SHA-256 checked against the manifest before its last chunk is delivered.
// Checksumming runs on a goroutine of its own (check), beside the
// decompressor that reads the stream: on the reader's goroutine it was a
// sixth of the work the decompressor waited for.
type partStream struct {
	ctx    context.Context
	cancel context.CancelFunc
	order  chan *chunkJob
	ready  chan *chunkJob
	cur    *chunkJob
	buf    []byte
	// downloaded counts bytes handed to the reader.
	downloaded *atomic.Int64
	err        error
	wg         sync.WaitGroup
}

type chunkJob struct {
	part       backup.Part
	off, n     int64
	first      bool // first chunk of its part
	last       bool // last chunk of its part
	done       chan struct{}
	data       []byte
	err        error
	releaseBuf func()
}

var chunkPool = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

func newPartStream(ctx context.Context, store objectstore.Store, parts []backup.Part, parallel int, downloaded *atomic.Int64) *partStream {
	ctx, cancel := context.WithCancel(ctx)
	s := &partStream{ctx: ctx, cancel: cancel, order: make(chan *chunkJob, parallel), ready: make(chan *chunkJob, 1), downloaded: downloaded}
	work := make(chan *chunkJob)
	rr, ranged := store.(objectstore.RangeReader)
	for i := 0; i < parallel; i++ {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for j := range work {
				j.err = fetchChunk(ctx, store, rr, ranged, j)
				close(j.done)
			}
		}()
	}
	go func() {
		defer close(s.order)
		defer close(work)
		for _, p := range parts {
			size := chunkSize
			if !ranged {
				size = int(max(p.Size, 1)) // one Get per part
			}
			for off := int64(0); off < p.Size || (off == 0 && p.Size == 0); off += int64(size) {
				j := &chunkJob{part: p, off: off, n: min(int64(size), p.Size-off), first: off == 0,
					done: make(chan struct{})}
				j.last = off+j.n >= p.Size
				// order is bounded: at most cap(order) chunks wait downloaded
				// ahead of the reader, which bounds memory.
				select {
				case s.order <- j:
				case <-ctx.Done():
					return
				}
				select {
				case work <- j:
				case <-ctx.Done():
					j.err = ctx.Err()
					close(j.done)
					return
				}
				if p.Size == 0 {
					break
				}
			}
		}
	}()
	s.wg.Add(1)
	go s.check()
	return s
}

// check hands the downloaded chunks to the reader in order, each part's
// SHA-256 computed as its chunks pass and compared with the manifest's
// before the part's last chunk is handed on: a part that does not match
// never reaches the reader whole.
func (s *partStream) check() {
	defer s.wg.Done()
	defer close(s.ready)
	var h hash.Hash
	for j := range s.order {
		select {
		case <-j.done:
		case <-s.ctx.Done():
			return
		}
		if j.err == nil {
			if j.first {
				h = sha256.New()
			}
			h.Write(j.data)
			if j.last {
				if got := hex.EncodeToString(h.Sum(nil)); got != j.part.SHA256 {
					j.err = fmt.Errorf("%w: %s has SHA-256 %s, the manifest records %s", ErrChecksum, j.part.Key, got, j.part.SHA256)
				}
			}
		}
		select {
		case s.ready <- j:
		case <-s.ctx.Done():
			return
		}
		if j.err != nil {
			return
		}
	}
}

func fetchChunk(ctx context.Context, store objectstore.Store, rr objectstore.RangeReader, ranged bool, j *chunkJob) error {
	var err error
	for attempt := 0; attempt < 4; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt) * 500 * time.Millisecond):
			}
		}
		var body io.ReadCloser
		if ranged {
			body, err = rr.GetRange(ctx, j.part.Key, j.off, j.n)
		} else {
			body, _, err = store.Get(ctx, j.part.Key)
		}
		if errors.Is(err, objectstore.ErrNotFound) {
			return fmt.Errorf("backup part %s: %w", j.part.Key, err)
		}
		if err != nil {
			continue
		}
		var buf []byte
		if j.n <= chunkSize {
			bp := chunkPool.Get().(*[]byte)
			buf = (*bp)[:j.n]
			j.releaseBuf = func() { chunkPool.Put(bp) }
		} else {
			buf = make([]byte, j.n)
			j.releaseBuf = func() {}
		}
		var n int
		n, err = io.ReadFull(body, buf)
		if err == nil && !ranged {
			// The whole object: it must end where the manifest says.
			var one [1]byte
			if m, _ := body.Read(one[:]); m > 0 {
				err = fmt.Errorf("%w: %s is larger than the recorded %d bytes", ErrChecksum, j.part.Key, j.part.Size)
			}
		}
		body.Close()
		if err == nil {
			j.data = buf[:n]
			return nil
		}
		j.releaseBuf()
		j.releaseBuf = nil
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, ErrChecksum) {
			return fmt.Errorf("%w: %s is shorter than the recorded %d bytes", ErrChecksum, j.part.Key, j.part.Size)
		}
	}
	return fmt.Errorf("downloading %s: %w", j.part.Key, err)
}

func (s *partStream) Read(p []byte) (int, error) {
	for len(s.buf) == 0 {
		if s.err != nil {
			return 0, s.err
		}
		if s.cur != nil {
			if s.cur.releaseBuf != nil {
				s.cur.releaseBuf()
			}
			s.cur = nil
		}
		var j *chunkJob
		var ok bool
		select {
		case j, ok = <-s.ready:
		case <-s.ctx.Done():
			s.err = s.ctx.Err()
			return 0, s.err
		}
		if !ok {
			// check stops early only when the context is done or after
			// handing on a failed chunk.
			if s.err = s.ctx.Err(); s.err == nil {
				s.err = io.EOF
			}
			return 0, s.err
		}
		if j.err != nil {
			s.err = j.err
			return 0, s.err
		}
		s.cur, s.buf = j, j.data
		s.downloaded.Add(int64(len(j.data)))
	}
	n := copy(p, s.buf)
	s.buf = s.buf[n:]
	return n, nil
}

// Close stops the workers.
func (s *partStream) Close() {
	s.cancel()
	// Drain so the producer, the workers and check exit.
	for range s.ready {
	}
	for j := range s.order {
		<-j.done
	}
	s.wg.Wait()
}

// extractArchive streams one archive of the backup into dir.
func extractArchive(ctx context.Context, store objectstore.Store, a backup.Archive, enc *crypt.Info, ids *crypt.Keyring,
	dir string, own owner, parallel int, downloaded, extracted *atomic.Int64, sy *fileSyncer) error {
	name, encrypted := strings.CutSuffix(a.Name, ".age")
	if encrypted != (enc != nil) {
		return fmt.Errorf("archive %s: its name and the manifest's encryption (%v) disagree", a.Name, enc)
	}
	ext := name[strings.LastIndexByte(name, '.')+1:]
	method, ok := compression.ByExt(ext)
	if !ok {
		if ext != "tar" {
			return fmt.Errorf("archive %s: unknown compression extension %q", a.Name, ext)
		}
		method, _ = compression.Lookup(compression.None)
	}
	ps := newPartStream(ctx, store, a.Parts, parallel, downloaded)
	defer ps.Close()
	// Parts download in parallel and are checked against their stored
	// checksums; decryption (one stream, ChaCha20-Poly1305 at several
	// hundred MB/s a core) sits between them and decompression.
	var stored io.Reader = ps
	if enc != nil {
		d, err := ids.NewReader(ps, enc, "archive "+a.Name)
		if err != nil {
			return err
		}
		stored = d
	}

	// One stream, decoded as it arrives (in a cgo build by the C library:
	// see compression.NewStreamReader), while other goroutines download
	// and checksum (partStream) and this one writes (untar).
	dec, err := method.NewStreamReader(stored)
	if err != nil {
		return err
	}
	defer dec.Close()
	// The decoder runs ahead on a goroutine of its own while this one
	// untars and writes (aheadReader). Deferred after dec.Close, so it runs
	// first: the stream is cancelled, which ends a read in progress, and
	// the decoder is closed only once nothing reads it.
	r := newAheadReader(dec)
	defer func() {
		ps.cancel()
		r.stopAndWait()
	}()
	if err := untar(r, dir, own, extracted, sy); err != nil {
		return fmt.Errorf("extracting %s: %w", a.Name, err)
	}
	// Read to the end of the stream, so every part's checksum is checked
	// (tar's end-of-archive blocks may leave padding unread).
	if _, err := io.Copy(io.Discard, r); err != nil {
		return fmt.Errorf("extracting %s: %w", a.Name, err)
	}
	return nil
}

// owner is the account extracted files belong to (-1: leave as is).
type owner struct {
	uid, gid int
	name     string
}

func (o owner) chown(f *os.File) error {
	if o.uid < 0 {
		return nil
	}
	return f.Chown(o.uid, o.gid)
}

func (o owner) lchown(path string) error {
	if o.uid < 0 {
		return nil
	}
	return os.Lchown(path, o.uid, o.gid)
}

// lifeboatFile reports whether the data directory entry name is one a
// restore writes (ConfigFile, FailedFile, LogFile, SpoolDir and what is in
// it).
func lifeboatFile(name string) bool {
	return name == ConfigFile || name == FailedFile || name == LogFile || name == SpoolDir || strings.HasPrefix(name, SpoolDir+"/")
}

// untar extracts a PostgreSQL base backup tar into dir, handing every file
// and directory it creates to sy to be made durable. Only directories
// and regular files are expected (BASE_BACKUP sends tablespaces as
// tablespace_map, not symlinks); anything else, and any path leaving dir,
// is refused.
//
// Files are written on this goroutine in writeChunk pieces, the decoder
// running ahead on its own a few small buffers away (aheadReader): what is
// written was decoded moments before and is still in the shared cache.
// (Writing on goroutines of their own, from 4 MiB buffers, doubled the
// kernel's share of the restore: every copy into the page cache then read
// the data back from memory.)
func untar(r io.Reader, dir string, own owner, extracted *atomic.Int64, sy *fileSyncer) error {
	tr := tar.NewReader(r)
	buf := make([]byte, writeChunk)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Clean(h.Name)
		if filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("tar entry %q leaves the data directory", h.Name)
		}
		if lifeboatFile(name) {
			// A backup of a server that was itself restored holds the
			// files that restore left (older versions of
			// lifeboat-restore.json even with the repository's keys):
			// this restore writes its own, and never those.
			if _, err := io.Copy(io.Discard, tr); err != nil {
				return err
			}
			continue
		}
		path := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if name == "." {
				continue
			}
			if err := os.Mkdir(path, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
				return err
			}
			if err := own.lchown(path); err != nil {
				return err
			}
			sy.dir(path)
		case tar.TypeReg:
			f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, os.FileMode(h.Mode).Perm()&0o700|0o600)
			if err != nil {
				return err
			}
			n, err := writeFile(f, tr, buf)
			extracted.Add(n)
			if err == nil {
				err = own.chown(f)
			}
			if err != nil {
				f.Close()
				return err
			}
			// The syncer fdatasyncs and closes it beside the decoder.
			if err := sy.file(f); err != nil {
				return err
			}
		case tar.TypeSymlink:
			return fmt.Errorf("tar entry %q is a symlink to %q: %w (or a symlinked pg_wal)", h.Name, h.Linkname, ErrTablespaces)
		default:
			return fmt.Errorf("tar entry %q has unsupported type %q", h.Name, h.Typeflag)
		}
	}
}

// writeChunk is the size of one write into a restored file: large enough
// that system calls cost little, small enough that the decoded data is
// still in the core's cache when it is copied into the page cache.
const writeChunk = 1 << 20

// writeFile copies r into f in pieces of len(buf) (one write each: os.File's
// ReadFrom, which io.CopyBuffer would call, writes 32 KiB at a time whatever
// buffer is offered) and starts the writeback of every writebackChunk
// written, and of the tail, so the disk works while decoding goes on.
func writeFile(f *os.File, r io.Reader, buf []byte) (int64, error) {
	var written, queued int64
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			m, werr := f.Write(buf[:n])
			written += int64(m)
			if werr != nil {
				return written, werr
			}
			if written-queued >= writebackChunk {
				startWriteback(f, queued, written-queued)
				queued = written
			}
		}
		if rerr == io.EOF {
			startWriteback(f, queued, written-queued)
			return written, nil
		}
		if rerr != nil {
			return written, rerr
		}
	}
}
