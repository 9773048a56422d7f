package restore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/catalog"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/wal"
)

// TestAccRestoreCluster: rows deleted by accident come back in a copy
// restored to just before the delete, the live cluster stays as it is,
// and a restore to latest shows the delete; a point before the first
// backup is refused with the window; a segment missing from the archive
// fails the restore and leaves a marked, stopped directory. The subtests
// share one repository and run in order (the last one damages it).
func TestAccRestoreCluster(t *testing.T) {
	f := setup(t)
	pg := f.env.Postgres
	ctx := context.Background()

	psql(t, pg, "postgres", "DROP TABLE IF EXISTS orders; CREATE TABLE orders (id int PRIMARY KEY, note text)")
	psql(t, pg, "postgres", "INSERT INTO orders SELECT g, 'before backup' FROM generate_series(1, 100) g")
	m := f.takeBackup(t)
	t.Logf("backup %s stopped %s, WAL %s..%s", m.ID, m.StopTime.Format(time.RFC3339Nano), m.WALStart, m.WALStop)

	t.Run("outside_window", func(t *testing.T) {
		opts := f.clusterOptions(t, "outside")
		opts.Target = m.StartTime.Add(-time.Minute)
		_, err := restore.PlanCluster(ctx, f.store, opts)
		var ow *restore.OutsideWindowError
		if !errors.As(err, &ow) || !errors.Is(err, restore.ErrOutsideWindow) {
			t.Fatalf("PlanCluster before the first backup: %v, want *OutsideWindowError", err)
		}
		if !strings.Contains(err.Error(), ow.Window.Earliest.UTC().Format(time.RFC3339)) ||
			!strings.Contains(err.Error(), ow.Window.Latest.UTC().Format(time.RFC3339)) || !ow.Window.Restorable {
			t.Fatalf("message does not state the window: %v (window %+v)", err, ow.Window)
		}
		t.Logf("refused: %v", err)
		// RestoreCluster refuses it too, before touching the disk.
		if _, err := restore.RestoreCluster(ctx, f.store, opts); !errors.As(err, &ow) {
			t.Fatalf("RestoreCluster: %v", err)
		}
		if _, err := os.Stat(opts.DataDir); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("refused restore created %s", opts.DataDir)
		}
		// Far in the future is outside too.
		opts.Target = time.Now().Add(time.Hour)
		if _, err := restore.PlanCluster(ctx, f.store, opts); !errors.As(err, &ow) {
			t.Fatalf("PlanCluster an hour ahead: %v", err)
		}
	})

	t.Run("accidental_deletion", func(t *testing.T) {
		psql(t, pg, "postgres", "INSERT INTO orders SELECT g, 'precious' FROM generate_series(101, 150) g")
		target := pointInTime()
		psql(t, pg, "postgres", "DELETE FROM orders WHERE note = 'precious'")
		f.switchAndWait(t)
		if got := psql(t, pg, "postgres", "SELECT count(*) FROM orders"); got != "100" {
			t.Fatalf("live cluster has %s rows before the restore", got)
		}

		opts := f.clusterOptions(t, "to-t")
		opts.Target = target
		opts.KeepRunning = true
		plan, err := restore.PlanCluster(ctx, f.store, opts)
		if err != nil {
			t.Fatal(err)
		}
		if plan.BackupID != m.ID || plan.WALStart != m.WALStart || plan.WALStop == "" || !plan.Target.Equal(target) {
			t.Fatalf("plan %+v", plan)
		}
		res := f.restoreCluster(t, opts)
		t.Logf("restored to %s (%s) in %s, %d bytes downloaded", res.RestoredToTime.Format(time.RFC3339Nano), res.RestoredToLSN, res.Duration, res.Downloaded)
		if got := queryRestored(t, res, "postgres", "SELECT count(*)::text FROM orders WHERE note = 'precious'"); got != "50" {
			t.Fatalf("restored copy has %s precious rows, want 50", got)
		}
		if res.RestoredToTime.After(target) || res.RestoredToTime.Before(m.StopTime.Add(-time.Second)) {
			t.Fatalf("RestoredToTime %s, target %s", res.RestoredToTime, target)
		}
		if got := queryRestored(t, res, "postgres", "SELECT current_setting('archive_mode')"); got != "off" {
			t.Fatalf("restored copy has archive_mode %s", got)
		}
		if got := queryRestored(t, res, "postgres", "SELECT pg_is_in_recovery()::text"); got != "false" {
			t.Fatalf("restored copy in recovery: %s", got)
		}
		if _, err := os.Stat(filepath.Join(opts.DataDir, restore.FailedFile)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a good restore carries %s: %v", restore.FailedFile, err)
		}
		if got := psql(t, pg, "postgres", "SELECT count(*) FROM orders WHERE note = 'precious'"); got != "0" {
			t.Fatalf("live cluster has %s precious rows after the restore", got)
		}

		// Refusals: the same directory (not empty) and the same port (taken).
		again := opts
		if _, err := restore.RestoreCluster(ctx, f.store, again); !errors.Is(err, restore.ErrTargetNotEmpty) {
			t.Fatalf("restore into a used directory: %v", err)
		}
		again.DataDir = filepath.Join(f.dir, "port-taken")
		if _, err := restore.RestoreCluster(ctx, f.store, again); !errors.Is(err, restore.ErrPortInUse) {
			t.Fatalf("restore onto a used port: %v", err)
		}

		// Stop, then remove: the copy is gone, the live cluster untouched.
		if err := restore.StopCluster(ctx, opts.DataDir, opts.BinDir, opts.OSUser); err != nil {
			t.Fatal(err)
		}
		if !portFree(opts.Port) {
			t.Fatalf("port %d still taken after StopCluster", opts.Port)
		}
		if err := restore.StopCluster(ctx, opts.DataDir, opts.BinDir, opts.OSUser); err != nil {
			t.Fatalf("second StopCluster: %v", err)
		}
		if err := restore.RemoveCluster(ctx, opts.DataDir, opts.BinDir, opts.OSUser); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(opts.DataDir); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("RemoveCluster left %s", opts.DataDir)
		}
		// Never a directory that is not a Lifeboat restore.
		if err := restore.RemoveCluster(ctx, pg.DataDir, opts.BinDir, opts.OSUser); !errors.Is(err, restore.ErrNotARestore) {
			t.Fatalf("RemoveCluster of the live data directory: %v", err)
		}

		// Latest: the delete is replayed too.
		latest := f.clusterOptions(t, "latest")
		res = f.restoreCluster(t, latest)
		if res.Running || !portFree(latest.Port) {
			t.Fatalf("KeepRunning=false left the server running")
		}
		if res.Plan.Target.IsZero() != true || res.Plan.Latest.IsZero() || !res.RestoredToTime.After(target) {
			t.Fatalf("latest: plan %+v, restored to %s", res.Plan, res.RestoredToTime)
		}
		// Start it again to look (it was stopped cleanly, promoted).
		startAgain(t, latest)
		if got := queryRestored(t, res, "postgres", "SELECT count(*)::text FROM orders"); got != "100" {
			t.Fatalf("latest copy has %s rows, want 100 (the delete replayed)", got)
		}
	})

	t.Run("missing_wal_segment", func(t *testing.T) {
		psql(t, pg, "postgres", "INSERT INTO orders SELECT g, 'later' FROM generate_series(1001, 1100) g")
		gone := f.switchAndWait(t)
		psql(t, pg, "postgres", "INSERT INTO orders SELECT g, 'later still' FROM generate_series(2001, 2100) g")
		target := pointInTime()
		psql(t, pg, "postgres", "DELETE FROM orders WHERE id > 2000")
		f.switchAndWait(t)

		// The listing the plan saw, before the segment goes.
		key := archivedKey(t, f, gone)
		info, err := f.store.Head(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.store.Delete(ctx, key); err != nil {
			t.Fatal(err)
		}
		t.Logf("deleted %s", key)

		opts := f.clusterOptions(t, "missing")
		opts.Target = target
		// With the gap visible, planning already refuses.
		var ow *restore.OutsideWindowError
		if _, err := restore.PlanCluster(ctx, f.store, opts); !errors.As(err, &ow) || len(ow.Window.Gaps) == 0 {
			t.Fatalf("PlanCluster across a gap: %v", err)
		} else {
			t.Logf("plan refused: %v", err)
		}
		// A segment that goes between planning and replay (lifecycle,
		// prune): the restore itself must fail, not promote early.
		stale := &staleListing{Store: f.store, extra: info}
		_, err = restore.RestoreCluster(ctx, stale, opts)
		if !errors.Is(err, restore.ErrRecoveryFailed) {
			t.Fatalf("RestoreCluster with a segment missing: %v, want ErrRecoveryFailed", err)
		}
		t.Logf("failed as it should: %v", err)
		marker, rerr := os.ReadFile(filepath.Join(opts.DataDir, restore.FailedFile))
		if rerr != nil || !strings.Contains(string(marker), "recovery failed") {
			t.Fatalf("failure marker: %q, %v", marker, rerr)
		}
		if !portFree(opts.Port) {
			t.Fatalf("a server still listens on %d after the failed restore", opts.Port)
		}
		if _, err := os.Stat(filepath.Join(opts.DataDir, "postmaster.pid")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("postmaster.pid left in the failed restore: %v", err)
		}
		if err := restore.RemoveCluster(ctx, opts.DataDir, opts.BinDir, opts.OSUser); err != nil {
			t.Fatalf("removing the failed restore: %v", err)
		}
	})
}

// startRestored starts a stopped restored copy again (test only).
func startRestored(opts restore.ClusterOptions) error {
	cmd := fmt.Sprintf("%s/pg_ctl -D %s -l %s/restore.log -w start", opts.BinDir, opts.DataDir, opts.DataDir)
	return runAs(opts.OSUser, cmd)
}

func archivedKey(t *testing.T, f *fixture, seg string) string {
	t.Helper()
	a, err := catalog.ListWAL(context.Background(), f.store, f.cfg.Layout(), wal.DefaultSegmentSize)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range a.Files {
		if w.Name == seg {
			return w.Key
		}
	}
	t.Fatalf("segment %s not archived", seg)
	return ""
}

// staleListing lists one object the store no longer has: the view of a
// planner that listed just before the object was deleted.
type staleListing struct {
	objectstore.Store
	extra objectstore.ObjectInfo
}

func (s *staleListing) List(ctx context.Context, prefix string, fn func(objectstore.ObjectInfo) error) error {
	added := !strings.HasPrefix(s.extra.Key, prefix)
	err := s.Store.List(ctx, prefix, func(o objectstore.ObjectInfo) error {
		if !added && o.Key > s.extra.Key {
			added = true
			if err := fn(s.extra); err != nil {
				return err
			}
		}
		return fn(o)
	})
	if err == nil && !added {
		err = fn(s.extra)
	}
	return err
}

func (s *staleListing) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	return s.Store.(objectstore.RangeReader).GetRange(ctx, key, off, n)
}
