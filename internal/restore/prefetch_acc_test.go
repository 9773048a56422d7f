package restore_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
)

// TestAccRestoreCluster_walFromSpool: a started restore prefetches the WAL
// its plan replays while it lays out the files, and PostgreSQL's
// restore_command takes every planned segment from that spool (counted by
// what is gone from it), not from the repository; the copy holds what the
// WAL wrote, and the spool is gone from the data directory afterwards.
func TestAccRestoreCluster_walFromSpool(t *testing.T) {
	f := setup(t)
	pg := f.env.Postgres
	ctx := context.Background()
	psql(t, pg, "postgres", "DROP TABLE IF EXISTS spooled_rows; CREATE TABLE spooled_rows (n int)")
	f.takeBackup(t)
	for i := 0; i < 3; i++ {
		psql(t, pg, "postgres", "INSERT INTO spooled_rows SELECT generate_series(1, 1000)")
		f.switchAndWait(t)
	}

	opts := f.clusterOptions(t, "spooled")
	res, err := restore.RestoreCluster(ctx, f.store, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { restore.RemoveCluster(context.Background(), opts.DataDir, opts.BinDir, opts.OSUser) })
	planned := len(res.Plan.WALKeys())
	if planned < 4 {
		t.Fatalf("plan replays %d segments, want the backup's and three more", planned)
	}
	if res.WALFromSpool != planned {
		t.Fatalf("PostgreSQL took %d of the %d planned segments from the spool, want all", res.WALFromSpool, planned)
	}
	if _, err := os.Stat(filepath.Join(res.DataDir, restore.SpoolDir)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("spool left in the restored directory: %v", err)
	}
	opts.KeepRunning = true
	if err := startRestored(opts); err != nil {
		t.Fatal(err)
	}
	if got := queryRestored(t, res, "postgres", "SELECT count(*)::text FROM spooled_rows"); got != "3000" {
		t.Fatalf("restored copy has %s rows, want 3000", got)
	}
}
