//go:build linux

package restore_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
)

// TestAccRestoreCluster_filesDurableWhenLaidOut: when a restore reports the
// files laid out, every file of the data directory (the backup's files and
// the restore's own settings and marker) is on disk, not dirty in the page
// cache: cachestat(2) counts no dirty page and none under writeback in any
// of them. Left to the kernel, freshly written files stay dirty for up to
// dirty_expire_centisecs (30 s by default), so this fails without the
// restore's syncing.
func TestAccRestoreCluster_filesDurableWhenLaidOut(t *testing.T) {
	f := setup(t)
	// A few MB in one table, so a file spans several writeback chunks'
	// worth of pages.
	f.backupAfter(t, "DROP TABLE IF EXISTS durable_rows; CREATE TABLE durable_rows AS SELECT g, md5(g::text) AS h FROM generate_series(1, 200000) g")

	opts := f.clusterOptions(t, "durable")
	opts.NoStart = true
	res := f.restoreCluster(t, opts)

	files, cached := requireOnDisk(t, res.DataDir)
	t.Logf("%d files, %d pages in the page cache, none dirty", files, cached)
	for _, name := range []string{"postgresql.auto.conf", "recovery.signal", restore.FailedFile, restore.ConfigFile} {
		if _, err := os.Stat(filepath.Join(res.DataDir, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// requireOnDisk fails the test unless every regular file under dataDir
// (but the WAL spool, whose files PostgreSQL only ever gets through
// restore_command, synced) is on disk: cachestat(2) counts no dirty page
// and none under writeback. It also checks the check looked at a restored
// cluster: many files, in the page cache, one larger than a writeback
// chunk. It returns the files and cached pages it saw.
func requireOnDisk(t *testing.T, dataDir string) (files, cached int64) {
	t.Helper()
	var maxFile int64
	var dirty []string
	err := filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == restore.SpoolDir {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fh, err := os.Open(path)
		if err != nil {
			return err
		}
		defer fh.Close()
		var st unix.Cachestat_t
		if err := unix.Cachestat(uint(fh.Fd()), &unix.CachestatRange{}, &st, 0); err != nil {
			return err
		}
		files++
		cached += int64(st.Cache)
		if fi, err := fh.Stat(); err == nil {
			maxFile = max(maxFile, fi.Size())
		}
		if st.Dirty > 0 || st.Writeback > 0 {
			rel, _ := filepath.Rel(dataDir, path)
			dirty = append(dirty, rel)
		}
		return nil
	})
	if errors.Is(err, unix.ENOSYS) {
		t.Skip("cachestat(2) needs Linux 6.5 or later")
	}
	if err != nil {
		t.Fatal(err)
	}
	if files < 100 || cached == 0 || maxFile < 8<<20 {
		t.Fatalf("checked %d files, %d cached pages, largest %d bytes: not a restored cluster", files, cached, maxFile)
	}
	if len(dirty) > 0 {
		t.Fatalf("%d of %d files still have dirty pages: %s", len(dirty), files, strings.Join(dirty[:min(len(dirty), 10)], ", "))
	}
	return files, cached
}

// TestAccRestoreCluster_serverSyncsWithSyncfs: a started restore starts
// PostgreSQL with recovery_init_sync_method = syncfs, which replaces the
// server's open-and-fsync of every file with one syncfs(2); that is only
// sound because every file is already on disk when the server starts
// (checked here at that moment, with cachestat(2)). The setting is the
// restore's start's own: the copy's postgresql.auto.conf does not carry it.
func TestAccRestoreCluster_serverSyncsWithSyncfs(t *testing.T) {
	f := setup(t)
	f.backupAfter(t, "DROP TABLE IF EXISTS syncfs_rows; CREATE TABLE syncfs_rows AS SELECT g, md5(g::text) AS h FROM generate_series(1, 200000) g")

	opts := f.clusterOptions(t, "syncfs")
	opts.KeepRunning = true
	checked := false
	atStart(&opts, func() {
		checked = true
		files, cached := requireOnDisk(t, opts.DataDir)
		t.Logf("at the server's start: %d files, %d pages in the page cache, none dirty", files, cached)
	})
	res := f.restoreCluster(t, opts)
	if !checked {
		t.Fatal("the restore never reported starting the server")
	}
	if got := queryRestored(t, res, "postgres", "SHOW recovery_init_sync_method"); got != "syncfs" {
		t.Fatalf("the restored server started with recovery_init_sync_method = %q, want syncfs", got)
	}
	if got := queryRestored(t, res, "postgres", "SELECT count(*)::text FROM syncfs_rows"); got != "200000" {
		t.Fatalf("restored copy has %s rows, want 200000", got)
	}
	auto, err := os.ReadFile(filepath.Join(res.DataDir, "postgresql.auto.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(auto), "recovery_init_sync_method") {
		t.Fatalf("postgresql.auto.conf carries the restore's start setting:\n%s", auto)
	}
	// Nor does postmaster.opts, whose options `pg_ctl restart` starts the
	// kept copy with again.
	opts2, err := os.ReadFile(filepath.Join(res.DataDir, "postmaster.opts"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(opts2), res.DataDir) || strings.Contains(string(opts2), "recovery_init_sync_method") {
		t.Fatalf("postmaster.opts (the options pg_ctl restart uses) carries the restore's start setting, or not the data directory:\n%s", opts2)
	}
}
