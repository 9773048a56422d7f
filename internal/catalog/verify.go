package catalog

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/compression"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/wal"
)

// ErrVerifyFailed means a backup failed verification; the *VerifyError
// wrapping it names the failing objects.
var ErrVerifyFailed = errors.New("backup verification failed")

// Problem is one failed check, naming the object it concerns.
type Problem struct {
	// Object is the key (bucket-relative) of the failing object, or of the
	// missing one.
	Object string `json:"object"`
	Reason string `json:"reason"`
}

// VerifyReport is what Verify checked and found.
type VerifyReport struct {
	ID   string `json:"id"`
	Kind string `json:"kind"`
	// Objects and Bytes count the stored objects re-read.
	Objects int   `json:"objects"`
	Bytes   int64 `json:"bytes"`
	// Files is the number of data files checked against PostgreSQL's
	// backup_manifest (size and CRC-32C).
	Files int `json:"files,omitempty"`
	// WALFrom and WALTo bound the WAL continuity check.
	WALFrom     string    `json:"wal_from,omitempty"`
	WALTo       string    `json:"wal_to,omitempty"`
	WALSegments int       `json:"wal_segments,omitempty"`
	Problems    []Problem `json:"problems,omitempty"`
	// NotDecrypted counts encrypted objects no identity held decrypts:
	// their stored bytes were checked (the SHA-256 a manifest records, for
	// parts and dumps) but not their content (data files, WAL checksums,
	// which cover the original bytes). A verification with the restorer's
	// identity checks everything.
	NotDecrypted int `json:"not_decrypted,omitempty"`
}

// OK reports whether every check passed.
func (r *VerifyReport) OK() bool { return len(r.Problems) == 0 }

// Err is nil when every check passed, else a *VerifyError.
func (r *VerifyReport) Err() error {
	if r.OK() {
		return nil
	}
	return &VerifyError{Report: r}
}

// VerifyError is a failed verification; its message names the first
// failing object.
type VerifyError struct{ Report *VerifyReport }

func (e *VerifyError) Error() string {
	p := e.Report.Problems[0]
	more := ""
	if n := len(e.Report.Problems) - 1; n > 0 {
		more = fmt.Sprintf(" (and %d more problems)", n)
	}
	return fmt.Sprintf("%v: %s %s: %s: %s%s", ErrVerifyFailed, e.Report.Kind, e.Report.ID, p.Object, p.Reason, more)
}

// Unwrap lets errors.Is(err, ErrVerifyFailed) match.
func (e *VerifyError) Unwrap() error { return ErrVerifyFailed }

// Verify re-reads backup id and returns what it found; a failed check is a
// Problem in the report, not an error (see VerifyReport.Err). An id that
// names no complete backup returns an error wrapping backup.ErrNoManifest.
//
// For a physical backup it checks the size and SHA-256 of every stored
// part and of PostgreSQL's backup_manifest, decompresses and reads every
// archive as tar, checks each data file's size and CRC-32C against the
// backup_manifest (what pg_verifybackup does), and checks that the WAL
// archive holds every segment from the backup's first one to the newest
// archived segment, and re-reads each of those segments and every
// timeline history file, checking their decompressed content against the
// size and SHA-256 stored with them (what a restore's wal-fetch checks).
// For a tenant id it checks every dump with that id.
func Verify(ctx context.Context, store objectstore.Store, l repo.Layout, id string) (*VerifyReport, error) {
	return VerifyWith(ctx, store, l, id, nil)
}

// VerifyWith is Verify with identities that decrypt an encrypted backup's
// content; what they do not decrypt is counted in NotDecrypted, its stored
// checksums still checked.
func VerifyWith(ctx context.Context, store objectstore.Store, l repo.Layout, id string, ids *crypt.Keyring) (*VerifyReport, error) {
	m, err := backup.ReadManifest(ctx, store, l, id)
	if err == nil {
		return verifyPhysical(ctx, store, l, m, ids)
	}
	if !errors.Is(err, backup.ErrNoManifest) {
		return nil, err
	}
	c, lerr := Load(ctx, store, l)
	if lerr != nil {
		return nil, lerr
	}
	r := &VerifyReport{ID: id, Kind: backup.KindTenant}
	found := false
	for _, t := range c.Tenant {
		if t.ID == id {
			found = true
			if ids.Check("", t.Encryption) != nil {
				r.NotDecrypted++
				verifyPart(ctx, store, t.Dump, r, func(io.Reader) error { return nil })
				continue
			}
			verifyPart(ctx, store, t.Dump, r, func(r io.Reader) error {
				if t.Encryption != nil {
					var err error
					if r, err = ids.NewReader(r, t.Encryption, "dump "+t.ID); err != nil {
						return err
					}
				}
				magic := make([]byte, 5)
				if _, err := io.ReadFull(r, magic); err != nil || string(magic) != "PGDMP" {
					return errors.New("not a pg_dump custom-format archive")
				}
				_, err := io.Copy(io.Discard, r)
				return err
			})
		}
	}
	if !found {
		return nil, fmt.Errorf("backup %q: %w", id, err)
	}
	return r, nil
}

func verifyPhysical(ctx context.Context, store objectstore.Store, l repo.Layout, m *backup.Manifest, ids *crypt.Keyring) (*VerifyReport, error) {
	r := &VerifyReport{ID: m.ID, Kind: backup.KindPhysical}
	// decrypt reads an encrypted object's content, or nil when no identity
	// held decrypts it (only its stored bytes are checked then).
	decrypt := func(rd io.Reader, what string) (io.Reader, error) {
		if m.Encryption == nil {
			return rd, nil
		}
		return ids.NewReader(rd, m.Encryption, what)
	}
	readable := ids.Check("", m.Encryption) == nil

	// PostgreSQL's manifest: stored bytes, then the file list.
	var files map[string]pgFile
	if m.BackupManifest == nil {
		r.Problems = append(r.Problems, Problem{Object: l.BackupObjectKey(m.ID, repo.BackupPGManifest), Reason: "not recorded in manifest.json"})
	} else {
		verifyPart(ctx, store, *m.BackupManifest, r, func(rd io.Reader) error {
			if !readable {
				r.NotDecrypted++
				return nil
			}
			rd, err := decrypt(rd, repo.BackupPGManifest)
			if err != nil {
				return err
			}
			files, err = parsePGManifest(rd)
			return err
		})
	}

	for _, a := range m.Archives {
		prefix := ""
		if a.TablespaceOID != "" {
			prefix = "pg_tblspc/" + a.TablespaceOID + "/"
		}
		if !readable {
			r.NotDecrypted++
		}
		verifyArchive(ctx, store, a, prefix, files, r, readable, decrypt)
	}
	for path, f := range files {
		if !f.seen {
			r.Problems = append(r.Problems, Problem{Object: l.BackupDir(m.ID), Reason: fmt.Sprintf("file %s listed in backup_manifest is in no archive", path)})
		}
	}

	// WAL continuity from the backup's first segment to the newest one.
	a, err := ListWAL(ctx, store, l, m.WALSegmentSize)
	if err != nil {
		return nil, err
	}
	start, err := wal.ParseSegment(m.WALStart, a.SegmentSize)
	if err != nil {
		return nil, fmt.Errorf("manifest of %s: %w", m.ID, err)
	}
	stop, err := wal.ParseSegment(m.WALStop, a.SegmentSize)
	if err != nil {
		return nil, fmt.Errorf("manifest of %s: %w", m.ID, err)
	}
	to := stop
	if n, ok := a.Newest(); ok && n.Segment.No > to.No {
		to = n.Segment
	}
	r.WALFrom, r.WALTo = m.WALStart, to.Name(a.SegmentSize)
	for no := start.No; no <= to.No; no++ {
		if a.Has(no) {
			r.WALSegments++
		}
	}
	for _, g := range a.Gaps(start.No, to.No, to.Timeline) {
		obj := l.WALTimelineDir(fmt.Sprintf("%08X", to.Timeline)) + g.From
		reason := "WAL segment missing from the archive"
		if g.Missing > 1 {
			reason = fmt.Sprintf("WAL segments %s to %s (%d) missing from the archive", g.From, g.To, g.Missing)
		}
		r.Problems = append(r.Problems, Problem{Object: obj, Reason: reason})
	}
	r.Problems = append(r.Problems, timelineGaps(l, a, m, start.No)...)
	var segs []WALFile
	for _, f := range a.Files {
		if f.IsSegment && f.Segment.No >= start.No && f.Segment.No <= to.No {
			segs = append(segs, f)
		}
	}
	verifyWAL(ctx, store, segs, ids, r)
	// Timeline history files: a restore reads them to follow the timeline
	// (ListWAL already re-read each against its stored checksum).
	for _, t := range a.sortedTimelines() {
		if t.HistoryError != "" {
			obj, reason, _ := strings.Cut(t.HistoryError, ": ")
			r.Problems = append(r.Problems, Problem{Object: obj, Reason: "timeline history file unreadable: " + reason})
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return r, nil
}

// timelineGaps checks WAL continuity along the history of every timeline
// the backup lies on, not only the newest: a restore with
// recovery_target_timeline = 1 (the old primary's branch after a
// failover) reads timeline 1's segments past the switch, which the
// whole-archive index hides behind the newer timeline's files of the same
// numbers. Each gap names the timeline whose restores it breaks.
//
// A gap every segment of which is missing on all timelines is left out: the
// whole-archive check above reports it already.
func timelineGaps(l repo.Layout, a *WALArchive, m *backup.Manifest, from uint64) []Problem {
	var out []Problem
	for _, t := range a.TimelineList() {
		v, err := a.On(t.ID)
		if err != nil || !v.OnPath(m) || len(v.Files) == 0 {
			continue
		}
		to := v.Files[len(v.Files)-1].Segment.No
		if to < from {
			continue
		}
		for _, g := range v.Gaps(from, to, t.ID) {
			first, _ := wal.ParseSegment(g.From, a.SegmentSize)
			hidden := false
			for no := first.No; no < first.No+g.Missing; no++ {
				hidden = hidden || a.Has(no)
			}
			if !hidden {
				continue
			}
			reason := fmt.Sprintf("WAL segment missing from timeline %d's history (a restore along timeline %d stops there)", t.ID, t.ID)
			if g.Missing > 1 {
				reason = fmt.Sprintf("WAL segments %s to %s (%d) missing from timeline %d's history (a restore along timeline %d stops there)",
					g.From, g.To, g.Missing, t.ID, t.ID)
			}
			out = append(out, Problem{Object: l.WALTimelineDir(g.From[:8]) + g.From, Reason: reason})
		}
	}
	return out
}

// walVerifyWorkers is how many archived WAL segments are re-read at once:
// each is a small object, so latency, not bandwidth, bounds the rate.
const walVerifyWorkers = 4

// verifyWAL re-reads every segment a restore from the backup would fetch,
// decompresses it and checks it against the checksum stored with it (what
// wal-fetch checks before PostgreSQL sees it): a segment that is present
// but changed fails here, not in the middle of a restore.
func verifyWAL(ctx context.Context, store objectstore.Store, segs []WALFile, ids *crypt.Keyring, r *VerifyReport) {
	problems := make([]*Problem, len(segs))
	sizes := make([]int64, len(segs))
	var notDecrypted atomic.Int64
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(walVerifyWorkers, len(segs)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f := segs[i]
				sizes[i] = f.Size
				_, err := wal.VerifyWith(ctx, store, f.Key, ids)
				if errors.Is(err, crypt.ErrNoIdentity) {
					notDecrypted.Add(1)
					continue
				}
				if err != nil {
					reason := "cannot verify: " + err.Error()
					var ce *wal.ChecksumError
					if errors.As(err, &ce) {
						reason = fmt.Sprintf("WAL segment content does not match the checksum stored with it: sha256 %s (%d bytes), want %s (%d bytes)",
							ce.Got, ce.Size, ce.Want, ce.WantSize)
					}
					problems[i] = &Problem{Object: f.Key, Reason: reason}
				}
			}
		}()
	}
	for i := range segs {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	r.NotDecrypted += int(notDecrypted.Load())
	for i := range segs {
		r.Objects++
		r.Bytes += sizes[i]
		if problems[i] != nil {
			r.Problems = append(r.Problems, *problems[i])
		}
	}
}

// verifyPart re-reads one stored object, checks its size and SHA-256, and
// hands its bytes to check (which must read them to the end).
func verifyPart(ctx context.Context, store objectstore.Store, p backup.Part, r *VerifyReport, check func(io.Reader) error) {
	body, _, err := store.Get(ctx, p.Key)
	if err != nil {
		r.Problems = append(r.Problems, Problem{Object: p.Key, Reason: "cannot read: " + err.Error()})
		return
	}
	defer body.Close()
	h := sha256.New()
	cr := &countReader{r: io.TeeReader(body, h)}
	checkErr := check(cr)
	_, _ = io.Copy(io.Discard, cr)
	r.Objects++
	r.Bytes += cr.n
	if got := hex.EncodeToString(h.Sum(nil)); got != p.SHA256 || cr.n != p.Size {
		r.Problems = append(r.Problems, Problem{Object: p.Key,
			Reason: fmt.Sprintf("stored object does not match the manifest: sha256 %s (%d bytes), want %s (%d bytes)", got, cr.n, p.SHA256, p.Size)})
		return
	}
	if checkErr != nil {
		r.Problems = append(r.Problems, Problem{Object: p.Key, Reason: checkErr.Error()})
	}
}

// verifyArchive checks every part of one archive, and reads the archive
// (the parts concatenated) as a compressed tar.
func verifyArchive(ctx context.Context, store objectstore.Store, a backup.Archive, prefix string, files map[string]pgFile, r *VerifyReport,
	readable bool, decrypt func(io.Reader, string) (io.Reader, error)) {
	if len(a.Parts) == 0 {
		r.Problems = append(r.Problems, Problem{Object: a.Name, Reason: "archive has no parts"})
		return
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	// The tar reader runs beside the part checks: its findings go to a
	// report of its own, merged after the parts' so that a part whose bytes
	// changed is named first.
	tr := &VerifyReport{}
	go func() {
		var err error
		if !readable {
			// Encrypted, and no identity: the parts' stored checksums
			// are all that can be checked.
			_, err = io.Copy(io.Discard, pr)
		} else {
			var rd io.Reader
			if rd, err = decrypt(pr, a.Name); err == nil {
				err = readTar(rd, a, prefix, files, tr)
			}
		}
		pr.CloseWithError(errOr(err, io.ErrClosedPipe))
		done <- err
	}()
	partsOK := true
	for _, p := range a.Parts {
		before := len(r.Problems)
		verifyPart(ctx, store, p, r, func(rd io.Reader) error {
			_, err := io.Copy(pw, rd)
			if err != nil && !errors.Is(err, io.ErrClosedPipe) {
				return nil // the tar reader failed: reported below
			}
			return nil
		})
		if len(r.Problems) > before {
			partsOK = false
		}
	}
	pw.Close()
	err := <-done
	r.Files += tr.Files
	r.Problems = append(r.Problems, tr.Problems...)
	if err != nil && partsOK {
		// Every part matches what was stored, yet the archive does not
		// read: the stream was broken when written.
		r.Problems = append(r.Problems, Problem{Object: a.Parts[0].Key, Reason: fmt.Sprintf("archive %s does not read as a %s tar: %v", a.Name, a.Compression, err)})
	}
}

func readTar(rd io.Reader, a backup.Archive, prefix string, files map[string]pgFile, r *VerifyReport) error {
	method, err := compression.Lookup(a.Compression)
	if err != nil {
		return err
	}
	zr, err := method.NewReader(rd)
	if err != nil {
		return err
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	crc := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		name := prefix + strings.TrimPrefix(hdr.Name, "./")
		f, listed := files[name]
		crc.Reset()
		n, err := io.Copy(crc, tr)
		if err != nil {
			return err
		}
		if !listed {
			continue
		}
		f.seen = true
		files[name] = f
		r.Files++
		if n != f.Size {
			r.Problems = append(r.Problems, Problem{Object: a.Parts[0].Key, Reason: fmt.Sprintf("file %s in %s: %d bytes, backup_manifest says %d", name, a.Name, n, f.Size)})
			continue
		}
		if f.Algorithm == "CRC32C" {
			// NOTE: PostgreSQL prints the CRC in memory order, which is
			// little-endian on every platform it runs on.
			var sum [4]byte
			binary.LittleEndian.PutUint32(sum[:], crc.Sum32())
			if got := hex.EncodeToString(sum[:]); got != strings.ToLower(f.Checksum) {
				r.Problems = append(r.Problems, Problem{Object: a.Parts[0].Key, Reason: fmt.Sprintf("file %s in %s: CRC-32C %s, backup_manifest says %s", name, a.Name, got, f.Checksum)})
			}
		}
	}
}

type pgFile struct {
	Size      int64
	Algorithm string
	Checksum  string
	seen      bool
}

// parsePGManifest reads PostgreSQL's backup_manifest (JSON, version 1).
func parsePGManifest(r io.Reader) (map[string]pgFile, error) {
	var doc struct {
		Version int `json:"PostgreSQL-Backup-Manifest-Version"`
		Files   []struct {
			Path      string `json:"Path"`
			Size      int64  `json:"Size"`
			Algorithm string `json:"Checksum-Algorithm"`
			Checksum  string `json:"Checksum"`
		} `json:"Files"`
	}
	if err := json.NewDecoder(r).Decode(&doc); err != nil {
		return nil, fmt.Errorf("backup_manifest is not valid JSON: %w", err)
	}
	if doc.Version != 1 {
		return nil, fmt.Errorf("backup_manifest version %d, want 1", doc.Version)
	}
	files := make(map[string]pgFile, len(doc.Files))
	for _, f := range doc.Files {
		files[f.Path] = pgFile{Size: f.Size, Algorithm: f.Algorithm, Checksum: f.Checksum}
	}
	return files, nil
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func errOr(err, def error) error {
	if err != nil {
		return err
	}
	return def
}
