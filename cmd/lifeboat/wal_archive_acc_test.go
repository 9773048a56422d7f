package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/wal"
)

// archiveFixture is a PostgreSQL 15 cluster archiving into MinIO through
// the real lifeboat binary, run by the server as its own OS user.
type archiveFixture struct {
	env     *testenv.Env
	bin     string
	cfgPath string
	cfg     repo.AgentConfig
	store   objectstore.Store
}

// TestAccWalArchive drives archive_command end to end, then takes the
// object store away under load and checks that archiving catches up with no
// gap. The subtests share one archiving setup and run in order.
func TestAccWalArchive(t *testing.T) {
	env := testenv.Require(t)
	f := setupArchiving(t, env, "wal-acc")
	t.Run("archive_and_fetch", f.testArchiveAndFetch)
	t.Run("object_store_outage", f.testObjectStoreOutage)
}

// serverCredential is the PostgreSQL server's account, which runs
// archive_command, as a process credential; nil when the server runs as
// this process's account.
func serverCredential(t *testing.T, pg *testenv.Postgres) *syscall.Credential {
	t.Helper()
	if pg.OSUser == "" {
		return nil
	}
	u, err := user.Lookup(pg.OSUser)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

func setupArchiving(t *testing.T, env *testenv.Env, bucket string) *archiveFixture {
	ctx := context.Background()
	pg := env.Postgres
	repoF := setupAgentRepo(t, env, bucket)
	bin, cfgPath, cfg := repoF.bin, repoF.cfgPath, repoF.cfg
	if cred := serverCredential(t, pg); cred != nil {
		if err := os.Chown(cfgPath, int(cred.Uid), int(cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}

	cmd := fmt.Sprintf("%s wal-push --config %s %%p", bin, cfgPath)
	psql(t, pg, "ALTER SYSTEM SET archive_mode = on")
	psql(t, pg, "ALTER SYSTEM SET archive_command = '"+cmd+"'")
	psql(t, pg, "ALTER SYSTEM SET archive_timeout = '10s'")
	t.Cleanup(func() {
		// Leave the cluster as testenv made it for any later test.
		psql(t, pg, "ALTER SYSTEM RESET archive_mode")
		psql(t, pg, "ALTER SYSTEM RESET archive_command")
		psql(t, pg, "ALTER SYSTEM RESET archive_timeout")
		if err := pg.Restart(context.Background()); err != nil {
			t.Errorf("restarting PostgreSQL after the test: %v", err)
		}
	})
	if err := pg.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if got := psql(t, pg, "SHOW archive_mode"); got != "on" {
		t.Fatalf("archive_mode = %q after restart", got)
	}
	return &archiveFixture{env: env, bin: bin, cfgPath: cfgPath, cfg: cfg, store: repoF.store}
}

func (f *archiveFixture) testArchiveAndFetch(t *testing.T) {
	pg := f.env.Postgres
	pgbench(t, pg, "-i", "-s", "5", "-q")
	pgbench(t, pg, "-c", "2", "-T", "5", "-n")
	target := psql(t, pg, "SELECT pg_walfile_name(pg_switch_wal())")
	f.waitArchived(t, target, 2*time.Minute)

	// The repository records this cluster's identity, read from pg_control
	// by the agent: it must be what PostgreSQL itself reports.
	info, err := repo.ReadCluster(context.Background(), f.store, f.cfg.Layout())
	if err != nil {
		t.Fatal(err)
	}
	if want := psql(t, pg, "SELECT system_identifier FROM pg_control_system()"); info.SystemIdentifier != want {
		t.Fatalf("cluster.json system_identifier %s, PostgreSQL reports %s", info.SystemIdentifier, want)
	}
	if id, err := wal.SystemIdentifier(pg.DataDir); err != nil || strconv.FormatUint(id, 10) != info.SystemIdentifier {
		t.Fatalf("SystemIdentifier(pg_control) = %d, %v; want %s", id, err, info.SystemIdentifier)
	}

	segs := f.archivedSegments(t, target)
	if len(segs) < 3 {
		t.Fatalf("only %d segments archived up to %s: pgbench should have produced more", len(segs), target)
	}
	compared := f.compareWithPGWAL(t, segs)
	t.Logf("%d segments archived, %d compared byte for byte with pg_wal", len(segs), compared)

	// End of archive: exit code 1, and nothing created.
	out := t.TempDir()
	for _, missing := range []string{"00000001000000FF000000FE", "00000002.history"} {
		dest := filepath.Join(out, "missing")
		if code, stderr := f.walFetch(t, missing, dest); code != exitSegmentNotFound {
			t.Fatalf("wal-fetch of missing %s: exit %d, want %d: %s", missing, code, exitSegmentNotFound, stderr)
		}
		if _, err := os.Stat(dest); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("wal-fetch of a missing file created %s", dest)
		}
	}
}

// compareWithPGWAL restores every archived segment of segs through the
// binary (which verifies its checksum) and fails unless each one still in
// pg_wal is byte-identical to it, and at least one was; it returns how
// many were compared.
func (f *archiveFixture) compareWithPGWAL(t *testing.T, segs []string) int {
	t.Helper()
	pg := f.env.Postgres
	compared := 0
	out := t.TempDir()
	for _, seg := range segs {
		dest := filepath.Join(out, seg)
		if code, stderr := f.walFetch(t, seg, dest); code != 0 {
			t.Fatalf("wal-fetch %s: exit %d: %s", seg, code, stderr)
		}
		onDisk, err := os.ReadFile(filepath.Join(pg.DataDir, "pg_wal", seg))
		if errors.Is(err, os.ErrNotExist) {
			continue // recycled after a checkpoint
		}
		if err != nil {
			t.Fatal(err)
		}
		fetched, err := os.ReadFile(dest)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fetched, onDisk) {
			t.Fatalf("wal-fetch %s: %d bytes differ from pg_wal's %d bytes", seg, len(fetched), len(onDisk))
		}
		compared++
	}
	if compared == 0 {
		t.Fatal("no archived segment left in pg_wal to compare with")
	}
	return compared
}

func (f *archiveFixture) testObjectStoreOutage(t *testing.T) {
	pg, m := f.env.Postgres, f.env.MinIO[0]
	failedBefore := f.archiver(t).failedCount

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	load := exec.CommandContext(ctx, filepath.Join(pg.BinDir, "pgbench"), "-h", pg.Host, "-p", strconv.Itoa(pg.Port),
		"-U", pg.User, "-c", "2", "-T", "20", "-n", "postgres")
	load.Env = append(os.Environ(), "PGPASSWORD="+pg.Password)
	var loadOut bytes.Buffer
	load.Stdout, load.Stderr = &loadOut, &loadOut
	if err := load.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)

	// IMPORTANT: this MinIO serves the whole test binary; it is restarted
	// in this test, whatever happens.
	m.Stop()
	stopped := true
	t.Cleanup(func() {
		if stopped {
			if err := m.Start(context.Background()); err != nil {
				t.Errorf("restarting MinIO: %v", err)
			}
		}
	})
	deadline := time.Now().Add(90 * time.Second)
	for f.archiver(t).failedCount <= failedBefore {
		if time.Now().After(deadline) {
			t.Fatalf("pg_stat_archiver.failed_count stayed at %d with the object store down", failedBefore)
		}
		psql(t, pg, "SELECT pg_switch_wal()")
		time.Sleep(time.Second)
	}
	down := f.archiver(t)
	t.Logf("object store down: failed_count %d -> %d, last failed %s", failedBefore, down.failedCount, down.lastFailed)

	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	stopped = false
	if err := load.Wait(); err != nil {
		t.Fatalf("pgbench: %v\n%s", err, loadOut.String())
	}
	target := psql(t, pg, "SELECT pg_walfile_name(pg_switch_wal())")
	f.waitArchived(t, target, 3*time.Minute)

	segs := f.archivedSegments(t, target) // fails on any gap
	if down.lastFailed == "" || !contains(segs, down.lastFailed) {
		t.Fatalf("the segment that failed (%q) was never archived", down.lastFailed)
	}
	// What PostgreSQL logged for the failed attempts says why, and never
	// carries the secret key.
	logText, err := os.ReadFile(pg.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(logText), objectstore.ErrUnreachable.Error()) {
		t.Errorf("server log %s does not show wal-push's %q error", pg.LogPath, objectstore.ErrUnreachable)
	}
	if strings.Contains(string(logText), m.SecretKey) {
		t.Errorf("server log %s contains the object store secret key", pg.LogPath)
	}
	// Everything archived across the outage restores with a valid checksum.
	cfg := f.cfg
	for _, seg := range segs {
		if seg < down.lastFailed {
			continue
		}
		if _, err := wal.Fetch(ctx, f.store, wal.Config{Layout: cfg.Layout()}, seg, filepath.Join(t.TempDir(), seg)); err != nil {
			t.Fatalf("fetch %s after the outage: %v", seg, err)
		}
	}
}

// archivedSegments lists the archived segments of timeline 1 up to last and
// fails the test unless they form one unbroken sequence ending at last.
func (f *archiveFixture) archivedSegments(t *testing.T, last string) []string {
	t.Helper()
	l := f.cfg.Layout()
	var segs []string
	err := f.store.List(context.Background(), l.WALTimelineDir("00000001"), func(info objectstore.ObjectInfo) error {
		if k, ok := l.Parse(info.Key); ok && k.Kind == repo.KindWAL && wal.IsSegment(k.Name) && k.Name <= last {
			segs = append(segs, k.Name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) == 0 || segs[len(segs)-1] != last {
		t.Fatalf("archive ends at %v, want %s", segs, last)
	}
	for i := 1; i < len(segs); i++ {
		if segNo(t, segs[i]) != segNo(t, segs[i-1])+1 {
			t.Fatalf("gap in the archive: %s is followed by %s", segs[i-1], segs[i])
		}
	}
	return segs
}

// segNo is a segment's position in its timeline (16 MiB segments: 256 per
// 4 GiB "log" id).
func segNo(t *testing.T, name string) uint64 {
	log, err1 := strconv.ParseUint(name[8:16], 16, 64)
	seg, err2 := strconv.ParseUint(name[16:24], 16, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("bad segment name %q", name)
	}
	return log*0x100 + seg
}

type archiverStats struct {
	lastArchived, lastFailed   string
	failedCount, archivedCount int
}

func (f *archiveFixture) archiver(t *testing.T) archiverStats {
	t.Helper()
	row := psql(t, f.env.Postgres, "SELECT coalesce(last_archived_wal, '') || '|' || failed_count || '|' || coalesce(last_failed_wal, '') || '|' || archived_count FROM pg_stat_archiver")
	parts := strings.Split(row, "|")
	if len(parts) != 4 {
		t.Fatalf("pg_stat_archiver: %q", row)
	}
	n, _ := strconv.Atoi(parts[1])
	archived, _ := strconv.Atoi(parts[3])
	return archiverStats{lastArchived: parts[0], failedCount: n, lastFailed: parts[2], archivedCount: archived}
}

func (f *archiveFixture) waitArchived(t *testing.T, seg string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		st := f.archiver(t)
		if st.lastArchived >= seg && wal.IsSegment(st.lastArchived) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("archiving did not reach %s within %s: %+v; server log %s", seg, limit, st, f.env.Postgres.LogPath)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// walFetch runs the binary as restore_command would and returns its exit code.
func (f *archiveFixture) walFetch(t *testing.T, name, dest string) (int, string) {
	t.Helper()
	cmd := exec.Command(f.bin, "wal-fetch", "--config", f.cfgPath, name, dest)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), stderr.String()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, stderr.String()
}

func psql(t *testing.T, pg *testenv.Postgres, sql string) string {
	t.Helper()
	out, err := pg.Psql("postgres", sql)
	if err != nil {
		t.Fatalf("psql %q: %v\n%s", sql, err, out)
	}
	return out
}

func pgbench(t *testing.T, pg *testenv.Postgres, args ...string) {
	t.Helper()
	argv := append([]string{"-h", pg.Host, "-p", strconv.Itoa(pg.Port), "-U", pg.User}, args...)
	cmd := exec.Command(filepath.Join(pg.BinDir, "pgbench"), append(argv, "postgres")...)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+pg.Password)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pgbench %v: %v\n%s", args, err, out)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
