package posture

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/schedule"
)

// Control IDs.
const (
	ControlObjectLock       = "bucket.object_lock"
	ControlVersioning       = "bucket.versioning"
	ControlEncryption       = "bucket.encryption"
	ControlWriterNoDelete   = "bucket.writer_cannot_delete"
	ControlWALArchiving     = "wal.archiving"
	ControlArchiverFailures = "wal.archiver_failures"
	ControlBaseBackupAge    = "backup.newest_base_backup"
	ControlTenantDumps      = "backup.tenant_dumps"
	ControlWindow           = "backup.restorable_window"
	ControlVerification     = "backup.verification"
	ControlDrill            = "drill.last_passed"
	ControlRTO              = "drill.rto"
	ControlConfiguration    = "config.intact"
	ControlTenantDumpErrors = "backup.tenant_dump_failures"
	ControlDrillOnSchedule  = "drill.on_schedule"
	ControlDrillEvidence    = "drill.evidence_intact"
	ControlLifecycleSpares  = "config.lifecycle_spares_config"
)

// The standards groups controls share.
var (
	storageStandards = []Standard{ISO27001A813, SOC2A12, DORAArt12, NISTCP9, NIS2Art21c}
	backupStandards  = []Standard{ISO27001A813, SOC2A12, DORAArt12, NISTCP9, NIS2Art21c}
	windowStandards  = []Standard{ISO27001A813, SOC2A12, DORAArt12, NISTCP9, NISTCP10, NIS2Art21c}
	testStandards    = []Standard{ISO27001A813, ISO27001A530, SOC2A13, DORAArt12, NISTCP4, NISTCP10, NIS2Art21c}
)

// The core controls. A new family of controls goes in its own file with
// its own init calling register, so that families are added without
// touching this list.
func init() {
	register(
		Control{ID: ControlObjectLock, Title: "Object lock with a minimum default retention", Scope: ScopeBucket, Standards: storageStandards, Problem: "Object Lock Too Weak",
			Parameters: func(p Params) map[string]string {
				return map[string]string{"min_lock_days": strconv.Itoa(p.MinLockDays), "governance_accepted": strconv.FormatBool(p.AcceptGovernance)}
			},
			Evaluate: objectLock},
		Control{ID: ControlVersioning, Title: "Bucket versioning enabled", Scope: ScopeBucket, Standards: storageStandards, Problem: "Versioning Not Enabled", Evaluate: versioning},
		Control{ID: ControlEncryption, Title: "Encryption at rest by default", Scope: ScopeBucket, Standards: storageStandards, Problem: "Encryption At Rest Missing", Evaluate: encryption},
		Control{ID: ControlWriterNoDelete, Title: "The writer cannot delete or weaken protection", Scope: ScopeBucket, Standards: storageStandards, Problem: "Writer Can Weaken The Repository", Evaluate: writerNoDelete},
		Control{ID: ControlWALArchiving, Title: "WAL archiving active, lag within the RPO", Scope: ScopeCluster, Standards: backupStandards, Problem: "WAL Archive Lag Beyond RPO",
			Parameters: func(p Params) map[string]string { return map[string]string{"rpo": p.RPO.String()} },
			Evaluate:   walArchiving},
		Control{ID: ControlArchiverFailures, Title: "No archiver failure since the last success", Scope: ScopeCluster, Standards: backupStandards, Problem: "WAL Archiving Failing", Evaluate: archiverFailures},
		Control{ID: ControlBaseBackupAge, Title: "Newest base backup within its schedule", Scope: ScopeCluster, Standards: backupStandards, Problem: "Backup Overdue", Evaluate: baseBackupAge},
		Control{ID: ControlTenantDumps, Title: "Every declared tenant dumped within the schedule", Scope: ScopeCluster, Standards: backupStandards, Problem: "Tenant Dumps Overdue", Evaluate: tenantDumps},
		Control{ID: ControlTenantDumpErrors, Title: "The last scheduled backup dumped every declared tenant", Scope: ScopeCluster, Standards: backupStandards,
			Problem: "Tenant Dumps Failing", Evaluate: tenantDumpFailures},
		Control{ID: ControlWindow, Title: "Restorable window covers the required days", Scope: ScopeCluster, Standards: windowStandards, Problem: "Restorable Window Too Short",
			Parameters: func(p Params) map[string]string { return map[string]string{"window_days": strconv.Itoa(p.WindowDays)} },
			Evaluate:   window},
		Control{ID: ControlVerification, Title: "Last verification passed recently", Scope: ScopeCluster, Standards: backupStandards, Problem: "Backup Verification Failed",
			Parameters: func(p Params) map[string]string {
				return map[string]string{"verify_within_days": strconv.Itoa(p.VerifyWithinDays)}
			},
			Evaluate: verification},
		Control{ID: ControlDrill, Title: "Last restore drill passed recently", Scope: ScopeCluster, Standards: testStandards, Problem: "Last Drill Failed",
			Parameters: func(p Params) map[string]string {
				return map[string]string{"drill_within_days": strconv.Itoa(p.DrillWithinDays)}
			},
			Evaluate: lastDrill},
		Control{ID: ControlDrillOnSchedule, Title: "Every drill schedule ran its last slot", Scope: ScopeCluster, Standards: testStandards,
			Problem: "Drill Overdue", Evaluate: drillOnSchedule},
		Control{ID: ControlDrillEvidence, Title: "Drill evidence signed and never written over", Scope: ScopeCluster, Standards: testStandards,
			Problem: "Drill Evidence Not Intact",
			Parameters: func(p Params) map[string]string {
				return map[string]string{"signature_required": strconv.FormatBool(p.Trust.Required())}
			},
			Evaluate: drillEvidenceIntact},
		Control{ID: ControlRTO, Title: "Measured RTO within target", Scope: ScopeCluster, Standards: testStandards, Problem: "Drill Missed RTO Target",
			Parameters: func(p Params) map[string]string {
				if p.RTOTarget == 0 {
					return map[string]string{"rto_target": "the drill's own target"}
				}
				return map[string]string{"rto_target": p.RTOTarget.String()}
			},
			Evaluate: rto},
		Control{ID: ControlConfiguration, Title: "Configuration objects present and intact", Scope: ScopeCluster, Standards: backupStandards, Problem: "Configuration Missing Or Unsigned",
			Parameters: func(p Params) map[string]string {
				return map[string]string{"signature_required": strconv.FormatBool(p.Trust.Required())}
			},
			Evaluate: configuration},
		Control{ID: ControlLifecycleSpares, Title: "The bucket's lifecycle tiers spare the repository's configuration", Scope: ScopeCluster,
			Standards: backupStandards, Problem: "Lifecycle Tier Would Expire Repository Configuration", Evaluate: lifecycleSpares},
	)
}

func unknown(observed, remedy string) Finding {
	return Finding{Status: Unknown, Observed: observed, Remedy: remedy}
}

func bucketEvidence(o *Observation) []Evidence {
	return []Evidence{{Key: "s3://" + o.Bucket, Time: o.Now.UTC(), Note: "bucket configuration read"}}
}

func bucketUnreadable(o *Observation) (Finding, bool) {
	if o.BucketState != nil {
		return Finding{}, false
	}
	return unknown(fmt.Sprintf("bucket configuration unreadable: %v", o.BucketErr),
		"Give the report credentials that may read the bucket's object lock, versioning and encryption configuration."), true
}

// noJobRun is the finding of a control that judges the agent's last run
// of a job (r, read with err) when there is no run to judge: the record
// unreadable (problem) or never written (none says what is missing,
// remedy what to do). It reports false when r can be judged.
func noJobRun(th string, r *repo.JobRun, err error, problem, none, remedy string) (Finding, bool) {
	var f Finding
	switch {
	case err != nil:
		f = unknown(err.Error(), "Give the report credentials that may read the agent's job records.")
		f.Problem = problem
	case r == nil:
		f = unknown(none, remedy)
	default:
		return Finding{}, false
	}
	f.Threshold = th
	return f, true
}

func objectLock(o *Observation, _ *ClusterObservation, p Params) Finding {
	if f, bad := bucketUnreadable(o); bad {
		return f
	}
	st := o.BucketState
	f := Finding{Threshold: fmt.Sprintf("COMPLIANCE (or GOVERNANCE), at least %s", days(p.MinLockDays)), Evidence: bucketEvidence(o)}
	r := st.Spec.Retention
	switch {
	case !st.ObjectLockEnabled:
		f.Status, f.Observed, f.Problem = Fail, "object lock not enabled", "Object Lock Not Enabled"
		f.Remedy = "Recreate the repository as a lifeboat_immutable_bucket (object lock can only be enabled when a bucket is created) and move the backups into it."
	case r == nil:
		f.Status, f.Observed = Fail, "object lock enabled, no default retention"
		f.Remedy = "Set a default retention on the bucket (lifeboat_immutable_bucket retention block)."
	case int(r.Days) < p.MinLockDays:
		f.Status, f.Observed = Fail, fmt.Sprintf("%s, %s", r.Mode, days(int(r.Days)))
		f.Remedy = fmt.Sprintf("Raise the bucket's default retention to at least %s.", days(p.MinLockDays))
	case r.Mode != objectstore.ModeCompliance && !p.AcceptGovernance:
		f.Status, f.Observed = Warn, fmt.Sprintf("%s, %s", r.Mode, days(int(r.Days)))
		f.Remedy = "Switch the default retention to COMPLIANCE so that no account, not even an administrator, can shorten it."
	default:
		f.Status, f.Observed = Pass, fmt.Sprintf("%s, %s", r.Mode, days(int(r.Days)))
	}
	return f
}

func versioning(o *Observation, _ *ClusterObservation, _ Params) Finding {
	if f, bad := bucketUnreadable(o); bad {
		return f
	}
	f := Finding{Threshold: "Enabled", Observed: orNone(o.BucketState.Versioning), Evidence: bucketEvidence(o)}
	if o.BucketState.Versioning == "Enabled" {
		f.Status = Pass
	} else {
		f.Status = Fail
		f.Remedy = "Enable versioning on the bucket: without it an overwritten or deleted backup object is gone."
	}
	return f
}

func encryption(o *Observation, _ *ClusterObservation, _ Params) Finding {
	if f, bad := bucketUnreadable(o); bad {
		return f
	}
	f := Finding{Threshold: "default server-side encryption (AES256 or aws:kms)", Evidence: bucketEvidence(o)}
	if e := o.BucketState.Spec.Encryption; e != nil && e.Algorithm != "" {
		f.Status, f.Observed = Pass, e.Algorithm
		if e.KMSKeyID != "" {
			f.Observed += " (" + e.KMSKeyID + ")"
		}
	} else {
		f.Status, f.Observed = Fail, "none"
		f.Remedy = "Set default encryption on the bucket (lifeboat_immutable_bucket encryption block)."
	}
	return f
}

// probeStaleIntervals is how many probe intervals an agent's recorded
// probe may age before it no longer says what the keys can do now.
const probeStaleIntervals = 3

func writerNoDelete(o *Observation, _ *ClusterObservation, p Params) Finding {
	f := Finding{Threshold: "every forbidden action denied"}
	probe := o.Probe
	if probe == nil {
		// The report did not probe: judge what the agents recorded of
		// their own probes (their credentials, not the report's).
		merged := &access.Report{}
		var stale []string
		for _, pr := range o.ProbeRecords {
			r := pr.Record
			if pr.Err != nil {
				stale = append(stale, fmt.Sprintf("%s: %v", pr.Cluster, pr.Err))
				continue
			}
			f.Evidence = append(f.Evidence, Evidence{Key: pr.Key, Time: r.Ran, Note: fmt.Sprintf("writer probe of agent %s (cluster %s)%s", r.Holder, pr.Cluster, signedNote(p, r.Signer))})
			if p.Trust.Required() && r.Signer == "" {
				// Anyone who can write jobs/ could have written "all
				// denied": only the agent's signature says it probed.
				stale = append(stale, fmt.Sprintf("%s: probe record not signed by a trusted key (%v)", pr.Cluster, r.SignatureErr))
				continue
			}
			if every := time.Duration(r.IntervalSeconds * float64(time.Second)); every > 0 && o.Now.Sub(r.Ran) > probeStaleIntervals*every {
				stale = append(stale, fmt.Sprintf("%s: last probe %s ago (every %s)", pr.Cluster, o.Now.Sub(r.Ran).Truncate(time.Second), every))
				continue
			}
			merged.Results = append(merged.Results, r.Results...)
		}
		if len(merged.Results) == 0 {
			observed := "no writer probe was run"
			if len(stale) > 0 {
				observed = "no current writer probe: " + strings.Join(stale, "; ")
			}
			u := unknown(observed,
				"Run the writer probe (lifeboat_immutable_bucket writer_probe, or lifeboat agent's probe) with the agent's credentials.")
			u.Evidence = f.Evidence
			return u
		}
		probe = merged
	}
	var allowed, unsure []string
	destructive := false
	for _, r := range probe.Results {
		f.Evidence = append(f.Evidence, Evidence{Note: fmt.Sprintf("%s: %s %s %s", r.Check, r.Outcome, r.By, r.Detail)})
		switch r.Outcome {
		case access.Allowed:
			allowed = append(allowed, string(r.Check))
			if r.Check == access.CheckDeleteLockedVersion || r.Check == access.CheckBypassGovernance {
				destructive = true
			}
		case access.Unknown:
			unsure = append(unsure, string(r.Check))
		}
	}
	switch {
	case destructive:
		f.Status, f.Observed = Fail, "allowed: "+strings.Join(allowed, ", ")
		f.Remedy = "Give the agent the writer policy of lifeboat_access_policy: it must never delete versions or bypass governance retention."
	case len(allowed) > 0:
		f.Status, f.Observed = Fail, "allowed: "+strings.Join(allowed, ", ")
		f.Remedy = "Give the agent the writer policy of lifeboat_access_policy: it must not change lifecycle, retention, other clusters or its policy."
	case len(unsure) > 0:
		f.Status, f.Observed = Warn, "could not check: "+strings.Join(unsure, ", ")
		f.Remedy = "Rerun the probe where the writer can reach the bucket; the evidence says why each check could not be made."
	case len(probe.Results) == 0:
		return unknown("the writer probe ran no check", "Run the writer probe with the agent's credentials.")
	default:
		f.Status, f.Observed = Pass, fmt.Sprintf("%d of %d actions denied", len(probe.Results), len(probe.Results))
	}
	return f
}

// signedNote says which key signed a record, for evidence notes; nothing
// when no key is trusted (no signature is judged then).
func signedNote(p Params, signer string) string {
	if !p.Trust.Required() {
		return ""
	}
	if signer == "" {
		return ", not signed by a trusted key"
	}
	return ", signed by " + signer
}

func walArchiving(o *Observation, c *ClusterObservation, p Params) Finding {
	a := c.Archive
	th := "archive_mode on, oldest segment waiting <= " + p.RPO.String()
	if a == nil {
		f := unknown("no PostgreSQL connection given", "Give the report a connection to the cluster's server to read pg_stat_archiver.")
		f.Threshold = th
		if c.Window != nil && c.Window.LatestSegment != "" {
			f.Evidence = []Evidence{{Key: c.Window.LatestSegment, Time: c.Window.Latest, Note: "newest archived segment of the unbroken run"}}
		}
		return f
	}
	if a.Err != nil {
		f := unknown(a.Err.Error(), "Give the report a role that may read pg_settings and pg_ls_archive_statusdir (pg_monitor).")
		f.Threshold = th
		return f
	}
	st := a.State
	f := Finding{Threshold: th, Evidence: []Evidence{{Key: a.Server, Time: o.Now.UTC(),
		Note: fmt.Sprintf("archive_mode=%s archive_timeout=%s last archived %s at %s", st.Settings.ArchiveMode, st.Settings.ArchiveTimeout,
			orNone(st.Archiver.LastArchivedWAL), ts(st.Archiver.LastArchivedTime))}}}
	if st.Settings.ArchiveMode != "on" && st.Settings.ArchiveMode != "always" {
		f.Status, f.Observed, f.Problem = Fail, "archive_mode = "+orNone(st.Settings.ArchiveMode), "WAL Archiving Off"
		f.Remedy = "Declare lifeboat_wal_archive for this cluster (it sets archive_mode and archive_command) and restart PostgreSQL."
		return f
	}
	if a.Ready == 0 {
		f.Status, f.Observed = Pass, "no segment waiting"
		return f
	}
	wait := o.Now.Sub(a.OldestReady)
	f.Observed = fmt.Sprintf("%d segment(s) waiting, oldest for %s", a.Ready, wait.Truncate(time.Second))
	if wait > p.RPO {
		f.Status = Fail
		f.Remedy = "Find why archive_command is slow or failing (PostgreSQL's log, the object store): a failure now loses more than the RPO."
	} else {
		f.Status = Pass
	}
	return f
}

func archiverFailures(o *Observation, c *ClusterObservation, _ Params) Finding {
	a := c.Archive
	th := "no failed attempt newer than the last success"
	if a == nil || a.Err != nil {
		obs := "no PostgreSQL connection given"
		if a != nil {
			obs = a.Err.Error()
		}
		f := unknown(obs, "Give the report a connection to the cluster's server to read pg_stat_archiver.")
		f.Threshold = th
		return f
	}
	s := a.State.Archiver
	f := Finding{Threshold: th, Evidence: []Evidence{
		{Key: orNone(s.LastArchivedWAL), Time: s.LastArchivedTime, Note: "last archived (pg_stat_archiver)"},
	}}
	if s.FailedCount > 0 {
		f.Evidence = append(f.Evidence, Evidence{Key: s.LastFailedWAL, Time: s.LastFailedTime, Note: "last failed (pg_stat_archiver)"})
	}
	if s.Failing() {
		f.Status = Fail
		f.Observed = fmt.Sprintf("failing: %d failed attempts, the last for %s at %s after the last success at %s",
			s.FailedCount, s.LastFailedWAL, ts(s.LastFailedTime), ts(s.LastArchivedTime))
		f.Remedy = "Read PostgreSQL's log for archive_command's error and fix the object store access; PostgreSQL keeps the WAL and retries."
		return f
	}
	f.Status = Pass
	f.Observed = fmt.Sprintf("%d archived, %d failed attempts, none since the last success", s.ArchivedCount, s.FailedCount)
	return f
}

// policySchedule returns the policy's backup schedule, or a finding saying
// why it cannot be judged.
func policySchedule(c *ClusterObservation) (*schedule.Schedule, *Finding) {
	if c.PolicyErr != nil {
		f := unknown("no backup policy: "+c.PolicyErr.Error(), "Declare lifeboat_backup_policy for this cluster so backups have a schedule to be judged against.")
		if !errors.Is(c.PolicyErr, objectstore.ErrNotFound) {
			f.Remedy = "Fix the read of policy.json (see the observed error)."
		}
		return nil, &f
	}
	s, err := schedule.Parse(c.Policy.Schedule)
	if err != nil {
		f := unknown(fmt.Sprintf("policy schedule %q: %v", c.Policy.Schedule, err), "Rewrite the policy with a valid cron schedule.")
		return nil, &f
	}
	return s, nil
}

func baseBackupAge(o *Observation, c *ClusterObservation, _ Params) Finding {
	if c.CatalogErr != nil {
		return unknown("catalog unreadable: "+c.CatalogErr.Error(), "Give the report credentials that may list and read the repository.")
	}
	sched, bad := policySchedule(c)
	var last time.Time
	var ev []Evidence
	if n := len(c.Catalog.Physical); n > 0 {
		m := c.Catalog.Physical[n-1]
		last = m.StopTime
		ev = append(ev, Evidence{Key: c.Layout.BackupManifestKey(m.ID), Time: m.StopTime, Note: "newest complete base backup " + m.ID})
	}
	if bad != nil {
		bad.Evidence = ev
		if !last.IsZero() {
			bad.Observed = fmt.Sprintf("newest base backup %s old; %s", age(o.Now, last), bad.Observed)
		}
		return *bad
	}
	due, overdue := sched.Overdue(c.Policy.Created, last, o.Now)
	f := Finding{Evidence: ev, Threshold: fmt.Sprintf("a backup for every slot of %q (max gap %s)", c.Policy.Schedule, sched.MaxGap())}
	switch {
	case last.IsZero():
		f.Observed = "no complete base backup"
	default:
		f.Observed = fmt.Sprintf("%s old (%s)", age(o.Now, last), ts(last))
	}
	if overdue {
		f.Status = Fail
		f.Remedy = fmt.Sprintf("The backup due at %s is missing: check that lifeboat agent runs against this repository and why its backups fail.", ts(due))
	} else {
		f.Status = Pass
	}
	return f
}

func tenantDumps(o *Observation, c *ClusterObservation, _ Params) Finding {
	if c.CatalogErr != nil {
		return unknown("catalog unreadable: "+c.CatalogErr.Error(), "Give the report credentials that may list and read the repository.")
	}
	sched, bad := policySchedule(c)
	if bad != nil {
		return *bad
	}
	if len(c.Policy.TenantDatabases) == 0 {
		return unknown("the policy declares no tenant database",
			"Declare tenant_databases in lifeboat_backup_policy if tenants must be restorable one by one.")
	}
	newest := map[string]time.Time{}
	keys := map[string]Evidence{}
	for _, t := range c.Catalog.Tenant {
		if t.StopTime.After(newest[t.Database]) {
			newest[t.Database] = t.StopTime
			keys[t.Database] = Evidence{Key: c.Layout.TenantManifestKey(t.Database, t.ID), Time: t.StopTime, Note: "newest dump of " + t.Database}
		}
	}
	dbs := append([]string(nil), c.Policy.TenantDatabases...)
	sort.Strings(dbs)
	f := Finding{Threshold: fmt.Sprintf("a dump of every declared tenant for every slot of %q", c.Policy.Schedule)}
	var late []string
	dumped := 0
	for _, db := range dbs {
		if ev, ok := keys[db]; ok {
			f.Evidence = append(f.Evidence, ev)
			dumped++
		}
		if _, overdue := sched.Overdue(c.Policy.Created, newest[db], o.Now); overdue {
			if newest[db].IsZero() {
				late = append(late, db+" (never)")
			} else {
				late = append(late, fmt.Sprintf("%s (%s old)", db, age(o.Now, newest[db])))
			}
		}
	}
	if len(late) > 0 {
		f.Status = Fail
		f.Observed = fmt.Sprintf("%d of %d tenants overdue: %s", len(late), len(dbs), strings.Join(late, ", "))
		f.Remedy = "Read the agent's last backup record for each tenant's dump error, fix the database or remove it from tenant_databases."
		return f
	}
	f.Status = Pass
	f.Observed = fmt.Sprintf("%d of %d tenants have a dump, none overdue", dumped, len(dbs))
	return f
}

func window(o *Observation, c *ClusterObservation, p Params) Finding {
	th := fmt.Sprintf("restorable from at least %s ago", days(p.WindowDays))
	if c.WindowErr != nil {
		f := unknown("window unreadable: "+c.WindowErr.Error(), "Give the report credentials that may list and read the repository.")
		f.Threshold = th
		return f
	}
	w := c.Window
	f := Finding{Threshold: th}
	if !w.Restorable {
		f.Status, f.Observed = Fail, "not restorable: no base backup has all the WAL it needs"
		f.Remedy = "Take a base backup (lifeboat backup) with WAL archiving active, and keep its WAL."
		return f
	}
	f.Evidence = []Evidence{
		{Key: c.Layout.BackupManifestKey(w.FromBackup), Time: w.Earliest, Note: "oldest usable base backup " + w.FromBackup},
		{Key: or(c.LatestWALKey, w.LatestSegment), Time: w.Latest, Note: "last WAL segment of the unbroken run, " + w.LatestSegment},
	}
	span := w.Latest.Sub(w.Earliest)
	f.Observed = fmt.Sprintf("%s to %s (%.1f days)", ts(w.Earliest), ts(w.Latest), span.Hours()/24)
	need := o.Now.Add(-time.Duration(p.WindowDays) * 24 * time.Hour)
	switch {
	case w.Earliest.After(need):
		f.Status = Fail
		f.Remedy = fmt.Sprintf("Keep base backups and WAL for at least %s (retention days of lifeboat_backup_policy, lock days of the bucket).", days(p.WindowDays))
	case w.Truncated():
		f.Status, f.Problem = Warn, "Restorable Window Cut By A WAL Gap"
		f.Observed += fmt.Sprintf("; a WAL gap cuts it short before %s", w.NewestSegment)
		f.Remedy = "Take a new base backup: WAL after the gap is unusable until then."
	default:
		f.Status = Pass
	}
	return f
}

func verification(o *Observation, c *ClusterObservation, p Params) Finding {
	th := fmt.Sprintf("passed within %s", days(p.VerifyWithinDays))
	r := c.VerifyRun
	if f, none := noJobRun(th, r, c.VerifyErr, "Verification Record Unreadable", "the agent has recorded no verification",
		"Set verify_schedule in lifeboat_backup_policy so the agent verifies the newest backup by content."); none {
		return f
	}
	f := Finding{Threshold: th, Evidence: []Evidence{{Key: c.Layout.JobRecordKey(repo.JobVerify), Time: r.Finished,
		Note: fmt.Sprintf("%s by %s: %s%s", r.Result, r.Holder, r.Output, r.Error)}}}
	f.Observed = fmt.Sprintf("%s %s ago", r.Result, age(o.Now, r.Finished))
	switch {
	case r.Result != repo.JobSuccess:
		f.Status = Fail
		f.Observed += ": " + r.Error
		f.Remedy = "Run lifeboat verify on the newest backup for the full report, and take a new base backup: a restore that reads these objects would fail."
	case o.Now.Sub(r.Finished) > time.Duration(p.VerifyWithinDays)*24*time.Hour:
		f.Status, f.Problem = Fail, "Verification Overdue"
		f.Remedy = "Check that lifeboat agent runs and that verify_schedule fires at least as often as required."
	default:
		f.Status = Pass
	}
	return f
}

// newestDrill is the newest evidence of a cluster's schedules.
func newestDrill(c *ClusterObservation) (*DrillObservation, []string) {
	var best *DrillObservation
	var errs []string
	for i := range c.Drills {
		d := &c.Drills[i]
		if d.Err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", d.Schedule.Name, d.Err))
			continue
		}
		if d.Latest != nil && (best == nil || d.Latest.Finished.After(best.Latest.Finished)) {
			best = d
		}
	}
	return best, errs
}

func drillEvidence(d *DrillObservation) Evidence {
	ev := d.Latest
	return Evidence{Key: ev.Key, Time: ev.Finished, Note: fmt.Sprintf("drill %s of schedule %s", ev.ID, d.Schedule.Name)}
}

func lastDrill(o *Observation, c *ClusterObservation, p Params) Finding {
	th := fmt.Sprintf("passed within %s", days(p.DrillWithinDays))
	if c.DrillsErr != nil {
		f := unknown("drill schedules unreadable: "+c.DrillsErr.Error(), "Give the report credentials that may read the repository's drills.")
		f.Threshold = th
		return f
	}
	f := Finding{Threshold: th}
	if len(c.Drills) == 0 {
		f.Status, f.Observed, f.Problem = Fail, "no drill schedule", "No Drill Schedule"
		f.Remedy = "Declare lifeboat_drill_schedule for this cluster: a backup never restored is not known to restore."
		return f
	}
	best, errs := newestDrill(c)
	if best == nil {
		if len(errs) > 0 {
			f := unknown("drill evidence unreadable: "+strings.Join(errs, "; "), "Give the report credentials that may read drill evidence versions.")
			f.Threshold, f.Problem = th, "Drill Evidence Unreadable"
			return f
		}
		f.Status, f.Observed, f.Problem = Fail, "no drill has run", "No Drill Has Run"
		f.Remedy = "Check that lifeboat agent runs the drill schedules, or apply with run_on_apply."
		return f
	}
	ev := best.Latest
	f.Evidence = []Evidence{drillEvidence(best)}
	f.Observed = fmt.Sprintf("%s %s ago", map[bool]string{true: "passed", false: "failed"}[ev.Passed], age(o.Now, ev.Finished))
	switch {
	case !ev.Passed:
		f.Status = Fail
		fails := ev.FailedChecks()
		if ev.Error != "" {
			fails = append(fails, "restore: "+ev.Error)
		}
		f.Observed += ": " + strings.Join(fails, "; ")
		f.Remedy = "Read the drill's evidence for the failed checks, fix the backup or the checks, and run the drill again."
	case o.Now.Sub(ev.Finished) > time.Duration(p.DrillWithinDays)*24*time.Hour:
		f.Status, f.Problem = Fail, "Last Passed Drill Too Old"
		f.Remedy = "Check that lifeboat agent runs the drill schedule at least as often as required."
	default:
		f.Status = Pass
	}
	return f
}

func rto(o *Observation, c *ClusterObservation, p Params) Finding {
	best, _ := newestDrill(c)
	if best == nil {
		return unknown("no drill evidence", "Run a drill with an rto_target so the restore time is measured.")
	}
	ev := best.Latest
	target := p.RTOTarget
	if target == 0 {
		target = time.Duration(ev.RTOTargetSeconds * float64(time.Second))
	}
	if target == 0 {
		target = time.Duration(best.Schedule.RTOTargetSeconds * float64(time.Second))
	}
	if target == 0 {
		f := unknown(fmt.Sprintf("%.0fs measured, no target", ev.RTOSeconds), "Set rto_target on lifeboat_drill_schedule (or give the report a target).")
		f.Evidence = []Evidence{drillEvidence(best)}
		return f
	}
	f := Finding{Threshold: "<= " + target.String(), Evidence: []Evidence{drillEvidence(best)},
		Observed: (time.Duration(ev.RTOSeconds * float64(time.Second))).Truncate(time.Second).String()}
	if ev.RTOSeconds > target.Seconds() {
		f.Status = Fail
		f.Remedy = "Restore faster (parallel restore, smaller base backups, more frequent backups so less WAL replays) or revise the RTO target with the business."
	} else {
		f.Status = Pass
	}
	if !ev.Passed {
		f.Observed += " (drill failed: the RTO is of a restore that did not pass its checks)"
		if f.Status != Fail {
			f.Status, f.Problem = Fail, "RTO Not Measured On A Passing Drill"
			f.Remedy = "A failed drill has no valid RTO: fix the drill first."
		}
	}
	return f
}

func configuration(o *Observation, c *ClusterObservation, p Params) Finding {
	f := Finding{Threshold: "policy.json and drill schedules present"}
	if p.Trust.Required() {
		f.Threshold += ", signed by a trusted key"
	}
	if c.PolicyErr != nil {
		if errors.Is(c.PolicyErr, objectstore.ErrNotFound) {
			f.Status, f.Observed = Fail, "policy.json missing"
			f.Remedy = "Declare lifeboat_backup_policy for this cluster: without policy.json the agent schedules nothing."
			return f
		}
		f.Status, f.Observed = Fail, "policy.json unreadable: "+c.PolicyErr.Error()
		f.Remedy = "Rewrite policy.json by applying lifeboat_backup_policy; check who changed it."
		return f
	}
	f.Evidence = append(f.Evidence, Evidence{Key: c.Layout.PolicyKey(), Version: c.PolicyObject.VersionID, Time: c.PolicyObject.LastModified,
		Note: "signer: " + orNone(c.PolicySigner)})
	var bad []string
	if p.Trust.Required() && c.PolicySigner == "" {
		bad = append(bad, "policy.json not signed by a trusted key")
	}
	for _, d := range c.Drills {
		f.Evidence = append(f.Evidence, Evidence{Key: c.Layout.DrillScheduleKey(d.Schedule.Name), Time: d.Schedule.Updated, Note: "signer: " + orNone(d.Signer)})
		if p.Trust.Required() && d.Signer == "" {
			bad = append(bad, "drill schedule "+d.Schedule.Name+" not signed by a trusted key")
		}
	}
	if c.DrillsErr != nil {
		bad = append(bad, "drill schedules unreadable: "+c.DrillsErr.Error())
	}
	if len(bad) > 0 {
		f.Status, f.Observed = Fail, strings.Join(bad, "; ")
		f.Remedy = "Apply the configuration again with the provider's signing_key, and find out who wrote the unsigned objects."
		return f
	}
	f.Status = Pass
	f.Observed = fmt.Sprintf("policy.json and %d drill schedule(s) present", len(c.Drills))
	if p.Trust.Required() {
		f.Observed += ", all signed"
	}
	return f
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func tenantDumpFailures(o *Observation, c *ClusterObservation, _ Params) Finding {
	th := "no tenant dump failed in the agent's last scheduled backup"
	r := c.BackupRun
	if f, none := noJobRun(th, r, c.BackupRunErr, "Backup Job Record Unreadable", "the agent has recorded no scheduled backup",
		"Check that lifeboat agent runs against this repository."); none {
		return f
	}
	f := Finding{Threshold: th, Evidence: []Evidence{{Key: c.Layout.JobRecordKey(repo.JobBackup), Time: r.Finished,
		Note: fmt.Sprintf("%s by %s", r.Result, r.Holder)}}}
	if len(r.TenantFailures) == 0 {
		f.Status = Pass
		f.Observed = fmt.Sprintf("the backup of %s dumped every tenant", ts(r.Finished))
		return f
	}
	dbs := make([]string, 0, len(r.TenantFailures))
	for db := range r.TenantFailures {
		dbs = append(dbs, db)
	}
	sort.Strings(dbs)
	var lines []string
	for _, db := range dbs {
		lines = append(lines, fmt.Sprintf("%s: %s", db, r.TenantFailures[db]))
	}
	f.Status = Fail
	f.Observed = fmt.Sprintf("the scheduled backup at %s (agent %s) could not dump %d tenant database(s): %s",
		ts(r.Finished), r.Holder, len(dbs), strings.Join(lines, "; "))
	f.Remedy = "Every other tenant was dumped: fix these databases, or remove them from tenant_databases."
	return f
}

func drillOnSchedule(o *Observation, c *ClusterObservation, _ Params) Finding {
	th := "a drill for every slot of each drill schedule"
	if c.DrillsErr != nil {
		f := unknown("drill schedules unreadable: "+c.DrillsErr.Error(), "Give the report credentials that may read the repository's drills.")
		f.Threshold = th
		return f
	}
	if len(c.Drills) == 0 {
		f := unknown("no drill schedule", "Declare lifeboat_drill_schedule for this cluster.")
		f.Threshold = th
		return f
	}
	f := Finding{Threshold: th}
	var late, unsure []string
	for _, d := range c.Drills {
		if d.Err != nil {
			unsure = append(unsure, fmt.Sprintf("%s: %v", d.Schedule.Name, d.Err))
			continue
		}
		sched, err := schedule.Parse(d.Schedule.Schedule)
		if err != nil {
			unsure = append(unsure, fmt.Sprintf("%s: schedule %q: %v", d.Schedule.Name, d.Schedule.Schedule, err))
			continue
		}
		var last time.Time
		if d.Latest != nil {
			last = d.Latest.Finished
			f.Evidence = append(f.Evidence, drillEvidence(&d))
		}
		if due, overdue := sched.Overdue(d.Schedule.Created, last, o.Now); overdue {
			lastS := "none"
			if !last.IsZero() {
				lastS = ts(last)
			}
			late = append(late, fmt.Sprintf("drill %q was due at %s by schedule %q, its last drill is %s", d.Schedule.Name, ts(due), d.Schedule.Schedule, lastS))
		}
	}
	switch {
	case len(late) > 0:
		f.Status, f.Observed = Fail, strings.Join(late, "; ")
		f.Remedy = "Check that lifeboat agent runs against this repository and why its drills do not run."
	case len(unsure) > 0:
		f.Status, f.Observed = Unknown, strings.Join(unsure, "; ")
		f.Remedy = "Give the report credentials that may read drill evidence versions, and fix the schedules."
	default:
		f.Status, f.Observed = Pass, fmt.Sprintf("%d drill schedule(s), none overdue", len(c.Drills))
	}
	return f
}

func drillEvidenceIntact(o *Observation, c *ClusterObservation, p Params) Finding {
	th := "no version written over the drill evidence"
	if p.Trust.Required() {
		th += ", signed by a trusted key"
	}
	f := Finding{Threshold: th}
	var unsigned, overwritten []string
	n := 0
	for i := range c.Drills {
		d := &c.Drills[i]
		if d.Latest == nil {
			continue
		}
		n++
		f.Evidence = append(f.Evidence, drillEvidence(d))
		if p.Trust.Required() && d.EvidenceSigner == "" {
			unsigned = append(unsigned, d.Latest.Key)
		}
		if d.Latest.LaterVersions > 0 {
			overwritten = append(overwritten, fmt.Sprintf("%s (%d later version(s))", d.Latest.Key, d.Latest.LaterVersions))
		}
	}
	var bad []string
	if len(unsigned) > 0 {
		bad = append(bad, "not signed by a trusted key: "+strings.Join(unsigned, ", "))
		f.Problem = "Drill Evidence Signature Not Verified"
		f.Remedy = "Give the agent a signing key whose public half is trusted, so evidence cannot be forged by whoever can write the bucket; check who wrote it."
	}
	if len(overwritten) > 0 {
		bad = append(bad, "written over after the drill: "+strings.Join(overwritten, ", "))
		f.Problem = "Drill Evidence Overwritten"
		f.Remedy = "Find out who wrote over the locked evidence; the values judged come from the original, locked version."
	}
	switch {
	case len(bad) == 2:
		f.Status, f.Observed, f.Problem = Warn, strings.Join(bad, "; "), ""
	case len(bad) == 1:
		f.Status, f.Observed = Warn, bad[0]
	case n == 0:
		f.Status, f.Observed = Unknown, "no drill evidence"
		f.Remedy = "Run a drill (lifeboat_drill_schedule with run_on_apply, or lifeboat agent)."
	default:
		f.Status, f.Observed = Pass, fmt.Sprintf("%d evidence object(s) intact", n)
	}
	return f
}

func lifecycleSpares(o *Observation, c *ClusterObservation, _ Params) Finding {
	th := "no lifecycle tier expires " + c.Layout.RootDir() + " outside its data folders"
	if f, bad := bucketUnreadable(o); bad {
		f.Threshold = th
		return f
	}
	f := Finding{Threshold: th, Evidence: bucketEvidence(o)}
	if bad := ExpiringConfig(c.Layout, o.BucketState.Spec.Lifecycle); len(bad) > 0 {
		f.Status, f.Observed = Fail, "tiers "+strings.Join(bad, ", ")
		f.Remedy = ExpiringConfigDetail(o.Bucket, c.Layout, bad)
		return f
	}
	f.Status = Pass
	f.Observed = fmt.Sprintf("%d bucket tier(s), none reaching the configuration", len(o.BucketState.Spec.Lifecycle))
	return f
}

// ExpiringConfig names the tiers among tiers (the bucket's own lifecycle
// rules, not the ones a backup policy owns) whose expiration would reach
// objects of the repository at l that are not backup data: policy.json,
// cluster.json, drill schedules and evidence, leases, job records. The
// agent stops without them, so such a tier is refused where it is declared
// and failed where it is found.
func ExpiringConfig(l repo.Layout, tiers []objectstore.LifecycleTier) []string {
	var out []string
	for _, t := range tiers {
		if t.ExpirationDays == 0 {
			continue // noncurrent versions only: the current objects stay
		}
		if ps, err := l.LifecyclePrefixes(t.Prefix); err != nil || len(ps) != 1 || ps[0] != t.Prefix {
			out = append(out, fmt.Sprintf("%q (prefix %q)", t.Name, t.Prefix))
		}
	}
	return out
}

// ExpiringConfigDetail says what ExpiringConfig found and what to do.
func ExpiringConfigDetail(bucket string, l repo.Layout, bad []string) string {
	return fmt.Sprintf("Bucket %q has lifecycle tier(s) %s that would expire objects of repository %s that are not backup data "+
		"(policy.json, cluster.json, drill schedules and evidence, leases, job records): the agent would stop without them. "+
		"Give those tiers a prefix outside the repository or inside its data folders (%s).",
		bucket, strings.Join(bad, ", "), l.RootDir(), strings.Join(l.DataPrefixes(), ", "))
}

// or is s, or def when s is empty.
func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
