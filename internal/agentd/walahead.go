package agentd

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/pg"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/wal"
)

// WALAheadSettings tune the WAL push-ahead (wal.Ahead): the agent watches
// pg_wal/archive_status of the data directory it serves and pushes each
// segment PostgreSQL marks ready, oldest first, before archive_command
// asks for it, so that archive_command usually returns on its record.
type WALAheadSettings struct {
	// Off turns push-ahead off (the agent configuration's
	// wal_push_ahead = false).
	Off bool
	// PGData is the data directory. Empty: with AskPostgres, PostgreSQL's
	// own data_directory through the agent's connection, used only when
	// it is on this host; else push-ahead is off.
	PGData      string
	AskPostgres bool
	// Parallel is how many segments are pushed at once (default 2).
	Parallel int
	// Poll is how often archive_status is listed besides its change
	// notifications (default 1s).
	Poll time.Duration
}

// walAheadGrace is how long a record of a segment PostgreSQL no longer
// lists as ready is kept: archive_command may be reading it right now.
const walAheadGrace = time.Minute

// walAheadRetry is the wait before a failed push ahead of a segment is
// tried again (archive_command pushes it meanwhile anyway).
const walAheadRetry = 10 * time.Second

// walAheadLoop pushes WAL ahead until ctx is done.
func (d *Daemon) walAheadLoop(ctx context.Context) {
	s := d.cfg.WALAhead
	if s.Off || !d.cfg.Agent.PushAhead() {
		d.log.Info("WAL push-ahead off (wal_push_ahead = false)")
		return
	}
	if s.PGData == "" && !s.AskPostgres {
		return
	}
	pgdata := d.waitDataDir(ctx)
	if pgdata == "" {
		return
	}
	// Only as the account that owns pg_wal (PostgreSQL's): archive_command
	// must read the records, and another account's files in pg_wal would
	// be in PostgreSQL's way.
	if fi, err := os.Stat(filepath.Join(pgdata, "pg_wal")); err != nil {
		d.log.Warn("WAL push-ahead off: no pg_wal in the data directory", "pgdata", pgdata, "err", err)
		return
	} else if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		d.log.Warn("WAL push-ahead off: the agent does not run as the account that owns pg_wal (PostgreSQL's)", "pgdata", pgdata, "owner_uid", st.Uid)
		return
	}
	sysid, err := wal.SystemIdentifier(pgdata)
	if err != nil {
		d.log.Warn("WAL push-ahead off: the data directory's pg_control is not readable by the agent", "pgdata", pgdata, "err", err)
		return
	}
	walDir := filepath.Join(pgdata, "pg_wal")
	ahead := wal.Ahead{Dir: wal.AheadDir(d.cfg.Agent.StateDir, walDir, sysid)}
	if err := ahead.Prepare(); err != nil {
		d.log.Warn("WAL push-ahead off: archive_command pushes every segment itself", "err", err)
		return
	}
	// walConfig is what a segment is pushed with: the repository's signed
	// WAL settings, as wal-push reads them (the local verified copy this
	// agent refreshes), so both push alike.
	walConfig := func(ctx context.Context) (wal.Config, error) {
		st, err := repo.ResolveWALPushSettings(ctx, d.cfg.Agent, d.cfg.Store, d.cfg.Now())
		if err != nil {
			return wal.Config{}, err
		}
		return wal.Config{Layout: d.layout, Compression: st.Compression, SystemIdentifier: sysid, Recipients: st.Recipients}, nil
	}
	parallel := max(s.Parallel, 1)
	if s.Parallel == 0 {
		parallel = 2
	}
	poll := s.Poll
	if poll <= 0 {
		poll = time.Second
	}
	log := d.log.With("pgdata", pgdata, "dir", ahead.Dir)
	log.Info("WAL push-ahead on: pushing segments PostgreSQL marks ready before archive_command", "parallel", parallel)

	changes, stop := watchDir(filepath.Join(walDir, "archive_status"))
	defer stop()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		inflight = map[string]bool{}
		// retry holds segments not to try before a time: failed ones,
		// and ones another agent is pushing.
		retry = map[string]time.Time{}
	)
	slots := make(chan struct{}, parallel)
	collect := func() {
		c, err := ahead.Collect(walDir, walAheadGrace)
		if err != nil {
			log.Warn("reading the push-ahead directory", "err", err)
		}
		d.m.WALPushedAhead.Add(float64(c.Hits))
		d.m.WALCommandPushed.Add(float64(c.Misses))
	}
	defer func() {
		wg.Wait()
		collect()
	}()
	for {
		if err := ahead.Touch(); err != nil {
			log.Warn("marking the push-ahead directory active", "err", err)
		}
		collect()
		mu.Lock()
		for name, at := range retry {
			if time.Now().After(at) {
				delete(retry, name)
			}
		}
		mu.Unlock()
		// Oldest first: PostgreSQL archives in name order, so the oldest
		// is what archive_command asks next. All of them: a backlog of
		// segments already pushed but not yet archived must not hide the
		// ones after it.
		for _, name := range wal.ReadySegments(walDir, "", math.MaxInt) {
			mu.Lock()
			skip := inflight[name] || time.Now().Before(retry[name])
			mu.Unlock()
			if skip {
				continue
			}
			if ahead.Settled(name) {
				continue
			}
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			mu.Lock()
			inflight[name] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				pctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
				cfg, err := walConfig(pctx)
				var r *wal.AheadRecord
				if err == nil {
					r, err = ahead.Push(pctx, d.cfg.Store, cfg, walDir, name, d.cfg.Holder)
				}
				cancel()
				mu.Lock()
				delete(inflight, name)
				switch {
				case errors.Is(err, wal.ErrAheadBusy):
					retry[name] = time.Now().Add(poll)
				case err != nil:
					retry[name] = time.Now().Add(walAheadRetry)
					d.m.WALAheadPushes.WithLabelValues("failed").Inc()
					log.Warn("pushing a WAL segment ahead (archive_command pushes it)", "segment", name, "err", err)
				case r != nil:
					d.m.WALAheadPushes.WithLabelValues("pushed").Inc()
					log.Debug("WAL segment pushed ahead", "segment", name, "key", r.Key, "already_archived", r.AlreadyArchived)
				}
				mu.Unlock()
				<-slots
				select {
				case changes <- struct{}{}: // look for the next one now
				default:
				}
			}()
		}
		select {
		case <-ctx.Done():
			return
		case <-changes:
		case <-time.After(poll):
		}
	}
}

// waitDataDir returns the data directory push-ahead serves: the configured
// one, else PostgreSQL's own answer when that directory is on this host,
// asked again every minute until it answers; "" when ctx ends first.
func (d *Daemon) waitDataDir(ctx context.Context) string {
	if dir := d.cfg.WALAhead.PGData; dir != "" {
		return dir
	}
	logged := false
	for {
		dir, err := d.askDataDir(ctx)
		if err == nil {
			if _, serr := os.Stat(filepath.Join(dir, "pg_wal", "archive_status")); serr == nil {
				return dir
			}
			err = errors.New("not on this host (set pgdata in the agent configuration, or --pgdata)")
		}
		if !logged {
			d.log.Info("WAL push-ahead waits for the data directory", "err", err)
			logged = true
		}
		select {
		case <-ctx.Done():
			return ""
		case <-time.After(time.Minute):
		}
	}
}

func (d *Daemon) askDataDir(ctx context.Context) (string, error) {
	dsn := d.DSN()
	if dsn == "" {
		return "", errors.New("no PostgreSQL connection configured yet")
	}
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// NOTE: the process-wide pool; never closed here.
	p, err := pg.Pool(qctx, dsn)
	if err != nil {
		return "", err
	}
	return pg.QueryValue(qctx, p, "current_setting('data_directory')")
}

// watchDir returns a channel that receives when files are created in or
// moved into dir (inotify), and a function that stops watching. Without
// inotify the channel only carries what the caller sends on it.
func watchDir(dir string) (chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
	if err != nil {
		return ch, func() {}
	}
	if _, err := syscall.InotifyAddWatch(fd, dir, syscall.IN_CREATE|syscall.IN_MOVED_TO); err != nil {
		_ = syscall.Close(fd)
		return ch, func() {}
	}
	// A non-blocking descriptor in an *os.File waits in the runtime's
	// poller, so Close ends the reader below.
	f := os.NewFile(uintptr(fd), "inotify")
	go func() {
		buf := make([]byte, 64<<10)
		for {
			if _, err := f.Read(buf); err != nil {
				return
			}
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}()
	return ch, func() { f.Close() }
}
