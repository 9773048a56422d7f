package repo

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/compression"
)

// Layout names the keys of one cluster's repository in the bucket. It is
// the only place a repository key is spelled: every other package asks it
// for keys (the methods below) and hands it keys to decode (Parse), so a
// change of layout, a lifecycle rule and a listing can never disagree.
type Layout struct {
	// Prefix is an optional key prefix; leading and trailing slashes are
	// ignored.
	Prefix string
	// Cluster is the cluster's name in the repository.
	Cluster string
}

// Folder is a directory directly below the repository root.
type Folder string

// The folders of a repository root.
const (
	FolderWAL         Folder = "wal"
	FolderBaseBackups Folder = "basebackups"
	FolderTenants     Folder = "tenants"
	FolderDrills      Folder = "drills"
	FolderLeases      Folder = "leases"
	FolderJobs        Folder = "jobs"
	FolderRestores    Folder = "restores"
	FolderRedis       Folder = "redis"
	FolderRegions     Folder = "regions"
	FolderRequests    Folder = "requests"
	FolderAgents      Folder = "agents"
	FolderAudit       Folder = "audit"
	// FolderRedisSchedules holds the provider's signed Redis snapshot
	// schedules: configuration, so outside redis/ (data a lifecycle rule
	// may expire).
	FolderRedisSchedules Folder = "redis-schedules"
	// FolderRestorePoints holds what lifeboat_restore_point recorded of a
	// tenant's schema and modules at the point (signed, written once), for
	// the compatibility review of a rollback to it.
	FolderRestorePoints Folder = "restore-points"
)

// DataFolders hold backup data: what a restore reads, and what retention
// and lifecycle tiers may expire. Everything else in a repository
// (identity, policy, drill and Redis snapshot schedules, drill evidence,
// leases, job records) is what the agent needs to keep working and must
// never expire with the data. Redis snapshots are data: the agent prunes
// them with delete markers like base backups, and the policy's pruned.*
// rules remove what it hid.
var DataFolders = []Folder{FolderBaseBackups, FolderTenants, FolderWAL, FolderRedis}

// File names directly below the root, and inside folders.
const (
	clusterInfoFile    = "cluster.json"
	policyFile         = "policy.json"
	walSettingsFile    = "wal-settings.json"
	backupManifestFile = "manifest.json"
	// BackupPGManifest is PostgreSQL's own backup manifest, stored beside
	// the archives of a base backup.
	BackupPGManifest = "backup_manifest"
	tenantDumpExt    = ".dump"
	tenantManExt     = ".json"
	scheduleFile     = "schedule.json"
	evidenceDir      = "evidence"
	jobRecordFile    = "last.json"
	drillIndexFile   = "drill-index.json"
	// regionStatusPre and regionStatusExt frame a recovery region's copy
	// status record directly below jobs/.
	regionStatusPre = "region-"
	// regionProbePre frames the copy role's probe record of a region
	// (with regionStatusExt) directly below jobs/.
	regionProbePre   = "copy-probe-"
	writerProbeFile  = "writer-probe.json"
	regionStatusExt  = ".json"
	leaseExt         = ".json"
	restorePlanExt   = ".json"
	keptReviewExt    = ".review.json"
	pointSchemaExt   = ".json"
	redisRDBExt      = ".rdb."
	redisManExt      = ".json"
	regionConfigFile = "config.json"
	regionCanaryFile = "canary.json"
	regionActivePre  = "activation"
	regionActiveFile = regionActivePre + ".json"
	regionIndexDir   = "index"
	regionIndexExt   = ".json"
	requestFile      = "request.json"
	progressFile     = "progress.json"
	resultFile       = "result.json"
	ackFile          = "ack.json"
	heartbeatExt     = ".json"
	// encryptedExt ends the name of an object encrypted with age.
	encryptedExt     = ".age"
	auditRestoresDir = "restores"
	auditPostureDir  = "posture"
	auditExt         = ".json"
	// redisSchedExt ends a Redis snapshot schedule's name.
	redisSchedExt = ".json"
)

// Phases of a restore audit record: one object when the restore starts, one
// when it ends (a started record without a finished one is a restore that
// is running, or whose process died).
const (
	AuditStarted  = "started"
	AuditFinished = "finished"
)

// Root is "<prefix>/<cluster>" (or "<cluster>" without a prefix), with no
// trailing slash.
func (l Layout) Root() string {
	p := strings.Trim(l.Prefix, "/")
	if p == "" {
		return l.Cluster
	}
	return p + "/" + l.Cluster
}

// PrefixDir is the prefix with a trailing slash: what every cluster's
// root below it starts with. It is "" without a prefix (the whole bucket).
func (l Layout) PrefixDir() string {
	p := strings.Trim(l.Prefix, "/")
	if p == "" {
		return ""
	}
	return p + "/"
}

// RootDir is Root with a trailing slash: the prefix of every key of the
// repository, and of no key of another cluster's (a cluster "main" does
// not own "main-eu/...").
func (l Layout) RootDir() string { return l.Root() + "/" }

// Dir is the prefix of folder f, with a trailing slash.
func (l Layout) Dir(f Folder) string { return l.RootDir() + string(f) + "/" }

// DataPrefixes are the prefixes of DataFolders, in that order.
func (l Layout) DataPrefixes() []string {
	out := make([]string, len(DataFolders))
	for i, f := range DataFolders {
		out[i] = l.Dir(f)
	}
	return out
}

// ErrPrefixNotData means a lifecycle prefix would reach repository objects
// that are not backup data (identity, policy, drill schedules and evidence,
// leases, job records), or another cluster's repository.
var ErrPrefixNotData = errors.New("prefix reaches repository objects that are not backup data")

// LifecyclePrefixes are the prefixes a lifecycle rule declared for prefix
// may be given so that it expires backup data of this repository and never
// anything else of it:
//   - a prefix covering the whole repository (its root, its parent, "")
//     becomes the repository's DataPrefixes;
//   - a prefix inside the repository becomes itself when it lies inside a
//     data folder, the data folders it covers otherwise, and an error
//     wrapping ErrPrefixNotData when it covers none (policy.json, drills/);
//   - a prefix below the repository prefix but outside this repository
//     (another cluster's root, "pg/main-e" beside "pg/main") is refused
//     the same way: it would expire another repository's configuration;
//   - any other prefix (an application's "attachments/") is itself.
func (l Layout) LifecyclePrefixes(prefix string) ([]string, error) {
	root := l.RootDir()
	switch {
	case strings.HasPrefix(root, prefix):
		return l.DataPrefixes(), nil
	case strings.HasPrefix(prefix, root):
		var out []string
		for _, d := range l.DataPrefixes() {
			switch {
			case strings.HasPrefix(prefix, d):
				return []string{prefix}, nil
			case strings.HasPrefix(d, prefix):
				out = append(out, d)
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("%q lies in repository %s outside its data folders (%s): %w",
				prefix, root, strings.Join(l.DataPrefixes(), ", "), ErrPrefixNotData)
		}
		return out, nil
	}
	if p := strings.Trim(l.Prefix, "/"); p != "" && strings.HasPrefix(prefix, p+"/") {
		return nil, fmt.Errorf("%q lies below the repository prefix %q, where other clusters' repositories live, but outside %s: %w",
			prefix, p+"/", root, ErrPrefixNotData)
	}
	return []string{prefix}, nil
}

// ClusterInfoKey is the key of the repository's identity record.
func (l Layout) ClusterInfoKey() string { return l.RootDir() + clusterInfoFile }

// PolicyKey is where the cluster's policy lives.
func (l Layout) PolicyKey() string { return l.RootDir() + policyFile }

// WALSettingsKey is where the provider's signed WAL archiving settings
// live (compression and encryption recipients of wal-push).
func (l Layout) WALSettingsKey() string { return l.RootDir() + walSettingsFile }

// WALDir is the key prefix of archived WAL, with a trailing slash. Files
// are grouped by timeline below it: WALDir() + "<timeline>/<file>.<ext>".
func (l Layout) WALDir() string { return l.Dir(FolderWAL) }

// WALTimelineDir is the prefix of timeline's WAL files (8 hex digits, as in
// WAL file names), with a trailing slash.
func (l Layout) WALTimelineDir(timeline string) string { return l.WALDir() + timeline + "/" }

// WALKey is the key of WAL file name (a segment, .partial, .backup or
// .history file) of timeline, stored with the codec of extension ext.
func (l Layout) WALKey(timeline, name, ext string) string {
	return l.WALTimelineDir(timeline) + name + "." + ext
}

// WALKeyEncrypted is the key of WAL file name of timeline, stored with the
// codec of extension ext and then encrypted to the recipient set whose id
// is set (8 hex digits, crypt.Info.SetID): "<name>.<ext>.<set>.age". The
// key says how to read the object and which recipients it needs, so a
// restore plan can tell which identities it needs from a listing alone.
func (l Layout) WALKeyEncrypted(timeline, name, ext, set string) string {
	return l.WALKey(timeline, name, ext) + "." + set + encryptedExt
}

// BaseBackupsDir is the prefix of every base backup, with a trailing slash.
func (l Layout) BaseBackupsDir() string { return l.Dir(FolderBaseBackups) }

// BackupDir is the prefix of one base backup's objects, with a trailing slash.
func (l Layout) BackupDir(id string) string { return l.BaseBackupsDir() + id + "/" }

// BackupManifestKey is the key of a base backup's Lifeboat manifest,
// written last: the backup exists once it does.
func (l Layout) BackupManifestKey(id string) string { return l.BackupDir(id) + backupManifestFile }

// BackupObjectKey is the key of object name (BackupPGManifest, or an
// archive part "<archive>/<part>") of base backup id.
func (l Layout) BackupObjectKey(id, name string) string { return l.BackupDir(id) + name }

// BackupArchiveDir is the prefix of the parts of archive (a tar file, named
// with its codec's extension: "base.tar.zst") of base backup id, with a
// trailing slash; parts are numbered below it.
func (l Layout) BackupArchiveDir(id, archive string) string { return l.BackupDir(id) + archive + "/" }

// TenantsDir is the prefix of every tenant dump, with a trailing slash.
func (l Layout) TenantsDir() string { return l.Dir(FolderTenants) }

// TenantDumpKey is the key of tenant database db's dump id.
func (l Layout) TenantDumpKey(db, id string) string {
	return l.TenantsDir() + db + "/" + id + tenantDumpExt
}

// TenantManifestKey is the key of a tenant dump's manifest.
func (l Layout) TenantManifestKey(db, id string) string {
	return l.TenantsDir() + db + "/" + id + tenantManExt
}

// DrillsDir is the prefix of every drill schedule and its evidence.
func (l Layout) DrillsDir() string { return l.Dir(FolderDrills) }

// DrillScheduleKey is where drill schedule name's document lives.
func (l Layout) DrillScheduleKey(name string) string {
	return l.DrillsDir() + name + "/" + scheduleFile
}

// DrillEvidenceDir is the prefix of drill schedule name's evidence.
func (l Layout) DrillEvidenceDir(name string) string {
	return l.DrillsDir() + name + "/" + evidenceDir + "/"
}

// DrillEvidenceKey is the key of evidence id of drill schedule name.
func (l Layout) DrillEvidenceKey(name, id string) string {
	return l.DrillEvidenceDir(name) + id + ".json"
}

// LeasesDir is the prefix of every job lease.
func (l Layout) LeasesDir() string { return l.Dir(FolderLeases) }

// LeaseDir is the prefix of job's lease generations, with a trailing slash.
func (l Layout) LeaseDir(job string) string { return l.LeasesDir() + job + "/" }

// LeaseKey is the key of generation gen of job's lease. NOTE: 20 digits, so
// generations sort lexically in a listing.
func (l Layout) LeaseKey(job string, gen uint64) string {
	return fmt.Sprintf("%s%020d%s", l.LeaseDir(job), gen, leaseExt)
}

// JobsDir is the prefix of every job record.
func (l Layout) JobsDir() string { return l.Dir(FolderJobs) }

// JobRecordKey is the record of job's last run.
func (l Layout) JobRecordKey(job string) string { return l.JobsDir() + job + "/" + jobRecordFile }

// DrillIndexKey is where the agent keeps the index of the cluster's drill
// schedules and their newest evidence (drill.Index), which a refresh reads
// in one request instead of two or three per schedule. It lives beside the
// job records because it is what they are: a record the agent rewrites,
// which its writer role may write and the policy's agent.jobs lifecycle
// rule expires the replaced versions of.
func (l Layout) DrillIndexKey() string { return l.JobsDir() + drillIndexFile }

// WriterProbeKey is where the agent records its last writer probe (which
// forbidden actions its own credentials were denied), for posture reports
// run with other credentials.
func (l Layout) WriterProbeKey() string { return l.JobsDir() + writerProbeFile }

// RegionCopyProbeKey is where the agent copying recovery region name
// records its last probe of the region's copy credentials (which forbidden
// actions the destination denied them). It lives in the PRIMARY
// repository, where posture reports and refresh read it.
func (l Layout) RegionCopyProbeKey(name string) string {
	return l.JobsDir() + regionProbePre + name + regionStatusExt
}

// RegionStatusKey is where the agent copying recovery region name records
// its last pass (lag, pending objects, destination). It lives in the
// primary repository, under jobs/ which the writer role may write, because
// the report reads the primary bucket and not the destination.
func (l Layout) RegionStatusKey(name string) string {
	return l.JobsDir() + regionStatusPre + name + regionStatusExt
}

// RestorePlansDir is the prefix of the recovery points kept for reviewed
// restore plans.
func (l Layout) RestorePlansDir() string { return l.Dir(FolderRestores) }

// RestorePlanKey is where the recovery point of the restore identified by
// id (a digest of its definition) is kept between its plan and its apply.
func (l Layout) RestorePlanKey(id string) string { return l.RestorePlansDir() + id + restorePlanExt }

// KeptReviewKey is where the compatibility review planned for the restore
// identified by id is kept between its plan and its apply (beside its kept
// recovery point).
func (l Layout) KeptReviewKey(id string) string { return l.RestorePlansDir() + id + keptReviewExt }

// RestorePointsDir is the prefix of what restore points recorded.
func (l Layout) RestorePointsDir() string { return l.Dir(FolderRestorePoints) }

// RestorePointSchemaKey is the schema and module versions of database
// recorded when restore point name was made.
func (l Layout) RestorePointSchemaKey(name, database string) string {
	return l.RestorePointsDir() + name + "/" + database + pointSchemaExt
}

// AuditDir is the prefix of the repository's audit records, with a
// trailing slash.
func (l Layout) AuditDir() string { return l.Dir(FolderAudit) }

// RestoreAuditDir is the prefix of every restore's audit records.
func (l Layout) RestoreAuditDir() string { return l.AuditDir() + auditRestoresDir + "/" }

// RestoreAuditKey is the key of the record of phase (AuditStarted,
// AuditFinished) of the restore id. NOTE: ids start with the UTC start
// time, so records list in the order the restores began.
func (l Layout) RestoreAuditKey(id, phase string) string {
	return l.RestoreAuditDir() + id + "/" + phase + auditExt
}

// PostureReportsDir is the prefix of the posture reports written for
// auditors, with a trailing slash.
func (l Layout) PostureReportsDir() string { return l.AuditDir() + auditPostureDir + "/" }

// PostureReportKey is the key of the posture report id (its generation time,
// UTC, "20060102T150405Z", so reports list by date) in format ext (md,
// json, csv, html). A report is written once, under object lock, with its
// sha256 in the object's metadata.
func (l Layout) PostureReportKey(id, ext string) string {
	return l.PostureReportsDir() + id + "." + ext
}

// RedisDir is the prefix of every Redis snapshot, with a trailing slash.
func (l Layout) RedisDir() string { return l.Dir(FolderRedis) }

// RedisSnapshotKey is the key of Redis instance's snapshot id: its RDB
// file compressed with the codec whose extension is ext ("zst").
func (l Layout) RedisSnapshotKey(instance, id, ext string) string {
	return l.RedisDir() + instance + "/" + id + redisRDBExt + ext
}

// RedisManifestKey is the key of a Redis snapshot's manifest, written last.
func (l Layout) RedisManifestKey(instance, id string) string {
	return l.RedisDir() + instance + "/" + id + redisManExt
}

// RegionsDir is the prefix of every recovery region's objects, with a
// trailing slash.
func (l Layout) RegionsDir() string { return l.Dir(FolderRegions) }

// RegionDir is the prefix of recovery region name's objects, with a
// trailing slash.
func (l Layout) RegionDir(name string) string { return l.RegionsDir() + name + "/" }

// RegionConfigKey is where the provider writes recovery region name's copy
// configuration (signed) for the agent, in the source repository.
func (l Layout) RegionConfigKey(name string) string { return l.RegionDir(name) + regionConfigFile }

// RegionCanaryKey is recovery region name's canary: written in the source
// and copied like any object, its round trip is part of the measured lag.
func (l Layout) RegionCanaryKey(name string) string { return l.RegionDir(name) + regionCanaryFile }

// RegionActivationKey is where `lifeboat region activate` marks recovery
// region name active, in the region's own copy of the cluster's
// repository: until it exists an agent started there stands by (restores
// and drills only, none of the primary's backup schedules). Never copied
// from the source (the regions folder is not).
func (l Layout) RegionActivationKey(name string) string { return l.RegionDir(name) + regionActiveFile }

// RegionActivationPrefix is the prefix of every key of recovery region
// name's activation mark (RegionActivationKey and anything beside it named
// alike): the copy role's document denies writing below it.
func (l Layout) RegionActivationPrefix(name string) string {
	return l.RegionDir(name) + regionActivePre
}

// RegionIndexDir is the prefix of recovery region name's copy index
// segments (kept at the destination), with a trailing slash.
func (l Layout) RegionIndexDir(name string) string { return l.RegionDir(name) + regionIndexDir + "/" }

// RegionIndexKey is segment seq of recovery region name's copy index. NOTE:
// 20 digits, so segments sort lexically in a listing.
func (l Layout) RegionIndexKey(name string, seq uint64) string {
	return fmt.Sprintf("%s%020d%s", l.RegionIndexDir(name), seq, regionIndexExt)
}

// RequestsDir is the prefix of every request for host-side work (a
// restore, a teardown, a drill) the provider hands to the cluster's
// agents, with a trailing slash.
func (l Layout) RequestsDir() string { return l.Dir(FolderRequests) }

// RequestDir is the prefix of request id's objects, with a trailing slash.
func (l Layout) RequestDir(id string) string { return l.RequestsDir() + id + "/" }

// RequestKey is where request id is stated (by the provider, signed).
func (l Layout) RequestKey(id string) string { return l.RequestDir(id) + requestFile }

// RequestProgressKey is where the agent executing request id reports how
// far it got.
func (l Layout) RequestProgressKey(id string) string { return l.RequestDir(id) + progressFile }

// RequestResultKey is where request id's outcome is recorded, once: by the
// agent that executed it, or by the provider that withdrew it unclaimed.
func (l Layout) RequestResultKey(id string) string { return l.RequestDir(id) + resultFile }

// RequestAckKey is written by the provider once it has read request id's
// result into its state: a later identical request is new work.
func (l Layout) RequestAckKey(id string) string { return l.RequestDir(id) + ackFile }

// RequestLeaseJob is the lease job name under which an agent claims
// request id (its lease lives at LeaseDir(RequestLeaseJob(id))).
func (l Layout) RequestLeaseJob(id string) string { return "request-" + id }

// AgentsDir is the prefix of the agents' heartbeats, with a trailing slash.
func (l Layout) AgentsDir() string { return l.Dir(FolderAgents) }

// HeartbeatKey is where the agent on host publishes that it is alive.
func (l Layout) HeartbeatKey(host string) string { return l.AgentsDir() + host + heartbeatExt }

// RedisSchedulesDir is the prefix of every Redis snapshot schedule.
func (l Layout) RedisSchedulesDir() string { return l.Dir(FolderRedisSchedules) }

// RedisScheduleKey is where the provider's snapshot schedule of Redis
// instance lives (signed configuration the agent verifies).
func (l Layout) RedisScheduleKey(instance string) string {
	return l.RedisSchedulesDir() + instance + redisSchedExt
}

// Kind is the class of a repository object.
type Kind int

// Kinds of repository objects, as Parse reads them.
const (
	KindUnknown            Kind = iota
	KindClusterInfo             // cluster.json
	KindPolicy                  // policy.json
	KindWAL                     // wal/<timeline>/<file>.<ext>
	KindBackupObject            // basebackups/<id>/<object>
	KindBackupManifest          // basebackups/<id>/manifest.json
	KindTenantDump              // tenants/<db>/<id>.dump
	KindTenantManifest          // tenants/<db>/<id>.json
	KindDrillSchedule           // drills/<name>/schedule.json
	KindDrillEvidence           // drills/<name>/evidence/<id>.json
	KindLease                   // leases/<job>/<generation>.json
	KindJobRecord               // jobs/<job>/last.json
	KindRestorePlan             // restores/<id>.json
	KindRedisSnapshot           // redis/<instance>/<id>.rdb.<ext>
	KindRedisManifest           // redis/<instance>/<id>.json
	KindRegionConfig            // regions/<name>/config.json
	KindRegionCanary            // regions/<name>/canary.json
	KindRegionIndex             // regions/<name>/index/<seq>.json
	KindRequest                 // requests/<id>/request.json
	KindRequestProgress         // requests/<id>/progress.json
	KindRequestResult           // requests/<id>/result.json
	KindRequestAck              // requests/<id>/ack.json
	KindHeartbeat               // agents/<host>.json
	KindRestoreAudit            // audit/restores/<id>/<phase>.json
	KindRedisSchedule           // redis-schedules/<instance>.json
	KindPostureReport           // audit/posture/<id>.<ext>
	KindKeptReview              // restores/<id>.review.json
	KindRestorePointSchema      // restore-points/<name>/<database>.json
	KindDrillIndex              // jobs/drill-index.json
	KindRegionActivation        // regions/<name>/activation.json
	KindRegionStatus            // jobs/region-<name>.json
	KindWriterProbe             // jobs/writer-probe.json
	KindRegionCopyProbe         // jobs/copy-probe-<name>.json
	KindWALSettings             // wal-settings.json
)

var kindNames = [...]string{"unknown", "cluster identity", "policy", "WAL file", "base backup object",
	"base backup manifest", "tenant dump", "tenant dump manifest", "drill schedule", "drill evidence",
	"job lease", "job record", "kept restore plan", "Redis snapshot", "Redis snapshot manifest",
	"recovery region configuration", "recovery region canary", "recovery region copy index",
	"agent request", "agent request progress", "agent request result", "agent request acknowledgement", "agent heartbeat", "restore audit record", "Redis snapshot schedule",
	"posture report", "kept compatibility review", "restore point schema", "drill index", "recovery region activation", "recovery region copy status", "writer probe record",
	"recovery region copy probe record", "WAL archiving settings"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Data reports whether objects of kind k are backup data (base backups,
// tenant dumps, WAL), the only objects a lifecycle rule may expire.
func (k Kind) Data() bool {
	switch k {
	case KindWAL, KindBackupObject, KindBackupManifest, KindTenantDump, KindTenantManifest, KindRedisSnapshot, KindRedisManifest:
		return true
	}
	return false
}

// Key is a repository key, decoded by Layout.Parse. Only the fields of its
// Kind are set.
type Key struct {
	Kind Kind
	// Timeline (8 hex digits), Name (the WAL file name, without the codec
	// extension) and Ext (the codec's extension) of a WAL file.
	Timeline, Name, Ext string
	// RecipientSet is the id of the recipient set an encrypted WAL file is
	// encrypted to (see WALKeyEncrypted); "" when it is not encrypted.
	RecipientSet string
	// ID of a base backup, tenant dump, drill evidence or kept restore plan.
	ID string
	// Object is a base backup object's name below its backup's directory
	// ("base.tar.zst/000000", BackupPGManifest).
	Object string
	// Database of a tenant dump.
	Database string
	// Instance is a Redis snapshot's instance name (with ID and Ext).
	Instance string
	// Region is a recovery region's name (with Generation for an index
	// segment's sequence number).
	Region string
	// Drill is the drill schedule's name.
	Drill string
	// Request is the id of an agent request (its request, progress,
	// result or acknowledgement).
	Request string
	// Host is a heartbeat's host name.
	Host string
	// Job and Generation of a lease; Job of a job record.
	Job        string
	Generation uint64
	// Phase of a restore audit record (AuditStarted, AuditFinished), with ID.
	Phase string
}

// Parse decodes key, a key of this repository. ok is false for a key
// outside the repository or of no known kind (nothing Lifeboat writes).
func (l Layout) Parse(key string) (k Key, ok bool) {
	rest, ok := strings.CutPrefix(key, l.RootDir())
	if !ok {
		return Key{}, false
	}
	switch rest {
	case clusterInfoFile:
		return Key{Kind: KindClusterInfo}, true
	case policyFile:
		return Key{Kind: KindPolicy}, true
	case walSettingsFile:
		return Key{Kind: KindWALSettings}, true
	}
	folder, rest, _ := strings.Cut(rest, "/")
	parts := strings.Split(rest, "/")
	switch Folder(folder) {
	case FolderWAL:
		return parseWAL(parts)
	case FolderBaseBackups:
		// The object name may have folders of its own (archive parts).
		id, obj, found := strings.Cut(rest, "/")
		if !found || id == "" || obj == "" || strings.HasSuffix(obj, "/") {
			return Key{}, false
		}
		if obj == backupManifestFile {
			return Key{Kind: KindBackupManifest, ID: id}, true
		}
		return Key{Kind: KindBackupObject, ID: id, Object: obj}, true
	case FolderTenants:
		if len(parts) != 2 || parts[0] == "" {
			return Key{}, false
		}
		if id, ok := strings.CutSuffix(parts[1], tenantDumpExt); ok && id != "" {
			return Key{Kind: KindTenantDump, Database: parts[0], ID: id}, true
		}
		if id, ok := strings.CutSuffix(parts[1], tenantManExt); ok && id != "" {
			return Key{Kind: KindTenantManifest, Database: parts[0], ID: id}, true
		}
	case FolderDrills:
		switch {
		case len(parts) == 2 && parts[0] != "" && parts[1] == scheduleFile:
			return Key{Kind: KindDrillSchedule, Drill: parts[0]}, true
		case len(parts) == 3 && parts[0] != "" && parts[1] == evidenceDir:
			if id, ok := strings.CutSuffix(parts[2], ".json"); ok && id != "" {
				return Key{Kind: KindDrillEvidence, Drill: parts[0], ID: id}, true
			}
		}
	case FolderLeases:
		if len(parts) == 2 && parts[0] != "" {
			g, ok := strings.CutSuffix(parts[1], leaseExt)
			if gen, err := strconv.ParseUint(g, 10, 64); ok && err == nil {
				return Key{Kind: KindLease, Job: parts[0], Generation: gen}, true
			}
		}
	case FolderJobs:
		if len(parts) == 2 && parts[0] != "" && parts[1] == jobRecordFile {
			return Key{Kind: KindJobRecord, Job: parts[0]}, true
		}
		if len(parts) == 1 && parts[0] == drillIndexFile {
			return Key{Kind: KindDrillIndex}, true
		}
		if len(parts) == 1 && parts[0] == writerProbeFile {
			return Key{Kind: KindWriterProbe}, true
		}
		if len(parts) == 1 {
			if n, ok := strings.CutPrefix(parts[0], regionProbePre); ok {
				if name, ok := strings.CutSuffix(n, regionStatusExt); ok && name != "" {
					return Key{Kind: KindRegionCopyProbe, Region: name}, true
				}
			}
			if n, ok := strings.CutPrefix(parts[0], regionStatusPre); ok {
				if name, ok := strings.CutSuffix(n, regionStatusExt); ok && name != "" {
					return Key{Kind: KindRegionStatus, Region: name}, true
				}
			}
		}
	case FolderRestores:
		if len(parts) == 1 {
			if id, ok := strings.CutSuffix(parts[0], keptReviewExt); ok && id != "" {
				return Key{Kind: KindKeptReview, ID: id}, true
			}
			if id, ok := strings.CutSuffix(parts[0], restorePlanExt); ok && id != "" {
				return Key{Kind: KindRestorePlan, ID: id}, true
			}
		}
	case FolderRestorePoints:
		if len(parts) == 2 && parts[0] != "" {
			if db, ok := strings.CutSuffix(parts[1], pointSchemaExt); ok && db != "" {
				return Key{Kind: KindRestorePointSchema, ID: parts[0], Database: db}, true
			}
		}
	case FolderAudit:
		if len(parts) == 3 && parts[0] == auditRestoresDir && parts[1] != "" {
			if ph, ok := strings.CutSuffix(parts[2], auditExt); ok && (ph == AuditStarted || ph == AuditFinished) {
				return Key{Kind: KindRestoreAudit, ID: parts[1], Phase: ph}, true
			}
		}
		if len(parts) == 2 && parts[0] == auditPostureDir {
			if id, ext, ok := strings.Cut(parts[1], "."); ok && id != "" && ext != "" && !strings.Contains(ext, ".") {
				return Key{Kind: KindPostureReport, ID: id, Ext: ext}, true
			}
		}
	case FolderRedis:
		if len(parts) != 2 || parts[0] == "" {
			return Key{}, false
		}
		if id, ext, ok := strings.Cut(parts[1], redisRDBExt); ok && id != "" {
			if _, known := compression.ByExt(ext); known {
				return Key{Kind: KindRedisSnapshot, Instance: parts[0], ID: id, Ext: ext}, true
			}
		}
		if id, ok := strings.CutSuffix(parts[1], redisManExt); ok && id != "" && !strings.Contains(id, ".") {
			return Key{Kind: KindRedisManifest, Instance: parts[0], ID: id}, true
		}
	case FolderRegions:
		switch {
		case len(parts) == 2 && parts[0] != "" && parts[1] == regionConfigFile:
			return Key{Kind: KindRegionConfig, Region: parts[0]}, true
		case len(parts) == 2 && parts[0] != "" && parts[1] == regionCanaryFile:
			return Key{Kind: KindRegionCanary, Region: parts[0]}, true
		case len(parts) == 2 && parts[0] != "" && parts[1] == regionActiveFile:
			return Key{Kind: KindRegionActivation, Region: parts[0]}, true
		case len(parts) == 3 && parts[0] != "" && parts[1] == regionIndexDir:
			g, ok := strings.CutSuffix(parts[2], regionIndexExt)
			if seq, err := strconv.ParseUint(g, 10, 64); ok && err == nil {
				return Key{Kind: KindRegionIndex, Region: parts[0], Generation: seq}, true
			}
		}
	case FolderRequests:
		if len(parts) != 2 || parts[0] == "" {
			return Key{}, false
		}
		kind, ok := map[string]Kind{requestFile: KindRequest, progressFile: KindRequestProgress,
			resultFile: KindRequestResult, ackFile: KindRequestAck}[parts[1]]
		if ok {
			return Key{Kind: kind, Request: parts[0]}, true
		}
	case FolderAgents:
		if len(parts) == 1 {
			if host, ok := strings.CutSuffix(parts[0], heartbeatExt); ok && host != "" {
				return Key{Kind: KindHeartbeat, Host: host}, true
			}
		}
	case FolderRedisSchedules:
		if len(parts) == 1 {
			if inst, ok := strings.CutSuffix(parts[0], redisSchedExt); ok && inst != "" {
				return Key{Kind: KindRedisSchedule, Instance: inst}, true
			}
		}
	}
	return Key{}, false
}

// ParseWALKey decodes a WAL key of any repository by its last two
// segments ("<timeline>/<file>"), for readers handed a bare key; ok is
// false for anything else.
func ParseWALKey(key string) (Key, bool) {
	parts := strings.Split(key, "/")
	if len(parts) < 2 {
		return Key{}, false
	}
	return parseWAL(parts[len(parts)-2:])
}

// parseWAL reads "<timeline>/<name>.<ext>" below WALDir, or
// "<timeline>/<name>.<ext>.<set>.age" when encrypted: the timeline is 8
// hex digits, and ext must be a codec's, so a longer name sharing a prefix
// (a segment's .partial file) or a stray object is never taken for a file.
func parseWAL(parts []string) (Key, bool) {
	if len(parts) != 2 || !isHex8(parts[0]) {
		return Key{}, false
	}
	file, set := parts[1], ""
	if rest, ok := strings.CutSuffix(file, encryptedExt); ok {
		i := strings.LastIndexByte(rest, '.')
		if i <= 0 || !isLowerHex(rest[i+1:], 8) {
			return Key{}, false
		}
		file, set = rest[:i], rest[i+1:]
	}
	i := strings.LastIndexByte(file, '.')
	if i <= 0 {
		return Key{}, false
	}
	name, ext := file[:i], file[i+1:]
	if _, ok := compression.ByExt(ext); !ok {
		return Key{}, false
	}
	return Key{Kind: KindWAL, Timeline: parts[0], Name: name, Ext: ext, RecipientSet: set}, true
}

func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

func isHex8(s string) bool {
	if len(s) != 8 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789ABCDEF", c) {
			return false
		}
	}
	return true
}
