package agentd

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/wal"
)

// TestWALAheadPushesPastABacklog gives the daemon more ready segments than
// it pushes at once, none of them archived yet by archive_command (a slow
// archiver): it pushes every one, oldest first, records each, and never
// marks one done.
func TestWALAheadPushesPastABacklog(t *testing.T) {
	pgdata, names := readyWAL(t, 20)
	store := objectstore.NewMemory("b")
	d := testDaemon(t, store, "A")
	d.cfg.WALAhead = WALAheadSettings{PGData: pgdata, Parallel: 2, Poll: 50 * time.Millisecond}
	runUntilRecorded(t, pgdata, names, d)
	if got := testutil.ToFloat64(d.Metrics().WALAheadPushes.WithLabelValues("pushed")); got != float64(len(names)) {
		t.Fatalf("lifeboat_wal_ahead_pushes_total{result=pushed} = %v, want %d", got, len(names))
	}
}

// TestWALAheadTwoAgentsOneHost runs two daemons on one data directory
// (two agents on one host): every segment is pushed ahead once, by one of
// them, and written once.
func TestWALAheadTwoAgentsOneHost(t *testing.T) {
	pgdata, names := readyWAL(t, 30)
	store := objectstore.NewMemory("b")
	var ds []*Daemon
	for _, h := range []string{"A", "B"} {
		d := testDaemon(t, store, h)
		d.cfg.WALAhead = WALAheadSettings{PGData: pgdata, Parallel: 3, Poll: 20 * time.Millisecond}
		ds = append(ds, d)
	}
	runUntilRecorded(t, pgdata, names, ds...)
	total := 0.0
	for _, d := range ds {
		total += testutil.ToFloat64(d.Metrics().WALAheadPushes.WithLabelValues("pushed"))
	}
	if total != float64(len(names)) {
		t.Fatalf("the two agents pushed %v segments ahead, want each of the %d once", total, len(names))
	}
	var versions int
	if err := store.ListVersions(context.Background(), testLayout.WALDir(), func(objectstore.ObjectInfo) error { versions++; return nil }); err != nil {
		t.Fatal(err)
	}
	if versions != len(names) {
		t.Fatalf("%d object versions under the WAL folder, want %d (one per segment)", versions, len(names))
	}
}

// readyWAL makes a data directory (pg_control, pg_wal) whose n small
// segments PostgreSQL marked ready.
func readyWAL(t *testing.T, n int) (string, []string) {
	t.Helper()
	pgdata := t.TempDir()
	walDir := filepath.Join(pgdata, "pg_wal")
	for _, d := range []string{filepath.Join(pgdata, "global"), filepath.Join(walDir, "archive_status")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	control := make([]byte, 512)
	binary.LittleEndian.PutUint64(control, 7400000000000000777)
	if err := os.WriteFile(filepath.Join(pgdata, "global", "pg_control"), control, 0o600); err != nil {
		t.Fatal(err)
	}
	var names []string
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("0000000100000000000000%02X", i)
		names = append(names, name)
		if err := os.WriteFile(filepath.Join(walDir, name), []byte(fmt.Sprintf("segment %d", i)), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(walDir, "archive_status", name+".ready"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return pgdata, names
}

// runUntilRecorded runs ds until every segment of names is recorded as
// pushed ahead, then checks none was marked done.
func runUntilRecorded(t *testing.T, pgdata string, names []string, ds ...*Daemon) {
	t.Helper()
	n := len(names)
	walDir := filepath.Join(pgdata, "pg_wal")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, d := range ds {
		wg.Add(1)
		go func() { defer wg.Done(); _ = d.Run(ctx) }()
	}
	ahead := wal.Ahead{Dir: wal.AheadDir("", walDir, 7400000000000000777)}
	deadline := time.Now().Add(20 * time.Second)
	for {
		recorded := 0
		for _, name := range names {
			if r, _ := ahead.Read(name); r != nil {
				recorded++
			}
		}
		if recorded == n {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			wg.Wait()
			t.Fatalf("%d of %d ready segments pushed ahead", recorded, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	for _, name := range names {
		if _, err := os.Stat(filepath.Join(walDir, "archive_status", name+".ready")); err != nil {
			t.Fatalf("%s is no longer ready: the agent must never mark a segment done (%v)", name, err)
		}
	}
}
