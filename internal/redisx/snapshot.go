package redisx

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/compression"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// SnapshotFormat is the snapshot manifest format this package writes and reads.
const SnapshotFormat = 1

// ErrSaveFailed says the BGSAVE a snapshot asked for failed on the server.
var ErrSaveFailed = errors.New("BGSAVE failed")

// ErrSnapshotNotFound says no complete snapshot (one with its manifest) exists.
var ErrSnapshotNotFound = errors.New("redis snapshot not found")

// ErrChecksumMismatch says restored bytes differ from what the manifest recorded.
var ErrChecksumMismatch = errors.New("redis snapshot checksum mismatch")

// SnapshotManifest describes one stored RDB snapshot. It is written last:
// a snapshot exists only once its manifest does (safety rule 6).
type SnapshotManifest struct {
	Format      int       `json:"format"`
	Instance    string    `json:"instance"`
	ID          string    `json:"id"`
	TakenAt     time.Time `json:"taken_at"` // when the BGSAVE finished
	Key         string    `json:"key"`      // the stored RDB object
	Compression string    `json:"compression"`
	// RDBSize and RDBSHA256 are the RDB file's; StoredSize and
	// StoredSHA256 the stored (compressed) object's.
	RDBSize      int64  `json:"rdb_size"`
	RDBSHA256    string `json:"rdb_sha256"`
	StoredSize   int64  `json:"stored_size"`
	StoredSHA256 string `json:"stored_sha256"`
	RedisVersion string `json:"redis_version"`
	// Encryption says which age recipients the stored object is encrypted
	// to (nil: not encrypted); the RDB is compressed, then encrypted.
	Encryption *crypt.Info `json:"encryption,omitempty"`
}

// SnapshotOptions configure Snapshot.
type SnapshotOptions struct {
	Layout   repo.Layout
	Instance string // the instance's name in the repository
	// Compression is a codec name (compression.Lookup); empty is the default.
	Compression string
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
	// Recipients, when set, encrypt the snapshot (after compression), as
	// base backups and dumps are: the signed policy's or the agent's.
	Recipients *crypt.Recipients
}

// Snapshot takes an RDB snapshot of the server c reaches and stores it in
// the repository: BGSAVE, wait until that save completed (rdb_saves moved
// past its value before the request), then stream the RDB file from the
// server's dir through the codec into the store, sha256 on both sides, and
// write the manifest last. It must run on the Redis host: the RDB file is
// read from CONFIG GET dir/dbfilename.
func Snapshot(ctx context.Context, c *redis.Client, store objectstore.Store, opts SnapshotOptions) (*SnapshotManifest, error) {
	if !repo.KeySafe(opts.Instance) {
		return nil, fmt.Errorf("%w: instance name %q: want 1-128 letters, digits, '.', '_' or '-'", ErrInvalidSetting, opts.Instance)
	}
	method, err := compression.Lookup(opts.Compression)
	if err != nil {
		return nil, err
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	if err := bgsave(ctx, c); err != nil {
		return nil, err
	}
	takenAt := now().UTC()
	path, err := rdbPath(ctx, c)
	if err != nil {
		return nil, err
	}
	server, err := info(ctx, c, "server")
	if err != nil {
		return nil, err
	}
	// NOTE: opened once: a later BGSAVE renames a new file over the path,
	// while this descriptor keeps reading the snapshot just taken.
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening the RDB file (run the agent on the Redis host): %w", err)
	}
	defer func() { _ = f.Close() }()
	id := takenAt.Format("20060102T150405Z") + "-" + randomHex(2)
	m := &SnapshotManifest{Format: SnapshotFormat, Instance: opts.Instance, ID: id, TakenAt: takenAt,
		Key: opts.Layout.RedisSnapshotKey(opts.Instance, id, method.Ext), Compression: method.Name, RedisVersion: server["redis_version"]}
	if opts.Recipients != nil {
		m.Encryption = opts.Recipients.Info()
	}
	if err := putCompressed(ctx, store, m, f, method, opts.Recipients); err != nil {
		return nil, err
	}
	body, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	// Safety rule 6: the manifest last, and never over another one.
	if _, err := store.Put(ctx, opts.Layout.RedisManifestKey(opts.Instance, id), bytes.NewReader(body),
		objectstore.PutOptions{IfAbsent: true, Size: int64(len(body))}); err != nil {
		return nil, fmt.Errorf("writing the snapshot manifest: %w", err)
	}
	return m, nil
}

// bgsave asks for a BGSAVE and waits for it. A save already running may
// predate the latest writes, so it is waited out and another one asked for.
func bgsave(ctx context.Context, c *redis.Client) error {
	for attempt := 0; ; attempt++ {
		p, err := info(ctx, c, "persistence")
		if err != nil {
			return err
		}
		before, _ := strconv.ParseInt(p["rdb_saves"], 10, 64)
		err = c.BgSave(ctx).Err()
		if err != nil && strings.Contains(err.Error(), "in progress") && attempt < 100 {
			if werr := sleep(ctx, 100*time.Millisecond); werr != nil {
				return werr
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("BGSAVE: %w", err)
		}
		for {
			if err := sleep(ctx, 50*time.Millisecond); err != nil {
				return err
			}
			p, err := info(ctx, c, "persistence")
			if err != nil {
				return err
			}
			if p["rdb_bgsave_in_progress"] == "1" {
				continue
			}
			if p["rdb_last_bgsave_status"] != "ok" {
				return fmt.Errorf("%w: rdb_last_bgsave_status %s: check the Redis log (the data directory full, missing or not writable?)", ErrSaveFailed, p["rdb_last_bgsave_status"])
			}
			if n, _ := strconv.ParseInt(p["rdb_saves"], 10, 64); n > before {
				return nil
			}
		}
	}
}

func rdbPath(ctx context.Context, c *redis.Client) (string, error) {
	dir, err := c.ConfigGet(ctx, "dir").Result()
	if err != nil {
		return "", fmt.Errorf("CONFIG GET dir: %w", err)
	}
	name, err := c.ConfigGet(ctx, "dbfilename").Result()
	if err != nil {
		return "", fmt.Errorf("CONFIG GET dbfilename: %w", err)
	}
	return filepath.Join(dir["dir"], name["dbfilename"]), nil
}

// putCompressed streams r through method (then encrypts it to recipients,
// when set) into m.Key, recording sizes and checksums in m; nothing is
// buffered whole.
func putCompressed(ctx context.Context, store objectstore.Store, m *SnapshotManifest, r io.Reader, method compression.Method, recipients *crypt.Recipients) error {
	rawSum, storedSum := sha256.New(), sha256.New()
	raw := &countingWriter{w: rawSum}
	pr, pw := io.Pipe()
	go func() {
		stored := &countingWriter{w: io.MultiWriter(pw, storedSum)}
		var dst io.Writer = stored
		var enc *crypt.Writer
		var err error
		if recipients != nil {
			if enc, err = recipients.NewWriter(stored); err == nil {
				dst = enc
			}
		}
		var zw io.WriteCloser
		if err == nil {
			zw, err = method.NewWriter(dst)
		}
		if err == nil {
			_, err = io.Copy(io.MultiWriter(zw, raw), r)
			if cerr := zw.Close(); err == nil {
				err = cerr
			}
			if enc != nil {
				if cerr := enc.Close(); err == nil {
					err = cerr
				}
			}
		}
		m.StoredSize = stored.n
		_ = pw.CloseWithError(err)
	}()
	// One stream (ReserveStreams): beside a backup in the agent, it takes
	// part buffers of its own rather than the backup's.
	defer objectstore.ReserveStreams(1)()
	if _, err := store.Put(ctx, m.Key, pr, objectstore.PutOptions{IfAbsent: true, Size: -1, Metadata: m.Encryption.Metadata(nil)}); err != nil {
		_ = pr.CloseWithError(err)
		return fmt.Errorf("storing the RDB file: %w", err)
	}
	m.RDBSize = raw.n
	m.RDBSHA256 = hex.EncodeToString(rawSum.Sum(nil))
	m.StoredSHA256 = hex.EncodeToString(storedSum.Sum(nil))
	return nil
}

// Snapshots lists instance's complete snapshots (those with a manifest),
// oldest first.
func Snapshots(ctx context.Context, store objectstore.Store, layout repo.Layout, instance string) ([]SnapshotManifest, error) {
	var ids []string
	err := store.List(ctx, layout.RedisDir()+instance+"/", func(o objectstore.ObjectInfo) error {
		if k, ok := layout.Parse(o.Key); ok && k.Kind == repo.KindRedisManifest && k.Instance == instance {
			ids = append(ids, k.ID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(ids) // IDs start with the UTC time
	out := make([]SnapshotManifest, 0, len(ids))
	for _, id := range ids {
		m, err := readManifest(ctx, store, layout, instance, id)
		if errors.Is(err, ErrSnapshotNotFound) {
			continue // pruned since the listing
		}
		if err != nil {
			return nil, err
		}
		out = append(out, *m)
	}
	return out, nil
}

// RestoreSnapshot writes snapshot id of instance ("" for the newest) as
// dir/dump.rdb, for a new redis-server started with dir as its working
// directory. The bytes are checked against the manifest before the file
// takes its final name: a corrupt download never becomes dump.rdb. An
// encrypted snapshot is decrypted with ids; when none of them matches its
// recipients the error is a *crypt.MissingIdentityError naming their
// fingerprints, before anything is downloaded.
func RestoreSnapshot(ctx context.Context, store objectstore.Store, layout repo.Layout, instance, id, dir string, ids *crypt.Keyring) (*SnapshotManifest, error) {
	var m *SnapshotManifest
	if id == "" {
		all, err := Snapshots(ctx, store, layout, instance)
		if err != nil {
			return nil, err
		}
		if len(all) == 0 {
			return nil, fmt.Errorf("%w: no snapshot of %q under %s", ErrSnapshotNotFound, instance, layout.RedisDir())
		}
		m = &all[len(all)-1]
	} else {
		var err error
		if m, err = readManifest(ctx, store, layout, instance, id); err != nil {
			return nil, err
		}
	}
	k, ok := layout.Parse(m.Key)
	if !ok || k.Kind != repo.KindRedisSnapshot {
		return nil, fmt.Errorf("manifest of %s names %q, not a snapshot of this repository", m.ID, m.Key)
	}
	method, _ := compression.ByExt(k.Ext) // NOTE: by the name, so old snapshots stay readable
	what := "redis snapshot " + m.ID + " of " + instance
	if err := ids.Check(what, m.Encryption); err != nil {
		return nil, err
	}
	body, _, err := store.Get(ctx, m.Key)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", m.Key, err)
	}
	defer func() { _ = body.Close() }()
	var plain io.Reader = body
	if m.Encryption != nil {
		if plain, err = ids.NewReader(body, m.Encryption, what); err != nil {
			return nil, err
		}
	}
	zr, err := method.NewReader(plain)
	if err != nil {
		return nil, err
	}
	defer func() { _ = zr.Close() }()
	tmp, err := os.CreateTemp(dir, "dump.rdb.restoring-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	sum := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, sum), zr)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("restoring %s: %w", m.Key, err)
	}
	if got := hex.EncodeToString(sum.Sum(nil)); got != m.RDBSHA256 || n != m.RDBSize {
		return nil, fmt.Errorf("%w: %s has %d bytes with sha256 %s, the manifest says %d and %s", ErrChecksumMismatch, m.Key, n, got, m.RDBSize, m.RDBSHA256)
	}
	return m, os.Rename(tmp.Name(), filepath.Join(dir, "dump.rdb"))
}

func readManifest(ctx context.Context, store objectstore.Store, layout repo.Layout, instance, id string) (*SnapshotManifest, error) {
	key := layout.RedisManifestKey(instance, id)
	r, _, err := store.Get(ctx, key)
	if errors.Is(err, objectstore.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s (%w)", ErrSnapshotNotFound, key, err)
	}
	if err != nil {
		return nil, err
	}
	defer func() { _ = r.Close() }()
	var m SnapshotManifest
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		return nil, fmt.Errorf("reading %s: %w", key, err)
	}
	if m.Format != SnapshotFormat {
		return nil, fmt.Errorf("%s: manifest format %d, this version reads %d", key, m.Format, SnapshotFormat)
	}
	return &m, nil
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

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// AllSnapshots lists the complete snapshots of every Redis instance of the
// repository, by instance then oldest first: what the catalog shows.
func AllSnapshots(ctx context.Context, store objectstore.Store, layout repo.Layout) ([]SnapshotManifest, error) {
	seen := map[string]bool{}
	var instances []string
	err := store.List(ctx, layout.RedisDir(), func(o objectstore.ObjectInfo) error {
		if k, ok := layout.Parse(o.Key); ok && k.Kind == repo.KindRedisManifest && !seen[k.Instance] {
			seen[k.Instance] = true
			instances = append(instances, k.Instance)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(instances)
	out := []SnapshotManifest{}
	for _, inst := range instances {
		all, err := Snapshots(ctx, store, layout, inst)
		if err != nil {
			return nil, err
		}
		out = append(out, all...)
	}
	return out, nil
}
