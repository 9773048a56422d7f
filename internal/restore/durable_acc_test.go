//go:build linux

package restore_test

import (
	"context"
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
	pg := f.env.Postgres
	ctx := context.Background()
	// A few MB in one table, so a file spans several writeback chunks'
	// worth of pages.
	psql(t, pg, "postgres", "DROP TABLE IF EXISTS durable_rows; CREATE TABLE durable_rows AS SELECT g, md5(g::text) AS h FROM generate_series(1, 200000) g")
	f.takeBackup(t)

	opts := f.clusterOptions(t, "durable")
	opts.NoStart = true
	res, err := restore.RestoreCluster(ctx, f.store, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { restore.RemoveCluster(context.Background(), opts.DataDir, opts.BinDir, opts.OSUser) })

	var files, cached, maxFile int64
	var dirty []string
	err = filepath.WalkDir(res.DataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
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
			rel, _ := filepath.Rel(res.DataDir, path)
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
	// The check looked at something: a whole cluster's files, in the
	// page cache (just written), one of them larger than a writeback chunk.
	if files < 100 || cached == 0 || maxFile < 8<<20 {
		t.Fatalf("checked %d files, %d cached pages, largest %d bytes: not a restored cluster", files, cached, maxFile)
	}
	if len(dirty) > 0 {
		t.Fatalf("%d of %d files still have dirty pages after the restore reported them laid out: %s",
			len(dirty), files, strings.Join(dirty[:min(len(dirty), 10)], ", "))
	}
	t.Logf("%d files, %d pages in the page cache, none dirty", files, cached)
	for _, name := range []string{"postgresql.auto.conf", "recovery.signal", restore.FailedFile, restore.ConfigFile} {
		if _, err := os.Stat(filepath.Join(res.DataDir, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
