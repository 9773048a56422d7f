package wal

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// Push ahead: the agent (internal/agentd) watches pg_wal/archive_status and
// pushes each segment PostgreSQL marks ready before the archiver gets to it,
// with warm connections, then leaves a record of the push in the ahead
// directory (Ahead). archive_command (`lifeboat wal-push`) reads the record
// first and returns at once when it describes the very file PostgreSQL hands
// it; otherwise it pushes the file itself as it always did.
//
// Files of the ahead directory, all mode 0600, one set per segment:
//
//	<segment>.json     the record, written after the store acknowledged the
//	                   object (write to a temporary file, fsync, rename)
//	<segment>.pushing  locked (flock) by the agent while it pushes: a
//	                   wal-push that finds it waits for the push instead of
//	                   compressing and uploading the same bytes beside it
//	<segment>.hit      a record archive_command found and returned on
//	<segment>.miss     archive_command pushed the segment itself while an
//	                   agent was pushing ahead (record missing or stale)
//	active             touched by the agent while it pushes ahead
//
// The agent counts and removes the .hit and .miss files (its metrics) and
// prunes records of segments PostgreSQL no longer holds as ready.
//
// Safety rules, each tested:
//   - a record is written only after the object store acknowledged the
//     object holding the bytes it describes (Push's own rules: conditional
//     put, same bytes = already archived, different bytes = refused);
//   - archive_command returns early only when the record names the same
//     segment, repository (bucket, key of this cluster's layout) and system
//     identifier, and the size and SHA-256 of the file it is handed right
//     now: a name re-used with other bytes after a crash or on another
//     timeline is pushed, and then refused if the archive holds other bytes;
//   - the agent never marks a segment done: PostgreSQL does, after
//     archive_command succeeds;
//   - an agent killed mid-push leaves no record (its lock goes with the
//     process), so archive_command pushes the segment itself.

// AheadDirName is the ahead directory inside pg_wal when the agent
// configuration names no state directory: the one place both
// archive_command and an agent serving the data directory can write, on the
// WAL's own file system, and left out of base backups (PostgreSQL sends
// pg_wal empty).
const AheadDirName = "lifeboat-ahead"

// Ahead is the ahead directory of one cluster.
type Ahead struct {
	// Dir is the directory (see AheadDir).
	Dir string
}

// AheadDir is the ahead directory of the cluster with system identifier
// sysid whose pg_wal is walDir: <stateDir>/wal-ahead/<sysid> when the
// agent configuration names a state directory (several clusters may share
// it), else <walDir>/lifeboat-ahead.
func AheadDir(stateDir, walDir string, sysid uint64) string {
	if stateDir != "" {
		return filepath.Join(stateDir, "wal-ahead", strconv.FormatUint(sysid, 10))
	}
	return filepath.Join(walDir, AheadDirName)
}

// AheadRecord describes one segment pushed ahead.
type AheadRecord struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// SystemIdentifier is the cluster's (decimal, as in cluster.json).
	SystemIdentifier string `json:"system_identifier"`
	// Bucket, Key, VersionID and ETag are the archived object.
	Bucket    string `json:"bucket"`
	Key       string `json:"key"`
	VersionID string `json:"version_id,omitempty"`
	ETag      string `json:"etag,omitempty"`
	// AlreadyArchived is set when the identical file was found archived
	// rather than written.
	AlreadyArchived bool      `json:"already_archived,omitempty"`
	Pushed          time.Time `json:"pushed"`
	// Holder is the agent that pushed it.
	Holder string `json:"holder,omitempty"`
}

const (
	extRecord  = ".json"
	extLock    = ".pushing"
	extHit     = ".hit"
	extMiss    = ".miss"
	activeName = "active"
)

func (a Ahead) path(name, ext string) string { return filepath.Join(a.Dir, name+ext) }

// ErrAheadBusy means another process holds the segment's push-ahead lock.
var ErrAheadBusy = errors.New("segment is being pushed ahead by another agent")

// Prepare creates the directory (mode 0700) and marks it active.
func (a Ahead) Prepare() error {
	if err := os.MkdirAll(a.Dir, 0o700); err != nil {
		return fmt.Errorf("push-ahead directory: %w", err)
	}
	return a.Touch()
}

// Touch marks the directory active now: archive_command records its own
// pushes (.miss) only while an agent is active.
func (a Ahead) Touch() error {
	p := filepath.Join(a.Dir, activeName)
	now := time.Now()
	if err := os.Chtimes(p, now, now); err == nil {
		return nil
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("push-ahead directory: %w", err)
	}
	return f.Close()
}

// aheadActiveFor is how long after its last touch an agent counts as
// pushing ahead.
const aheadActiveFor = time.Minute

// Active reports whether an agent touched the directory recently.
func (a Ahead) Active() bool {
	fi, err := os.Stat(filepath.Join(a.Dir, activeName))
	return err == nil && time.Since(fi.ModTime()) < aheadActiveFor
}

// Read returns the record of name; (nil, nil) when there is none.
func (a Ahead) Read(name string) (*AheadRecord, error) {
	raw, err := os.ReadFile(a.path(name, extRecord))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r AheadRecord
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("push-ahead record %s: %w", a.path(name, extRecord), err)
	}
	return &r, nil
}

// write stores r atomically: a reader sees the whole record or none.
func (a Ahead) write(r AheadRecord) error {
	body, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return repo.WriteFileAtomic(a.path(r.Name, extRecord), body, repo.RenameSynced, nil)
}

// Push pushes the ready segment name of the pg_wal directory walDir ahead
// of archive_command, with Push's rules, and records it. It does nothing
// (nil record, nil error) when the segment is no longer ready or already
// recorded, and fails with ErrAheadBusy when another agent pushes it now.
func (a Ahead) Push(ctx context.Context, store objectstore.Store, cfg Config, walDir, name, holder string) (*AheadRecord, error) {
	lock, err := a.lock(name)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	// NOTE: removed before the lock is let go (Close): a wal-push waiting
	// on this lock then reads the record; one that comes later finds no
	// lock file and reads the record straight away.
	defer os.Remove(a.path(name, extLock))
	if a.Settled(name) {
		return nil, nil
	}
	if _, err := os.Stat(filepath.Join(walDir, "archive_status", name+".ready")); err != nil {
		return nil, nil //nolint:nilerr // archived meanwhile by archive_command, or recycled: nothing to push
	}
	res, err := Push(ctx, store, cfg, filepath.Join(walDir, name))
	if err != nil {
		return nil, err
	}
	r := AheadRecord{Name: name, Size: res.Size, SHA256: res.SHA256, SystemIdentifier: strconv.FormatUint(cfg.SystemIdentifier, 10),
		Bucket: store.Bucket(), Key: res.Key, VersionID: res.VersionID, ETag: res.ETag, AlreadyArchived: res.AlreadyArchived,
		Pushed: time.Now().UTC(), Holder: holder}
	if err := a.write(r); err != nil {
		return nil, fmt.Errorf("recording the push ahead of %s: %w", name, err)
	}
	return &r, nil
}

// lock takes name's push-ahead lock. The lock file appears already
// locked (made and locked under a temporary name, then linked into place),
// so a wal-push that finds it unlocked knows its holder is gone; a link
// fails on an existing file, so two agents never both hold one. An orphan
// whose holder died is taken over.
func (a Ahead) lock(name string) (*os.File, error) {
	tmp, err := os.CreateTemp(a.Dir, "."+name+".lock-*")
	if err != nil {
		return nil, fmt.Errorf("push-ahead lock: %w", err)
	}
	if err := syscall.Flock(int(tmp.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, fmt.Errorf("push-ahead lock: %w", err)
	}
	err = os.Link(tmp.Name(), a.path(name, extLock))
	os.Remove(tmp.Name())
	if err == nil {
		return tmp, nil
	}
	tmp.Close()
	if !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("push-ahead lock: %w", err)
	}
	f, err := os.OpenFile(a.path(name, extLock), os.O_RDWR, 0)
	if err != nil {
		return nil, ErrAheadBusy // its holder just finished
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, ErrAheadBusy
	}
	return f, nil
}

// Settled reports whether name needs no push ahead: it is recorded, or
// archive_command already returned on it (.hit, .miss) and PostgreSQL is
// about to mark it done.
func (a Ahead) Settled(name string) bool {
	for _, ext := range []string{extRecord, extHit, extMiss} {
		if _, err := os.Stat(a.path(name, ext)); err == nil {
			return true
		}
	}
	return false
}

// Found reports whether the WAL file at path was pushed ahead into the
// repository of cfg in store's bucket: a record whose segment, repository,
// system identifier, size and SHA-256 all match the file as it is now. A
// push ahead of it still running is waited for, up to wait. On a match the
// record becomes a .hit (counted by the agent). Any doubt is a false: the
// caller then pushes the file itself.
func (a Ahead) Found(ctx context.Context, path string, cfg Config, bucket string, wait time.Duration) (bool, error) {
	name := filepath.Base(path)
	if !IsSegment(name) {
		return false, nil
	}
	r, err := a.Read(name)
	if err != nil {
		return false, err
	}
	if r == nil {
		// Read again whatever the wait found: the push may have ended
		// between the first read and the look for its lock.
		a.waitPush(ctx, name, wait)
		if r, err = a.Read(name); err != nil {
			return false, err
		}
	}
	if r == nil || !a.matches(*r, cfg, bucket, name) {
		return false, nil
	}
	size, sum, err := fileSum(path)
	if err != nil {
		return false, err
	}
	if size != r.Size || sum != r.SHA256 {
		return false, nil
	}
	// The record is used up: PostgreSQL marks the segment done now. Should
	// it ask again (a crash before it did), the full push finds the object
	// archived with the same bytes.
	if err := os.Rename(a.path(name, extRecord), a.path(name, extHit)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	return true, nil
}

// matches checks everything in r but the file's bytes.
func (a Ahead) matches(r AheadRecord, cfg Config, bucket, name string) bool {
	if r.Name != name || r.Bucket != bucket || r.SystemIdentifier != strconv.FormatUint(cfg.SystemIdentifier, 10) || r.SHA256 == "" {
		return false
	}
	k, ok := cfg.Layout.Parse(r.Key)
	if !ok || k.Kind != repo.KindWAL || k.Name != name {
		return false
	}
	tli, err := Timeline(name)
	return err == nil && strings.HasPrefix(r.Key, cfg.Layout.WALTimelineDir(tli))
}

// waitPush waits, up to wait, for a push ahead of name that holds its lock.
func (a Ahead) waitPush(ctx context.Context, name string, wait time.Duration) {
	f, err := os.Open(a.path(name, extLock))
	if err != nil {
		return
	}
	defer f.Close()
	deadline := time.Now().Add(wait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
		if err == nil || !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) || ctx.Err() != nil {
			return
		}
		// NOTE: a poll, not a blocking flock: the wait stays bounded
		// without a goroutine stuck in a system call.
		time.Sleep(2 * time.Millisecond)
	}
}

// Missed records that archive_command pushed name itself while an agent was
// pushing ahead.
func (a Ahead) Missed(name string) {
	if !IsSegment(name) || !a.Active() {
		return
	}
	if f, err := os.OpenFile(a.path(name, extMiss), os.O_CREATE|os.O_WRONLY, 0o600); err == nil {
		f.Close()
	}
}

// AheadCounts are archive_command's outcomes since the last Collect.
type AheadCounts struct {
	// Hits returned on a record, Misses pushed themselves.
	Hits, Misses int
}

// Collect counts and removes the .hit and .miss files, and prunes what no
// longer serves: records and orphaned locks of segments that are not
// ready in walDir any more (archived by archive_command, or recycled)
// after grace.
func (a Ahead) Collect(walDir string, grace time.Duration) (AheadCounts, error) {
	var c AheadCounts
	entries, err := os.ReadDir(a.Dir)
	if err != nil {
		return c, err
	}
	for _, e := range entries {
		n := e.Name()
		p := filepath.Join(a.Dir, n)
		seg, _, _ := strings.Cut(strings.TrimPrefix(n, "."), ".")
		if _, err := os.Stat(filepath.Join(walDir, "archive_status", seg+".ready")); err == nil {
			// Still ready: archive_command is running or PostgreSQL is
			// about to mark it done; Settled needs these files until then.
			continue
		}
		switch {
		case strings.HasSuffix(n, extHit):
			if os.Remove(p) == nil {
				c.Hits++
			}
		case strings.HasSuffix(n, extMiss):
			if os.Remove(p) == nil {
				c.Misses++
			}
		case strings.HasSuffix(n, extRecord), strings.HasSuffix(n, extLock), strings.Contains(n, ".tmp-"), strings.Contains(n, ".lock-"):
			info, err := e.Info()
			if err != nil || time.Since(info.ModTime()) < grace {
				continue
			}
			if strings.HasSuffix(n, extLock) && !unlocked(p) {
				continue
			}
			os.Remove(p)
		}
	}
	return c, nil
}

// unlocked reports whether nobody holds the lock file at p.
func unlocked(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil
}

// fileSum is the size and hex SHA-256 of the file at path.
func fileSum(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", fmt.Errorf("opening WAL file: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", fmt.Errorf("reading WAL file: %w", err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}
