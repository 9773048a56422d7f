package posture

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/redisx"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/schedule"
)

// ControlRedisSnapshots judges the Redis instances that are restored
// rather than rebuilt (session and queue classes): each declares a signed
// snapshot schedule, and its newest snapshot is within that schedule, the
// RPO of the class. A cache is rebuilt: it has no schedule and nothing
// here to judge.
const ControlRedisSnapshots = "redis.snapshots"

func init() {
	register(Control{ID: ControlRedisSnapshots, Title: "Every restored Redis instance has a snapshot within its schedule", Scope: ScopeCluster,
		Standards: backupStandards, Problem: "Redis Snapshot Overdue",
		Parameters: func(p Params) map[string]string {
			return map[string]string{"signature_required": strconv.FormatBool(p.Trust.Required())}
		},
		Evaluate: redisSnapshots})
}

// redisSnapshots fails an instance whose schedule is not of a restored
// class, is not signed when keys are trusted (the agent refuses it, so no
// snapshot is taken), or whose newest snapshot misses the schedule's last
// slot; it passes when every declared instance is within its schedule.
func redisSnapshots(o *Observation, c *ClusterObservation, p Params) Finding {
	th := "each session or queue Redis: a signed snapshot schedule, and a snapshot for every slot of it (the class's RPO)"
	if c.RedisErr != nil {
		f := unknown("Redis snapshot schedules unreadable: "+c.RedisErr.Error(), "Give the report credentials that may list and read the repository's redis-schedules/ and redis/ folders.")
		f.Threshold = th
		return f
	}
	f := Finding{Threshold: th}
	if len(c.Redis) == 0 {
		// NOTE: a pass, not an unknown: a cluster without Redis, or with
		// caches only (rebuilt, never snapshotted), owes no snapshot, and
		// an unknown would be a standing warning on every such cluster.
		f.Status, f.Observed = Pass, "no Redis instance declared for restore (no snapshot schedule)"
		return f
	}
	var bad, unsure, ok []string
	for _, r := range c.Redis {
		d := r.Schedule
		f.Evidence = append(f.Evidence, Evidence{Key: c.Layout.RedisScheduleKey(d.Instance), Time: d.Updated,
			Note: fmt.Sprintf("class %s, schedule %q, signer: %s", d.Class, d.Schedule, orNone(r.Signer))})
		if r.Newest != nil {
			m := r.Newest
			f.Evidence = append(f.Evidence, Evidence{Key: c.Layout.RedisManifestKey(d.Instance, m.ID), Time: m.TakenAt,
				Note: fmt.Sprintf("newest snapshot %s of %s (%d bytes, %s)", m.ID, d.Instance, m.RDBSize, m.Key)})
		}
		class, err := redisx.ParseClass(d.Class)
		switch {
		case err != nil:
			bad = append(bad, fmt.Sprintf("%s: %v", d.Instance, err))
			continue
		case class.Decision() != "restore":
			bad = append(bad, fmt.Sprintf("%s: class %s is rebuilt, yet has a snapshot schedule", d.Instance, class))
			continue
		case p.Trust.Required() && r.Signer == "":
			bad = append(bad, fmt.Sprintf("%s: snapshot schedule not signed by a trusted key (the agent refuses it)", d.Instance))
			continue
		case r.Err != nil:
			unsure = append(unsure, fmt.Sprintf("%s: %v", d.Instance, r.Err))
			continue
		}
		sched, err := schedule.Parse(d.Schedule)
		if err != nil {
			unsure = append(unsure, fmt.Sprintf("%s: schedule %q: %v", d.Instance, d.Schedule, err))
			continue
		}
		var last time.Time
		newest := "no snapshot"
		if r.Newest != nil {
			last = r.Newest.TakenAt
			newest = fmt.Sprintf("newest snapshot %s old (%s)", age(o.Now, last), ts(last))
		}
		if due, overdue := sched.Overdue(d.Created, last, o.Now); overdue {
			bad = append(bad, fmt.Sprintf("%s (%s): %s, a snapshot was due at %s by schedule %q (max gap %s)",
				d.Instance, class, newest, ts(due), d.Schedule, sched.MaxGap()))
			continue
		}
		ok = append(ok, fmt.Sprintf("%s (%s): %s, within %q", d.Instance, class, newest, d.Schedule))
	}
	switch {
	case len(bad) > 0:
		f.Status, f.Observed = Fail, strings.Join(bad, "; ")
		f.Remedy = "Check that lifeboat agent runs on the Redis host with this repository and the instance under redis in its agent_config, " +
			"that its snapshots succeed (metrics lifeboat_redis_snapshot_age_seconds and lifeboat_redis_bgsave_success), and that lifeboat_redis_persistence declares a session or queue class and is applied with the signing key."
	case len(unsure) > 0:
		f.Status, f.Observed = Unknown, strings.Join(unsure, "; ")
		f.Remedy = "Give the report credentials that may read the Redis snapshots, and fix the schedules."
	default:
		f.Status, f.Observed = Pass, strings.Join(ok, "; ")
	}
	return f
}
