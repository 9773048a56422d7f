package agentd

import (
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// RepositoryFolders are the repository folders whose size
// lifeboat_repository_size_bytes reports.
var RepositoryFolders = []repo.Folder{repo.FolderBaseBackups, repo.FolderWAL, repo.FolderTenants, repo.FolderDrills, repo.FolderRedis}

// Metrics are the daemon's Prometheus metrics, on their own registry (no
// global state: two daemons in one test process do not collide).
type Metrics struct {
	Registry *prometheus.Registry

	BackupLastSuccess *prometheus.GaugeVec
	BackupDuration    *prometheus.GaugeVec
	BackupBytes       *prometheus.GaugeVec
	WALArchiveLag     *prometheus.GaugeVec
	WALLastArchived   *prometheus.GaugeVec
	JobRuns           *prometheus.CounterVec
	JobFailures       *prometheus.CounterVec
	JobRunning        *prometheus.GaugeVec
	JobLastSuccess    *prometheus.GaugeVec
	DrillLast         *prometheus.GaugeVec
	DrillDuration     *prometheus.GaugeVec
	DrillRTO          *prometheus.GaugeVec
	DrillSuccess      *prometheus.GaugeVec
	DrillRTOTarget    *prometheus.GaugeVec
	RepositorySize    *prometheus.GaugeVec
	RepositorySizeAt  prometheus.Gauge
	// TenantDumpFailures is 1 for a tenant whose last scheduled dump by
	// this agent failed, 0 once one succeeded: an alert names the tenant.
	TenantDumpFailures *prometheus.GaugeVec
	// VerifyLast, VerifySuccess and VerifyProblems report the scheduled
	// verification of the newest base backup (and its WAL).
	VerifyLast     *prometheus.GaugeVec
	VerifySuccess  *prometheus.GaugeVec
	VerifyProblems *prometheus.GaugeVec
	// ConfigRefused counts configuration refused for its signature.
	ConfigRefused *prometheus.CounterVec
	// WriterForbiddenAllowed is 1 for a forbidden action (access.Check)
	// the agent's own credentials were allowed by the last writer probe,
	// 0 when denied; WriterProbeAt is when that probe ran.
	WriterForbiddenAllowed *prometheus.GaugeVec
	WriterProbeAt          prometheus.Gauge
	// RegionCopyForbiddenAllowed is 1 for a forbidden action of the copy
	// role (access.ChecksFor(access.RoleCopy)) a recovery region's copy
	// keys were allowed by the last copy probe, 0 when denied.
	RegionCopyForbiddenAllowed *prometheus.GaugeVec
	// RegionLag, RegionPendingObjects and RegionPendingBytes are what the
	// last copy pass to each recovery region measured; RegionCopyFailures
	// counts objects (or whole passes) that could not be copied.
	RegionLag            *prometheus.GaugeVec
	RegionPendingObjects *prometheus.GaugeVec
	RegionPendingBytes   *prometheus.GaugeVec
	RegionCopyFailures   *prometheus.CounterVec
	RegionMaxLag         *prometheus.GaugeVec
	RegionLastCopy       *prometheus.GaugeVec
	// RegionStandby is 1 for the recovery region this agent runs in while
	// it is not activated (no backups, dumps or snapshots), 0 once it is.
	RegionStandby *prometheus.GaugeVec
	// PostureFinding is 1 for the status of each posture control's
	// finding on the cluster (internal/posture), 0 for the other statuses;
	// PostureAt is when the findings were evaluated.
	PostureFinding *prometheus.GaugeVec
	PostureAt      prometheus.Gauge
	// PostureMeasure is a number a finding compared: the anomaly controls'
	// observed value and baseline (WAL compression ratio, WAL bytes per
	// window, newest backup size as a share of the earlier ones).
	PostureMeasure *prometheus.GaugeVec
	// RedisSnapshotLast, RedisSnapshotAge and RedisSnapshotBytes describe
	// the newest snapshot of each scheduled Redis instance;
	// RedisBgsaveSuccess and RedisAOFEnabled its server's INFO persistence.
	RedisSnapshotLast  *prometheus.GaugeVec
	RedisSnapshotAge   *prometheus.GaugeVec
	RedisSnapshotBytes *prometheus.GaugeVec
	RedisBgsaveSuccess *prometheus.GaugeVec
	RedisAOFEnabled    *prometheus.GaugeVec
	// WALPushedAhead counts archive_command calls that found their segment
	// already pushed by an agent and returned at once; WALCommandPushed
	// those that pushed it themselves while an agent was pushing ahead.
	// WALAheadPushes counts this agent's pushes ahead by result (pushed,
	// failed).
	WALPushedAhead   prometheus.Counter
	WALCommandPushed prometheus.Counter
	WALAheadPushes   *prometheus.CounterVec
}

// NewMetrics creates the metrics on a new registry, with the Go and
// process collectors.
func NewMetrics() *Metrics {
	g := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	}
	m := &Metrics{
		Registry:          prometheus.NewRegistry(),
		BackupLastSuccess: g("lifeboat_backup_last_success_timestamp_seconds", "Stop time of the newest complete base backup in the repository.", "cluster"),
		BackupDuration:    g("lifeboat_backup_duration_seconds", "Duration of the newest complete base backup.", "cluster"),
		BackupBytes:       g("lifeboat_backup_bytes", "Stored size of the newest complete base backup.", "cluster"),
		WALArchiveLag:     g("lifeboat_wal_archive_lag_seconds", "Age of the oldest WAL segment waiting for the archiver (0 when none waits).", "cluster"),
		WALLastArchived:   g("lifeboat_wal_last_archived_timestamp_seconds", "When PostgreSQL last archived a WAL file (pg_stat_archiver).", "cluster"),
		JobRuns: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lifeboat_job_runs_total",
			Help: "Job runs by this agent, by result (success, failure, canceled)."}, []string{"job", "result"}),
		JobFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lifeboat_job_failures_total",
			Help: "Failed job runs by this agent."}, []string{"job"}),
		JobRunning:         g("lifeboat_job_running", "1 while this agent runs the job.", "job"),
		JobLastSuccess:     g("lifeboat_job_last_success_timestamp_seconds", "When this agent last finished the job successfully.", "job"),
		DrillLast:          g("lifeboat_drill_last_timestamp_seconds", "When the schedule's last drill finished.", "schedule"),
		DrillDuration:      g("lifeboat_drill_duration_seconds", "Duration of the schedule's last drill, restore to teardown.", "schedule"),
		DrillRTO:           g("lifeboat_drill_rto_seconds", "Achieved RTO of the schedule's last drill (start to checks passed).", "schedule"),
		DrillSuccess:       g("lifeboat_drill_success", "1 when the schedule's last drill passed, else 0.", "schedule"),
		DrillRTOTarget:     g("lifeboat_drill_rto_target_seconds", "The schedule's RTO target.", "schedule"),
		RepositorySize:     g("lifeboat_repository_size_bytes", "Sum of the current object sizes under each repository folder.", "prefix"),
		RepositorySizeAt:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "lifeboat_repository_size_timestamp_seconds", Help: "When lifeboat_repository_size_bytes was computed."}),
		VerifyLast:         g("lifeboat_verify_last_timestamp_seconds", "When the scheduled verification last checked the newest base backup.", "cluster"),
		VerifySuccess:      g("lifeboat_verify_success", "1 when the last scheduled verification found every object a restore would read intact, else 0.", "cluster"),
		VerifyProblems:     g("lifeboat_verify_problems", "Problems (missing or changed objects) the last scheduled verification found.", "cluster"),
		TenantDumpFailures: g("lifeboat_tenant_dump_failures", "1 when the tenant database's last scheduled dump failed, 0 when it succeeded.", "database"),
		ConfigRefused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lifeboat_config_refused_total",
			Help: "Configuration documents (policy, drill_schedule, redis_schedule) refused because they lack a valid signature of a trusted key."}, []string{"document"}),
		WriterForbiddenAllowed: g("lifeboat_writer_forbidden_actions_allowed",
			"1 when the agent's own credentials were allowed a forbidden action by the last writer probe (a hole in their policy), 0 when denied; no series when the check could not be made.", "action"),
		WriterProbeAt: prometheus.NewGauge(prometheus.GaugeOpts{Name: "lifeboat_writer_probe_timestamp_seconds", Help: "When the writer probe last ran."}),
		RegionCopyForbiddenAllowed: g("lifeboat_recovery_region_copy_forbidden_actions_allowed",
			"1 when the recovery region's copy keys were allowed a forbidden action by the last copy probe (delete, bypass governance, change the destination bucket, write the activation mark), 0 when denied; no series when the check could not be made.",
			"region", "action"),
		RegionLag: g("lifeboat_recovery_region_lag_seconds",
			"Age of the oldest repository object not yet verified in the recovery region (or of the last listing when none is pending), plus the canary's round trip, at the end of the last copy pass.", "region"),
		RegionPendingObjects: g("lifeboat_recovery_region_pending_objects", "Repository objects not yet verified in the recovery region after the last copy pass.", "region"),
		RegionPendingBytes:   g("lifeboat_recovery_region_pending_bytes", "Bytes of the repository objects not yet verified in the recovery region after the last copy pass.", "region"),
		RegionCopyFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lifeboat_recovery_region_copy_failures_total",
			Help: "Objects this agent could not copy or verify in the recovery region (a pass that could not start counts one)."}, []string{"region"}),
		RegionMaxLag: g("lifeboat_recovery_region_max_lag_seconds", "The recovery region's lag target (max_lag).", "region"),
		RegionStandby: g("lifeboat_recovery_region_standby",
			"1 while this agent runs in the recovery region (its store is the copy) and the region is not activated: it serves restores and drills but takes no backups, tenant dumps or Redis snapshots; 0 once `lifeboat region activate` marked it.", "region"),
		RegionLastCopy: g("lifeboat_recovery_region_last_copy_timestamp_seconds", "When this agent's last copy pass to the recovery region finished.", "region"),
		PostureFinding: g("lifeboat_posture_finding",
			"1 for the status (pass, warn, fail, unknown) of the posture control's finding on the cluster, 0 for the other statuses; the same findings as lifeboat posture report.",
			"control", "cluster", "status"),
		PostureAt:         prometheus.NewGauge(prometheus.GaugeOpts{Name: "lifeboat_posture_timestamp_seconds", Help: "When lifeboat_posture_finding was evaluated."}),
		RedisSnapshotLast: g("lifeboat_redis_snapshot_last_timestamp_seconds", "When the newest complete snapshot of the Redis instance was taken (its BGSAVE finished).", "instance"),
		RedisSnapshotAge: g("lifeboat_redis_snapshot_age_seconds",
			"Age of the newest complete snapshot of the Redis instance when last computed (each snapshot and every stats interval).", "instance"),
		RedisSnapshotBytes: g("lifeboat_redis_snapshot_bytes", "Stored (compressed) size of the newest snapshot of the Redis instance.", "instance"),
		RedisBgsaveSuccess: g("lifeboat_redis_bgsave_success",
			"1 when the Redis instance's last BGSAVE succeeded (INFO persistence rdb_last_bgsave_status ok), else 0: with stop-writes-on-bgsave-error it refuses writes.", "instance"),
		RedisAOFEnabled: g("lifeboat_redis_aof_enabled", "1 when the Redis instance's AOF is on.", "instance"),
		WALPushedAhead: prometheus.NewCounter(prometheus.CounterOpts{Name: "lifeboat_wal_pushed_ahead_total",
			Help: "archive_command (wal-push) calls that found their segment already pushed ahead by an agent, with the same bytes, and returned at once."}),
		WALCommandPushed: prometheus.NewCounter(prometheus.CounterOpts{Name: "lifeboat_wal_archive_command_pushed_total",
			Help: "archive_command (wal-push) calls that pushed their segment themselves while an agent was pushing ahead (no record yet, or a stale one)."}),
		WALAheadPushes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lifeboat_wal_ahead_pushes_total",
			Help: "WAL segments this agent pushed ahead of archive_command, by result (pushed, failed)."}, []string{"result"}),
	}
	m.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.BackupLastSuccess, m.BackupDuration, m.BackupBytes, m.WALArchiveLag, m.WALLastArchived,
		m.JobRuns, m.JobFailures, m.JobRunning, m.JobLastSuccess,
		m.DrillLast, m.DrillDuration, m.DrillRTO, m.DrillSuccess, m.DrillRTOTarget, m.RepositorySize, m.RepositorySizeAt,
		m.TenantDumpFailures, m.VerifyLast, m.VerifySuccess, m.VerifyProblems, m.ConfigRefused, m.WriterForbiddenAllowed, m.WriterProbeAt, m.RegionCopyForbiddenAllowed,
		m.RegionLag, m.RegionPendingObjects, m.RegionPendingBytes, m.RegionCopyFailures, m.RegionMaxLag, m.RegionLastCopy, m.RegionStandby,
		m.PostureFinding, m.PostureAt,
		m.RedisSnapshotLast, m.RedisSnapshotAge, m.RedisSnapshotBytes, m.RedisBgsaveSuccess, m.RedisAOFEnabled,
		m.WALPushedAhead, m.WALCommandPushed, m.WALAheadPushes)
	return m
}

// Handler serves /metrics from the registry, and /healthz from healthy
// (200 "ok", or 503 with the reason).
func (m *Metrics) Handler(healthy func() error) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := healthy(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(err.Error() + "\n"))
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}
