package wal

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/compression"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// Object metadata keys (S3 user metadata, lower case).
const (
	MetaSHA256   = "lifeboat-sha256"
	MetaSize     = "lifeboat-size"
	MetaSystemID = "lifeboat-system-id"
	// MetaWritten is when PostgreSQL last wrote the file (its mtime, RFC
	// 3339): for a completed segment, when it became ready to archive.
	// The object's own time minus it is how long the segment waited to be
	// archived, the lag a report plots over time.
	MetaWritten = "lifeboat-written"
)

// Config says where WAL goes and how it is written.
type Config struct {
	// Layout is the cluster's repository in the bucket.
	Layout repo.Layout
	// Compression is the codec for new objects: zstd (default), lz4, none.
	// Reads ignore it: an object is read by its own extension.
	Compression string
	// SystemIdentifier is the system identifier of the cluster whose WAL
	// is pushed (SystemIdentifier(pgdata)). Push requires it.
	SystemIdentifier uint64
	// Compressors is how many goroutines compress one file (0: GOMAXPROCS,
	// one per processor the process may use). A process that runs more
	// processors than compressors (wal-push: see spareProcessors) lets
	// compression start at once, beside the repository checks.
	Compressors int
	// Recipients, when set, are what Push encrypts segments and .partial
	// files to, after compressing them (see encrypts).
	Recipients *crypt.Recipients
	// Identities decrypt encrypted files for Fetch (nil: none held, and an
	// encrypted file fails with a *crypt.MissingIdentityError).
	Identities *crypt.Keyring
	// Confirm, when set, is asked first among the repository checks (so
	// beside the compression) whether Compression and Recipients still
	// hold: wal-push sets it when they come from a local copy due to be
	// read again (see repo.ResolveWALPushSettingsAhead). Push writes
	// nothing before it has answered, and returns its error, if any.
	Confirm func(ctx context.Context) error

	// written is the file's mtime, set by Push for MetaWritten.
	written time.Time
}

// encrypts reports whether Push encrypts the WAL file name: segments and
// .partial files hold the data. Timeline .history files and .backup labels
// hold only locations and labels, and stay readable without identities:
// the catalog and every restore plan read them, on hosts that hold
// recipients only too.
func (c Config) encrypts(name string) bool {
	return c.Recipients != nil && !strings.HasSuffix(name, ".history") && !strings.HasSuffix(name, ".backup")
}

// key is the key Push stores name under.
func (c Config) key(tli, name string, method compression.Method) string {
	if c.encrypts(name) {
		return c.Layout.WALKeyEncrypted(tli, name, method.Ext, c.Recipients.Info().SetID())
	}
	return c.Layout.WALKey(tli, name, method.Ext)
}

// meta is the metadata of name's object.
func (c Config) meta(name, sum string, size int64) map[string]string {
	md := meta(sum, size, c.SystemIdentifier)
	if !c.written.IsZero() {
		md[MetaWritten] = c.written.UTC().Format(time.RFC3339Nano)
	}
	if c.encrypts(name) {
		md = c.Recipients.Info().Metadata(md)
	}
	return md
}

// PushResult reports what Push did.
type PushResult struct {
	// Key is the archived object.
	Key string
	// Size is the original file size and SHA256 its hex checksum.
	Size   int64
	SHA256 string
	// StoredSize is the number of bytes written; 0 when AlreadyArchived.
	StoredSize int64
	// AlreadyArchived is true when identical content was already archived,
	// so nothing was written.
	AlreadyArchived bool
	// VersionID and ETag are the stored object's, when the store reported
	// them (not when AlreadyArchived).
	VersionID, ETag string
}

// Push archives the WAL file at path (a segment, .partial, .history or
// .backup file). It returns only once the object store has acknowledged the
// object, or the identical file was found already archived. See the package
// comment for the safety rules.
func Push(ctx context.Context, store objectstore.Store, cfg Config, path string) (PushResult, error) {
	name := filepath.Base(path)
	tli, err := Timeline(name)
	if err != nil {
		return PushResult{}, err
	}
	method, err := compression.Lookup(cfg.Compression)
	if err != nil {
		return PushResult{}, err
	}
	f, err := os.Open(path)
	if err != nil {
		return PushResult{}, fmt.Errorf("opening WAL file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return PushResult{}, fmt.Errorf("opening WAL file: %w", err)
	}
	cfg.written = fi.ModTime()

	// The repository checks are round trips and compression is CPU work:
	// run them side by side. Nothing is written before both checks pass.
	type lookupResult struct {
		existing []objectstore.ObjectInfo
		err      error
	}
	lookup := make(chan lookupResult, 1)
	// The checks are a few round trips, each waiting for a Go processor:
	// when the compressors and the checksum hold them all, every reply
	// waits for the scheduler and the checks take several times longer.
	// So, in such a process, compression starts once they are done
	// (checksumming, a tenth of the work, runs alongside them). With a
	// processor to spare (wal-push), it starts at once.
	checked := make(chan struct{})
	workers, gate := cfg.compressors(), (<-chan struct{})(checked)
	if spareProcessors(workers) {
		gate = nil
	}
	go func() {
		defer close(checked)
		// The settings first: on the checks' connection (a second one
		// would cost another handshake), and when they changed, the
		// push starts over, so the other checks would be wasted.
		if cfg.Confirm != nil {
			if err := cfg.Confirm(ctx); err != nil {
				lookup <- lookupResult{err: err}
				return
			}
		}
		// Safety rule: never mix two clusters' WAL under one repository.
		if _, err := repo.EnsureCluster(ctx, store, cfg.Layout, cfg.SystemIdentifier); err != nil {
			lookup <- lookupResult{err: err}
			return
		}
		// Safety rule: look for the file under every codec, not only the
		// current one, so a change of compression cannot sneak a second,
		// different copy of a segment in beside the first.
		existing, err := locate(ctx, store, cfg.Layout, tli, name)
		lookup <- lookupResult{existing: existing, err: err}
	}()

	if fi.Size() > onePassLimit {
		l := <-lookup
		if l.err != nil {
			return PushResult{}, l.err
		}
		return pushStreaming(ctx, store, cfg, f, name, tli, method, l.existing)
	}

	// The file is compressed on every core while the repository is
	// checked; the upload starts as soon as the checks pass and the object's
	// length can be announced, with the last frames still being compressed
	// (encoding.payload).
	src := openSource(f, fi)
	defer src.release()
	enc := startEncoding(src.data, src.r, method, workers, gate)
	defer enc.close()
	sum, err := enc.checksum()
	if err != nil {
		return PushResult{}, fmt.Errorf("%s: %w", path, err)
	}
	res := PushResult{Size: fi.Size(), SHA256: sum}
	l := <-lookup
	if l.err != nil {
		return res, l.err
	}
	if len(l.existing) > 0 {
		return verifyArchived(ctx, store, l.existing, res)
	}
	res.Key = cfg.key(tli, name, method)
	up, err := enc.payload(src.changed)
	if err == nil && cfg.encrypts(name) {
		up, err = up.encrypted(cfg.Recipients)
	}
	if err != nil {
		return res, fmt.Errorf("%s: %w", path, err)
	}
	put := func(up *payload) error {
		info, err := store.Put(ctx, res.Key, up.body, objectstore.PutOptions{
			IfAbsent: true,
			Size:     up.length,
			Metadata: cfg.meta(name, sum, res.Size),
		})
		if serr := up.finish(); serr != nil {
			return serr // the cause, whatever the store made of it
		}
		res.VersionID, res.ETag = info.VersionID, info.ETag
		return err
	}
	err = put(up)
	if errors.Is(err, errMispredicted) {
		// Nothing was stored: upload the exact object instead.
		if up, err = enc.exact(src.changed); err == nil && cfg.encrypts(name) {
			up, err = up.encrypted(cfg.Recipients)
		}
		if err == nil {
			err = put(up)
		}
	}
	if errors.Is(err, objectstore.ErrExists) {
		return lostRace(ctx, store, res, err)
	}
	if err != nil {
		return res, fmt.Errorf("archiving %s: %w", name, err)
	}
	res.StoredSize = up.length
	return res, nil
}

// compressors is Config.Compressors, or GOMAXPROCS: GOMAXPROCS follows the
// container's CPU limit, where NumCPU does not.
func (c Config) compressors() int {
	if c.Compressors > 0 {
		return c.Compressors
	}
	return runtime.GOMAXPROCS(0)
}

// spareProcessors reports whether the Go scheduler has a processor left for
// the network while workers compress and the checksum runs. A cgo
// compressor holds its processor until the runtime's monitor takes it back
// (up to 10 ms later when idle) and the checksum never yields, so without a
// spare one a reply can wait that long for a processor, whatever the cores
// are doing. wal-push runs two processors more than it has cores (the cores
// still share out the work).
func spareProcessors(workers int) bool { return runtime.GOMAXPROCS(0) >= workers+2 }

// onePassLimit is the largest file Push compresses in memory; larger ones
// (wal_segment_size goes up to 1 GiB) are streamed in two passes.
const onePassLimit = 64 << 20

func meta(sum string, size int64, sysid uint64) map[string]string {
	return map[string]string{
		MetaSHA256:   sum,
		MetaSize:     strconv.FormatInt(size, 10),
		MetaSystemID: strconv.FormatUint(sysid, 10),
	}
}

// lostRace handles a conditional put that found the key taken: another
// pusher of the same file won. It is fine only if that pusher wrote the
// same bytes (safety rule).
func lostRace(ctx context.Context, store objectstore.Store, res PushResult, putErr error) (PushResult, error) {
	info, herr := store.Head(ctx, res.Key)
	if herr != nil {
		return res, fmt.Errorf("%w (and then: %w)", putErr, herr)
	}
	return verifyArchived(ctx, store, []objectstore.ObjectInfo{info}, res)
}

// pushStreaming archives a large file in two passes: checksum first (the
// metadata must be known before the upload starts), then compress into a
// streaming multipart upload, so memory stays bounded whatever the size.
func pushStreaming(ctx context.Context, store objectstore.Store, cfg Config, f *os.File, name, tli string, method compression.Method, existing []objectstore.ObjectInfo) (PushResult, error) {
	h := sha256.New()
	size, err := io.Copy(h, f)
	if err != nil {
		return PushResult{}, fmt.Errorf("reading %s: %w", name, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	res := PushResult{Size: size, SHA256: sum}
	if len(existing) > 0 {
		return verifyArchived(ctx, store, existing, res)
	}
	res.Key = cfg.key(tli, name, method)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return res, err
	}
	var recipients *crypt.Recipients
	if cfg.encrypts(name) {
		recipients = cfg.Recipients
	}
	stored, info, err := upload(ctx, store, res.Key, f, method, recipients, sum, cfg.meta(name, sum, size))
	if errors.Is(err, objectstore.ErrExists) {
		return lostRace(ctx, store, res, err)
	}
	if err != nil {
		return res, fmt.Errorf("archiving %s: %w", name, err)
	}
	res.StoredSize = stored
	res.VersionID, res.ETag = info.VersionID, info.ETag
	return res, nil
}

// verifyArchived accepts a push whose file is already archived with the
// same checksum, and refuses it otherwise. Nothing is written either way.
func verifyArchived(ctx context.Context, store objectstore.Store, objs []objectstore.ObjectInfo, res PushResult) (PushResult, error) {
	for _, obj := range objs {
		if obj.Metadata == nil { // List results carry no metadata
			info, err := store.Head(ctx, obj.Key)
			if err != nil {
				return res, err
			}
			obj = info
		}
		if got := obj.Metadata[MetaSHA256]; got != res.SHA256 {
			return res, &ConflictError{Key: store.Bucket() + "/" + obj.Key, Archived: got, Pushed: res.SHA256}
		}
		res.Key = obj.Key
	}
	res.AlreadyArchived = true
	return res, nil
}

// upload streams f through the codec (and then encryption to recipients,
// when set) into key with a conditional put and returns the number of
// bytes stored.
//
// The compressor writes into a pipe the store reads from, so memory stays
// bounded by the store's part buffer, whatever the file size. The bytes are
// checksummed again on the way through: if the file changed since the first
// pass, the pipe fails before the stream ends, and the put is aborted
// instead of storing bytes that do not match their recorded checksum.
func upload(ctx context.Context, store objectstore.Store, key string, f io.Reader, method compression.Method, recipients *crypt.Recipients, sum string, meta map[string]string) (int64, objectstore.ObjectInfo, error) {
	pr, pw := io.Pipe()
	counter := &countingWriter{w: pw}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var out io.Writer = counter
		var ew *crypt.Writer
		if recipients != nil {
			var err error
			if ew, err = recipients.NewWriter(counter); err != nil {
				pw.CloseWithError(err)
				return
			}
			out = ew
		}
		zw, err := method.NewWriter(out)
		if err != nil {
			pw.CloseWithError(err)
			return
		}
		h := sha256.New()
		_, err = io.Copy(io.MultiWriter(zw, h), f)
		if err == nil && hex.EncodeToString(h.Sum(nil)) != sum {
			err = errors.New("the file changed while it was being archived")
		}
		if err != nil {
			pw.CloseWithError(err)
			zw.Close() // releases the encoder; its writes now fail harmlessly
			return
		}
		err = zw.Close()
		if err == nil && ew != nil {
			err = ew.Close()
		}
		pw.CloseWithError(err) // nil: clean EOF
	}()
	// Pushes side by side (wal-push --parallel, the agent) are a stream each.
	release := objectstore.ReserveStreams(1)
	info, err := store.Put(ctx, key, pr, objectstore.PutOptions{IfAbsent: true, Size: -1, Metadata: meta})
	release()
	// Unblock the compressor if the store stopped reading early.
	pr.CloseWithError(errors.New("upload ended"))
	<-done
	return counter.n, info, err
}

// locate lists the archived objects of WAL file name of timeline tli,
// whatever their codec and encryption, in codec order (default first;
// unencrypted before encrypted within a codec).
func locate(ctx context.Context, store objectstore.Store, l repo.Layout, tli, name string) ([]objectstore.ObjectInfo, error) {
	type found struct {
		info  objectstore.ObjectInfo
		order int
	}
	var all []found
	err := store.List(ctx, l.WALTimelineDir(tli)+name+".", func(info objectstore.ObjectInfo) error {
		// NOTE: the prefix also matches longer names (a segment's prefix
		// matches its .partial file): keep exact "<name>.<codec ext>[...]" only.
		k, ok := l.Parse(info.Key)
		if !ok || k.Kind != repo.KindWAL || k.Name != name {
			return nil
		}
		order := slices.IndexFunc(compression.Methods, func(m compression.Method) bool { return m.Ext == k.Ext }) * 2
		if k.RecipientSet != "" {
			order++
		}
		all = append(all, found{info: info, order: order})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("looking up %s in the archive: %w", name, err)
	}
	slices.SortStableFunc(all, func(a, b found) int { return a.order - b.order })
	out := make([]objectstore.ObjectInfo, len(all))
	for i, f := range all {
		out[i] = f.info
	}
	return out, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
