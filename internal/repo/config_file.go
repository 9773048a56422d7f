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
	tmp, err := os.CreateTemp(filepath.Dir(path), ".lifeboat-config-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(content); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if os.Getuid() == 0 {
		if err := os.Chown(tmp.Name(), uid, gid); err != nil {
			return err
		}
	}
	return os.Rename(tmp.Name(), path)
}
