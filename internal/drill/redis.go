package drill

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/redisx"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/schedule"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

// KindRedis is a drill of a Redis instance: its newest snapshot (or
// Spec.BackupID) restored into a scratch redis-server, the key count
// checked against a floor and the snapshot's age against the RPO.
const KindRedis = "redis"

// CheckKeyCountFloor is a redis drill's key count check.
const CheckKeyCountFloor = "key_count_floor"

// RedisSpec is what a redis drill restores and checks.
type RedisSpec struct {
	// Instance is the Redis instance's name in the repository.
	Instance string
	// MinKeys is the key count floor of the restored instance (every
	// database); 0 checks only that the snapshot loads.
	MinKeys int64
	// RPO bounds the snapshot's age when the drill starts: the data a
	// failure at that moment would lose. Zero takes the longest gap of the
	// instance's snapshot schedule, read from the repository and checked
	// against Trust.
	RPO   time.Duration
	Trust signature.Trust
	// RedisServer is the redis-server program ("": from PATH).
	RedisServer string
}

// ErrNoRedisInstance says a redis drill names no instance.
var ErrNoRedisInstance = errors.New("a redis drill needs the Redis instance's name")

// runRedis restores, checks and tears down a Redis snapshot, filling ev.
// The scratch instance listens on 127.0.0.1 only, in a directory of its
// own that is removed afterwards; the RTO ends when every check ran.
func runRedis(ctx context.Context, store objectstore.Store, spec Spec, ev *Evidence) error {
	rs := spec.Redis
	if rs.Instance == "" {
		return ErrNoRedisInstance
	}
	rpo, err := redisRPO(ctx, store, spec)
	if err != nil {
		return err
	}
	m, err := redisx.FindSnapshot(ctx, store, spec.Layout, rs.Instance, spec.BackupID)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	parent := spec.ScratchDir
	if parent == "" {
		parent = os.TempDir()
	}
	scratch, err := os.MkdirTemp(parent, "lifeboat-drill-redis-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	port := spec.Port
	if port == 0 {
		if port, err = restore.FreePort(); err != nil {
			return err
		}
	}
	ids, err := spec.AgentConfig.Identities()
	if err != nil {
		return err
	}
	target := redisx.RestoreTarget{Dir: filepath.Join(scratch, "redis"), Port: port, RedisServer: rs.RedisServer, Identities: ids}
	// The scratch instance goes whatever happens. NOTE: a teardown that
	// fails does not change the verdict; the next drill's directory and
	// port differ.
	defer func() { _ = redisx.Teardown(context.WithoutCancel(ctx), target.Dir, target.Port, "") }()
	restored, err := redisx.RestoreInto(ctx, store, spec.Layout, rs.Instance, m.ID, target, redisx.RestoreChecks{})
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	ev.Source = "redis snapshot " + m.ID + " of " + rs.Instance + " (" + m.Key + ")"
	ev.RestoredToTime = m.TakenAt
	age := ev.Started.Sub(m.TakenAt)
	ev.Checks = []CheckResult{
		{Name: "key count of " + rs.Instance, Kind: CheckKeyCountFloor, Expected: fmt.Sprintf(">= %d", rs.MinKeys),
			Observed: fmt.Sprint(restored.Keys), Passed: restored.Keys >= rs.MinKeys},
		{Name: "snapshot age of " + rs.Instance, Kind: CheckRPO, Expected: "<= " + rpo.String(),
			Observed: age.Truncate(time.Second).String(), Passed: age <= rpo,
			Detail: "snapshot taken " + m.TakenAt.UTC().Format(time.RFC3339)},
	}
	ev.RTOSeconds = time.Since(ev.Started).Seconds()
	return nil
}

// redisRPO is the declared RPO, or the longest gap of the instance's
// signed snapshot schedule: a snapshot older than that means a slot was
// missed.
func redisRPO(ctx context.Context, store objectstore.Store, spec Spec) (time.Duration, error) {
	if spec.Redis.RPO > 0 {
		return spec.Redis.RPO, nil
	}
	d, err := redisx.ReadSchedule(ctx, store, spec.Layout, spec.Redis.Instance, spec.Redis.Trust)
	if err != nil {
		return 0, fmt.Errorf("reading the snapshot schedule the RPO comes from (or declare the drill's RPO): %w", err)
	}
	s, err := schedule.Parse(d.Schedule)
	if err != nil {
		return 0, fmt.Errorf("snapshot schedule of %s: %q: %w", spec.Redis.Instance, d.Schedule, err)
	}
	return s.MaxGap(), nil
}
