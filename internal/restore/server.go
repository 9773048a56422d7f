package restore

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/pg"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/wal"
)

// settings are what a restore writes into postgresql.auto.conf.
type settings struct {
	agent  string
	target time.Time
	point  Point
	// timeline is the plan's timeline (0: latest, for a caller without a
	// plan).
	timeline uint32
	port     int
	listen   string
	// spool, when set, is the directory restore_command takes prefetched
	// WAL from first (see SpoolDir).
	spool string
}

// managedKeys are the settings a restore owns: any earlier line for them in
// postgresql.auto.conf (the source's ALTER SYSTEM) is dropped.
var managedKeys = []string{
	"restore_command", "recovery_target", "recovery_target_time", "recovery_target_xid", "recovery_target_lsn",
	"recovery_target_name", "recovery_target_action", "recovery_target_inclusive", "recovery_target_timeline",
	"port", "listen_addresses", "unix_socket_directories", "archive_mode", "archive_command", "archive_library",
	"hba_file", "ident_file", "logging_collector", "synchronous_standby_names", "primary_conninfo",
	"primary_slot_name", "hot_standby",
}

// writeSettings writes the recovery settings, recovery.signal and the
// pg_hba.conf line the engine connects through.
func writeSettings(dir string, own owner, s settings) error {
	sockDir, err := ensureSocketDir(dir, own)
	if err != nil {
		return err
	}
	listen := s.listen
	if listen == "" {
		listen = "127.0.0.1"
	}
	var b strings.Builder
	autoPath := filepath.Join(dir, "postgresql.auto.conf")
	if old, err := os.ReadFile(autoPath); err == nil {
		for _, line := range strings.Split(string(old), "\n") {
			key := strings.TrimSpace(line)
			if i := strings.IndexAny(key, " \t="); i >= 0 {
				key = key[:i]
			}
			if line == "" || managedKey(strings.ToLower(key)) {
				continue
			}
			b.WriteString(line + "\n")
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	cfgPath := filepath.Join(dir, ConfigFile)
	fmt.Fprintf(&b, "# --- written by lifeboat restore at %s ---\n", time.Now().UTC().Format(time.RFC3339))
	set := func(k, v string) { fmt.Fprintf(&b, "%s = %s\n", k, confQuote(v)) }
	if s.spool != "" {
		set("restore_command", pg.RestoreCommandSpooled(s.agent, cfgPath, s.spool))
	} else {
		set("restore_command", pg.RestoreCommand(s.agent, cfgPath))
	}
	if !s.target.IsZero() {
		// NOTE: UTC with microseconds, PostgreSQL's timestamp precision;
		// the zone is explicit so the server's TimeZone cannot shift it.
		set("recovery_target_time", s.target.UTC().Format("2006-01-02 15:04:05.000000")+"+00")
	}
	switch {
	case s.point.LSN != "":
		set("recovery_target_lsn", s.point.LSN)
	case s.point.XID != "":
		set("recovery_target_xid", s.point.XID)
	case s.point.Name != "":
		set("recovery_target_name", s.point.Name)
	case s.point.Immediate:
		set("recovery_target", "immediate")
	}
	if s.point.Exclusive {
		set("recovery_target_inclusive", "off")
	}
	set("recovery_target_action", "promote")
	// NOTE: the planned timeline, never "latest": a timeline archived
	// between plan and restore (or a fork) must not change which history
	// is replayed, and PostgreSQL's latest is the highest-numbered history
	// file even when it does not descend from the backup.
	if s.timeline != 0 {
		set("recovery_target_timeline", strconv.FormatUint(uint64(s.timeline), 10))
	} else {
		set("recovery_target_timeline", "latest")
	}
	// Safety rule: the copy never archives. With the source's
	// archive_command it would push its new timeline into the source's
	// repository.
	set("archive_mode", "off")
	set("archive_command", "")
	set("archive_library", "")
	set("port", strconv.Itoa(s.port))
	set("listen_addresses", listen)
	set("unix_socket_directories", sockDir)
	set("hba_file", filepath.Join(dir, "pg_hba.conf"))
	set("ident_file", filepath.Join(dir, "pg_ident.conf"))
	// Everything the server says goes to restore.log, where a failure's
	// reason is read from.
	set("logging_collector", "off")
	// A copy has no standbys: a source's synchronous_standby_names would
	// make every commit on it wait forever.
	set("synchronous_standby_names", "")
	set("primary_conninfo", "")
	set("primary_slot_name", "")
	set("hot_standby", "on")
	if err := writeOwned(autoPath, []byte(b.String()), own); err != nil {
		return err
	}

	// A Debian-style cluster keeps its configuration outside the data
	// directory: the backup then has none, and the copy gets minimal files.
	if _, err := os.Stat(filepath.Join(dir, "postgresql.conf")); errors.Is(err, os.ErrNotExist) {
		if err := writeOwned(filepath.Join(dir, "postgresql.conf"), []byte("# written by lifeboat restore: the source kept its configuration outside the data directory\n"), own); err != nil {
			return err
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "pg_ident.conf")); errors.Is(err, os.ErrNotExist) {
		if err := writeOwned(filepath.Join(dir, "pg_ident.conf"), nil, own); err != nil {
			return err
		}
	}
	hbaPath := filepath.Join(dir, "pg_hba.conf")
	hba, err := os.ReadFile(hbaPath)
	if errors.Is(err, os.ErrNotExist) {
		hba, err = []byte("host all all 127.0.0.1/32 scram-sha-256\nhost all all ::1/128 scram-sha-256\n"), nil
	}
	if err != nil {
		return err
	}
	// NOTE: trust on the Unix socket only, and the socket lives in a
	// directory of the server's own (mode 0700, see SocketDir): only the
	// server's account and root can reach it. It lets the engine (and
	// tenant restores' pg_dump) in without the source's passwords; TCP
	// keeps the source's rules.
	const hbaLine = "# lifeboat restore: local connections through the socket in the server's private socket directory\nlocal all all trust\n"
	if !strings.HasPrefix(string(hba), hbaLine) {
		hba = append([]byte(hbaLine), hba...)
	}
	if err := writeOwned(hbaPath, hba, own); err != nil {
		return err
	}

	for _, f := range []string{"standby.signal", "postmaster.pid", "postmaster.opts"} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return writeOwned(filepath.Join(dir, "recovery.signal"), nil, own)
}

// SocketDir is where the restored server at dataDir puts its Unix socket:
// a short directory of its own, /tmp/lifeboat-pg-<hash of the data
// directory's absolute path>.
//
// GOTCHA: a Unix socket path is limited to about 100 bytes
// (sizeof(sun_path)), so a socket in the data directory breaks as soon as
// the data directory is deep (a checkout under a long home path). The
// directory is derived from dataDir alone, not recorded, so every process
// that knows the data directory (the drill, the agent, a later terraform
// run's destroy) finds the same one: hence /tmp, not $TMPDIR, which
// differs between accounts and sessions (and may itself be deep).
func SocketDir(dataDir string) string {
	if abs, err := filepath.Abs(dataDir); err == nil {
		dataDir = abs
	}
	sum := sha256.Sum256([]byte(filepath.Clean(dataDir)))
	return filepath.Join("/tmp", "lifeboat-pg-"+hex.EncodeToString(sum[:6]))
}

// SocketDSN is a key=value connection string for the restored server at
// dataDir, through its Unix socket (trusted, see writeSettings).
func SocketDSN(dataDir string, port int, user, db string) string {
	return fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable", SocketDir(dataDir), port, user, db)
}

// ensureSocketDir creates dataDir's socket directory (mode 0700, owned by
// the server's account), or checks the one already there: it must be a
// real directory of that account and no one else's, since the socket in it
// is trusted. A temp directory is shared: a directory (or symlink) planted
// there by another account is refused, not used.
func ensureSocketDir(dataDir string, own owner) (string, error) {
	dir := SocketDir(dataDir)
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("creating the server's socket directory: %w", err)
	}
	if err := own.lchown(dir); err != nil {
		return "", fmt.Errorf("socket directory %s: %w", dir, err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return "", err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	uid := own.uid
	if uid < 0 {
		uid = os.Geteuid()
	}
	if !fi.IsDir() || fi.Mode().Perm() != 0o700 || !ok || int(st.Uid) != uid {
		return "", fmt.Errorf("socket directory %s exists but is not a private directory of uid %d (mode %s): remove it", dir, uid, fi.Mode())
	}
	return dir, nil
}

// removeSocketDir removes dataDir's socket directory once its server is
// stopped.
func removeSocketDir(dataDir string) error {
	err := os.RemoveAll(SocketDir(dataDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

func managedKey(k string) bool {
	for _, m := range managedKeys {
		if k == m {
			return true
		}
	}
	return false
}

// confQuote quotes a postgresql.conf string value.
func confQuote(v string) string { return "'" + strings.ReplaceAll(v, "'", "''") + "'" }

// server is a restored cluster's PostgreSQL, driven through pg_ctl.
type server struct {
	dataDir, binDir string
	own             owner
	// env is added to the server's environment (credentials for
	// restore_command, see credentialEnv).
	env []string
	// spool is the prefetched WAL's directory, "" without prefetching.
	spool    string
	prefetch *prefetcher
	// syncfs starts the server with recovery_init_sync_method = syncfs
	// (see start).
	syncfs  bool
	clock   *phaseClock
	port    int
	started bool
	user    string // role that connected
	dbname  string
}

// syncfsSetting is the start option of a restore's server (see start).
const syncfsSetting = "recovery_init_sync_method=syncfs"

// forgetSyncfs takes the start's syncfsSetting out of postmaster.opts once
// the server has recovered: the postmaster records its command line there,
// and `pg_ctl restart` of a kept copy starts it again with those options.
// Past recovery the copy's files are PostgreSQL's own, synced or not, and
// how a restart syncs them is the copy's configuration's to say (the
// source's), not the restore's.
func (s *server) forgetSyncfs() error {
	if !s.syncfs {
		return nil
	}
	path := filepath.Join(s.dataDir, "postmaster.opts")
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading the server's start options: %w", err)
	}
	// Each argument is recorded quoted: "-c" "<setting>".
	opts := strings.Replace(string(b), ` "-c" "`+syncfsSetting+`"`, "", 1)
	if opts == string(b) {
		return nil
	}
	if err := writeOwned(path, []byte(opts), s.own); err != nil {
		return fmt.Errorf("writing the server's start options: %w", err)
	}
	return nil
}

// pgctl runs pg_ctl as the server's account, in a session of its own so
// the server it starts outlives this process.
func (s *server) pgctl(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(s.binDir, "pg_ctl"), append([]string{"-D", s.dataDir}, args...)...)
	cmd.Dir = s.dataDir
	if len(s.env) > 0 {
		// NOTE: a session token of this process's own credentials would
		// pair with the static keys and spoil them.
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "AWS_SESSION_TOKEN=") && !strings.HasPrefix(kv, "AWS_ACCESS_KEY_ID=") && !strings.HasPrefix(kv, "AWS_SECRET_ACCESS_KEY=") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, s.env...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if s.own.uid >= 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(s.own.uid), Gid: uint32(s.own.gid)}
	}
	return cmd.CombinedOutput()
}

func (s *server) start(ctx context.Context) error {
	// The temp directory may have been cleaned since the settings were
	// written (a reboot): PostgreSQL does not start without its socket
	// directory.
	if _, err := ensureSocketDir(s.dataDir, s.own); err != nil {
		return fmt.Errorf("%w: %w", ErrRecoveryFailed, err)
	}
	// -W: do not wait; recovery can take far longer than pg_ctl's timeout,
	// and waitPromoted watches the server itself.
	args := []string{"-l", filepath.Join(s.dataDir, LogFile), "-W"}
	if s.syncfs {
		// A server started on a backup's files syncs the whole data
		// directory before recovery (fsync = on; its pg_control says it
		// was not shut down cleanly), by default with an open and an
		// fsync of every file: about a millisecond each on a busy disk,
		// 1.0-1.5 s for the 1,000 files of a 1.6 GB cluster, and every
		// one of them already on disk, since the restore fdatasynced each
		// file and directory it wrote (durable.go) and checked each
		// result. syncfs(2) of the file system gives the same guarantee
		// in one call. The caveats PostgreSQL documents for it (it syncs
		// unrelated files too, and before Linux 5.8 it may not report a
		// failed writeback) do not weaken this start: the restore's own
		// syncs reported every failure. Given on the command line, not in
		// postgresql.auto.conf, and taken out of postmaster.opts once
		// recovered (forgetSyncfs), so the copy's configuration stays the
		// source's.
		args = append(args, "-o", "-c "+syncfsSetting)
	}
	out, err := s.pgctl(ctx, append(args, "start")...)
	if err != nil {
		return fmt.Errorf("%w: pg_ctl start: %w: %s", ErrRecoveryFailed, err, strings.TrimSpace(string(out)))
	}
	s.started = true
	return nil
}

// stop stops the server if it runs; a server that is not running is
// success.
func (s *server) stop(ctx context.Context, mode string) error {
	if s.pid() == 0 {
		return nil
	}
	out, err := s.pgctl(ctx, "-m", mode, "-w", "-t", "120", "stop")
	if err != nil {
		if s.pid() == 0 || strings.Contains(string(out), "Is server running?") {
			return nil
		}
		return fmt.Errorf("pg_ctl stop -m %s: %w: %s", mode, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// pid is the postmaster's pid if it runs, else 0.
func (s *server) pid() int {
	raw, err := os.ReadFile(filepath.Join(s.dataDir, "postmaster.pid"))
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || pid <= 0 {
		return 0
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return 0
	}
	return pid
}

// connect opens a connection over the server's Unix socket (SocketDir),
// trying the roles a cluster's superuser is usually called.
func (s *server) connect(ctx context.Context) (*pgx.Conn, error) {
	users := []string{s.user}
	if s.user == "" {
		users = []string{s.own.name, "postgres"}
		if s.own.name == "" {
			if u := os.Getenv("USER"); u != "" {
				users = []string{u, "postgres"}
			}
		}
	}
	var lastErr error
	for _, u := range users {
		if u == "" {
			continue
		}
		for _, db := range []string{"postgres", "template1"} {
			cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable connect_timeout=5",
				SocketDir(s.dataDir), s.port, u, db))
			if err != nil {
				return nil, err
			}
			cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
			conn, err := pgx.ConnectConfig(ctx, cfg)
			if err == nil {
				s.user, s.dbname = u, db
				return conn, nil
			}
			lastErr = err
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "3D000" { // no such database
				continue
			}
			break
		}
	}
	return nil, lastErr
}

var errServerExited = errors.New("PostgreSQL exited")

// pmStatus is the postmaster's state as it records it in the last line of
// postmaster.pid (what pg_ctl -w reads): "starting", "standby" (hot
// standby: consistent, still replaying), "ready" (recovery over, promoted,
// the end-of-recovery checkpoint done) or "stopping"; "" when there is no
// such line yet.
func (s *server) pmStatus() string {
	raw, err := os.ReadFile(filepath.Join(s.dataDir, "postmaster.pid"))
	if err != nil {
		return ""
	}
	lines := strings.Split(string(raw), "\n")
	if len(lines) < 8 {
		return ""
	}
	return strings.TrimSpace(lines[7])
}

// promotePoll is how often waitPromoted reads the postmaster's state: a
// file read, cheap enough that the restore notices the promotion within a
// few milliseconds (a connection attempt at this rate would fork a backend
// each time and fill the log with "starting up" refusals).
const promotePoll = 5 * time.Millisecond

// waitPromoted waits until the server is out of recovery and accepts
// connections, or exits. It watches postmaster.pid (see pmStatus) and
// connects once it says ready, to confirm, and returns that connection;
// while the server replays, it reports the replay position about once a
// second.
func (s *server) waitPromoted(ctx context.Context, rep reporter) (*pgx.Conn, error) {
	started := time.Now()
	var lastErr error
	var lastReport, nextConnect time.Time
	tick := time.NewTicker(promotePoll)
	defer tick.Stop()
	for {
		switch status := s.pmStatus(); {
		case status == "ready" && time.Now().After(nextConnect):
			// A server that says ready but refuses us is asked again
			// at a gentler pace.
			nextConnect = time.Now().Add(100 * time.Millisecond)
			conn, err := s.connect(ctx)
			if err == nil {
				var inRecovery bool
				err = conn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery)
				if err == nil && !inRecovery {
					return conn, nil
				}
				conn.Close(context.Background())
			}
			if err != nil {
				lastErr = err
			}
		case status == "standby" && time.Since(lastReport) >= time.Second:
			lastReport = time.Now()
			if conn, err := s.connect(ctx); err == nil {
				var lsn *string
				if err := conn.QueryRow(ctx, "SELECT pg_last_wal_replay_lsn()::text").Scan(&lsn); err == nil && lsn != nil {
					rep.send(Progress{Phase: "recovering", Detail: "replayed WAL up to " + *lsn})
				}
				conn.Close(context.Background())
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for PostgreSQL to finish recovery: %w (last: %v)", ctx.Err(), lastErr) //nolint:errorlint // lastErr may be nil; ctx.Err() is the cause
		case <-tick.C:
		}
		// pg_ctl -W returns once the postmaster is forked; it writes
		// postmaster.pid a moment later.
		if s.pid() == 0 && time.Since(started) > time.Second {
			// Give a dying server's last words a moment to reach the log.
			time.Sleep(200 * time.Millisecond)
			if s.pid() == 0 {
				return nil, errServerExited
			}
		}
	}
}

// recoveryTargetMissed is PostgreSQL 13+'s FATAL when archive recovery
// ran out of WAL before a commit after recovery_target_time.
const recoveryTargetMissed = "recovery ended before configured recovery target was reached"

// recover starts the server and waits for it to replay and promote, then
// fills res.
func (s *server) recover(ctx context.Context, plan *Plan, opts ClusterOptions, rep reporter, res *Result) error {
	s.port = opts.Port
	agent, _ := agentPath(opts.AgentPath)
	replayedAll := false
	var conn *pgx.Conn
	for {
		rep.send(Progress{Phase: "starting", Detail: fmt.Sprintf("PostgreSQL on port %d", opts.Port)})
		if err := s.start(ctx); err != nil {
			return err
		}
		s.clock.mark("server started")
		rep.send(Progress{Phase: "recovering"})
		var err error
		if conn, err = s.waitPromoted(ctx, rep); err == nil {
			s.clock.mark("recovered")
			if err := s.forgetSyncfs(); err != nil {
				// Not worth failing a recovered copy for: said, and
				// the copy's next pg_ctl restart syncs with syncfs.
				rep.send(Progress{Phase: "recovering", Detail: "WARNING: " + err.Error() + "; pg_ctl restart would start the copy with " + syncfsSetting})
			}
			break
		}
		if !errors.Is(err, errServerExited) {
			return err
		}
		tail := logTail(filepath.Join(s.dataDir, LogFile), 25)
		if !opts.Target.IsZero() && !replayedAll && strings.Contains(tail, recoveryTargetMissed) {
			// The archive holds no commit after the target (nothing was
			// committed between it and the last archived segment), so
			// PostgreSQL cannot tell it reached it. Replaying all archived
			// WAL gives the same state, provided the replay reaches the
			// WAL the plan counted on and applies nothing after the target:
			// both are checked below.
			replayedAll = true
			rep.send(Progress{Phase: "recovering", Detail: "no commit after the target in the archive: replaying all archived WAL, then checking nothing after the target was applied"})
			if err := writeSettings(s.dataDir, s.own, settings{agent: agent, timeline: plan.Timeline, port: opts.Port, listen: opts.ListenAddresses, spool: s.spool}); err != nil {
				return err
			}
			continue
		}
		return fmt.Errorf("%w: PostgreSQL stopped before reaching the target%s; last lines of %s:\n%s", ErrRecoveryFailed,
			missingSegments(s.dataDir), filepath.Join(s.dataDir, LogFile), tail)
	}

	// The connection that saw the promotion.
	defer conn.Close(context.Background())
	var ts *time.Time
	var lsn *string
	if err := conn.QueryRow(ctx, "SELECT pg_last_xact_replay_timestamp(), pg_last_wal_replay_lsn()::text").Scan(&ts, &lsn); err != nil {
		return fmt.Errorf("%w: reading the replay position: %w", ErrRecoveryFailed, err)
	}
	res.RestoredToTime = plan.BackupStop
	if ts != nil {
		res.RestoredToTime = ts.UTC()
	}
	if lsn != nil {
		res.RestoredToLSN = *lsn
	}
	res.User = s.user

	// Replay that ended before the WAL the plan counted on means a segment
	// vanished from the archive: PostgreSQL took the missing file for the
	// end of the archive. A time target that PostgreSQL reached itself
	// needs no such check (it fails when it runs out of WAL first).
	if (opts.Target.IsZero() && (opts.Point.IsZero() || opts.Point.Immediate)) || replayedAll {
		want, err := segmentStart(plan.WALStop, plan.segSize)
		if err != nil {
			return err
		}
		got, err := wal.ParseLSN(res.RestoredToLSN)
		if err != nil || got < want {
			return fmt.Errorf("%w: replay stopped at %s, before WAL segment %s that the archive listed: a segment is missing or unreadable%s; last lines of %s:\n%s",
				ErrRecoveryFailed, res.RestoredToLSN, plan.WALStop, missingSegments(s.dataDir), filepath.Join(s.dataDir, LogFile), logTail(filepath.Join(s.dataDir, LogFile), 25))
		}
	}
	if !opts.Target.IsZero() && res.RestoredToTime.After(opts.Target) {
		return fmt.Errorf("%w: the last replayed transaction committed at %s, after the target %s",
			ErrRecoveryFailed, res.RestoredToTime.Format(time.RFC3339Nano), opts.Target.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

// missingSegments names the WAL segments wal-fetch reported missing in
// the server log, as ` (restore_command found no X, Y)`.
func missingSegments(dataDir string) string {
	raw, err := os.ReadFile(filepath.Join(dataDir, LogFile))
	if err != nil {
		return ""
	}
	seen := map[string]bool{}
	var names []string
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.Contains(line, "not found in the archive") {
			continue
		}
		for _, w := range strings.Fields(line) {
			if wal.IsSegment(w) && !seen[w] {
				seen[w] = true
				names = append(names, w)
			}
		}
	}
	if len(names) == 0 {
		return ""
	}
	return " (restore_command found no " + strings.Join(names, ", ") + ")"
}

// logTail returns the last n lines of the file at path.
func logTail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > 1<<20 {
		_, _ = f.Seek(st.Size()-1<<20, 0) // best effort: on failure the tail starts earlier
	}
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}
