package agentd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/redisx"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// RedisJobPrefix prefixes the job name of a Redis snapshot schedule
// ("redis-<instance>").
const RedisJobPrefix = "redis-"

// ErrNoRedisConnection says a snapshot schedule names an instance the
// agent configuration has no connection for.
var ErrNoRedisConnection = errors.New("the agent configuration has no connection for this Redis instance")

// redisJobs lists the cluster's Redis snapshot schedules as jobs. A
// schedule that cannot run here (another cluster, a bad cron expression,
// a cache) is logged and left out; the others still run.
func (d *Daemon) redisJobs(ctx context.Context) ([]*job, map[string]redisx.ScheduleDoc, error) {
	docs, refused, err := redisx.ListSchedules(ctx, d.cfg.Store, d.layout, d.trust)
	if err != nil {
		return nil, nil, fmt.Errorf("reading Redis snapshot schedules: %w", err)
	}
	for _, err := range refused {
		d.log.Error("redis snapshot schedule not scheduled", "err", err)
		d.m.ConfigRefused.WithLabelValues("redis_schedule").Inc()
	}
	var jobs []*job
	byName := map[string]redisx.ScheduleDoc{}
	for _, doc := range docs {
		log := d.log.With("instance", doc.Instance)
		if doc.Cluster != "" && doc.Cluster != d.layout.Cluster {
			log.Error("redis snapshot schedule not scheduled", "err",
				fmt.Sprintf("schedule is for cluster %q, this agent serves %q", doc.Cluster, d.layout.Cluster))
			continue
		}
		if err := doc.Validate(); err != nil {
			log.Error("redis snapshot schedule not scheduled", "err", err)
			continue
		}
		if ok, why := d.servesRedis(doc); !ok {
			// NOTE: another agent (on that instance's host) may serve it;
			// this one only reports it at debug level.
			log.Debug("redis snapshot schedule left to another agent", "reason", why)
			continue
		}
		s, err := d.parseSchedule(doc.Schedule)
		if err != nil {
			log.Error("redis snapshot schedule not scheduled", "err", err)
			continue
		}
		doc := doc
		byName[doc.Instance] = doc
		jobs = append(jobs, &job{name: RedisJobPrefix + doc.Instance, sched: s, run: func(ctx context.Context, _ time.Time) (string, error) {
			return d.redisSnapshot(ctx, doc)
		}})
	}
	return jobs, byName, nil
}

// servesRedis reports whether this agent takes doc's snapshots: the agent
// the signed schedule's target names, or, when it names none, an agent
// whose configuration has a connection for the instance.
func (d *Daemon) servesRedis(doc redisx.ScheduleDoc) (bool, string) {
	if t := doc.Target; t != nil && t.Agent != "" {
		if t.Agent != d.host() {
			return false, fmt.Sprintf("the schedule names agent %q, this is %q", t.Agent, d.host())
		}
		return true, ""
	}
	if e, ok := d.cfg.Agent.Redis[doc.Instance]; !ok || (e.Address == "" && doc.Target == nil) {
		return false, ErrNoRedisConnection.Error()
	}
	return true, ""
}

// host is this agent's name in requests and schedules.
func (d *Daemon) host() string {
	if d.cfg.Agent.Host != "" {
		return d.cfg.Agent.Host
	}
	h, _ := os.Hostname()
	return h
}

// redisOptions is how the agent reaches instance: the target of its signed
// schedule (the repository's), with the password (and a username the
// target leaves out) from the agent configuration, which is where secrets
// stay; or, for a schedule without a target, the configuration's entry.
func (d *Daemon) redisOptions(instance string) (redisx.Options, error) {
	d.mu.Lock()
	doc, scheduled := d.redis[instance]
	d.mu.Unlock()
	e, ok := d.cfg.Agent.Redis[instance]
	if scheduled && doc.Target != nil {
		t := doc.Target
		return redisx.Options{Addr: t.Address, Username: cmp.Or(t.Username, e.Username), Password: e.Password, TLS: t.TLS,
			TLSServerName: t.TLSServerName, TLSCACert: t.TLSCACert}, nil
	}
	if !ok || e.Address == "" {
		return redisx.Options{}, fmt.Errorf("%w: %q (add it under \"redis\" in the agent configuration, or declare the target with lifeboat_redis_persistence)", ErrNoRedisConnection, instance)
	}
	o := redisx.Options{Addr: e.Address, Username: e.Username, Password: e.Password, TLS: e.TLS, TLSServerName: e.TLSServerName}
	if e.TLSCAFile != "" {
		b, err := os.ReadFile(e.TLSCAFile)
		if err != nil {
			return o, fmt.Errorf("redis.%s.tls_ca_file: %w", instance, err)
		}
		o.TLSCACert = string(b)
	}
	return o, nil
}

// redisSnapshot is one scheduled snapshot of doc's instance: BGSAVE, the
// RDB streamed into the repository (manifest last), then retention. A
// failing BGSAVE fails the run and sets lifeboat_redis_bgsave_success 0.
func (d *Daemon) redisSnapshot(ctx context.Context, doc redisx.ScheduleDoc) (string, error) {
	log := d.log.With("job", RedisJobPrefix+doc.Instance)
	o, err := d.redisOptions(doc.Instance)
	if err != nil {
		return "", &FinalError{Err: err}
	}
	c, err := redisx.Connect(ctx, o)
	if err != nil {
		return "", err
	}
	defer func() { _ = c.Close() }()
	// Encrypted like the base backups: the signed policy's recipients, or
	// the agent's own.
	p, err := repo.ReadPolicy(ctx, d.cfg.Store, d.layout, d.trust)
	if err != nil && !errors.Is(err, objectstore.ErrNotFound) {
		return "", fmt.Errorf("reading the policy for the snapshot's recipients: %w", err)
	}
	recipients, err := repo.BackupRecipients(d.cfg.Agent, p)
	if err != nil {
		return "", &FinalError{Err: err}
	}
	m, err := redisx.Snapshot(ctx, c, d.cfg.Store, redisx.SnapshotOptions{Layout: d.layout, Instance: doc.Instance,
		Compression: cmp.Or(d.cfg.Backup.Compression, d.cfg.Agent.Compression), Recipients: recipients})
	d.redisServerStats(ctx, doc.Instance, c)
	if err != nil {
		return "", fmt.Errorf("snapshot of redis %s: %w", doc.Instance, err)
	}
	d.setRedisSnapshotMetrics(m)
	log.Info("redis snapshot complete", "snapshot", m.ID, "rdb_bytes", m.RDBSize, "stored_bytes", m.StoredSize)
	out := []string{"snapshot " + m.ID}
	res, err := redisx.Prune(ctx, d.cfg.Store, d.layout, doc.Instance, doc.KeepCount, doc.KeepDays, d.cfg.Now())
	if err != nil {
		return strings.Join(out, ", "), fmt.Errorf("pruning redis %s snapshots: %w", doc.Instance, err)
	}
	if n := len(res.Deleted) + len(res.Incomplete); n > 0 {
		log.Info("redis snapshots pruned", "deleted", res.Deleted, "incomplete", res.Incomplete, "kept", len(res.Kept))
		out = append(out, fmt.Sprintf("pruned %d", n))
	}
	return strings.Join(out, ", "), nil
}

func (d *Daemon) setRedisSnapshotMetrics(m *redisx.SnapshotManifest) {
	d.m.RedisSnapshotLast.WithLabelValues(m.Instance).Set(float64(m.TakenAt.UnixNano()) / 1e9)
	d.m.RedisSnapshotAge.WithLabelValues(m.Instance).Set(d.cfg.Now().Sub(m.TakenAt).Seconds())
	d.m.RedisSnapshotBytes.WithLabelValues(m.Instance).Set(float64(m.StoredSize))
}

// redisServerStats reads INFO persistence of the instance: the last
// BGSAVE's outcome and whether the AOF is on. Unreachable: no update.
// c is an open client of the instance, or nil to connect.
func (d *Daemon) redisServerStats(ctx context.Context, instance string, c *redis.Client) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if c == nil {
		o, err := d.redisOptions(instance)
		if err != nil {
			return
		}
		if c, err = redisx.Connect(cctx, o); err != nil {
			d.log.Warn("reading redis persistence", "instance", instance, "err", err)
			return
		}
		defer func() { _ = c.Close() }()
	}
	st, err := redisx.Read(cctx, c)
	if err != nil {
		d.log.Warn("reading redis persistence", "instance", instance, "err", err)
		return
	}
	ok := 1.0
	if st.Persistence.LastBgsaveStatus != "ok" {
		ok = 0
	}
	d.m.RedisBgsaveSuccess.WithLabelValues(instance).Set(ok)
	aof := 0.0
	if st.Persistence.AOFEnabled {
		aof = 1
	}
	d.m.RedisAOFEnabled.WithLabelValues(instance).Set(aof)
}

// redisStats sets each scheduled instance's metrics: its newest snapshot
// in the repository (whichever agent took it) and its server's INFO.
func (d *Daemon) redisStats(ctx context.Context) error {
	d.mu.Lock()
	names := make([]string, 0, len(d.redis))
	for n := range d.redis {
		names = append(names, n)
	}
	d.mu.Unlock()
	var errs []error
	for _, n := range names {
		all, err := redisx.Snapshots(ctx, d.cfg.Store, d.layout, n)
		if err != nil {
			errs = append(errs, err)
		} else if len(all) > 0 {
			d.setRedisSnapshotMetrics(&all[len(all)-1])
		}
		d.redisServerStats(ctx, n, nil)
	}
	return errors.Join(errs...)
}
