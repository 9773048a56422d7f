package agentd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/catalog"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/pg"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/progress"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// backupJob turns the policy into the scheduled backup job.
func (d *Daemon) backupJob(p *repo.Policy) (*job, error) {
	if p.Cluster != "" && p.Cluster != d.layout.Cluster {
		return nil, fmt.Errorf("policy is for cluster %q, this agent serves %q", p.Cluster, d.layout.Cluster)
	}
	if p.Schedule == "" {
		return nil, errors.New("policy has no schedule")
	}
	s, err := d.parseSchedule(p.Schedule)
	if err != nil {
		return nil, err
	}
	j := &job{name: BackupJob, sched: s, run: func(ctx context.Context, _ time.Time) (string, error) {
		return d.backupFn(ctx, p)
	}, since: p.Created}
	if j.since.IsZero() {
		j.since, j.sinceUntilFirstRun = d.firstSawPolicy(), true
	}
	return j, nil
}

// firstSawPolicy is when this agent first read a policy.
func (d *Daemon) firstSawPolicy() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.policySeen.IsZero() {
		d.policySeen = d.cfg.Now().UTC()
	}
	return d.policySeen
}

// backup is one scheduled backup: a base backup, the policy's tenant
// dumps, then retention. Retention runs only after a new base backup is
// complete, and leaves incomplete backups younger than PruneGrace alone.
// Every tenant is attempted (a failed one twice); when only tenant dumps
// failed, the run fails without a retry of the slot (FinalError), naming
// them.
func (d *Daemon) backup(ctx context.Context, p *repo.Policy) (string, error) {
	dsn := d.dsn(p)
	log := d.log.With("job", BackupJob)
	recipients, err := repo.BackupRecipients(d.cfg.Agent, p)
	if err != nil {
		return "", err
	}
	m, err := backup.Take(ctx, d.cfg.Store, backup.Options{
		Layout: d.layout, DSN: dsn, Compression: cmp.Or(d.cfg.Backup.Compression, p.Compression, d.cfg.Agent.Compression),
		PartSize: d.cfg.Backup.PartSize, MaxRate: d.cfg.Backup.MaxRate, Workers: d.cfg.Backup.Workers, Recipients: recipients,
		Progress: throttledProgress(log, 30*time.Second),
	})
	if err != nil {
		return "", fmt.Errorf("base backup: %w", err)
	}
	d.setBackupMetrics(m)
	out := []string{"backup " + m.ID}
	log.Info("base backup complete", "backup", m.ID, "stored_bytes", m.StoredSize,
		"duration", m.StopTime.Sub(m.StartTime), "lsn", m.StartLSN+".."+m.StopLSN)

	var errs []error
	var tenantErr error
	if len(p.TenantDatabases) > 0 {
		pgDump := d.cfg.PGDump
		if pgDump == "" {
			pgDump = pg.Program("pg_dump")
		}
		opts := backup.TenantOptions{Layout: d.layout, DSN: dsn, PGDump: pgDump, Recipients: recipients,
			Parallelism: p.TenantDumpParallelism, Progress: throttledProgress(log, 30*time.Second)}
		results, err := backup.DumpTenants(ctx, d.cfg.Store, opts, p.TenantDatabases)
		// The failed tenants get one more attempt once the others are done:
		// a passing failure (a connection limit, a lock) then costs no dump,
		// and a tenant that keeps failing (a dropped database) does not make
		// the slot run again as a whole, base backup included.
		var tde *backup.TenantDumpError
		if errors.As(err, &tde) && ctx.Err() == nil {
			log.Warn("retrying failed tenant dumps", "databases", strings.Join(tde.Databases(), ","))
			retried, rerr := backup.DumpTenants(ctx, d.cfg.Store, opts, tde.Databases())
			byDB := map[string]backup.TenantResult{}
			for _, r := range retried {
				byDB[r.Database] = r
			}
			for i, r := range results {
				if again, ok := byDB[r.Database]; ok {
					results[i] = again
				}
			}
			err = rerr
		}
		for _, r := range results {
			if r.Err != nil {
				d.m.TenantDumpFailures.WithLabelValues(r.Database).Set(1)
				log.Error("tenant dump failed", "database", r.Database, "err", r.Err)
				continue
			}
			d.m.TenantDumpFailures.WithLabelValues(r.Database).Set(0)
			out = append(out, "tenant "+r.Database+"/"+r.Manifest.ID)
		}
		if err != nil {
			tenantErr = fmt.Errorf("tenant dumps: %w", err)
		}
	}
	if ctx.Err() != nil {
		return strings.Join(out, ", "), errors.Join(append(errs, tenantErr, ctx.Err())...)
	}
	grace := d.cfg.PruneGrace
	if grace == 0 {
		grace = catalog.DefaultGrace
	}
	res, err := catalog.Prune(ctx, d.cfg.Store, d.layout, catalog.PruneOptions{
		FullCount: p.Retention.FullCount, Days: p.Retention.Days, Grace: grace,
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("prune: %w", err))
	}
	if res != nil {
		log.Info("prune complete", "deleted", res.Deleted, "tenant_deleted", res.TenantDeleted,
			"incomplete_deleted", res.Incomplete, "wal_deleted", res.WALDeleted, "kept", len(res.Kept),
			"locked", len(res.Locked), "waiting_for_lock", len(res.Waiting), "wal_waiting_for_lock", res.WALWaiting)
		if len(res.Deleted)+len(res.Incomplete)+len(res.TenantDeleted) > 0 {
			out = append(out, fmt.Sprintf("pruned %d", len(res.Deleted)+len(res.Incomplete)+len(res.TenantDeleted)))
		}
	}
	if tenantErr != nil && len(errs) == 0 {
		// Every tenant was tried twice, and the base backup and retention
		// succeeded: retrying the slot would only take another base backup.
		return strings.Join(out, ", "), &FinalError{Err: tenantErr}
	}
	return strings.Join(out, ", "), errors.Join(append(errs, tenantErr)...)
}

func (d *Daemon) setBackupMetrics(m *backup.Manifest) {
	c := d.layout.Cluster
	d.m.BackupLastSuccess.WithLabelValues(c).Set(float64(m.StopTime.UnixNano()) / 1e9)
	d.m.BackupDuration.WithLabelValues(c).Set(m.StopTime.Sub(m.StartTime).Seconds())
	d.m.BackupBytes.WithLabelValues(c).Set(float64(m.StoredSize))
}

// dsn is the configured connection string, or one built from the policy's
// postgres block (which never holds a password: libpq's PGPASSWORD or
// ~/.pgpass supply it).
func (d *Daemon) dsn(p *repo.Policy) string {
	if d.cfg.DSN != "" || p == nil {
		return d.cfg.DSN
	}
	var kv []string
	add := func(k, v string) {
		if v != "" {
			kv = append(kv, k+"="+quoteDSN(v))
		}
	}
	add("host", p.Postgres.Host)
	if p.Postgres.Port != 0 {
		add("port", strconv.Itoa(p.Postgres.Port))
	}
	add("user", p.Postgres.User)
	add("dbname", p.Postgres.DBName)
	add("sslmode", p.Postgres.SSLMode)
	return strings.Join(kv, " ")
}

// quoteDSN quotes a key=value connection string value the way libpq reads it.
func quoteDSN(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// throttledProgress logs a backup's progress at most once per interval,
// and every backup's (or tenant dump's) end.
func throttledProgress(log *slog.Logger, every time.Duration) func(backup.Progress) {
	ended := func(pr backup.Progress) string {
		if pr.Phase == "done" {
			return "done " + pr.Database + "/" + pr.ID
		}
		return ""
	}
	return progress.Throttle(every, ended, func(pr backup.Progress) {
		log.Info("backup progress", "backup", pr.ID, "database", pr.Database, "phase", pr.Phase,
			"read_bytes", pr.Read, "stored_bytes", pr.Stored, "elapsed", pr.Elapsed.Round(time.Second))
	})
}

// ErrNoPolicy means a backup was asked for and the repository holds no
// backup policy for the cluster.
var ErrNoPolicy = errors.New("no backup policy in the repository")

// BackupRequest is a "backup now" as BackupNow takes it.
type BackupRequest struct {
	// ID is the request's id ("" for none): the run record names it, so
	// an agent that takes the request over after its first holder lost
	// its claim finds the backup already taken instead of taking another.
	ID string
	// Waiting, when set, is told (at most every BackupWaitReport) what the
	// request waits for while another backup of the cluster runs.
	Waiting func(detail string)
}

// BackupWaitReport is how often BackupNow logs (and tells
// BackupRequest.Waiting) that it still waits for a running backup.
const BackupWaitReport = 10 * time.Second

// BackupNow takes one backup as the policy in the repository declares it
// (read now, and refused unless signed by a trusted key, as the schedule
// is): base backup, tenant dumps, then retention. It is what a "backup
// now" request runs on this host.
//
// It runs under the backup job's lease, the one the schedule takes, so a
// requested and a scheduled backup never run at once on any agent of the
// cluster: while another holds it, BackupNow waits (polling, logging every
// BackupWaitReport) until it is released or expires, for as long as ctx
// allows. The request's own claim is renewed meanwhile, so the provider
// keeps waiting for a claimed request (bounded by its apply timeout).
//
// A backup now counts for the schedule's current slot: it is recorded as
// the backup job's run of that slot (naming req.ID), so the scheduler does
// not take another backup right after it; the policy's next backup is at
// the next slot. A run of req.ID recorded already (by an agent that lost
// its claim on the request after its backup was complete) is returned as
// it is, without another backup. A failure is recorded only when final (a
// tenant dump failed after the base backup was taken); any other failure
// leaves the slot as it was, due when it was.
func (d *Daemon) BackupNow(ctx context.Context, req BackupRequest) (string, error) {
	p, err := repo.ReadPolicy(ctx, d.cfg.Store, d.layout, d.trust)
	if errors.Is(err, objectstore.ErrNotFound) {
		return "", fmt.Errorf("%w: %s", ErrNoPolicy, d.layout.PolicyKey())
	}
	if err != nil {
		return "", err
	}
	if p.Cluster != "" && p.Cluster != d.layout.Cluster {
		return "", fmt.Errorf("policy is for cluster %q, this agent serves %q", p.Cluster, d.layout.Cluster)
	}
	log := d.log.With("job", BackupJob, "request", req.ID)
	lease, slot, err := d.waitBackupLease(ctx, p, req, log)
	if err != nil {
		return "", err
	}
	defer d.release(lease, log)
	last, err := ReadRun(ctx, d.cfg.Store, d.layout, BackupJob)
	if err != nil {
		return "", err
	}
	if req.ID != "" && last != nil && last.Request == req.ID && (last.Result == ResultSuccess || last.Final) {
		log.Info("the request's backup was taken already: not taking another", "by", last.Holder, "output", last.Output)
		d.setLast(BackupJob, last)
		if last.Result != ResultSuccess {
			return last.Output, &FinalError{Err: errors.New(last.Error)}
		}
		return last.Output, nil
	}
	if last != nil && last.Slot.After(slot) {
		slot = last.Slot // this agent's clock is behind: never move the record back
	}
	attempt := attemptOf(last, slot)
	log = log.With("slot", slot.Format(time.RFC3339), "lease_generation", lease.Doc().Generation)
	log.Info("backup now starting")
	d.mu.Lock()
	d.running[BackupJob] = true
	d.mu.Unlock()
	d.m.JobRunning.WithLabelValues(BackupJob).Set(1)
	defer d.notRunning(BackupJob)

	workCtx, stop := KeepLease(ctx, lease, d.cfg.LeaseRenew, log)
	defer stop()
	started := d.cfg.Now().UTC()
	output, err := d.backupFn(workCtx, p)
	stop()
	finished := d.cfg.Now().UTC()
	if cause := context.Cause(workCtx); ctx.Err() != nil || errors.Is(cause, ErrLeaseLost) {
		d.m.JobRuns.WithLabelValues(BackupJob, "canceled").Inc()
		log.Warn("backup now abandoned", "err", err, "cause", cause)
		return output, fmt.Errorf("backup abandoned: %w", cause)
	}
	var fe *FinalError
	if err != nil && !errors.As(err, &fe) {
		d.m.JobFailures.WithLabelValues(BackupJob).Inc()
		d.m.JobRuns.WithLabelValues(BackupJob, ResultFailure).Inc()
		log.Error("backup now failed; the slot is left as it was", "err", err, "output", output)
		return output, err
	}
	r := d.runRecord(BackupJob, slot, attempt, started, finished, output, err, log)
	r.Request = req.ID
	// Cleanup must happen even when ctx is done.
	cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer ccancel()
	if werr := WriteRun(cctx, d.cfg.Store, d.layout, r); werr != nil {
		// The backup exists: the request still names it. The schedule may
		// take another at this slot.
		log.Error("recording the run", "err", werr)
	} else {
		d.setLast(BackupJob, &r)
	}
	return output, err
}

// waitBackupLease takes the backup job's lease for the policy's current
// slot (now, when the policy has no schedule this agent accepts), waiting
// while another backup holds it.
func (d *Daemon) waitBackupLease(ctx context.Context, p *repo.Policy, req BackupRequest, log *slog.Logger) (*Lease, time.Time, error) {
	slot := d.cfg.Now().UTC()
	if s, err := d.parseSchedule(p.Schedule); err == nil {
		if sl := Slot(s, d.cfg.Now()); !sl.IsZero() {
			slot = sl
		}
	}
	poll := min(d.cfg.Tick, time.Second)
	began := time.Now()
	var reported time.Time
	for {
		lease, err := AcquireLease(ctx, d.cfg.Store, d.layout, BackupJob, d.cfg.Holder, slot, d.leaseTTL(), d.cfg.Now)
		if err == nil {
			if !reported.IsZero() {
				log.Info("backup now: the running backup is over", "waited", time.Since(began).Round(time.Second))
			}
			return lease, slot, nil
		}
		if ctx.Err() != nil {
			return nil, slot, fmt.Errorf("waiting for the backup job's lease: %w", context.Cause(ctx))
		}
		if time.Since(reported) >= BackupWaitReport {
			reported = time.Now()
			detail := err.Error()
			if errors.Is(err, ErrLeaseHeld) {
				log.Info("backup now waits for the running backup", "waited", time.Since(began).Round(time.Second), "reason", err)
			} else {
				log.Warn("backup now: taking the backup job's lease (retrying)", "err", err)
			}
			if req.Waiting != nil {
				req.Waiting(detail)
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(poll):
		}
	}
}

// BackupIDOf is the base backup a backup job's output names ("backup <id>,
// tenant ...": see backup), "" when it names none.
func BackupIDOf(output string) string {
	for item := range strings.SplitSeq(output, ", ") {
		if id, ok := strings.CutPrefix(item, "backup "); ok {
			return id
		}
	}
	return ""
}
