package agentd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/drill"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/posture"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/redisx"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/region"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/schedule"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

// BackupJob is the job name of the policy's scheduled backup (base backup,
// tenant dumps, then retention).
const BackupJob = repo.JobBackup

// DrillJobPrefix prefixes the job name of a drill schedule ("drill-<name>").
const DrillJobPrefix = "drill-"

// Config configures a Daemon. Zero durations take the defaults below.
type Config struct {
	// Store is the repository bucket and Agent the agent configuration
	// (cluster, prefix, and what drills pass on to the agents they start).
	Store objectstore.Store
	Agent repo.AgentConfig
	// AgentPath is the lifeboat binary drills run restores with.
	AgentPath string
	// StoreFor opens another bucket with the agent's credentials (a
	// tenant drill's attachments); nil means Store for every bucket.
	StoreFor func(bucket string) objectstore.Store
	// DSN connects to PostgreSQL (with REPLICATION for base backups). When
	// empty, it is built from the policy's postgres block, and the
	// password comes from PGPASSWORD or ~/.pgpass.
	DSN string
	// Restorer, when set, is what scheduled drills read the repository
	// with (nil: Store, the agent's own credentials).
	Restorer *Restorer
	// PGDump is the pg_dump program for tenant dumps.
	PGDump string
	// Backup tunes scheduled base backups.
	Backup BackupSettings
	// Holder identifies this agent in leases and run records; default
	// "<hostname>-<pid>-<random>".
	Holder string
	// Refresh is how often the policy and drill schedules are re-read
	// (default 30s); Tick how often due jobs are looked for (default 5s).
	Refresh time.Duration
	Tick    time.Duration
	// LeaseRenew is how often a running job's lease is renewed (default
	// 15s); a lease expires 2×LeaseRenew after its last renewal, which is
	// how long a crashed agent's job waits before another agent redoes it.
	LeaseRenew time.Duration
	// StatsInterval is how often the repository size and the newest
	// backup are computed from listings (default 5m).
	StatsInterval time.Duration
	// Probe, when set, runs the writer probe with the agent's own
	// credentials at start and every ProbeInterval (default 1h), for
	// lifeboat_writer_forbidden_actions_allowed; nil runs none.
	Probe         ProbeFunc
	ProbeInterval time.Duration
	// CopyProbe, with Probe set, probes each copied recovery region's copy
	// keys with the writer probe; nil probes them with the credentials of
	// the agent configuration's store the region's document names.
	CopyProbe CopyProbeFunc
	// PostureReportInterval, when set, stores the posture report (HTML and
	// JSON) in the repository under COMPLIANCE lock for PostureReportRetain
	// (default 400 days) this often, from the stats loop: an auditor then
	// finds the report of any date without anyone running one.
	PostureReportInterval time.Duration
	// PostureBuckets reads the bucket's configuration for the posture
	// evaluation (the auditor's keys); nil leaves the bucket controls
	// unknown, as the writer's keys may not read it all.
	PostureBuckets      posture.BucketReader
	PostureReportRetain time.Duration
	// PruneGrace is the age below which an incomplete backup is left
	// alone by the scheduled prune (default catalog.DefaultGrace).
	PruneGrace time.Duration
	// RetryDelay is the wait before a failed slot is run again (default
	// 5m), at most MaxAttempts times (default 3) per slot.
	RetryDelay  time.Duration
	MaxAttempts int
	Logger      *slog.Logger
	Metrics     *Metrics
	// RegionStore opens a recovery region's destination; nil opens it with
	// the agent configuration's store its document names.
	RegionStore func(doc region.ConfigDoc) (objectstore.Store, error)
	// WALAhead tunes the WAL push-ahead (on unless turned off there or
	// by the agent configuration's wal_push_ahead).
	WALAhead WALAheadSettings
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// BackupSettings tune the scheduled base backups (see backup.Options).
type BackupSettings struct {
	Compression string
	PartSize    int64
	MaxRate     int
	Workers     int
}

// job is one schedule the daemon runs.
type job struct {
	name  string
	sched *schedule.Schedule
	// run does the work of one slot; output names what it produced.
	run func(ctx context.Context, slot time.Time) (output string, err error)
	// since is when the job's schedule began: a slot that started before
	// it is not due. A new policy's first scheduled backup is the first
	// slot after the policy was written, not the slot of the day it was
	// written in, which would start a backup the moment an agent sees the
	// policy (beside the "backup now" its creation asked for).
	since time.Time
	// sinceUntilFirstRun limits since to a job that never ran: since is
	// then only when this agent first saw the job (a policy without
	// created), which a restart moves, and a slot the job owes must not
	// be skipped because the agent restarted.
	sinceUntilFirstRun bool
}

// Daemon runs the repository's schedules. Create it with New, then Run.
type Daemon struct {
	cfg    Config
	layout repo.Layout
	log    *slog.Logger
	m      *Metrics

	mu          sync.Mutex
	jobs        map[string]*job
	last        map[string]*Run // last runs as last read or written
	running     map[string]bool
	lastTick    time.Time
	lastRefresh time.Time
	refreshErr  error
	// standby is the recovery region this agent stands by in ("" when
	// it does not), as of the last refresh.
	standby string
	policy  *repo.Policy
	// lastReport is when this agent last stored a posture report.
	lastReport time.Time
	drills     map[string]drill.ScheduleDoc
	redis      map[string]redisx.ScheduleDoc
	// drillIndexAt is when the drill index was last written (zero: not
	// by this agent yet); drillIndexDirty is set when a drill ran since.
	drillIndexAt    time.Time
	drillIndexDirty bool
	// policySeen is when this agent first read a policy: the start of
	// the schedule of a policy that does not say when it was created.
	policySeen time.Time

	// trust holds the provider's public keys: configuration (policy,
	// drill schedules) without their signature is refused.
	trust signature.Trust
	// signer signs the drill evidence this agent records (nil: unsigned).
	signer *signature.Signer

	// clients are the connections to recovery regions' destinations.
	clients objectstore.Clients

	wg sync.WaitGroup

	minGap   time.Duration
	backupFn BackupFunc
	drillFn  DrillFunc
}

// BackupFunc does the work of one scheduled backup slot of policy p and
// names what it produced.
type BackupFunc func(ctx context.Context, p *repo.Policy) (output string, err error)

// DrillFunc does the work of one scheduled drill slot and names what it
// produced (the evidence); a *FinalError is not retried in its slot.
type DrillFunc func(ctx context.Context, doc drill.ScheduleDoc) (output string, err error)

// Option changes how a Daemon works beyond its Config: what a job slot
// runs and which schedules are accepted. Production agents pass none;
// tests replace the real work to exercise scheduling, leases and retries
// alone.
type Option func(*Daemon)

// WithMinGap accepts schedules down to every gap (default MinGap).
func WithMinGap(gap time.Duration) Option { return func(d *Daemon) { d.minGap = gap } }

// WithBackup runs fn instead of the base backup, tenant dumps and prune.
func WithBackup(fn BackupFunc) Option { return func(d *Daemon) { d.backupFn = fn } }

// WithDrill runs fn instead of a drill.
func WithDrill(fn DrillFunc) Option { return func(d *Daemon) { d.drillFn = fn } }

// New checks cfg and fills in defaults, then applies opts.
func New(cfg Config, opts ...Option) (*Daemon, error) {
	if cfg.Store == nil {
		return nil, errors.New("agentd: no store")
	}
	if err := cfg.Agent.Validate(); err != nil {
		return nil, err
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.Refresh, 30*time.Second)
	def(&cfg.Tick, 5*time.Second)
	def(&cfg.LeaseRenew, 15*time.Second)
	def(&cfg.StatsInterval, 5*time.Minute)
	def(&cfg.RetryDelay, 5*time.Minute)
	def(&cfg.ProbeInterval, time.Hour)
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	if cfg.Holder == "" {
		cfg.Holder = DefaultHolder()
	}
	trust, err := cfg.Agent.Trust()
	if err != nil {
		return nil, err
	}
	signer, err := cfg.Agent.Signer()
	if err != nil {
		return nil, err
	}
	d := &Daemon{
		cfg: cfg, layout: cfg.Agent.Layout(), trust: trust, signer: signer, log: cfg.Logger.With("cluster", cfg.Agent.Cluster, "holder", cfg.Holder),
		m: cfg.Metrics, jobs: map[string]*job{}, last: map[string]*Run{}, running: map[string]bool{},
		minGap: MinGap,
	}
	d.backupFn = d.backup
	d.drillFn = d.drill
	for _, o := range opts {
		o(d)
	}
	return d, nil
}

// DefaultHolder is "<hostname>-<pid>-<4 random bytes>": unique per process,
// readable in a lease.
func DefaultHolder() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
}

// Metrics are the daemon's metrics.
func (d *Daemon) Metrics() *Metrics { return d.m }

// Holder is this agent's id in leases and run records.
func (d *Daemon) Holder() string { return d.cfg.Holder }

// Run reads the schedules and runs due jobs until ctx is done. Then it
// takes no new job, cancels the running ones (a cancelled backup never
// writes its manifest), waits for them to release their leases, and
// returns nil. It returns an error only when it cannot start.
func (d *Daemon) Run(ctx context.Context) error {
	d.log.Info("agent starting", "repository", d.cfg.Store.Bucket()+"/"+d.layout.Root(),
		"refresh", d.cfg.Refresh, "tick", d.cfg.Tick, "lease_ttl", d.leaseTTL())
	d.refresh(ctx)
	statsDone := make(chan struct{})
	go func() {
		defer close(statsDone)
		d.statsLoop(ctx)
	}()
	probeDone := make(chan struct{})
	go func() {
		defer close(probeDone)
		d.probeLoop(ctx)
	}()
	aheadDone := make(chan struct{})
	go func() {
		defer close(aheadDone)
		d.walAheadLoop(ctx)
	}()
	tick := time.NewTicker(d.cfg.Tick)
	defer tick.Stop()
	for {
		d.markTick()
		d.startDue(ctx)
		select {
		case <-ctx.Done():
			d.log.Info("agent stopping: no new jobs; cancelling running ones", "reason", context.Cause(ctx))
			d.wg.Wait()
			<-statsDone
			<-probeDone
			<-aheadDone
			d.log.Info("agent stopped")
			return nil
		case <-tick.C:
		}
		d.mu.Lock()
		stale := d.cfg.Now().Sub(d.lastRefresh) >= d.cfg.Refresh
		d.mu.Unlock()
		if stale {
			d.refresh(ctx)
		}
	}
}

// Healthy reports nil while the loop ticks and the repository was read
// recently.
func (d *Daemon) Healthy() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.cfg.Now()
	if d.lastTick.IsZero() || now.Sub(d.lastTick) > 3*d.cfg.Tick+d.cfg.Refresh {
		return fmt.Errorf("scheduling loop stalled (last tick %s)", d.lastTick.Format(time.RFC3339))
	}
	if d.refreshErr != nil && now.Sub(d.lastRefresh) > 3*d.cfg.Refresh {
		return fmt.Errorf("repository not read since %s: %w", d.lastRefresh.Format(time.RFC3339), d.refreshErr)
	}
	return nil
}

func (d *Daemon) markTick() {
	d.mu.Lock()
	d.lastTick = d.cfg.Now()
	d.mu.Unlock()
}

func (d *Daemon) leaseTTL() time.Duration { return 2 * d.cfg.LeaseRenew }

// refresh re-reads the policy and the drill schedules and replaces the job
// set. Running jobs keep the definition they started with. On a read
// error the previous jobs stay.
func (d *Daemon) refresh(ctx context.Context) {
	jobs := map[string]*job{}
	var errs []error

	standby, serr := d.regionStandby(ctx)
	if serr != nil {
		// Unknown whether this agent stands by in a recovery region: the
		// previous jobs stay (below) rather than start backups there.
		errs = append(errs, serr)
	}

	p, err := repo.ReadPolicy(ctx, d.cfg.Store, d.layout, d.trust)
	var refused *signature.Error
	if errors.As(err, &refused) {
		d.m.ConfigRefused.WithLabelValues("policy").Inc()
	}
	policyRead := err == nil || errors.Is(err, objectstore.ErrNotFound)
	switch {
	case errors.Is(err, objectstore.ErrNotFound):
		// No policy: nothing to back up on a schedule.
	case err != nil:
		errs = append(errs, err)
	case standby != "":
		// The policy is the primary's, copied along: an agent standing by
		// in the recovery region does not run it (see regionStandby).
		// Logged when it changes, below.
	default:
		if j, err := d.backupJob(p); err != nil {
			d.log.Error("policy not scheduled", "key", d.layout.PolicyKey(), "err", err)
		} else {
			jobs[j.name] = j
			// The verification belongs to the same cluster's policy.
			if v, err := d.verifyJob(p); err != nil {
				d.log.Error("verification not scheduled", "key", d.layout.PolicyKey(), "err", err)
			} else if v != nil {
				jobs[v.name] = v
			}
		}
		d.walStats(ctx, p)
	}
	// wal-push (archive_command) on this host reads the WAL settings from
	// the local verified copy: keep it fresh, so a change reaches the next
	// segment without a read per segment.
	if err := repo.RefreshWALSettingsCache(ctx, d.cfg.Agent, d.cfg.Store, d.cfg.Now()); err != nil {
		var refusedWAL *signature.Error
		if errors.As(err, &refusedWAL) {
			d.m.ConfigRefused.WithLabelValues("wal_settings").Inc()
			d.log.Warn("WAL settings refused: wal-push keeps the last verified ones", "key", d.layout.WALSettingsKey(), "err", err)
		} else {
			d.log.Debug("refreshing the local copy of the WAL settings", "err", err)
		}
	}
	drills, docs, err := d.drillJobs(ctx)
	if err != nil {
		errs = append(errs, err)
	} else {
		d.indexDrills(ctx, docs)
	}
	for _, j := range drills {
		jobs[j.name] = j
	}
	regions, rerr := d.regionJobs(ctx)
	if rerr != nil {
		errs = append(errs, rerr)
	}
	for _, j := range regions {
		jobs[j.name] = j
	}
	redisSnaps, redisDocs, redisErr := d.redisJobs(ctx)
	if redisErr != nil {
		errs = append(errs, redisErr)
	}
	for _, j := range redisSnaps {
		if standby != "" {
			continue
		}
		jobs[j.name] = j
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	d.lastRefresh = d.cfg.Now()
	if serr == nil && standby != d.standby {
		if standby != "" {
			d.log.Warn("standing by in recovery region: the copied policy's backups, tenant dumps, verification and Redis snapshots are not scheduled until `lifeboat region activate`; restore requests and drills are served", "region", standby)
		} else {
			d.log.Warn("recovery region activated: running the policy's schedules", "region", d.standby)
		}
		d.standby = standby
	}
	if policyRead {
		d.policy = p
	}
	if err == nil {
		d.drills = docs
	}
	if redisErr == nil {
		d.redis = redisDocs
	}
	if len(errs) > 0 {
		d.refreshErr = errors.Join(errs...)
		d.log.Error("reading schedules from the repository", "err", d.refreshErr)
		return
	}
	d.refreshErr = nil
	if changed(d.jobs, jobs) {
		names := make([]string, 0, len(jobs))
		for n, j := range jobs {
			names = append(names, n+"="+j.sched.Expr)
		}
		sort.Strings(names)
		d.log.Info("schedules loaded", "jobs", strings.Join(names, ", "))
	}
	d.jobs = jobs
}

func changed(a, b map[string]*job) bool {
	if len(a) != len(b) {
		return true
	}
	for n, j := range a {
		if k, ok := b[n]; !ok || k.sched.Expr != j.sched.Expr {
			return true
		}
	}
	return false
}

// parseSchedule parses expr and refuses schedules finer than minGap.
func (d *Daemon) parseSchedule(expr string) (*schedule.Schedule, error) {
	s, err := schedule.Parse(expr)
	if err != nil {
		return nil, err
	}
	if every, ok := EveryInterval(expr); ok && every < d.minGap {
		return nil, fmt.Errorf("schedule %q runs more often than every %s", expr, d.minGap)
	}
	return s, nil
}

// startDue starts every due job that is not running and whose lease this
// agent gets.
func (d *Daemon) startDue(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	d.mu.Lock()
	var due []*job
	for _, j := range d.jobs {
		if !d.running[j.name] {
			due = append(due, j)
		}
	}
	d.mu.Unlock()
	sort.Slice(due, func(a, b int) bool { return due[a].name < due[b].name })
	for _, j := range due {
		if ctx.Err() != nil {
			return
		}
		d.maybeStart(ctx, j)
	}
}

func (d *Daemon) isDue(j *job, slot time.Time, last *Run) bool {
	if slot.Before(j.since) && (last == nil || !j.sinceUntilFirstRun) {
		return false
	}
	return Due(slot, last, d.cfg.Now(), d.cfg.RetryDelay, d.cfg.MaxAttempts)
}

func (d *Daemon) maybeStart(ctx context.Context, j *job) {
	log := d.log.With("job", j.name)
	slot := Slot(j.sched, d.cfg.Now())
	d.mu.Lock()
	cached, known := d.last[j.name]
	d.mu.Unlock()
	// NOTE: an unknown last run (none read yet) is not "never ran": a job
	// with a start (since) must see the record before it decides.
	if known && !d.isDue(j, slot, cached) {
		return
	}
	// Locally due: what does the repository say?
	last, err := ReadRun(ctx, d.cfg.Store, d.layout, j.name)
	if err != nil {
		log.Warn("reading the last run", "err", err)
		return
	}
	d.setLast(j.name, last)
	if !d.isDue(j, slot, last) {
		return
	}
	lease, err := AcquireLease(ctx, d.cfg.Store, d.layout, j.name, d.cfg.Holder, slot, d.leaseTTL(), d.cfg.Now)
	if errors.Is(err, ErrLeaseHeld) {
		log.Debug("not starting", "reason", err)
		return
	}
	if err != nil {
		log.Warn("taking the lease", "err", err)
		return
	}
	// Another agent may have finished the slot between our read and our
	// lease: read again under the lease.
	last, err = ReadRun(ctx, d.cfg.Store, d.layout, j.name)
	if err != nil || !d.isDue(j, slot, last) {
		if err != nil {
			log.Warn("reading the last run", "err", err)
		}
		d.setLast(j.name, last)
		d.release(lease, log)
		return
	}
	d.mu.Lock()
	d.running[j.name] = true
	d.mu.Unlock()
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.execute(ctx, j, slot, last, lease, log)
	}()
}

// notRunning clears job's running mark and gauge when its run ends.
func (d *Daemon) notRunning(job string) {
	d.mu.Lock()
	delete(d.running, job)
	d.mu.Unlock()
	d.m.JobRunning.WithLabelValues(job).Set(0)
}

// attemptOf is the attempt number of a run of slot, prev being the job's
// last recorded run: its next attempt when it ran the same slot.
func attemptOf(prev *Run, slot time.Time) int {
	if prev != nil && prev.Slot.Equal(slot) {
		return prev.Attempts + 1
	}
	return 1
}

func (d *Daemon) setLast(name string, r *Run) {
	d.mu.Lock()
	d.last[name] = r
	d.mu.Unlock()
}

// execute runs one slot of j under lease, renewing it, then records the
// run and releases the lease.
func (d *Daemon) execute(ctx context.Context, j *job, slot time.Time, prev *Run, lease *Lease, log *slog.Logger) {
	defer d.notRunning(j.name)
	d.m.JobRunning.WithLabelValues(j.name).Set(1)
	attempt := attemptOf(prev, slot)
	log = log.With("slot", slot.Format(time.RFC3339), "attempt", attempt, "lease_generation", lease.Doc().Generation)
	log.Info("job starting")

	jobCtx, stop := KeepLease(ctx, lease, d.cfg.LeaseRenew, log)
	defer stop()

	started := d.cfg.Now().UTC()
	output, err := j.run(jobCtx, slot)
	stop()
	finished := d.cfg.Now().UTC()
	dur := finished.Sub(started)

	// Cleanup must happen even when ctx is done (shutdown).
	cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer ccancel()
	switch {
	case ctx.Err() != nil || errors.Is(context.Cause(jobCtx), ErrLeaseLost):
		// Shutdown or lease lost: record nothing, so the slot stays due
		// and the next holder redoes it from scratch.
		log.Warn("job abandoned; the slot stays due", "err", err, "cause", context.Cause(jobCtx), "duration", dur)
		d.m.JobRuns.WithLabelValues(j.name, "canceled").Inc()
	default:
		r := d.runRecord(j.name, slot, attempt, started, finished, output, err, log)
		if werr := WriteRun(cctx, d.cfg.Store, d.layout, r); werr != nil {
			// The lease is released anyway: another agent redoing the slot
			// is better than nobody doing the next one.
			log.Error("recording the run", "err", werr)
		} else {
			d.setLast(j.name, &r)
		}
	}
	d.release(lease, log)
}

// runRecord is the record of a run of job that ended with output and err,
// counted in the metrics and logged.
func (d *Daemon) runRecord(job string, slot time.Time, attempt int, started, finished time.Time, output string, err error, log *slog.Logger) Run {
	dur := finished.Sub(started)
	r := Run{Job: job, Slot: slot.UTC(), Result: ResultSuccess, Attempts: attempt, Holder: d.cfg.Holder,
		Started: started, Finished: finished, Output: output}
	if err != nil {
		r.Result, r.Error = ResultFailure, err.Error()
		var fe *FinalError
		r.Final = errors.As(err, &fe)
		var tde *backup.TenantDumpError
		if errors.As(err, &tde) {
			r.TenantFailures = map[string]string{}
			for _, f := range tde.Failed {
				r.TenantFailures[f.Database] = f.Err.Error()
			}
		}
		d.m.JobFailures.WithLabelValues(job).Inc()
		log.Error("job failed", "err", err, "duration", dur, "output", output)
	} else {
		d.m.JobLastSuccess.WithLabelValues(job).Set(float64(finished.UnixNano()) / 1e9)
		log.Info("job finished", "duration", dur, "output", output)
	}
	d.m.JobRuns.WithLabelValues(job, r.Result).Inc()
	return r
}

func (d *Daemon) release(lease *Lease, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := lease.Release(ctx); err != nil {
		log.Warn("releasing the lease (it will expire)", "err", err)
	}
}
