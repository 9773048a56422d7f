package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/wal"
)

// walPushOptions are wal-push's flag values.
type walPushOptions struct {
	agentFlags
	pgdata   string
	timeout  time.Duration
	verbose  bool
	parallel int
	// aheadWait bounds the wait for the agent's push of the same segment.
	aheadWait time.Duration
	stderr    io.Writer
}

func newWalPushCmd() *cobra.Command {
	opts := walPushOptions{}
	cmd := &cobra.Command{
		Use:   "wal-push <path>",
		Short: "Archive one WAL file (use as archive_command: lifeboat wal-push --config <file> %p)",
		Long: `Archive one WAL file into the repository. It exits 0 only once the object
store has acknowledged the file, or the identical file is already archived.
A different file already archived under the same name, or a repository that
belongs to another cluster, is refused and exits non-zero.

When the agent pushes WAL ahead (on by default where it serves the data
directory; "wal_push_ahead": false in the configuration turns it off), a
segment it already stored with the same bytes returns at once on its
record, without a request to the store; a push ahead still running is
waited for (--ahead-wait). Anything else is pushed here.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.stderr = cmd.ErrOrStderr()
			// The process lives for a fraction of a second and holds at
			// most a few segments in memory: garbage collection would only
			// take the cores compression needs (and turning it back on at
			// the end would start a collection). The limit is a backstop
			// for huge segments.
			debug.SetGCPercent(-1)
			debug.SetMemoryLimit(pushMemoryLimit)
			return runWalPush(cmd.Context(), opts, args)
		},
	}
	opts.register(cmd.Flags())
	cmd.Flags().StringVar(&opts.pgdata, "pgdata", os.Getenv("PGDATA"),
		"data directory, for the system identifier (default $PGDATA, then the config's pgdata, then the working directory)")
	cmd.Flags().DurationVar(&opts.timeout, "timeout", 5*time.Minute, "give up after this long, so PostgreSQL retries")
	cmd.Flags().IntVar(&opts.parallel, "parallel", envInt("LIFEBOAT_WAL_PUSH_PARALLEL", 3),
		"also push up to N-1 other WAL segments PostgreSQL has marked ready, concurrently, and mark them done (1: only the one asked for)")
	cmd.Flags().DurationVar(&opts.aheadWait, "ahead-wait", envDuration("LIFEBOAT_WAL_AHEAD_WAIT", 10*time.Second),
		"when the agent is pushing this segment ahead, wait this long for it before pushing it here too")
	cmd.Flags().BoolVarP(&opts.verbose, "verbose", "v", false, "print one line per archived file")
	return cmd
}

func runWalPush(ctx context.Context, opts walPushOptions, args []string) error {
	ctx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()
	cfg, err := repo.Load(opts.configPath)
	if err != nil {
		return err
	}
	pgdata := opts.pgdata
	if pgdata == "" {
		pgdata = cfg.PGData
	}
	if pgdata == "" {
		pgdata = "." // archive_command runs in the data directory
	}
	sysid, err := wal.SystemIdentifier(pgdata)
	if err != nil {
		return err
	}
	// The agent usually pushed this segment already (see wal.Ahead): then
	// no object store client is even made.
	var ahead *wal.Ahead
	if cfg.PushAhead() {
		ahead = &wal.Ahead{Dir: wal.AheadDir(cfg.StateDir, filepath.Dir(args[0]), sysid)}
		if ok, err := pushedAhead(ctx, cfg, sysid, ahead, args[0], opts); ok || err != nil {
			return err
		}
		if ahead.Active() {
			opts.parallel = 1 // the agent pushes the other ready segments
		}
	}
	store, err := openSegmentStore(ctx, cfg)
	if err != nil {
		return err
	}
	// The compression and recipients are the repository's signed WAL
	// settings (a local verified copy, read again when it is older than
	// wal_settings_max_age), or the bootstrap file's when the repository
	// declares none. A forged document is never used: say so in the
	// server's log, where archive_command's output goes.
	//
	// A copy due to be read again still gives the settings to start with:
	// the read (a round trip, and the copy's rewrite) runs beside the
	// compression, and the push writes nothing before it has confirmed
	// them (walCfg.Confirm); should they have changed, the push starts
	// over with the new ones.
	settings, confirm, err := repo.ResolveWALPushSettingsAhead(ctx, cfg, store, time.Now())
	if err != nil {
		return err
	}
	walDir := filepath.Dir(args[0])
	tli, tliErr := wal.Timeline(filepath.Base(args[0]))
	tliN, _ := strconv.ParseUint(tli, 16, 32)
	if confirm != nil && tliErr == nil && wal.HistoryUnarchived(walDir, uint32(tliN)) {
		// Rare (a promotion PostgreSQL did not archive): confirm first.
		if settings, err = confirm(ctx); err != nil {
			return err
		}
		confirm = nil
	}
	var latest func() (repo.WALPushSettings, error)
	if confirm != nil {
		latest = sync.OnceValues(func() (repo.WALPushSettings, error) { return confirm(ctx) })
	} else {
		warnRefusedSettings(opts, settings)
	}
	// PostgreSQL archives one file at a time. To drain a backlog faster,
	// push the next ready segments alongside the one asked for and mark
	// each done once stored; a failure there is left for PostgreSQL to
	// retry through archive_command as usual.
	ready := wal.ReadySegments(walDir, filepath.Base(args[0]), opts.parallel-1)
	compressors := 0 // one per processor, compressing after the checks
	if len(ready) == 0 {
		// One segment, the one PostgreSQL waits for: compress it from
		// the start, beside the checks.
		compressors = spareProcessors()
	}
	walCfg := wal.Config{Layout: cfg.Layout(), Compression: settings.Compression, SystemIdentifier: sysid, Recipients: settings.Recipients,
		Compressors: compressors}
	if latest != nil {
		used := settings
		walCfg.Confirm = func(context.Context) error {
			s, err := latest()
			if err == nil && !repo.SameWALPushSettings(s, used) {
				err = errWALSettingsChanged
			}
			return err
		}
	}
	if tliErr == nil {
		pushed, err := wal.PushUnarchivedHistory(ctx, store, walCfg, walDir, uint32(tliN))
		if err != nil {
			return fmt.Errorf("archiving timeline history files PostgreSQL did not: %w", err)
		}
		if len(pushed) > 0 && opts.stderr != nil {
			fmt.Fprintf(opts.stderr, "lifeboat: archived timeline history %v (the server was promoted while it did not archive)\n", pushed)
		}
	}

	var wg sync.WaitGroup
	for _, name := range ready {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := wal.Push(ctx, store, walCfg, filepath.Join(walDir, name))
			if err == nil {
				err = wal.MarkDone(walDir, name)
			}
			if err != nil && opts.verbose && opts.stderr != nil {
				fmt.Fprintf(opts.stderr, "lifeboat: pushing ready segment %s ahead: %v (PostgreSQL will retry it)\n", name, err)
			}
		}()
	}
	res, err := wal.Push(ctx, store, walCfg, args[0])
	wg.Wait()
	if latest != nil {
		s, lerr := latest()
		if lerr == nil {
			warnRefusedSettings(opts, s)
		}
		if errors.Is(err, errWALSettingsChanged) {
			// Nothing was written: archive with the repository's new
			// settings (and the ready segments are left to PostgreSQL).
			walCfg.Compression, walCfg.Recipients, walCfg.Confirm = s.Compression, s.Recipients, nil
			res, err = wal.Push(ctx, store, walCfg, args[0])
		}
	}
	if err != nil {
		return err
	}
	if ahead != nil {
		ahead.Missed(filepath.Base(args[0]))
	}
	if opts.verbose && opts.stderr != nil {
		if res.AlreadyArchived {
			fmt.Fprintf(opts.stderr, "lifeboat: %s already archived with the same content as s3://%s/%s\n", args[0], store.Bucket(), res.Key)
		} else {
			fmt.Fprintf(opts.stderr, "lifeboat: archived %s to s3://%s/%s (%d -> %d bytes)\n", args[0], store.Bucket(), res.Key, res.Size, res.StoredSize)
		}
	}
	return nil
}

// errWALSettingsChanged stops a push started with a local copy of the WAL
// settings that the repository no longer declares.
var errWALSettingsChanged = errors.New("the repository's WAL settings changed since the local copy")

// warnRefusedSettings says in the server's log, where archive_command's
// output goes, that the repository's WAL settings were refused.
func warnRefusedSettings(opts walPushOptions, s repo.WALPushSettings) {
	if s.Refused != nil && opts.stderr != nil {
		fmt.Fprintf(opts.stderr, "lifeboat: WARNING: ignoring the repository's WAL settings: %v; archiving with the %s settings (compression %s, encrypted %v)\n",
			s.Refused, map[string]string{"cache": "last verified", "bootstrap": "agent configuration's"}[s.Source],
			cmp.Or(s.Compression, "zstd"), s.Recipients != nil)
	}
}

// pushedAhead reports whether the agent already pushed the WAL file at
// path, exactly as it is now, into this repository (wal.Ahead.Found). A
// history file PostgreSQL never archived (wal.HistoryUnarchived) takes the
// full path, which archives it first.
func pushedAhead(ctx context.Context, cfg repo.AgentConfig, sysid uint64, ahead *wal.Ahead, path string, opts walPushOptions) (bool, error) {
	name := filepath.Base(path)
	if !wal.IsSegment(name) {
		return false, nil
	}
	// A timeline that is not hexadecimal is wal.Push's to refuse; a history
	// file PostgreSQL never archived takes the full path.
	n, perr := strconv.ParseUint(name[:8], 16, 32)
	if perr != nil || wal.HistoryUnarchived(filepath.Dir(path), uint32(n)) {
		return false, nil //nolint:nilerr // the full push judges this file
	}
	ok, err := ahead.Found(ctx, path, wal.Config{Layout: cfg.Layout(), SystemIdentifier: sysid}, cfg.Bucket, opts.aheadWait)
	if err != nil {
		// Unreadable records are no reason to fail archiving: push.
		if opts.stderr != nil {
			fmt.Fprintf(opts.stderr, "lifeboat: reading the push-ahead record of %s: %v (pushing it)\n", name, err)
		}
		return false, nil //nolint:nilerr // pushing is the answer to any doubt
	}
	if ok && opts.verbose && opts.stderr != nil {
		fmt.Fprintf(opts.stderr, "lifeboat: %s already pushed ahead by the agent\n", path)
	}
	return ok, nil
}

// spareProcessors gives the Go scheduler two processors more than the
// cores it may use, and returns the number of cores: one compressor each.
// The checksum goroutine never yields and a cgo compressor keeps its
// processor until the runtime's monitor takes it back, so with one
// processor per core the round trips to the store (the repository checks,
// the upload's writes) would wait for one, and the second compressor for
// the checksum to finish; with two more, the cores themselves are shared
// out by the kernel, which serves a woken thread at once. The work done is
// the same: no more threads compute than there are cores, plus the
// checksum. Only for a push of one segment: segments pushed side by side
// (--parallel) have compressors enough to keep every processor busy, and
// keep compressing after the checks, as the agent does.
func spareProcessors() int {
	cores := runtime.GOMAXPROCS(0)
	runtime.GOMAXPROCS(cores + 2)
	return cores
}

// pushMemoryLimit is the heap size at which wal-push collects garbage again.
const pushMemoryLimit = 512 << 20

// envDuration reads a duration environment variable, or def.
func envDuration(name string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

// envInt reads an integer environment variable, or def.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}
