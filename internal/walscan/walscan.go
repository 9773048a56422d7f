// Package walscan reads archived WAL records: it fetches segments from the
// repository (decompressed and checksum-verified, as restore_command does)
// and decodes them with pg_waldump of the server's version. It finds what a
// restore can target that the catalog does not list: named restore points,
// transactions by id, and the transactions that changed a table.
package walscan

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/catalog"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/pg"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/wal"
)

// RelFileNode names a relation's files as WAL does: tablespace, database
// and relfilenode (pg_class.relfilenode, or pg_relation_filenode()).
type RelFileNode struct {
	Tablespace, Database, Node uint32
}

// Record is one decoded WAL record.
type Record struct {
	// Rmgr is the resource manager (Heap, Heap2, Transaction, XLOG, ...).
	Rmgr string
	// XID is the (sub)transaction that wrote it; 0 for none.
	XID uint32
	LSN wal.LSN
	// Desc is pg_waldump's description without the block references:
	// "DELETE off 3 flags 0x00 KEYS_UPDATED", "COMMIT 2026-11-30 10:20:01.123456 UTC",
	// "RESTORE_POINT before-upgrade".
	Desc string
	// Rels are the relations of its block references.
	Rels []RelFileNode
	// Segment is the file the record starts in.
	Segment string
}

// Op is the first word of Desc (DELETE, COMMIT, RESTORE_POINT, ...).
func (r Record) Op() string {
	op, _, _ := strings.Cut(r.Desc, " ")
	return op
}

// Options say which WAL Scan reads.
type Options struct {
	Layout repo.Layout
	// BinDir holds pg_waldump; "" = pg.BinDir().
	BinDir string
	// From and To are segment numbers (inclusive) of the view passed to
	// Scan; To 0 means the newest.
	From, To uint64
	// Chunk is how many segments are fetched at once (disk use is
	// Chunk segments); 0 = 16.
	Chunk int
	// Identities decrypt encrypted segments (nil: none held).
	Identities *crypt.Keyring
}

// ErrWaldump means pg_waldump failed in the middle of the archived WAL
// (not at the end of what was fetched).
var ErrWaldump = errors.New("pg_waldump failed")

// Scan calls fn for every record of the view's segments From..To, in WAL
// order. The view (catalog.WALArchive.On) says which timeline each segment
// is read from, as recovery along that timeline would; a segment missing
// from the archive ends a run, and the next run starts after it. fn
// returning io.EOF stops the scan without error.
func Scan(ctx context.Context, store objectstore.Store, view *catalog.WALArchive, opts Options, fn func(Record) error) error {
	if opts.Chunk <= 0 {
		opts.Chunk = 16
	}
	bin := filepath.Join(binDir(opts.BinDir), "pg_waldump")
	var files []catalog.WALFile
	for _, f := range view.Files {
		if !f.IsSegment || f.Segment.No < opts.From || (opts.To != 0 && f.Segment.No > opts.To) {
			continue
		}
		files = append(files, f)
	}
	dir, err := os.MkdirTemp("", "lifeboat-walscan-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var last wal.LSN
	seen := false
	for i := 0; i < len(files); {
		// A chunk: consecutive segments of one timeline (pg_waldump reads
		// one), at most opts.Chunk of them.
		j := i + 1
		for j < len(files) && j-i < opts.Chunk && files[j].Segment.No == files[j-1].Segment.No+1 &&
			files[j].Segment.Timeline == files[i].Segment.Timeline {
			j++
		}
		chunk := files[i:j]
		err := scanChunk(ctx, store, wal.Config{Layout: opts.Layout, Identities: opts.Identities}, bin, dir, chunk, view.SegmentSize, func(r Record) error {
			// Chunks overlap by one segment (a record may start in the
			// last segment of one and end in the next): skip repeats.
			if seen && r.LSN <= last {
				return nil
			}
			seen, last = true, r.LSN
			return fn(r)
		})
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		next := j
		// Overlap: start the next chunk at this chunk's last segment when
		// it continues the same run on the same timeline.
		if j < len(files) && j-i > 1 && files[j].Segment.No == files[j-1].Segment.No+1 &&
			files[j].Segment.Timeline == files[j-1].Segment.Timeline {
			next = j - 1
		}
		i = next
	}
	return nil
}

// scanChunk fetches chunk into dir, runs pg_waldump over it and removes
// the files again.
func scanChunk(ctx context.Context, store objectstore.Store, cfg wal.Config, bin, dir string, chunk []catalog.WALFile, segSize uint64,
	fn func(Record) error) error {
	for _, f := range chunk {
		if _, err := wal.Fetch(ctx, store, cfg, f.Name, filepath.Join(dir, f.Name)); err != nil {
			return fmt.Errorf("fetching %s: %w", f.Name, err)
		}
	}
	defer func() {
		for _, f := range chunk {
			os.Remove(filepath.Join(dir, f.Name))
		}
	}()
	args := []string{"--path=" + dir, chunk[0].Name, chunk[len(chunk)-1].Name}
	cmd := exec.CommandContext(ctx, bin, args...)
	// Commit times in UTC: pg_waldump prints them in the local zone.
	cmd.Env = append(os.Environ(), "TZ=UTC")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%w: starting %s: %w", ErrWaldump, bin, err)
	}
	var fnErr error
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		if fnErr != nil {
			continue // drain, so pg_waldump can exit
		}
		r, ok := ParseLine(sc.Text())
		if !ok {
			continue
		}
		r.Segment = wal.SegmentOf(chunk[0].Segment.Timeline, r.LSN, segSize).Name(segSize)
		fnErr = fn(r)
	}
	werr := cmd.Wait()
	if fnErr != nil {
		return fnErr
	}
	if werr != nil && !endOfChunk(stderr.String()) {
		return fmt.Errorf("%w on %s..%s: %w: %s", ErrWaldump, chunk[0].Name, chunk[len(chunk)-1].Name, werr, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// endOfChunk tells pg_waldump's complaint about the end of the files it
// was given (a record running on into a segment not fetched, or the zeros
// after the last record of an archive) from damage in the middle.
func endOfChunk(stderr string) bool {
	for _, s := range []string{"could not find file", "invalid record length", "could not read file", "missing contrecord",
		"invalid magic number 0000", "record with incorrect prev-link"} {
		if strings.Contains(stderr, s) {
			return true
		}
	}
	return false
}

var (
	lineRe = regexp.MustCompile(`^rmgr: (\S+)\s+len \(rec/tot\):\s*\d+/\s*\d+, tx:\s*(\d+), lsn: ([0-9A-Fa-f]+/[0-9A-Fa-f]+), prev [0-9A-Fa-f]+/[0-9A-Fa-f]+, desc: (.*)$`)
	relRe  = regexp.MustCompile(`rel (\d+)/(\d+)/(\d+)`)
)

// ParseLine reads one line of pg_waldump's output (PostgreSQL 15's form).
func ParseLine(line string) (Record, bool) {
	m := lineRe.FindStringSubmatch(line)
	if m == nil {
		return Record{}, false
	}
	xid, err := strconv.ParseUint(m[2], 10, 32)
	if err != nil {
		return Record{}, false
	}
	lsn, err := wal.ParseLSN(m[3])
	if err != nil {
		return Record{}, false
	}
	r := Record{Rmgr: m[1], XID: uint32(xid), LSN: lsn}
	desc, refs, _ := strings.Cut(m[4], ", blkref #")
	r.Desc = strings.TrimSpace(desc)
	for _, rm := range relRe.FindAllStringSubmatch(refs, -1) {
		var n [3]uint32
		for i := range n {
			v, _ := strconv.ParseUint(rm[i+1], 10, 32)
			n[i] = uint32(v)
		}
		rel := RelFileNode{Tablespace: n[0], Database: n[1], Node: n[2]}
		dup := false
		for _, x := range r.Rels {
			dup = dup || x == rel
		}
		if !dup {
			r.Rels = append(r.Rels, rel)
		}
	}
	return r, true
}

func binDir(d string) string {
	if d == "" {
		return pg.BinDir()
	}
	return d
}
