package restore_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
)

// TestAccRestoreCluster_walFromSpool: a started restore prefetches the WAL
// its plan replays while it lays out the files, and PostgreSQL's
// restore_command takes every planned segment from that spool (counted by
// what was taken from it), not from the repository: also when PostgreSQL
// asks again for the last segment it replayed as recovery ends (wal-fetch
// logs each segment it had to fetch from the repository into the server's
// log); the copy holds what the WAL wrote, and the spool is gone from the
// data directory afterwards.
func TestAccRestoreCluster_walFromSpool(t *testing.T) {
	f := setup(t)
	f.backupAfter(t, "DROP TABLE IF EXISTS spooled_rows; CREATE TABLE spooled_rows (n int)")
	for i := 0; i < 3; i++ {
		psql(t, f.env.Postgres, "postgres", "INSERT INTO spooled_rows SELECT generate_series(1, 1000)")
		f.switchAndWait(t)
	}

	opts := f.clusterOptions(t, "spooled")
	res := f.restoreCluster(t, opts)
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
	log := readLog(t, res.DataDir)
	for _, key := range res.Plan.WALKeys() {
		k, _ := repo.ParseWALKey(key)
		if strings.Contains(log, k.Name+" was not in the spool") {
			t.Fatalf("restore_command fetched planned segment %s from the repository; the server's log:\n%s", k.Name, log)
		}
	}
	last, _ := repo.ParseWALKey(res.Plan.WALKeys()[planned-1])
	if n := strings.Count(log, `restored log file "`+last.Name+`" from archive`); n < 2 {
		t.Logf("the server asked for the last segment %d time(s): the repeated request was not exercised", n)
	}
	startAgain(t, opts)
	if got := queryRestored(t, res, "postgres", "SELECT count(*)::text FROM spooled_rows"); got != "3000" {
		t.Fatalf("restored copy has %s rows, want 3000", got)
	}
}

// TestAccRestoreCluster_damagedSpooledWALRefused: a prefetched segment
// damaged in the spool after it was verified (one byte changed while the
// files are laid out) is refused by restore_command, which fetches the
// segment from the repository (verified) instead: the copy holds every
// row, and the server's log names the refusal.
func TestAccRestoreCluster_damagedSpooledWALRefused(t *testing.T) {
	f := setup(t)
	f.backupAfter(t, "DROP TABLE IF EXISTS damaged_spool_rows; CREATE TABLE damaged_spool_rows (n int)")
	psql(t, f.env.Postgres, "postgres", "INSERT INTO damaged_spool_rows SELECT generate_series(1, 1000)")
	f.switchAndWait(t)

	opts := f.clusterOptions(t, "damaged-spool")
	var damaged string
	atStart(&opts, func() {
		// The first segment PostgreSQL asks for is the backup's; the
		// prefetcher places segments in order, so it is the first in.
		spool := filepath.Join(opts.DataDir, restore.SpoolDir)
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			entries, _ := os.ReadDir(spool)
			for _, e := range entries {
				if !e.Type().IsRegular() {
					continue
				}
				fh, err := os.OpenFile(filepath.Join(spool, e.Name()), os.O_WRONLY, 0)
				if err != nil {
					t.Error(err)
					return
				}
				// Inside the first page's records, after its header.
				_, err = fh.WriteAt([]byte{0xde, 0xad, 0xbe, 0xef}, 100)
				fh.Close()
				if err != nil {
					t.Error(err)
					return
				}
				damaged = e.Name()
				return
			}
		}
		t.Error("no segment reached the spool within 30 s")
	})
	res := f.restoreCluster(t, opts)
	if damaged == "" {
		t.Fatal("nothing was damaged")
	}
	log := readLog(t, res.DataDir)
	if !strings.Contains(log, "taking "+damaged+" from the spool") || !strings.Contains(log, "does not match its record") ||
		!strings.Contains(log, damaged+" was not in the spool, fetched from the repository") {
		t.Fatalf("no refusal of the damaged %s in the server's log:\n%s", damaged, log)
	}
	if res.WALFromSpool != len(res.Plan.WALKeys())-1 {
		t.Fatalf("%d planned segments taken from the spool, want all %d but the damaged one", res.WALFromSpool, len(res.Plan.WALKeys()))
	}
	startAgain(t, opts)
	if got := queryRestored(t, res, "postgres", "SELECT count(*)::text FROM damaged_spool_rows"); got != "1000" {
		t.Fatalf("restored copy has %s rows, want 1000", got)
	}
}

// readLog is the restored server's log (restore.log in its data directory).
func readLog(t *testing.T, dataDir string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dataDir, restore.LogFile))
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}
