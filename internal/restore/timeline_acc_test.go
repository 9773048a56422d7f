package restore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/catalog"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/pg"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/wal"
)

// TestAccRestoreTimelines is a failover told as it happens: a primary
// archives and is backed up; a streaming standby made from it is promoted
// (timeline 2) and archives into the same repository, while the old primary
// goes on on timeline 1 (the fork). Restores before, at and after the
// switch follow timeline 2 and never see the old primary's later writes;
// recovery_target_timeline = 1 restores the old primary's branch instead; a
// backup on the wrong branch is refused at plan, naming the timelines.
// Then a restored copy is promoted, archives (its timeline's history file,
// never archived since it was promoted with archiving off, goes first), is
// backed up, and that backup restores too.
func TestAccRestoreTimelines(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	base := filepath.Join(f.dir, fmt.Sprintf("tl-%d", rand.Intn(1e6)))

	cfg := f.cfg
	cfg.Cluster = filepath.Base(base)
	cfgPath := base + ".json"
	if err := writeAgentConfig(cfgPath, cfg); err != nil {
		t.Fatal(err)
	}
	archive := []string{"archive_mode = on", fmt.Sprintf("archive_command = '%s wal-push --config %s %%p'", f.bin, cfgPath)}
	primary, err := testenv.StartPostgres(ctx, base+"-primary", false, archive...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(primary.Stop)
	l := cfg.Layout()

	psql(t, primary, "postgres", "CREATE TABLE events (note text)")
	psql(t, primary, "postgres", "INSERT INTO events VALUES ('a')")
	b1 := takeBackupOf(t, f, l, primary)

	standby, err := primary.StartStandby(ctx, base+"-standby", archive...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(standby.Stop)
	psql(t, primary, "postgres", "INSERT INTO events VALUES ('b')")
	waitReplayed(t, primary, standby)
	tBefore := pointInTime()

	// Failover: the standby becomes the primary of timeline 2.
	psql(t, standby, "postgres", "SELECT pg_promote()")
	if got := psql(t, standby, "postgres", "SELECT timeline_id FROM pg_control_checkpoint()"); got != "2" {
		t.Logf("checkpoint timeline right after promotion: %s", got)
	}
	tSwitch := pointInTime()
	psql(t, standby, "postgres", "INSERT INTO events VALUES ('c-new')")
	tAfter := pointInTime()
	psql(t, standby, "postgres", "INSERT INTO events VALUES ('d-new')")
	switchAndWaitOn(t, standby)
	// The fork: the old primary was never stopped and goes on.
	psql(t, primary, "postgres", "INSERT INTO events VALUES ('c-old')")
	switchAndWaitOn(t, primary)
	b2 := takeBackupOf(t, f, l, standby) // timeline 2
	b3 := takeBackupOf(t, f, l, primary) // timeline 1, after the fork
	if b2.Timeline != 2 || b3.Timeline != 1 {
		t.Fatalf("backup timelines %d and %d, want 2 and 1", b2.Timeline, b3.Timeline)
	}

	// The catalog sees the fork and the window follows timeline 2.
	c, err := catalog.Load(ctx, f.store, l)
	if err != nil {
		t.Fatal(err)
	}
	w, err := c.RestorableWindow(ctx, f.store)
	if err != nil {
		t.Fatal(err)
	}
	if w.Timeline != 2 || !w.Restorable || w.FromBackup != b1.ID || len(w.Timelines) != 2 ||
		w.Timelines[1].Parent != 1 || len(w.Timelines[0].ContinuedAfter) != 1 || len(w.Gaps) != 0 {
		t.Fatalf("window %+v", w)
	}
	t.Logf("window: timeline %d from %s to %s; %s; %s", w.Timeline, w.FromBackup, w.LatestSegment,
		w.Timelines[0].Describe(), w.Timelines[1].Describe())

	restoreTo := func(t *testing.T, name string, target time.Time, timeline, backupID string) (*restore.Result, restore.ClusterOptions) {
		t.Helper()
		opts := f.clusterOptions(t, filepath.Base(base)+"-"+name)
		opts.Layout, opts.AgentConfig = l, cfg
		opts.Target, opts.TargetTimeline, opts.BackupID, opts.KeepRunning = target, timeline, backupID, true
		p, err := restore.PlanCluster(ctx, f.store, opts)
		if err != nil {
			t.Fatalf("plan %s: %v", name, err)
		}
		t.Logf("plan %s: backup %s, timeline %d (%s), WAL %s..%s", name, p.BackupID, p.Timeline, p.TimelinePath, p.WALStart, p.WALStop)
		res, err := restore.RestoreCluster(ctx, f.store, opts)
		if err != nil {
			t.Fatalf("restore %s: %v", name, err)
		}
		t.Cleanup(func() { restore.RemoveCluster(context.Background(), opts.DataDir, opts.BinDir, opts.OSUser) })
		noSecretIn(t, opts.DataDir, cfg.SecretKey)
		return res, opts
	}
	rows := func(res *restore.Result) string {
		return queryRestored(t, res, "postgres", "SELECT string_agg(note, ',' ORDER BY note) FROM events")
	}

	t.Run("before_switch", func(t *testing.T) {
		res, _ := restoreTo(t, "before", tBefore, "", "")
		if got := rows(res); got != "a,b" || res.Plan.Timeline != 2 || res.Plan.BackupID != b1.ID {
			t.Fatalf("rows %q, plan %+v", got, res.Plan)
		}
	})
	t.Run("at_switch", func(t *testing.T) {
		res, _ := restoreTo(t, "at", tSwitch, "", "")
		if got := rows(res); got != "a,b" || res.Plan.Timeline != 2 {
			t.Fatalf("rows %q, plan %+v", got, res.Plan)
		}
	})
	t.Run("after_switch", func(t *testing.T) {
		res, _ := restoreTo(t, "after", tAfter, "", "")
		if got := rows(res); got != "a,b,c-new" || res.Plan.TimelinePath != "1 -> 2 at "+w.Timelines[1].SwitchLSN {
			t.Fatalf("rows %q (the old primary's c-old must not appear), plan %+v", got, res.Plan)
		}
	})
	t.Run("old_primary_branch", func(t *testing.T) {
		// From the backup before the fork along timeline 1: the old
		// primary's writes, none of the promoted standby's.
		res, _ := restoreTo(t, "fork1", time.Time{}, "1", b1.ID)
		if got := rows(res); got != "a,b,c-old" || res.Plan.Timeline != 1 {
			t.Fatalf("rows %q, plan %+v", got, res.Plan)
		}
	})
	t.Run("wrong_branch_refused_at_plan", func(t *testing.T) {
		opts := f.clusterOptions(t, filepath.Base(base)+"-refused")
		opts.Layout, opts.AgentConfig, opts.BackupID, opts.TargetTimeline = l, cfg, b3.ID, "2"
		_, err := restore.RestoreCluster(ctx, f.store, opts)
		if !errors.Is(err, catalog.ErrNotOnTimeline) || !strings.Contains(err.Error(), "timeline 2 (from timeline 1 at") {
			t.Fatalf("backup of the old primary after the fork to timeline 2: %v", err)
		}
		if _, serr := os.Stat(opts.DataDir); !errors.Is(serr, os.ErrNotExist) {
			t.Fatalf("refused restore created %s", opts.DataDir)
		}
		t.Logf("refused: %v", err)
	})

	t.Run("restore_promote_archive_backup_restore", func(t *testing.T) {
		res, opts := restoreTo(t, "latest", time.Time{}, "latest", "")
		if got := rows(res); got != "a,b,c-new,d-new" || res.Plan.BackupID != b2.ID {
			t.Fatalf("rows %q, plan %+v", got, res.Plan)
		}
		copyPG := restoredPostgres(res, opts)
		// The copy promoted to a timeline of its own (3: the archive's
		// newest is 2) while it did not archive.
		tli := psql(t, copyPG, "postgres", "SELECT timeline_id FROM pg_control_checkpoint()")
		if tli != "3" {
			t.Fatalf("restored copy on timeline %s, want 3", tli)
		}
		pool, err := pgxpool.New(ctx, restore.SocketDSN(res.DataDir, res.Port, res.User, "postgres"))
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		hist, err := pg.HistoryFiles(ctx, pool)
		if err != nil || len(hist) != 2 || hist["00000003.history"] == nil {
			t.Fatalf("history files of the copy: %v, %v", keysOf(hist), err)
		}
		// Enable archiving into the same repository.
		psql(t, copyPG, "postgres", "ALTER SYSTEM SET archive_mode = on")
		psql(t, copyPG, "postgres", fmt.Sprintf("ALTER SYSTEM SET archive_command = '%s wal-push --config %s %%p'", f.bin, cfgPath))
		if err := runAs(opts.OSUser, fmt.Sprintf("%s/pg_ctl -D %s -l %s/restore.log -w restart -m fast", opts.BinDir, opts.DataDir, opts.DataDir)); err != nil {
			t.Fatal(err)
		}
		psql(t, copyPG, "postgres", "INSERT INTO events VALUES ('e-copy')")
		switchAndWaitOn(t, copyPG)
		if _, err := wal.ReadArchived(ctx, f.store, wal.Config{Layout: l}, "00000003.history"); err != nil {
			t.Fatalf("the copy's timeline history was not archived: %v", err)
		}
		if _, err := os.Stat(filepath.Join(opts.DataDir, "pg_wal/archive_status/00000003.history.done")); err != nil {
			t.Fatalf("history not marked done: %v", err)
		}
		b4 := takeBackupOf(t, f, l, copyPG)
		if b4.Timeline != 3 {
			t.Fatalf("backup of the copy on timeline %d", b4.Timeline)
		}
		// The copy's backup holds the copy's restore files: the restore
		// of it writes its own, and works.
		again, _ := restoreTo(t, "again", time.Time{}, "", "")
		if got := rows(again); got != "a,b,c-new,d-new,e-copy" || again.Plan.BackupID != b4.ID || again.Plan.Timeline != 3 {
			t.Fatalf("rows %q, plan %+v", got, again.Plan)
		}
	})
}

// TestAccRestoreRetryAfterFailure: a cluster restore that fails half way
// (the object store breaks during the download) leaves a directory marked
// failed that holds no secret; the same restore run again, into the same
// directory and port, clears it and succeeds. A directory with a completed
// restore, or anything else, is still refused.
func TestAccRestoreRetryAfterFailure(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	psql(t, f.env.Postgres, "postgres", "DROP TABLE IF EXISTS retry; CREATE TABLE retry AS SELECT 42 AS answer")
	m := f.takeBackup(t)

	opts := f.clusterOptions(t, fmt.Sprintf("retry-%d", rand.Intn(1e6)))
	opts.BackupID = m.ID
	_, err := restore.RestoreCluster(ctx, &brokenStore{Store: f.store}, opts)
	if err == nil || !strings.Contains(err.Error(), errInjected.Error()) {
		t.Fatalf("restore through a broken store: %v", err)
	}
	if _, err := os.Stat(filepath.Join(opts.DataDir, restore.FailedFile)); err != nil {
		t.Fatalf("failed restore not marked: %v", err)
	}
	noSecretIn(t, opts.DataDir, f.cfg.SecretKey)

	res, err := restore.RestoreCluster(ctx, f.store, opts)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	t.Cleanup(func() { restore.RemoveCluster(context.Background(), opts.DataDir, opts.BinDir, opts.OSUser) })
	if res.Plan.BackupID != m.ID {
		t.Fatalf("retry plan %+v", res.Plan)
	}
	if _, err := os.Stat(filepath.Join(opts.DataDir, restore.FailedFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a good restore carries %s: %v", restore.FailedFile, err)
	}
	noSecretIn(t, opts.DataDir, f.cfg.SecretKey)
	// A completed restore is not overwritten by another.
	if _, err := restore.RestoreCluster(ctx, f.store, opts); !errors.Is(err, restore.ErrTargetNotEmpty) {
		t.Fatalf("restore over a completed restore: %v", err)
	}
}

var errInjected = errors.New("injected object store failure")

// brokenStore fails every read of backup data: a network or store outage
// in the middle of a restore.
type brokenStore struct{ objectstore.Store }

func (b *brokenStore) Get(ctx context.Context, key string) (io.ReadCloser, objectstore.ObjectInfo, error) {
	if strings.Contains(key, "/basebackups/") && !strings.HasSuffix(key, ".json") {
		return nil, objectstore.ObjectInfo{}, errInjected
	}
	return b.Store.Get(ctx, key)
}

func (b *brokenStore) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	return nil, errInjected
}

// noSecretIn fails when any file below dir holds the secret.
func noSecretIn(t *testing.T, dir, secret string) {
	t.Helper()
	if secret == "" {
		t.Fatal("the test repository has no secret key to look for")
	}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("%s holds the repository's secret key", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func takeBackupOf(t *testing.T, f *fixture, l repo.Layout, p *testenv.Postgres) *backup.Manifest {
	t.Helper()
	dsn := p.DSN("postgres")
	if p.Password == "" { // a restored copy: its socket, trusted
		dsn = fmt.Sprintf("host=%s port=%d user=%s dbname=postgres sslmode=disable", p.SocketDir, p.Port, p.User)
	}
	m, err := backup.Take(context.Background(), f.store, backup.Options{Layout: l, DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	switchAndWaitOn(t, p)
	t.Logf("backup %s on timeline %d, WAL %s..%s, stop %s", m.ID, m.Timeline, m.WALStart, m.WALStop, m.StopLSN)
	return m
}

// switchAndWaitOn switches WAL on p and waits until its archiver pushed
// the segment it closed.
func switchAndWaitOn(t *testing.T, p *testenv.Postgres) {
	t.Helper()
	psql(t, p, "postgres", "SELECT txid_current()")
	seg := psql(t, p, "postgres", "SELECT pg_walfile_name(pg_switch_wal() - 1)")
	deadline := time.Now().Add(2 * time.Minute)
	for {
		last := psql(t, p, "postgres", "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")
		if len(last) >= 24 && (last[8:24] > seg[8:] || last == seg) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("segment %s not archived within 2 minutes (last archived %q)", seg, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitReplayed waits until the standby replayed everything the primary
// wrote so far.
func waitReplayed(t *testing.T, primary, standby *testenv.Postgres) {
	t.Helper()
	lsn := psql(t, primary, "postgres", "SELECT pg_current_wal_lsn()")
	deadline := time.Now().Add(time.Minute)
	for psql(t, standby, "postgres", fmt.Sprintf("SELECT pg_last_wal_replay_lsn() >= '%s'", lsn)) != "t" {
		if time.Now().After(deadline) {
			t.Fatalf("standby did not replay up to %s within a minute", lsn)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// restoredPostgres describes a running restored copy for psql and DSN
// (local trust through the socket in its data directory).
func restoredPostgres(res *restore.Result, opts restore.ClusterOptions) *testenv.Postgres {
	return &testenv.Postgres{Host: restore.SocketDir(res.DataDir), Port: res.Port, User: res.User, BinDir: opts.BinDir,
		DataDir: res.DataDir, SocketDir: restore.SocketDir(res.DataDir), OSUser: opts.OSUser}
}

func keysOf(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
