package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/wal"
)

// TestAccWalPushAhead runs PostgreSQL 15 under pgbench, archiving through
// the real binary, with a real agent pushing WAL ahead as the server's own
// account: every segment reaches MinIO, consecutive and byte-identical;
// most archive_command calls return on the agent's record (counted by
// lifeboat_wal_pushed_ahead_total); archive_command never fails. Then the
// agent is SIGKILLed in the middle of a push and nothing is lost.
func TestAccWalPushAhead(t *testing.T) {
	env := testenv.Require(t)
	f := setupArchiving(t, env, "wal-ahead")
	pg := env.Postgres
	aheadDir := filepath.Join(pg.DataDir, "pg_wal", wal.AheadDirName)
	os.RemoveAll(aheadDir)
	t.Cleanup(func() { os.RemoveAll(aheadDir) })

	a := f.startAgentAsServer(t, "ahead-1")
	waitFor(t, 30*time.Second, "the agent pushing ahead", func() bool {
		_, err := os.Stat(filepath.Join(aheadDir, "active"))
		return err == nil
	})
	if fi, err := os.Stat(aheadDir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("push-ahead directory %s: %v, %v; want mode 0700", aheadDir, fi, err)
	}
	before := f.archiver(t)

	pgbench(t, pg, "-i", "-s", "10", "-q")
	pgbench(t, pg, "-c", "4", "-j", "2", "-T", "8", "-n")
	target := psql(t, pg, "SELECT pg_walfile_name(pg_switch_wal())")
	f.waitArchived(t, target, 3*time.Minute)
	segs := f.archivedSegments(t, target)
	compared := f.compareWithPGWAL(t, segs)

	after := f.archiver(t)
	if after.failedCount != before.failedCount {
		t.Fatalf("archive_command failed %d times with the agent pushing ahead (last %s)", after.failedCount-before.failedCount, after.lastFailed)
	}
	calls := float64(after.archivedCount - before.archivedCount)
	var hits, misses, pushed float64
	waitFor(t, 30*time.Second, "every archive_command call counted by the agent", func() bool {
		mf := a.scrape(t)
		hits, misses = counter(mf, "lifeboat_wal_pushed_ahead_total"), counter(mf, "lifeboat_wal_archive_command_pushed_total")
		pushed = counter(mf, "lifeboat_wal_ahead_pushes_total", "result", "pushed")
		return hits+misses >= calls
	})
	t.Logf("%d segments archived (%d compared with pg_wal); %v archive_command calls: %v found the segment pushed ahead, %v pushed it themselves; the agent pushed %v",
		len(segs), compared, calls, hits, misses, pushed)
	if calls < 5 {
		t.Fatalf("only %v archive_command calls: pgbench should have produced more", calls)
	}
	if hits <= calls/2 {
		t.Fatalf("%v of %v archive_command calls found their segment pushed ahead; want most", hits, calls)
	}
	if pushed < hits {
		t.Fatalf("the agent pushed %v segments, fewer than the %v calls that found one", pushed, hits)
	}

	// SIGKILL in the middle of a push: its lock goes with the process and
	// it left no record, so archive_command pushes that segment itself.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	load := exec.CommandContext(ctx, filepath.Join(pg.BinDir, "pgbench"), "-h", pg.Host, "-p", strconv.Itoa(pg.Port),
		"-U", pg.User, "-c", "4", "-j", "2", "-T", "10", "-n", "postgres")
	load.Env = append(os.Environ(), "PGPASSWORD="+pg.Password)
	var loadOut bytes.Buffer
	load.Stdout, load.Stderr = &loadOut, &loadOut
	if err := load.Start(); err != nil {
		t.Fatal(err)
	}
	// A push's lock file is visible for tens of milliseconds, while
	// pgbench runs: waitFor's 250 ms polls could miss every one (failed in
	// a CI run), so this polls every 2 ms.
	var killedIn string
	for deadline := time.Now().Add(60 * time.Second); killedIn == ""; time.Sleep(2 * time.Millisecond) {
		if m, _ := filepath.Glob(filepath.Join(aheadDir, "*.pushing")); len(m) > 0 {
			// A visible lock file is a locked one (wal.Ahead): kill now.
			_ = a.cmd.Process.Signal(syscall.SIGKILL)
			killedIn = strings.TrimSuffix(filepath.Base(m[0]), ".pushing")
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("timed out after 1m0s waiting for a push ahead under way")
		}
	}
	<-a.done
	if err := load.Wait(); err != nil {
		t.Fatalf("pgbench: %v\n%s", err, loadOut.String())
	}
	target = psql(t, pg, "SELECT pg_walfile_name(pg_switch_wal())")
	f.waitArchived(t, target, 3*time.Minute)
	segs = f.archivedSegments(t, target) // fails on any gap
	if !contains(segs, killedIn) {
		t.Fatalf("%s, pushed ahead when the agent was killed, is not archived", killedIn)
	}
	f.compareWithPGWAL(t, segs)
	if end := f.archiver(t); end.failedCount != before.failedCount {
		t.Fatalf("archive_command failed %d times after the agent was killed (last %s)", end.failedCount-before.failedCount, end.lastFailed)
	}
	t.Logf("agent SIGKILLed while pushing %s ahead: archive continues to %s with no gap", killedIn, target)
}

// startAgentAsServer starts `lifeboat agent` as PostgreSQL's own account
// (it reads pg_wal and shares the push-ahead directory with
// archive_command), serving the test server's data directory.
func (f *archiveFixture) startAgentAsServer(t *testing.T, holder string) *agentProc {
	t.Helper()
	pg := f.env.Postgres
	listen := freeListen(t)
	cmd := exec.Command(f.bin, "agent", "--config", f.cfgPath, "--holder", holder, "--listen", listen, "--tick", "1s", "--refresh", "2s",
		"--lease-renew", "1s", "--stats-interval", "2s", "--log-format", "json", "--pgdata", pg.DataDir)
	home := filepath.Dir(f.cfgPath)
	cmd.Env = append(os.Environ(), "HOME="+home, EnvPGDSN+"="+pg.DSN("postgres"))
	if cred := serverCredential(t, pg); cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	return launchAgent(t, holder, listen, cmd)
}

// TestAccWalPushReadsThePushAheadRecord runs the binary as archive_command
// against a data directory whose segments were pushed ahead into MinIO:
// the unchanged segment returns on its record without a request to the
// store, a segment rewritten after its push ahead is pushed and refused
// (the archived bytes stay), and a record whose checksum is not the file's
// makes wal-push push the file itself.
func TestAccWalPushReadsThePushAheadRecord(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	repoF := setupAgentRepo(t, env, "wal-ahead-cmd")
	pgdata := t.TempDir()
	walDir := filepath.Join(pgdata, "pg_wal")
	for _, d := range []string{filepath.Join(pgdata, "global"), filepath.Join(walDir, "archive_status")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	const sysid = uint64(7400000000000000123)
	control := make([]byte, 8192)
	binary.LittleEndian.PutUint64(control, sysid)
	if err := os.WriteFile(filepath.Join(pgdata, "global", "pg_control"), control, 0o600); err != nil {
		t.Fatal(err)
	}
	segment := func(name string, fill byte) string {
		p := filepath.Join(walDir, name)
		if err := os.WriteFile(p, bytes.Repeat([]byte{fill, 0, 1, 2}, 4<<20), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(walDir, "archive_status", name+".ready"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg := wal.Config{Layout: repoF.cfg.Layout(), SystemIdentifier: sysid}
	ahead := wal.Ahead{Dir: wal.AheadDir("", walDir, sysid)}
	if err := ahead.Prepare(); err != nil {
		t.Fatal(err)
	}
	walPush := func(path string) (int, string) {
		cmd := exec.Command(repoF.bin, "wal-push", "--config", repoF.cfgPath, "--pgdata", pgdata, "--verbose", "--ahead-wait", "1s", path)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), out.String()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, out.String()
	}

	const segA, segB, segC = "000000010000000000000001", "000000010000000000000002", "000000010000000000000003"
	pathA := segment(segA, 'a')
	if _, err := ahead.Push(ctx, repoF.store, cfg, walDir, segA, "test"); err != nil {
		t.Fatal(err)
	}
	// With the store's endpoint broken, only the record can make it pass.
	broken := repoF.cfg
	broken.Endpoint = "http://127.0.0.1:1"
	brokenPath := writeBootstrap(t, broken)
	cmd := exec.Command(repoF.bin, "wal-push", "--config", brokenPath, "--pgdata", pgdata, "--verbose", pathA)
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "already pushed ahead") {
		t.Fatalf("wal-push of a segment pushed ahead, store unreachable: %v\n%s", err, out)
	}

	// Rewritten after its push ahead: pushed, and refused.
	pathB := segment(segB, 'b')
	if _, err := ahead.Push(ctx, repoF.store, cfg, walDir, segB, "test"); err != nil {
		t.Fatal(err)
	}
	segment(segB, 'B')
	code, out := walPush(pathB)
	if code == 0 || !strings.Contains(out, wal.ErrConflict.Error()) {
		t.Fatalf("wal-push of a segment rewritten after its push ahead: exit %d, want a conflict:\n%s", code, out)
	}

	// A record whose checksum is not the file's: pushed by wal-push.
	pathC := segment(segC, 'c')
	stale := wal.AheadRecord{Name: segC, Size: 16 << 20, SHA256: strings.Repeat("0", 64), SystemIdentifier: strconv.FormatUint(sysid, 10),
		Bucket: repoF.cfg.Bucket, Key: cfg.Layout.WALKey("00000001", segC, "zst")}
	raw, _ := json.Marshal(stale)
	if err := os.WriteFile(filepath.Join(ahead.Dir, segC+".json"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := walPush(pathC); code != 0 || !strings.Contains(out, "archived "+pathC) {
		t.Fatalf("wal-push with a stale record: exit %d, want its own push:\n%s", code, out)
	}
	if _, err := wal.Fetch(ctx, repoF.store, cfg, segC, filepath.Join(t.TempDir(), segC)); err != nil {
		t.Fatalf("%s not archived after the stale record: %v", segC, err)
	}
}
