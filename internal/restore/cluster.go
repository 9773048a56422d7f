package restore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/pg"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/wal"
)

// Files Lifeboat writes into a restored data directory.
const (
	// ConfigFile is the agent configuration restore_command reads; its
	// presence is also what marks a directory as a Lifeboat restore.
	ConfigFile = "lifeboat-restore.json"
	// FailedFile marks a restore that did not succeed (or is still
	// running, or was killed): it holds the reason.
	FailedFile = "LIFEBOAT_RESTORE_FAILED"
	// LogFile is the restored server's log (pg_ctl -l).
	LogFile = "restore.log"
)

// ClusterOptions configures a cluster point-in-time restore.
type ClusterOptions struct {
	Layout repo.Layout
	// Target is the point in time; zero means latest (replay all
	// archived WAL).
	Target time.Time
	// Point is a target other than a time (LSN, transaction, restore
	// point, immediate); Target must then be zero.
	Point Point
	// BackupID, when set, restores from this base backup (checked to
	// reach Target).
	BackupID string
	// TargetTimeline is recovery_target_timeline: "latest" (or empty: the
	// newest timeline in the archive), "current" (the backup's own) or a
	// timeline number. The plan resolves it to one timeline, which the
	// restored server is told explicitly.
	TargetTimeline string
	// DataDir must not exist, or be empty.
	DataDir string
	Port    int
	// BinDir is PostgreSQL's bin directory; "" = pg.BinDir().
	BinDir string
	// OSUser is the account PostgreSQL runs as when we are root; "" =
	// "postgres".
	OSUser string
	// AgentPath is the lifeboat binary restore_command runs; "" = lifeboat
	// on PATH.
	AgentPath string
	// AgentConfig is written to <DataDir>/lifeboat-restore.json (0600,
	// owned by OSUser) for restore_command.
	AgentConfig repo.AgentConfig
	// Parallel is the number of part downloads in flight; 0 = 4.
	Parallel int
	// KeepRunning leaves the promoted server running (lifeboat_restore);
	// false stops it after recovery (drills, tenant scratch copies).
	KeepRunning bool
	// NoStart lays out the data directory and its recovery settings but
	// does not start PostgreSQL (what `pgbackrest restore` does). The
	// directory stays marked failed until a server has recovered it.
	NoStart bool
	// ListenAddresses for the copy; "" = '127.0.0.1' (never the source's
	// addresses, so clients of the source cannot reach the copy by
	// accident).
	ListenAddresses string
	// VerifyWAL reads every archived WAL segment the plan replays and
	// checks its SHA-256 before anything is written or started (a
	// clean-room restore).
	VerifyWAL bool
	Progress  func(Progress)
}

// Result is what a cluster restore reached.
type Result struct {
	Plan Plan
	// RestoredToTime is the last replayed transaction's commit time
	// (pg_last_xact_replay_timestamp), or the backup's stop time if none
	// was replayed; RestoredToLSN is pg_last_wal_replay_lsn().
	RestoredToTime time.Time
	RestoredToLSN  string
	Duration       time.Duration
	DataDir        string
	Port           int
	// User is the role Lifeboat connected as over the server's Unix socket
	// in SocketDir(DataDir) (local connections there are trusted, see
	// writeSettings).
	User string
	// Bytes are the stored bytes downloaded and the bytes extracted.
	Downloaded, Extracted int64
	// Running is true when the server was left running.
	Running bool
	// WALFromSpool counts the WAL segments PostgreSQL took from those the
	// restore prefetched (SpoolDir) rather than from the repository.
	WALFromSpool int
	// Phases is where the time went, in order (see PhaseTime).
	Phases []PhaseTime
}

// RestoreCluster restores a cluster into opts.DataDir at the point
// PlanCluster chooses, starts PostgreSQL on opts.Port to replay WAL up to
// it and promote, and reports where it got to. See the package comment
// for the safety rules.
func RestoreCluster(ctx context.Context, store objectstore.Store, opts ClusterOptions) (res *Result, err error) {
	started := time.Now()
	rep := reporter{fn: opts.Progress, start: started}
	clock := &phaseClock{last: started}
	if opts.DataDir == "" || opts.Port <= 0 || opts.Port > 65535 {
		return nil, fmt.Errorf("restore needs a data directory and a port (got %q, %d)", opts.DataDir, opts.Port)
	}
	dataDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, err
	}
	opts.DataDir = dataDir
	if opts.Parallel <= 0 {
		opts.Parallel = 4
	}
	agent, err := agentPath(opts.AgentPath)
	if err != nil {
		return nil, err
	}
	// Safety rule: the copy's configuration file holds no credentials. It
	// stays in the data directory (it marks a Lifeboat restore), where the
	// copy's own base backups would capture it; the keys reach
	// restore_command through the server's environment instead.
	cfgBody, err := withoutCredentials(opts.AgentConfig).Marshal()
	if err != nil {
		return nil, fmt.Errorf("agent configuration for restore_command: %w", err)
	}
	if l := opts.AgentConfig.Layout(); l.Root() != opts.Layout.Root() {
		return nil, fmt.Errorf("agent configuration points at repository %q, the restore reads %q", l.Root(), opts.Layout.Root())
	}
	own, err := lookupOwner(opts.OSUser)
	if err != nil {
		return nil, err
	}
	retry, err := checkTarget(dataDir)
	if err != nil {
		return nil, err
	}
	if retry {
		// A failed restore's server may still run (the process that
		// started it was killed): stop it before the port is checked.
		rep.send(Progress{Phase: "clearing", Detail: "stopping what is left of the failed restore in " + dataDir})
		old := &server{dataDir: dataDir, binDir: binDir(opts.BinDir), own: own}
		sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		if serr := old.stop(sctx, "fast"); serr != nil {
			if serr = old.stop(sctx, "immediate"); serr != nil {
				cancel()
				return nil, fmt.Errorf("stopping the server of the failed restore in %s: %w", dataDir, serr)
			}
		}
		cancel()
	}
	if err := CheckPort(opts.Port); err != nil {
		return nil, err
	}

	rep.send(Progress{Phase: "planning"})
	plan, err := PlanCluster(ctx, store, opts)
	if err != nil {
		return nil, err
	}
	ids, err := opts.AgentConfig.Identities()
	if err != nil {
		return nil, err
	}
	m := plan.manifest
	major, verr := serverMajor(opts.BinDir)
	if m.ServerVersion/10000 != 0 && verr == nil && major != m.ServerVersion/10000 {
		return nil, fmt.Errorf("backup %s is of PostgreSQL %d, %s is PostgreSQL %d", m.ID, m.ServerVersion/10000, binDir(opts.BinDir), major)
	}

	if opts.VerifyWAL {
		if err := verifyWAL(ctx, store, plan, opts, rep); err != nil {
			return nil, err
		}
	}
	clock.mark("planned")

	if retry {
		rep.send(Progress{Phase: "clearing", Detail: "removing the failed restore in " + dataDir})
		if err := os.RemoveAll(dataDir); err != nil {
			return nil, fmt.Errorf("removing the failed restore in %s: %w", dataDir, err)
		}
	}

	// From here on, the directory is ours: it is marked failed until the
	// server has recovered it, whatever happens to this process.
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	if err := os.Chmod(dataDir, 0o700); err != nil {
		return nil, err
	}
	if err := chownPath(dataDir, own); err != nil {
		return nil, err
	}
	if err := markFailed(dataDir, own, fmt.Sprintf(inProgress,
		m.ID, started.UTC().Format(time.RFC3339), os.Getpid())); err != nil {
		return nil, err
	}
	if err := writeOwned(filepath.Join(dataDir, ConfigFile), cfgBody, own); err != nil {
		return nil, err
	}
	// The marker's entry too: after a crash, restored files without it
	// would pass for a finished restore.
	if err := repo.SyncDir(dataDir); err != nil {
		return nil, err
	}
	srv := &server{dataDir: dataDir, binDir: binDir(opts.BinDir), own: own, env: credentialEnv(opts.AgentConfig),
		// recovery_init_sync_method (PostgreSQL 14+); syncfs is Linux's.
		syncfs: runtime.GOOS == "linux" && verr == nil && major >= 14, clock: clock}
	defer func() {
		if err == nil {
			return
		}
		if srv.started {
			sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			if serr := srv.stop(sctx, "fast"); serr != nil {
				_ = srv.stop(sctx, "immediate")
			}
			cancel()
		}
		_ = markFailed(dataDir, own, err.Error())
	}()

	var downloaded, extracted atomic.Int64
	var total int64
	for _, a := range m.Archives {
		total += a.StoredSize
	}
	tick := time.NewTicker(time.Second)
	stopTick := make(chan struct{})
	go func() {
		for {
			select {
			case <-tick.C:
				rep.send(Progress{Phase: "downloading", Downloaded: downloaded.Load(), Total: total, Extracted: extracted.Load(), Detail: m.ID})
			case <-stopTick:
				return
			}
		}
	}()
	rep.send(Progress{Phase: "downloading", Total: total, Detail: m.ID})
	if !opts.NoStart {
		// The WAL replay will need, fetched while the files are laid out
		// (see SpoolDir).
		walCfg := wal.Config{Layout: opts.Layout, Compression: opts.AgentConfig.Compression, Identities: ids}
		pf, perr := startPrefetch(ctx, store, walCfg, plan.WALKeys(), dataDir, own)
		if perr != nil {
			return nil, fmt.Errorf("WAL spool for the restore: %w", perr)
		}
		defer func() { _, _ = pf.stop() }()
		srv.spool = pf.dir
		srv.prefetch = pf
	}
	sy := newFileSyncer()
	for _, a := range m.Archives {
		if err = extractArchive(ctx, store, a, m.Encryption, ids, dataDir, own, opts.Parallel, &downloaded, &extracted, sy); err != nil {
			break
		}
	}
	clock.mark("laid out")
	// Every file is on disk before the restore goes on (see durable.go):
	// most of it already is, synced while later files were decoded.
	if serr := sy.finish(); err == nil {
		err = serr
	}
	tick.Stop()
	close(stopTick)
	if err != nil {
		return nil, err
	}
	clock.mark("synced")
	rep.send(Progress{Phase: "downloading", Downloaded: downloaded.Load(), Total: total, Extracted: extracted.Load(), Detail: "done"})

	if err = writeSettings(dataDir, own, settings{
		agent: agent, target: opts.Target, point: opts.Point, timeline: plan.Timeline, port: opts.Port, listen: opts.ListenAddresses,
		spool: srv.spool,
	}); err != nil {
		return nil, err
	}
	// The settings files (written and synced by writeOwned) are in the
	// data directory's entries, and the data directory in its parent's.
	if err = repo.SyncDir(dataDir); err != nil {
		return nil, err
	}
	if err = repo.SyncDir(filepath.Dir(dataDir)); err != nil {
		return nil, err
	}
	clock.mark("settings")
	res = &Result{Plan: *plan, DataDir: dataDir, Port: opts.Port, Downloaded: downloaded.Load(), Extracted: extracted.Load()}
	if opts.NoStart {
		if err = markFailed(dataDir, own, fmt.Sprintf("files of backup %s laid out; PostgreSQL has not recovered this directory yet: start it to replay WAL", m.ID)); err != nil {
			return nil, err
		}
		res.Duration = time.Since(started)
		res.Phases = clock.list
		return res, nil
	}

	err = srv.recover(ctx, plan, opts, rep, res)
	// The spool goes with what PostgreSQL did not take, before the
	// directory is handed over.
	taken, serr := srv.prefetch.stop()
	if err == nil {
		err = serr
	}
	res.WALFromSpool = taken
	if err != nil {
		return nil, err
	}
	if err = os.Remove(filepath.Join(dataDir, FailedFile)); err != nil {
		return nil, err
	}
	if err = repo.SyncDir(dataDir); err != nil {
		return nil, err
	}
	if !opts.KeepRunning {
		rep.send(Progress{Phase: "stopping"})
		if err = srv.stop(ctx, "fast"); err != nil {
			return nil, err
		}
	}
	res.Running = opts.KeepRunning
	res.Duration = time.Since(started)
	clock.mark("finished")
	res.Phases = clock.list
	rep.send(Progress{Phase: "done", Downloaded: res.Downloaded, Total: total, Extracted: res.Extracted,
		Detail: "restored to " + res.RestoredToTime.UTC().Format(time.RFC3339Nano) + " (" + res.RestoredToLSN + ")"})
	return res, nil
}

// IsRestore reports whether dataDir holds a copy Lifeboat restored (it has
// the restore's lifeboat-restore.json; a live cluster never does).
func IsRestore(dataDir string) bool {
	_, err := os.Stat(filepath.Join(dataDir, ConfigFile))
	return err == nil
}

// RunningPort is the port of the server whose postmaster.pid is in
// dataDir (its fourth line), or 0 when there is none.
func RunningPort(dataDir string) int {
	raw, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return 0
	}
	lines := strings.Split(string(raw), "\n")
	if len(lines) < 4 {
		return 0
	}
	port, _ := strconv.Atoi(strings.TrimSpace(lines[3]))
	return port
}

// StopCluster stops a restored server (pg_ctl stop -m fast) if it runs.
// A missing directory or a stopped server is success.
func StopCluster(ctx context.Context, dataDir, binDir, osUser string) error {
	if _, err := os.Stat(filepath.Join(dataDir, "postmaster.pid")); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	own, err := lookupOwner(osUser)
	if err != nil {
		return err
	}
	srv := &server{dataDir: dataDir, binDir: binDirOf(binDir), own: own}
	return srv.stop(ctx, "fast")
}

// RemoveCluster stops a restored server and deletes its data directory.
// A missing directory is success. A directory without
// lifeboat-restore.json is not a Lifeboat restore and is refused
// (ErrNotARestore): this is what keeps a mistyped path from deleting a
// live cluster.
func RemoveCluster(ctx context.Context, dataDir, binDir, osUser string) error {
	if dataDir == "" {
		return fmt.Errorf("no data directory given")
	}
	if _, err := os.Stat(dataDir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dataDir, ConfigFile)); err != nil {
		return fmt.Errorf("%s has no %s: %w; remove it yourself if it really should go", dataDir, ConfigFile, ErrNotARestore)
	}
	if err := StopCluster(ctx, dataDir, binDir, osUser); err != nil {
		return err
	}
	if err := removeSocketDir(dataDir); err != nil {
		return err
	}
	return os.RemoveAll(dataDir)
}

func binDir(d string) string { return binDirOf(d) }

func binDirOf(d string) string {
	if d == "" {
		return pg.BinDir()
	}
	return d
}

func agentPath(p string) (string, error) {
	if p == "" {
		p = "lifeboat"
	}
	found, err := exec.LookPath(p)
	if err != nil {
		return "", fmt.Errorf("lifeboat agent for restore_command: %w", err)
	}
	return filepath.Abs(found)
}

// checkTarget accepts a data directory that does not exist or is empty,
// and one that holds a failed Lifeboat restore (its marker file and the
// failure marker, and no restore still running in a live process): retry
// is then true, and the caller clears it once the new restore is planned.
// Anything else is refused with ErrTargetNotEmpty, saying what is there.
func checkTarget(dir string) (retry bool, err error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if len(entries) == 0 {
		return false, nil
	}
	if IsRestore(dir) {
		reason, ferr := os.ReadFile(filepath.Join(dir, FailedFile))
		if ferr != nil {
			return false, fmt.Errorf("%s holds a completed Lifeboat restore: %w; remove it first (lifeboat_restore destroy, or RemoveCluster) to restore there again", dir, ErrTargetNotEmpty)
		}
		if pid := restoringPID(string(reason)); pid != 0 && pid != os.Getpid() && processAlive(pid) {
			return false, fmt.Errorf("%s: %w: a restore into it is in progress (pid %d)", dir, ErrRestoreInProgress, pid)
		}
		return true, nil
	}
	return false, fmt.Errorf("%s holds %d entries (%s, ...): %w", dir, len(entries), entries[0].Name(), ErrTargetNotEmpty)
}

// inProgress is the failure marker's text while a restore runs; its pid
// tells a running restore from one whose process died.
const inProgress = "restore of backup %s in progress since %s (pid %d)"

var pidInMarker = regexp.MustCompile(`in progress since \S+ \(pid (\d+)\)`)

func restoringPID(marker string) int {
	m := pidInMarker.FindStringSubmatch(marker)
	if m == nil {
		return 0
	}
	pid, _ := strconv.Atoi(m[1])
	return pid
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// withoutCredentials is the agent configuration with its static keys
// dropped, as the copy's configuration file carries it.
func withoutCredentials(c repo.AgentConfig) repo.AgentConfig {
	c.AccessKey, c.SecretKey = "", ""
	return c
}

// credentialEnv passes a configuration's static keys to the restored
// server's environment, where restore_command's AWS credential chain finds
// them: only the server's account and root can read a process's
// environment, and it is gone once the server stops.
func credentialEnv(c repo.AgentConfig) []string {
	if c.AccessKey == "" {
		return nil
	}
	return []string{"AWS_ACCESS_KEY_ID=" + c.AccessKey, "AWS_SECRET_ACCESS_KEY=" + c.SecretKey}
}

// CheckPort refuses (ErrPortInUse) a port something listens on (any
// address) or that we cannot bind on the loopback.
func CheckPort(port int) error {
	for _, addr := range []string{"127.0.0.1", "0.0.0.0"} {
		l, err := net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(port)))
		if err != nil {
			return fmt.Errorf("port %d: %w: %w", port, ErrPortInUse, err)
		}
		l.Close()
	}
	return nil
}

// lookupOwner resolves the account PostgreSQL runs as: when we are root,
// osUser (default postgres); otherwise ourselves (-1: no chown).
func lookupOwner(osUser string) (owner, error) {
	if os.Getuid() != 0 {
		return owner{uid: -1, gid: -1}, nil
	}
	if osUser == "" {
		osUser = "postgres"
	}
	u, err := user.Lookup(osUser)
	if err != nil {
		return owner{}, fmt.Errorf("account %q to run PostgreSQL as: %w", osUser, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return owner{uid: uid, gid: gid, name: osUser}, nil
}

func chownPath(path string, own owner) error { return own.lchown(path) }

// writeOwned writes a file of the restore (a marker, a settings file) and
// syncs it: the failure marker must be on disk before any restored file
// is, and the settings with the files (see durable.go).
func writeOwned(path string, body []byte, own owner) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(body)
	if err == nil {
		err = own.chown(f)
	}
	if err == nil {
		err = fdatasync(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// markFailed writes the failure marker with its reason.
func markFailed(dir string, own owner, reason string) error {
	return writeOwned(filepath.Join(dir, FailedFile), []byte(strings.TrimSpace(reason)+"\n"), own)
}

// serverMajor is the major version of the postgres binary in binDir.
func serverMajor(bin string) (int, error) {
	out, err := exec.Command(filepath.Join(binDir(bin), "postgres"), "--version").Output()
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(out))
	if len(f) == 0 {
		return 0, fmt.Errorf("unexpected postgres --version output %q", out)
	}
	v := f[len(f)-1]
	major, _, _ := strings.Cut(v, ".")
	return strconv.Atoi(major)
}

// segmentStart is the LSN where WAL segment name begins.
func segmentStart(name string, segSize uint64) (wal.LSN, error) {
	s, err := wal.ParseSegment(name, segSize)
	if err != nil {
		return 0, err
	}
	return wal.LSN(s.No * segSize), nil
}

// verifyWAL checks every WAL segment plan replays against its recorded
// SHA-256 (decrypting it when it is encrypted), before the restore writes
// or starts anything.
func verifyWAL(ctx context.Context, store objectstore.Store, plan *Plan, opts ClusterOptions, rep reporter) error {
	ids, err := opts.AgentConfig.Identities()
	if err != nil {
		return err
	}
	keys := plan.WALKeys()
	rep.send(Progress{Phase: "verifying", Detail: fmt.Sprintf("%d WAL segments", len(keys))})
	for _, k := range keys {
		if _, err := wal.VerifyWith(ctx, store, k, ids); err != nil {
			return fmt.Errorf("verifying archived WAL before starting the clean-room copy: %w", err)
		}
	}
	return nil
}
