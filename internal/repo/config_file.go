package repo

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
)

// WriteConfigFile writes an agent configuration to path atomically, mode
// 0600 (it may hold a secret; Load refuses anything looser), owned by owner
// when we are root: the account PostgreSQL runs archive_command as.
func WriteConfigFile(path, owner string, content []byte) error {
	u, err := user.Lookup(owner)
	if err != nil {
		return fmt.Errorf("owner of %s: %w", path, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return WriteFileAtomic(path, content, ContentSynced, func(tmp string) error {
		if os.Getuid() != 0 {
			return nil
		}
		return os.Chown(tmp, uid, gid)
	})
}

// Durability is what of an atomic file write survives a crash.
type Durability int

const (
	// Unsynced syncs nothing. For a copy that is checked on every
	// read and read again from its source when damaged or missing (the
	// WAL settings copy): a crash may leave the old content, none or a
	// damaged file, and a sync would cost archive_command milliseconds.
	Unsynced Durability = iota
	// ContentSynced syncs the new content before the rename, so after
	// a crash path holds the old content or the new, whole.
	ContentSynced
	// RenameSynced is ContentSynced, and syncs the directory after the
	// rename, so the new content itself survives a crash.
	RenameSynced
)

// WriteFileAtomic replaces path with body, so that a reader sees the old
// content or the new, whole: written to a temporary file (mode 0600) in
// path's directory and renamed over path, synced as durability says.
// prepare, when set, runs on the temporary file before the rename (to give
// it an owner).
func WriteFileAtomic(path string, body []byte, durability Durability, prepare func(tmp string) error) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(body); err != nil {
		tmp.Close()
		return err
	}
	if durability >= ContentSynced {
		if err := tmp.Sync(); err != nil {
			tmp.Close()
			return err
		}
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if prepare != nil {
		if err := prepare(tmp.Name()); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if durability < RenameSynced {
		return nil
	}
	return SyncDir(dir)
}

// SyncDir makes the entries of directory path durable (files created,
// renamed or removed in it).
func SyncDir(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("syncing directory %s: %w", path, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("syncing directory %s: %w", path, err)
	}
	return nil
}
