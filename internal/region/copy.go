package region

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// MetaSourceETag is the destination object metadata naming the source
// object's ETag it was copied from: a copy interrupted before its index
// segment was written is recognised (and verified, not written again).
const MetaSourceETag = "lifeboat-source-etag"

// ErrMismatch means an object read back from the destination is not what
// was read from the source (or what the index recorded), or that what the
// copy read from the source is not what its manifest records.
var ErrMismatch = errors.New("destination object differs from the source")

// ErrSourceMismatch means the bytes read from the source do not have the
// SHA-256 the manifest naming them records: the source object is not the
// one its writer made. Nothing of it is recorded as verified.
var ErrSourceMismatch = errors.New("source object differs from the digest its manifest records")

// MismatchError names the object and both digests; a destination that
// refused the bytes on arrival has no Got, and Refused says what it said.
// With Source, Want is the manifest's digest and Got the SHA-256 of the
// bytes read from the source (and sent: Kept says the destination keeps
// that version, unrecorded, when it could not be removed).
type MismatchError struct {
	Key       string
	Want, Got string
	Refused   error
	Source    bool
	Kept      string
	// Checksum names the digests' kind: "" for SHA-256, "CRC32C".
	Checksum string
}

func (e *MismatchError) Error() string {
	if e.Source {
		msg := fmt.Sprintf("%s: the source object has SHA-256 %s, its manifest records %s: not recorded as verified", e.Key, e.Got, e.Want)
		if e.Kept != "" {
			msg += "; the destination keeps the copy of it as version " + e.Kept + " (not recorded, never referred to by a copied manifest)"
		}
		return msg
	}
	kind := cmp.Or(e.Checksum, "SHA-256")
	if e.Refused != nil {
		return fmt.Sprintf("%s: the destination refused the bytes it received, not of %s %s: %v", e.Key, kind, e.Want, e.Refused)
	}
	return fmt.Sprintf("%s: destination %s %s, want %s", e.Key, kind, e.Got, e.Want)
}

// Unwrap lets errors.Is(err, ErrMismatch) match (and ErrSourceMismatch
// for a source that differs from its manifest).
func (e *MismatchError) Unwrap() []error {
	if e.Source {
		return []error{ErrMismatch, ErrSourceMismatch}
	}
	return []error{ErrMismatch}
}

// Options configures a copy, a verification or a status of one recovery
// region of one cluster. The destination holds the same keys as the source.
type Options struct {
	// Name is the recovery region's name (its index and canary keys).
	Name   string
	Layout repo.Layout
	Source objectstore.Store
	Dest   objectstore.Store
	// Workers copy objects in parallel (default 8).
	Workers int
	// FlushEvery is how often a long pass appends what it verified to the
	// index (default 10s), so a killed agent redoes little.
	FlushEvery time.Duration
	Now        func() time.Time
	Log        *slog.Logger
}

func (o *Options) defaults() error {
	if o.Name == "" || o.Source == nil || o.Dest == nil || o.Layout.Cluster == "" {
		return errors.New("region: name, cluster, source and destination are required")
	}
	if o.Source.Bucket() == o.Dest.Bucket() && sameStore(o.Source, o.Dest) {
		return errors.New("region: the destination is the source bucket")
	}
	if o.Workers <= 0 {
		o.Workers = 8
	}
	if o.FlushEvery <= 0 {
		o.FlushEvery = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return nil
}

// sameStore is true when both are one Go value (the same store object):
// two stores of one bucket name on two endpoints are two regions.
func sameStore(a, b objectstore.Store) bool { return a == b }

// skipped are the folders never copied: the agents' leases, run records
// and heartbeats (operational, rewritten all the time), the requests the
// provider hands the primary's agents (agents started on the region must
// not act on them), and the regions' own objects.
var skipped = []repo.Folder{repo.FolderLeases, repo.FolderJobs, repo.FolderAgents, repo.FolderRequests, repo.FolderRegions}

// Copyable reports whether key of the repository is copied to a recovery
// region.
func Copyable(l repo.Layout, key string) bool {
	if !strings.HasPrefix(key, l.RootDir()) {
		return false
	}
	for _, f := range skipped {
		if strings.HasPrefix(key, l.Dir(f)) {
			return false
		}
	}
	return true
}

// phase orders the copy: data first, then what refers to data (manifests,
// timeline history), each only once what it names is verified.
type phase int

const (
	phaseData phase = iota
	phaseManifest
)

func phaseOf(l repo.Layout, key string) phase {
	k, ok := l.Parse(key)
	if !ok {
		return phaseData
	}
	switch k.Kind {
	case repo.KindBackupManifest, repo.KindTenantManifest, repo.KindRedisManifest:
		return phaseManifest
	case repo.KindWAL:
		if strings.HasSuffix(k.Name, ".history") {
			return phaseManifest
		}
	}
	return phaseData
}

// Copy runs one pass: the canary round trip, then every copyable object of
// the cluster not yet verified at the destination (new or changed since),
// data before the manifests and timeline histories that refer to it, each
// read back and compared by SHA-256. What it verified is appended to the
// index at the destination as it goes. The returned status is also
// recorded there; a pass with failures returns it with an error.
func Copy(ctx context.Context, o Options) (*Status, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	idx, err := ReadIndex(ctx, o.Dest, o.Layout, o.Name)
	if err != nil {
		return nil, err
	}
	c := &copier{o: o, idx: idx, fresh: map[string]Entry{}, lastFlush: o.Now(), digests: map[string]string{}}
	st := &Status{}
	rtt, err := c.canary(ctx)
	if err != nil {
		return nil, fmt.Errorf("canary round trip: %w", err)
	}
	st.CanaryRTTSeconds = rtt.Seconds()

	st.ListedAt = o.Now().UTC()
	var todo []objectstore.ObjectInfo
	// The region's own document goes too: with the primary gone, the
	// activation plan reads its groups from the destination (signed, so
	// it verifies there under the same key).
	own := o.Layout.RegionConfigKey(o.Name)
	err = o.Source.List(ctx, o.Layout.RootDir(), func(obj objectstore.ObjectInfo) error {
		if !Copyable(o.Layout, obj.Key) && obj.Key != own {
			return nil
		}
		if e, ok := idx.Entries[obj.Key]; ok && e.ETag == obj.ETag && e.Size == obj.Size {
			return nil
		}
		todo = append(todo, obj)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing the source %s/%s: %w", o.Source.Bucket(), o.Layout.RootDir(), err)
	}
	var data, refs []objectstore.ObjectInfo
	for _, obj := range todo {
		if phaseOf(o.Layout, obj.Key) == phaseManifest {
			refs = append(refs, obj)
		} else {
			data = append(data, obj)
		}
	}
	c.learn(ctx, refs)
	failed := map[string]error{}
	c.run(ctx, data, failed)
	// Manifests and histories whose referents are not verified wait for
	// a later pass: they are pending, not failed.
	var ready []objectstore.ObjectInfo
	for _, obj := range refs {
		if ok, why := c.ready(ctx, obj, failed, data); ok {
			ready = append(ready, obj)
		} else {
			o.Log.Debug("waiting for what it refers to", "key", obj.Key, "reason", why)
		}
	}
	c.run(ctx, ready, failed)

	for _, obj := range todo {
		if _, ok := c.verified(obj); ok {
			st.Copied++
			st.CopiedBytes += obj.Size
			continue
		}
		st.PendingObjects++
		st.PendingBytes += obj.Size
		if st.OldestPending.IsZero() || obj.LastModified.Before(st.OldestPending) {
			st.OldestPending = obj.LastModified.UTC()
		}
	}
	var errs []error
	keys := make([]string, 0, len(failed))
	for k := range failed {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		errs = append(errs, failed[k])
	}
	st.Failures = len(errs)
	if len(errs) > 0 {
		st.LastError = errs[0].Error()
	}
	st.Finished = o.Now().UTC()
	// NOTE: without the caller's cancellation: what was verified before a
	// shutdown is worth recording.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if ferr := c.flush(wctx, st); ferr != nil {
		errs = append(errs, ferr)
	}
	if len(errs) > 0 {
		return st, &CopyError{Failed: len(errs), Errs: errs}
	}
	return st, ctx.Err()
}

// CopyError is a pass in which some objects could not be copied or
// verified; they stay pending and are retried by the next pass.
type CopyError struct {
	Failed int
	Errs   []error
}

func (e *CopyError) Error() string {
	msg := fmt.Sprintf("%d object(s) not copied: %v", e.Failed, e.Errs[0])
	if len(e.Errs) > 1 {
		msg += fmt.Sprintf(" (and %d more)", len(e.Errs)-1)
	}
	return msg
}

// Unwrap lets errors.Is see each failure (ErrUnreachable, ErrMismatch...).
func (e *CopyError) Unwrap() []error { return e.Errs }

type copier struct {
	o   Options
	idx *Index

	mu        sync.Mutex
	fresh     map[string]Entry // verified, not yet in a segment
	lastFlush time.Time
	// digests are the SHA-256 the pending manifests record, by key.
	digests map[string]string
	// unchecked is set once the destination answered a checked put
	// without the checksum it checked: the rest is read back.
	unchecked atomic.Bool
}

func (c *copier) verified(obj objectstore.ObjectInfo) (Entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.fresh[obj.Key]
	if !ok {
		e, ok = c.idx.Entries[obj.Key]
	}
	return e, ok && e.ETag == obj.ETag && e.Size == obj.Size
}

func (c *copier) entry(key string) (Entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.fresh[key]; ok {
		return e, true
	}
	e, ok := c.idx.Entries[key]
	return e, ok
}

// run copies objs with the workers; failures are collected by key.
func (c *copier) run(ctx context.Context, objs []objectstore.ObjectInfo, failed map[string]error) {
	var fmu sync.Mutex
	parallel(ctx, c.o.Workers, objs, func(obj objectstore.ObjectInfo) {
		e, err := c.copyOne(ctx, obj)
		if err != nil {
			fmu.Lock()
			failed[obj.Key] = err
			fmu.Unlock()
			return
		}
		c.record(ctx, obj.Key, e)
	})
}

// parallel calls fn for each of items on at most workers goroutines, hands
// out no more items once ctx is done, and returns when every call has.
func parallel[T any](ctx context.Context, workers int, items []T, fn func(T)) {
	work := make(chan T)
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range work {
				fn(it)
			}
		}()
	}
	for _, it := range items {
		if ctx.Err() != nil {
			break
		}
		work <- it
	}
	close(work)
	wg.Wait()
}

// record notes a verified object and appends the index every FlushEvery.
func (c *copier) record(ctx context.Context, key string, e Entry) {
	c.mu.Lock()
	c.fresh[key] = e
	due := c.o.Now().Sub(c.lastFlush) >= c.o.FlushEvery
	c.mu.Unlock()
	if due {
		if err := c.flush(ctx, nil); err != nil {
			c.o.Log.Warn("appending the copy index (kept for the next flush)", "err", err)
		}
	}
}

func (c *copier) flush(ctx context.Context, st *Status) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastFlush = c.o.Now()
	fresh := c.fresh
	if err := c.idx.append(ctx, c.o.Dest, c.o.Layout, c.o.Name, fresh, nil, st, c.o.Now()); err != nil {
		return err
	}
	c.fresh = map[string]Entry{}
	return nil
}

// copyOne copies obj, verified on arrival: the destination checks a
// checksum of what it receives and stores nothing otherwise. For an object
// a manifest names, the checksum is the manifest's SHA-256, sent ahead
// (the destination hashes, the copy does not). For any other, a CRC32C
// sent after the body (objectstore.PutOptions.VerifyCRC32C), the copy
// computing the SHA-256 and the CRC32C of the bytes it streams in one
// pass: the destination's CRC32C check ties what it stored to the bytes
// the copy hashed. An object a manifest names is recorded only with the
// manifest's SHA-256: a source object that is not what its writer made
// never is. A destination that does not confirm the checksum it checked
// is read back instead. An object already at the destination from the
// same source version (a pass killed before its index segment) is
// verified without being written again.
func (c *copier) copyOne(ctx context.Context, obj objectstore.ObjectInfo) (Entry, error) {
	want := c.named(obj.Key)
	if _, known := c.entry(obj.Key); !known {
		if d, err := headSHA256(ctx, c.o.Dest, obj.Key); err == nil && d.Metadata[MetaSourceETag] == obj.ETag && d.Size == obj.Size {
			e, err := c.resume(ctx, obj, d, want)
			if err == nil {
				return e, nil
			}
			if errors.Is(err, ErrSourceMismatch) {
				return Entry{}, err
			}
			// Not the same bytes after all: write it again below.
		}
	}
	rc, info, err := c.o.Source.Get(ctx, obj.Key)
	if err != nil {
		return Entry{}, fmt.Errorf("reading %s from the source: %w", obj.Key, err)
	}
	defer rc.Close()
	meta := make(map[string]string, len(info.Metadata)+1)
	for k, v := range info.Metadata {
		meta[k] = v
	}
	meta[MetaSourceETag] = info.ETag
	// entry is the verified object, once sum (the SHA-256 of the bytes
	// the destination stored) is the manifest's digest where it names one.
	entry := func(sum, version string) (Entry, error) {
		if want != "" && sum != want {
			return Entry{}, &MismatchError{Key: obj.Key, Want: want, Got: sum, Source: true, Kept: version}
		}
		return Entry{ETag: info.ETag, Size: info.Size, SHA256: sum, Modified: info.LastModified.UTC(), Verified: c.o.Now().UTC()}, nil
	}
	if info.Size > objectstore.MaxVerifiedPut || c.unchecked.Load() {
		// Too large for one request, or a destination that does not
		// check: hashed as it streams, then read back.
		sum, version, err := c.putReadBack(ctx, obj.Key, rc, info.Size, meta)
		if err != nil {
			return Entry{}, err
		}
		return entry(sum, version)
	}
	// The checksum the destination checks on arrival: the SHA-256 the
	// manifest records, when one names obj (sent ahead: the destination
	// hashes and the copy does not, one SHA-256 of these bytes in all),
	// else a CRC32C (sent after the body: the copy hashes the SHA-256 as
	// the bytes stream, the destination only the CRC32C).
	po := objectstore.PutOptions{Size: info.Size, Metadata: meta, VerifySHA256: want != "", SHA256: want, VerifyCRC32C: want == ""}
	put, err := c.o.Dest.Put(ctx, obj.Key, rc, po)
	checked := put.CRC32CChecked
	if po.VerifySHA256 {
		checked = put.SHA256Checked
	}
	if errors.Is(err, objectstore.ErrChecksumMismatch) {
		if po.VerifySHA256 {
			// The bytes are not the manifest's: changed in transit, or
			// in the source.
			return Entry{}, &MismatchError{Key: obj.Key, Want: cmp.Or(want, put.SHA256, "the bytes read from the source"), Refused: err}
		}
		return Entry{}, &MismatchError{Key: obj.Key, Want: cmp.Or(put.CRC32C, "the bytes read from the source"), Refused: err, Checksum: "CRC32C"}
	}
	// again writes obj once more, plainly, and reads it back.
	again := func() (Entry, error) {
		rc.Close()
		body, _, err := c.o.Source.Get(ctx, obj.Key)
		if err != nil {
			return Entry{}, fmt.Errorf("reading %s from the source: %w", obj.Key, err)
		}
		defer body.Close()
		sum, version, err := c.putReadBack(ctx, obj.Key, body, info.Size, meta)
		if err != nil {
			return Entry{}, err
		}
		return entry(sum, version)
	}
	if err != nil {
		if !refusedChecksum(ctx, err) {
			return Entry{}, fmt.Errorf("writing %s to the destination: %w", obj.Key, err)
		}
		// A store that refuses the checksum's encoding (no S3
		// additional checksums): the rest of the pass is read back.
		c.unchecked.Store(true)
		c.o.Log.Warn("the destination refused a put checked on arrival: writing plainly and reading objects back", "key", obj.Key, "err", err)
		return again()
	}
	if !checked {
		// The destination answered no checksum: it may have checked none.
		// Read this one back, and write the rest of the pass plainly.
		c.unchecked.Store(true)
		c.o.Log.Warn("the destination does not confirm the checksum it checked on arrival: reading objects back", "key", obj.Key)
		if err := c.readBack(ctx, obj.Key, put.SHA256); err != nil {
			// A store that does not know the checksum's encoding may
			// have kept it as content: write it again, plainly.
			return again()
		}
	}
	return entry(put.SHA256, put.VersionID)
}

// refusedChecksum reports whether a failed put checked on arrival may have
// failed for the checksum itself (a store that does not take S3 additional
// checksums or their aws-chunked encoding), so a plain put may succeed:
// not for a cancelled pass, an unreachable store, denied keys, a lock or a
// missing bucket.
func refusedChecksum(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	for _, e := range []error{objectstore.ErrUnreachable, objectstore.ErrAccessDenied, objectstore.ErrObjectLocked,
		objectstore.ErrBucketNotFound, objectstore.ErrExists, objectstore.ErrNoObjectLock, context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, e) {
			return false
		}
	}
	return true
}

// putReadBack writes body to key hashing it as it streams, then reads it
// back from the destination and compares: for what the destination cannot
// be asked to check on arrival. It returns the digest and the version
// written.
func (c *copier) putReadBack(ctx context.Context, key string, body io.Reader, size int64, meta map[string]string) (string, string, error) {
	h := sha256.New()
	// A large body streams from part buffers: each worker's copy is a
	// stream of its own beside the others (objectstore.ReserveStreams).
	release := objectstore.ReserveStreams(1)
	put, err := c.o.Dest.Put(ctx, key, io.TeeReader(body, h), objectstore.PutOptions{Size: size, Metadata: meta})
	release()
	if err != nil {
		return "", "", fmt.Errorf("writing %s to the destination: %w", key, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	return sum, put.VersionID, c.readBack(ctx, key, sum)
}

// resume verifies an object found at the destination (d) from the same
// source version as obj but not in the index, against the source's
// digest (want, from a manifest, or read): by the checksum the
// destination checked on arrival and keeps, a CRC32C (compared with the
// source's, read once for both digests) or a SHA-256 (written so by
// earlier versions); without one, by reading it back.
func (c *copier) resume(ctx context.Context, obj, d objectstore.ObjectInfo, want string) (Entry, error) {
	info := obj
	if d.CRC32C != "" && d.SHA256 == "" {
		sum, crc, src, err := c.sourceDigests(ctx, obj.Key)
		if err != nil {
			return Entry{}, err
		}
		if want != "" && sum != want {
			return Entry{}, &MismatchError{Key: obj.Key, Want: want, Got: sum, Source: true, Kept: d.VersionID}
		}
		if crc != d.CRC32C {
			return Entry{}, &MismatchError{Key: obj.Key, Want: crc, Got: d.CRC32C, Checksum: "CRC32C"}
		}
		return Entry{ETag: src.ETag, Size: src.Size, SHA256: sum, Modified: src.LastModified.UTC(), Verified: c.o.Now().UTC()}, nil
	}
	if want == "" {
		var err error
		if want, _, info, err = c.sourceDigests(ctx, obj.Key); err != nil {
			return Entry{}, err
		}
	}
	if d.SHA256 == "" {
		if err := c.readBack(ctx, obj.Key, want); err != nil {
			return Entry{}, err
		}
	} else if d.SHA256 != want {
		return Entry{}, &MismatchError{Key: obj.Key, Want: want, Got: d.SHA256}
	}
	return Entry{ETag: info.ETag, Size: info.Size, SHA256: want, Modified: info.LastModified.UTC(), Verified: c.o.Now().UTC()}, nil
}

// headSHA256 is Head with the SHA-256 the store keeps, where it can say.
func headSHA256(ctx context.Context, s objectstore.Store, key string) (objectstore.ObjectInfo, error) {
	if h, ok := s.(objectstore.ChecksumHeader); ok {
		return h.HeadSHA256(ctx, key)
	}
	return s.Head(ctx, key)
}

// named is the SHA-256 a pending manifest records for key ("" if none).
func (c *copier) named(key string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.digests[key]
}

// learn notes the digests the pending manifests record for the objects
// they name, before the data they name is copied: those objects are
// checked on arrival against the digest their writer recorded, and the
// copy need not hash them.
func (c *copier) learn(ctx context.Context, refs []objectstore.ObjectInfo) {
	for _, obj := range refs {
		k, _ := c.o.Layout.Parse(obj.Key)
		var named []part
		switch k.Kind {
		case repo.KindBackupManifest:
			var m backupManifest
			if err := readJSON(ctx, c.o.Source, obj.Key, &m); err != nil {
				continue // ready() says why, later
			}
			named = m.parts()
		case repo.KindTenantManifest:
			var m tenantManifest
			if err := readJSON(ctx, c.o.Source, obj.Key, &m); err != nil {
				continue
			}
			named = []part{{Key: cmp.Or(m.Dump.Key, c.o.Layout.TenantDumpKey(k.Database, k.ID)), SHA256: m.Dump.SHA256}}
		}
		c.mu.Lock()
		for _, p := range named {
			if len(p.SHA256) == 2*sha256.Size {
				c.digests[p.Key] = p.SHA256
			}
		}
		c.mu.Unlock()
	}
}

// sourceDigests reads key from the source in full and returns its
// SHA-256 and CRC32C (hex).
func (c *copier) sourceDigests(ctx context.Context, key string) (string, string, objectstore.ObjectInfo, error) {
	rc, info, err := c.o.Source.Get(ctx, key)
	if err != nil {
		return "", "", info, fmt.Errorf("reading %s from the source: %w", key, err)
	}
	defer rc.Close()
	h, crc := sha256.New(), crc32.New(crc32.MakeTable(crc32.Castagnoli))
	if _, err := io.Copy(io.MultiWriter(h, crc), rc); err != nil {
		return "", "", info, fmt.Errorf("reading %s from the source: %w", key, err)
	}
	return hex.EncodeToString(h.Sum(nil)), hex.EncodeToString(crc.Sum(nil)), info, nil
}

// readBack reads key from the destination and compares its SHA-256.
func (c *copier) readBack(ctx context.Context, key, want string) error {
	got, err := digest(ctx, c.o.Dest, key)
	if err != nil {
		return fmt.Errorf("verifying %s at the destination: %w", key, err)
	}
	if got != want {
		return &MismatchError{Key: key, Want: want, Got: got}
	}
	return nil
}

// digest reads key from s in full and returns its SHA-256. NOTE: by a
// range of the whole object where the store can: an S3 SDK validates the
// checksum a store keeps on a plain GET (a SHA-256 for what the copy
// wrote), which would hash every byte twice; a range it leaves alone.
func digest(ctx context.Context, s objectstore.Store, key string) (string, error) {
	var rc io.ReadCloser
	if rr, ok := s.(objectstore.RangeReader); ok {
		info, err := s.Head(ctx, key)
		if err != nil {
			return "", err
		}
		if rc, err = rr.GetRange(ctx, key, 0, info.Size); err != nil {
			return "", err
		}
	} else {
		var err error
		if rc, _, err = s.Get(ctx, key); err != nil {
			return "", err
		}
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ready reports whether obj (a manifest or a timeline history) may be
// copied: everything it refers to is verified at the destination.
func (c *copier) ready(ctx context.Context, obj objectstore.ObjectInfo, failed map[string]error, data []objectstore.ObjectInfo) (bool, string) {
	l := c.o.Layout
	k, _ := l.Parse(obj.Key)
	has := func(key, sha string) bool {
		e, ok := c.entry(key)
		return ok && (sha == "" || e.SHA256 == sha)
	}
	switch k.Kind {
	case repo.KindBackupManifest:
		var m backupManifest
		if err := readJSON(ctx, c.o.Source, obj.Key, &m); err != nil {
			return false, err.Error()
		}
		parts := m.parts()
		for _, p := range parts {
			if !has(p.Key, p.SHA256) {
				return false, p.Key + " not verified at the destination"
			}
		}
		for _, w := range []string{m.WALStart, m.WALStop} {
			if w != "" && !c.hasWAL(w) {
				return false, "WAL " + w + " not verified at the destination"
			}
		}
		return true, ""
	case repo.KindTenantManifest:
		var m tenantManifest
		if err := readJSON(ctx, c.o.Source, obj.Key, &m); err != nil {
			return false, err.Error()
		}
		key := m.Dump.Key
		if key == "" {
			key = l.TenantDumpKey(k.Database, k.ID)
		}
		if !has(key, m.Dump.SHA256) {
			return false, key + " not verified at the destination"
		}
		return true, ""
	case repo.KindRedisManifest:
		prefix := l.RedisDir() + k.Instance + "/" + k.ID + ".rdb."
		c.mu.Lock()
		defer c.mu.Unlock()
		for key := range c.fresh {
			if strings.HasPrefix(key, prefix) {
				return true, ""
			}
		}
		for key := range c.idx.Entries {
			if strings.HasPrefix(key, prefix) {
				return true, ""
			}
		}
		return false, "no snapshot " + prefix + "* verified at the destination"
	case repo.KindWAL:
		// A timeline history names the switch point on its parent
		// timelines: it goes once every WAL segment of an earlier
		// timeline in this pass is verified.
		tl, err := strconv.ParseUint(k.Timeline, 16, 32)
		if err != nil {
			return false, err.Error()
		}
		for _, d := range data {
			dk, ok := l.Parse(d.Key)
			if !ok || dk.Kind != repo.KindWAL {
				continue
			}
			dtl, _ := strconv.ParseUint(dk.Timeline, 16, 32)
			if dtl < tl {
				if _, bad := failed[d.Key]; bad {
					return false, d.Key + " not verified at the destination"
				}
				if _, ok := c.verified(d); !ok {
					return false, d.Key + " not verified at the destination"
				}
			}
		}
		return true, ""
	}
	return true, ""
}

// hasWAL reports whether WAL file name (any timeline directory, any codec)
// is verified at the destination.
func (c *copier) hasWAL(name string) bool {
	l := c.o.Layout
	c.mu.Lock()
	defer c.mu.Unlock()
	match := func(key string) bool {
		k, ok := l.Parse(key)
		return ok && k.Kind == repo.KindWAL && k.Name == name
	}
	if len(name) >= 8 {
		// Segments live in their timeline's directory: look there first.
		prefix := l.WALTimelineDir(name[:8]) + name + "."
		for key := range c.fresh {
			if strings.HasPrefix(key, prefix) && match(key) {
				return true
			}
		}
		for key := range c.idx.Entries {
			if strings.HasPrefix(key, prefix) && match(key) {
				return true
			}
		}
	}
	return false
}

// backupManifest is the part of a base backup manifest the copy needs: the
// objects it names and the WAL it starts and stops in. NOTE: decoded here
// rather than with the backup package, which would make the copy depend on
// the writer of the data it only moves.
type backupManifest struct {
	WALStart string `json:"wal_start"`
	WALStop  string `json:"wal_stop"`
	Archives []struct {
		Parts []part `json:"parts"`
	} `json:"archives"`
	BackupManifest *part `json:"backup_manifest"`
}

// tenantManifest is the part of a tenant dump manifest the copy needs.
type tenantManifest struct {
	Dump part `json:"dump"`
}

type part struct {
	Key    string `json:"key"`
	SHA256 string `json:"sha256"`
}

func (m backupManifest) parts() []part {
	var out []part
	for _, a := range m.Archives {
		out = append(out, a.Parts...)
	}
	if m.BackupManifest != nil {
		out = append(out, *m.BackupManifest)
	}
	return out
}

func readJSON(ctx context.Context, s objectstore.Store, key string, v any) error {
	rc, _, err := s.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("reading %s: %w", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 64<<20))
	if err != nil {
		return fmt.Errorf("reading %s: %w", key, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}

// canary writes the canary in the source, copies it and reads it back from
// the destination: the round trip of one object through the copy.
func (c *copier) canary(ctx context.Context) (time.Duration, error) {
	key := c.o.Layout.RegionCanaryKey(c.o.Name)
	start := c.o.Now()
	body := []byte(start.UTC().Format(time.RFC3339Nano) + "\n")
	if _, err := c.o.Source.Put(ctx, key, bytes.NewReader(body), objectstore.PutOptions{Size: int64(len(body))}); err != nil {
		return 0, fmt.Errorf("writing the canary in the source: %w", err)
	}
	info, err := c.o.Source.Head(ctx, key)
	if err != nil {
		return 0, fmt.Errorf("reading the canary in the source: %w", err)
	}
	if _, err := c.copyOne(ctx, info); err != nil {
		return 0, err
	}
	return c.o.Now().Sub(start), nil
}
