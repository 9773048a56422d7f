package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/agentd"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/catalog"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/posture"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/remote"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/version"
)

// agentOptions are the flags of `lifeboat agent`.
type agentOptions struct {
	agent         agentFlags
	pg            pgFlags
	listen        string
	holder        string
	refresh       time.Duration
	tick          time.Duration
	leaseRenew    time.Duration
	stats         time.Duration
	pruneGrace    time.Duration
	retryDelay    time.Duration
	probeInterval time.Duration
	// postureReport is how often the agent stores the posture report (0: never).
	postureReport time.Duration
	// auditor are the keys the scheduled posture report reads the bucket's
	// configuration with (same names as posture report's).
	auditor     objectstore.Config
	maxAttempts int
	logFormat   string
	logLevel    string
	compression string
	partSize    int64
	maxRate     int
	host        string
	requestPoll time.Duration
	heartbeat   time.Duration
	// pgdata and walAheadParallel tune the WAL push-ahead.
	pgdata           string
	walAheadParallel int
	// envErr is a malformed LIFEBOAT_AGENT_* default, reported at run.
	envErr error
}

func newAgentCmd() *cobra.Command {
	var o agentOptions
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the schedules stored in the repository (backups, retention, drills) and serve Prometheus metrics",
		Long: `Run as a daemon beside the database: read the cluster's backup policy and drill
schedules from the repository (re-read every --refresh, so changes apply without
a restart) and run each job when its cron schedule fires. Agents on the same
repository coordinate through leases in it: each slot of a job runs once.

Serves /metrics (Prometheus) and /healthz on --listen. SIGTERM or SIGINT stops
taking jobs, cancels the running one (a cancelled backup never looks complete)
and exits 0.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAgent(cmd.Context(), o, cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	o.agent.register(fs)
	o.pg.register(fs)
	fs.StringVar(&o.listen, "listen", envOr("LIFEBOAT_AGENT_LISTEN", "127.0.0.1:9187"), "address of /metrics and /healthz (default $LIFEBOAT_AGENT_LISTEN; empty: none)")
	fs.StringVar(&o.holder, "holder", os.Getenv("LIFEBOAT_AGENT_ID"), "this agent's id in leases and run records (default $LIFEBOAT_AGENT_ID, else <host>-<pid>-<random>)")
	fs.DurationVar(&o.refresh, "refresh", o.envDuration("LIFEBOAT_AGENT_REFRESH", 30*time.Second), "re-read the policy and drill schedules this often")
	fs.DurationVar(&o.tick, "tick", o.envDuration("LIFEBOAT_AGENT_TICK", 5*time.Second), "look for due jobs this often")
	fs.DurationVar(&o.leaseRenew, "lease-renew", o.envDuration("LIFEBOAT_AGENT_LEASE_RENEW", 15*time.Second),
		"renew a running job's lease this often; it expires after twice this, when another agent may take the job over")
	fs.DurationVar(&o.stats, "stats-interval", o.envDuration("LIFEBOAT_AGENT_STATS_INTERVAL", 5*time.Minute), "recompute repository size metrics this often")
	fs.DurationVar(&o.pruneGrace, "prune-grace", o.envDuration("LIFEBOAT_AGENT_PRUNE_GRACE", catalog.DefaultGrace),
		"scheduled prunes leave incomplete backups younger than this")
	fs.DurationVar(&o.retryDelay, "retry-delay", o.envDuration("LIFEBOAT_AGENT_RETRY_DELAY", 5*time.Minute), "wait this long before running a failed slot again")
	fs.DurationVar(&o.probeInterval, "probe-interval", o.envDuration("LIFEBOAT_AGENT_PROBE_INTERVAL", time.Hour),
		"prove this often (and at start) that the agent's credentials cannot delete locked versions, change the bucket or rewrite its policy (lifeboat_writer_forbidden_actions_allowed)")
	fs.DurationVar(&o.postureReport, "posture-report-interval", o.envDuration("LIFEBOAT_AGENT_POSTURE_REPORT_INTERVAL", 0),
		"store the posture report (HTML and JSON, with its sha256, under COMPLIANCE lock for 400 days) in the repository this often; 0: never")
	fs.StringVar(&o.auditor.Profile, "auditor-profile", "", "AWS profile of the auditor role, whose keys the scheduled posture report (--posture-report-interval) reads the bucket's versioning, object lock, lifecycle and encryption with; keys from $"+EnvAuditorAccessKey+" and $"+EnvAuditorSecretKey+" win (default: none, and the report's bucket controls are unknown)")
	o.auditor.AccessKey, o.auditor.SecretKey = os.Getenv(EnvAuditorAccessKey), os.Getenv(EnvAuditorSecretKey)
	fs.IntVar(&o.maxAttempts, "max-attempts", 3, "runs of one slot before it is given up until the next")
	fs.StringVar(&o.logFormat, "log-format", envOr("LIFEBOAT_LOG_FORMAT", "text"), "text or json (default $LIFEBOAT_LOG_FORMAT)")
	fs.StringVar(&o.logLevel, "log-level", envOr("LIFEBOAT_LOG_LEVEL", "info"), "debug, info, warn or error (default $LIFEBOAT_LOG_LEVEL)")
	fs.StringVar(&o.compression, "compression", "", "base backup compression: zstd, lz4 or none (default from the agent configuration)")
	fs.Int64Var(&o.partSize, "part-size", backup.DefaultPartSize, "base backup: stored bytes per part object")
	fs.StringVar(&o.host, "host", os.Getenv("LIFEBOAT_AGENT_HOST"),
		"this host's name in requests (agent = \"...\" on a resource) and heartbeats (default $LIFEBOAT_AGENT_HOST, else the configuration's host, else the machine's host name)")
	fs.DurationVar(&o.requestPoll, "request-poll", o.envDuration("LIFEBOAT_AGENT_REQUEST_POLL", 2*time.Second), "look for requests (restores, teardowns, drills now) this often")
	fs.DurationVar(&o.heartbeat, "heartbeat", o.envDuration("LIFEBOAT_AGENT_HEARTBEAT", remote.DefaultHeartbeat), "publish this agent's heartbeat this often")
	fs.StringVar(&o.pgdata, "pgdata", os.Getenv("PGDATA"),
		"data directory whose ready WAL segments the agent pushes ahead of archive_command (default $PGDATA, then the configuration's pgdata, then PostgreSQL's own answer when it is on this host)")
	fs.IntVar(&o.walAheadParallel, "wal-ahead-parallel", o.envInt("LIFEBOAT_AGENT_WAL_AHEAD_PARALLEL", 2),
		"WAL segments pushed ahead at once (wal_push_ahead = false in the configuration turns push-ahead off)")
	fs.IntVar(&o.maxRate, "max-rate", o.envInt("LIFEBOAT_AGENT_MAX_RATE", 0), "base backup: limit the server's read rate, kB/s (0: unlimited)")
	return cmd
}

// runAgent runs the daemon until ctx is done, then returns nil once the
// running job is abandoned and its lease released.
func runAgent(ctx context.Context, o agentOptions, logw io.Writer) error {
	if o.envErr != nil {
		return o.envErr
	}
	log, err := newLogger(logw, o.logFormat, o.logLevel)
	if err != nil {
		return err
	}
	cfg, err := repo.Load(o.agent.configPath)
	if err != nil {
		return err
	}
	client, err := objectstore.NewClient(ctx, cfg.ObjectStore())
	if err != nil {
		return fmt.Errorf("object store: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("locating the lifeboat binary for drills: %w", err)
	}
	restorer, err := agentRestorer(ctx, cfg)
	if err != nil {
		return err
	}
	pgDump := ""
	if o.pg.binDir != "" {
		pgDump = filepath.Join(o.pg.binDir, "pg_dump")
	}
	auditor, err := auditorClient(ctx, cfg, o.auditor)
	if err != nil {
		return err
	}
	var buckets posture.BucketReader
	if auditor != nil {
		buckets = auditor
	}
	d, err := agentd.New(agentd.Config{
		PostureBuckets: buckets,
		Store:          client.Store(cfg.Bucket), StoreFor: func(b string) objectstore.Store { return client.Store(b) }, Agent: cfg, AgentPath: self, DSN: o.pg.dsn, PGDump: pgDump,
		Restorer: restorer,
		Backup:   agentd.BackupSettings{Compression: o.compression, PartSize: o.partSize, MaxRate: o.maxRate},
		Holder:   o.holder, Refresh: o.refresh, Tick: o.tick, LeaseRenew: o.leaseRenew, StatsInterval: o.stats,
		PruneGrace: o.pruneGrace, RetryDelay: o.retryDelay, MaxAttempts: o.maxAttempts, Logger: log,
		Probe:         func(ctx context.Context) access.Report { return access.Probe(ctx, client, cfg.Bucket, cfg.Layout()) },
		ProbeInterval: o.probeInterval, PostureReportInterval: o.postureReport,
		WALAhead: agentd.WALAheadSettings{PGData: cmp.Or(o.pgdata, cfg.PGData), AskPostgres: true, Parallel: o.walAheadParallel},
	})
	if err != nil {
		return err
	}

	var srv *http.Server
	srvErr := make(chan error, 1)
	if o.listen != "" {
		// Listen first, so a taken port fails the start rather than a log line.
		ln, err := net.Listen("tcp", o.listen)
		if err != nil {
			return fmt.Errorf("metrics listener: %w", err)
		}
		srv = &http.Server{Handler: d.Metrics().Handler(d.Healthy), ReadHeaderTimeout: 10 * time.Second}
		log.Info("serving metrics", "addr", ln.Addr().String(), "paths", "/metrics /healthz")
		go func() { srvErr <- srv.Serve(ln) }()
	}

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		if err := <-srvErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server failed", "err", err)
			cancel(err)
		}
	}()
	w, err := requestWorker(o, cfg, client, d, self, restorer, log)
	if err != nil {
		return err
	}
	workerDone := make(chan struct{})
	go func() {
		defer close(workerDone)
		_ = w.Run(runCtx)
	}()
	err = d.Run(runCtx)
	cancel(nil)
	<-workerDone
	if srv != nil {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = srv.Shutdown(sctx)
		scancel()
	}
	if err != nil {
		return err
	}
	// A metrics server failure is an error; a signal is a clean stop.
	if cause := context.Cause(runCtx); ctx.Err() == nil && cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return nil
}

// requestWorker executes the requests addressed to this host (or to any
// agent of the cluster) beside the daemon, with the same credentials,
// holder id and PostgreSQL connection.
func requestWorker(o agentOptions, cfg repo.AgentConfig, client *objectstore.Client, d *agentd.Daemon, self string, restorer *agentd.Restorer,
	log *slog.Logger) (*remote.Worker, error) {
	host := o.host
	if host == "" {
		host = cfg.Host
	}
	if host == "" {
		host, _ = os.Hostname()
	}
	trust, err := cfg.Trust()
	if err != nil {
		return nil, err
	}
	signer, err := cfg.Signer()
	if err != nil {
		return nil, err
	}
	// The fingerprints only: a plan checks them against what it sends
	// here; an identity file that does not load fails the drills later, as
	// it always did, not the agent's start.
	var held []string
	if ids, err := cfg.Identities(); err == nil {
		held = ids.Fingerprints()
	}
	exec := &remote.Host{Store: client.Store(cfg.Bucket), StoreFor: func(b string) objectstore.Store { return client.Store(b) }, Layout: cfg.Layout(),
		Agent: cfg, AgentPath: self, DSN: d.DSN, Trust: trust, Signer: signer, Backup: d.BackupNow, Restorer: restorer}
	return &remote.Worker{Store: client.Store(cfg.Bucket), Layout: cfg.Layout(), Host: host, Holder: d.Holder(), Trust: trust, Exec: exec.Exec, Present: exec.Present,
		Version: version.Version, Identities: held, Poll: o.requestPoll, LeaseRenew: o.leaseRenew, Heartbeat: o.heartbeat, Logger: log}, nil
}

// agentRestorer opens the repository as the bootstrap file's restorer,
// for the restores and drills the agent runs; nil without one.
func agentRestorer(ctx context.Context, cfg repo.AgentConfig) (*agentd.Restorer, error) {
	rc, ok := cfg.RestorerConfig()
	if !ok {
		return nil, nil
	}
	client, err := objectstore.NewClient(ctx, rc.ObjectStore())
	if err != nil {
		return nil, fmt.Errorf("object store (restorer): %w", err)
	}
	return &agentd.Restorer{Store: client.Store(cfg.Bucket), StoreFor: func(b string) objectstore.Store { return client.Store(b) }, Agent: rc}, nil
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func (o *agentOptions) envDuration(name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		o.envErr = errors.Join(o.envErr, fmt.Errorf("$%s: %w", name, err))
		return def
	}
	return d
}

func (o *agentOptions) envInt(name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		o.envErr = errors.Join(o.envErr, fmt.Errorf("$%s: %w", name, err))
		return def
	}
	return n
}
