package redisx

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

// ScheduleDoc is a Redis instance's snapshot schedule as the provider
// writes it for the agent (repo.Layout.RedisScheduleKey), signed like the
// backup policy and drill schedules. It holds no secret: the agent reaches
// the instance with the connection its own configuration names for
// Instance.
type ScheduleDoc struct {
	Format   int    `json:"format"`
	Instance string `json:"instance"`
	Cluster  string `json:"cluster"`
	// Class is the instance's workload class: the RPO posture judges the
	// snapshot age against, and never a cache (rebuilt, not restored).
	Class    string    `json:"class"`
	Schedule string    `json:"schedule"`
	Updated  time.Time `json:"updated"`
	// Created is when the schedule was first written (kept by
	// WriteSchedule): no snapshot is owed for slots before it existed.
	Created time.Time `json:"created"`
	// Retention: the KeepCount newest snapshots, and every snapshot of the
	// last KeepDays days; the newest is always kept.
	KeepCount int `json:"keep_count,omitempty"`
	KeepDays  int `json:"keep_days,omitempty"`
	// Target, when set, is where the instance is and which agent takes
	// its snapshots, declared by the provider (lifeboat_redis_persistence)
	// so a host needs no Redis entry of its own: only a password, when
	// the instance requires one, stays in the host's agent configuration.
	// Without it (schedules written before it existed), the agents whose
	// configuration names the instance take them.
	Target *Target `json:"target,omitempty"`
}

// Target is how an agent reaches a Redis instance, without its password.
type Target struct {
	// Agent is the host name of the agent that takes the snapshots (its
	// configuration's host); empty leaves them to the agents whose
	// configuration names the instance.
	Agent         string `json:"agent,omitempty"`
	Address       string `json:"address"`
	Username      string `json:"username,omitempty"`
	TLS           bool   `json:"tls,omitempty"`
	TLSServerName string `json:"tls_server_name,omitempty"`
	// TLSCACert is a PEM bundle to trust instead of the system roots.
	TLSCACert string `json:"tls_ca_cert,omitempty"`
}

// ErrCacheSnapshots says a cache was given a snapshot schedule: a cache is
// rebuilt, and snapshotting it would only cost disk and latency.
var ErrCacheSnapshots = errors.New("a cache is rebuilt, not restored: it takes no snapshot schedule")

// Validate checks what the agent needs of d.
func (d ScheduleDoc) Validate() error {
	if !repo.KeySafe(d.Instance) {
		return fmt.Errorf("%w: instance name %q: want 1-128 letters, digits, '.', '_' or '-'", ErrInvalidSetting, d.Instance)
	}
	c, err := ParseClass(d.Class)
	if err != nil {
		return err
	}
	if c == ClassCache {
		return ErrCacheSnapshots
	}
	if t := d.Target; t != nil {
		if t.Address == "" {
			return fmt.Errorf("%w: target: address is required", ErrInvalidSetting)
		}
		if t.Agent != "" && !repo.KeySafe(t.Agent) {
			return fmt.Errorf("%w: target: agent %q: want 1-128 letters, digits, '.', '_' or '-'", ErrInvalidSetting, t.Agent)
		}
	}
	if d.KeepCount < 0 || d.KeepDays < 0 {
		return fmt.Errorf("%w: keep_count and keep_days must not be negative", ErrInvalidSetting)
	}
	return nil
}

// WriteSchedule stores d, replacing the previous version, signed by signer
// (nil: unsigned; agents that trust a key then refuse it). Created is kept
// from the stored document, or set now for a new schedule.
func WriteSchedule(ctx context.Context, store objectstore.Store, l repo.Layout, d ScheduleDoc, signer *signature.Signer) error {
	if err := d.Validate(); err != nil {
		return err
	}
	d.Format = 1
	created, err := repo.KeepCreated(ctx, store, l.RedisScheduleKey(d.Instance), "the Redis snapshot schedule of "+d.Instance, d.Created,
		func(prev *ScheduleDoc) time.Time { return prev.Created })
	if err != nil {
		return err
	}
	d.Created = created
	return repo.WriteSigned(ctx, store, l.RedisScheduleKey(d.Instance), "the Redis snapshot schedule of "+d.Instance, d, signer, objectstore.PutOptions{})
}

// ReadScheduleSigned reads instance's schedule and reports which key of
// trust signed it ("" when unsigned, forged or signed by another key),
// without refusing it. A missing schedule wraps objectstore.ErrNotFound.
func ReadScheduleSigned(ctx context.Context, store objectstore.Store, l repo.Layout, instance string, trust signature.Trust) (*ScheduleDoc, string, error) {
	key := l.RedisScheduleKey(instance)
	d, body, meta, err := repo.ReadDoc[ScheduleDoc](ctx, store, key, "the Redis snapshot schedule of "+instance)
	if err != nil {
		return nil, "", err
	}
	signer, _ := trust.Signed(key, body, meta)
	return d, signer, nil
}

// ReadSchedule reads one schedule; when trust holds a key, a schedule
// without a valid signature of one of them is refused (*signature.Error).
func ReadSchedule(ctx context.Context, store objectstore.Store, l repo.Layout, instance string, trust signature.Trust) (*ScheduleDoc, error) {
	return repo.ReadTrusted[ScheduleDoc](ctx, store, l.RedisScheduleKey(instance), "the Redis snapshot schedule of "+instance, trust)
}

// DeleteSchedule removes instance's schedule: the agent stops taking
// snapshots; the snapshots stay until retention or lifecycle removes them.
func DeleteSchedule(ctx context.Context, store objectstore.Store, l repo.Layout, instance string) error {
	return store.Delete(ctx, l.RedisScheduleKey(instance))
}

// ListSchedules reads every Redis snapshot schedule of the cluster, each
// checked against trust. A schedule refused by trust is left out and its
// error returned in refused, so one forged schedule does not stop the
// others.
func ListSchedules(ctx context.Context, store objectstore.Store, l repo.Layout, trust signature.Trust) (docs []ScheduleDoc, refused []error, err error) {
	return repo.ListTrusted(ctx, store, l, l.RedisSchedulesDir(), repo.KindRedisSchedule,
		func(k repo.Key) string { return k.Instance },
		func(n string) (*ScheduleDoc, error) { return ReadSchedule(ctx, store, l, n, trust) })
}

// PruneResult says which snapshots Prune kept and marked deleted.
type PruneResult struct {
	Kept    []string `json:"kept"`
	Deleted []string `json:"deleted"`
	// Incomplete are RDB objects without a manifest (a snapshot that
	// failed after its upload) older than IncompleteGrace, marked deleted.
	Incomplete []string `json:"incomplete"`
}

// IncompleteGrace is how old an RDB object without a manifest must be
// before Prune takes it for a failed snapshot rather than a running one.
const IncompleteGrace = time.Hour

// Prune applies a retention to instance's snapshots: the keepCount newest
// and those taken within keepDays of now are kept (either rule keeps a
// snapshot; with neither set every snapshot is kept), and the newest is
// always kept. A pruned snapshot is deleted manifest first, so it leaves
// the catalog before its RDB object goes, and only with delete markers:
// the versions stay (object lock holds them, and the writer role may not
// delete versions) until the bucket's lifecycle removes them.
func Prune(ctx context.Context, store objectstore.Store, l repo.Layout, instance string, keepCount, keepDays int, now time.Time) (*PruneResult, error) {
	all, err := Snapshots(ctx, store, l, instance)
	if err != nil {
		return nil, err
	}
	res := &PruneResult{Kept: []string{}, Deleted: []string{}, Incomplete: []string{}}
	complete := map[string]bool{}
	for _, m := range all {
		complete[m.ID] = true
	}
	var orphans []string
	err = store.List(ctx, l.RedisDir()+instance+"/", func(o objectstore.ObjectInfo) error {
		if k, ok := l.Parse(o.Key); ok && k.Kind == repo.KindRedisSnapshot && k.Instance == instance &&
			!complete[k.ID] && now.Sub(o.LastModified) > IncompleteGrace {
			orphans = append(orphans, o.Key)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, key := range orphans {
		if err := store.Delete(ctx, key); err != nil {
			return res, fmt.Errorf("pruning incomplete Redis snapshot %s: %w", key, err)
		}
		res.Incomplete = append(res.Incomplete, key)
	}
	for i, m := range all {
		fromNewest := len(all) - 1 - i
		keep := (keepCount == 0 && keepDays == 0) || fromNewest == 0 ||
			(keepCount > 0 && fromNewest < keepCount) ||
			(keepDays > 0 && now.Sub(m.TakenAt) < time.Duration(keepDays)*24*time.Hour)
		if keep {
			res.Kept = append(res.Kept, m.ID)
			continue
		}
		if err := store.Delete(ctx, l.RedisManifestKey(instance, m.ID)); err != nil {
			return res, fmt.Errorf("pruning Redis snapshot %s: %w", m.ID, err)
		}
		if err := store.Delete(ctx, m.Key); err != nil {
			return res, fmt.Errorf("pruning Redis snapshot %s: %w", m.ID, err)
		}
		res.Deleted = append(res.Deleted, m.ID)
	}
	return res, nil
}
