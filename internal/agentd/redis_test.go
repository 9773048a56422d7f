package agentd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/redisx"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestAccAgentTakesScheduledRedisSnapshots: the agent runs a signed Redis
// snapshot schedule against a real Redis under write load, into a bucket
// with object lock: every snapshot is complete (manifest last) and locked,
// retention keeps the newest keep_count and hides the others behind
// delete markers (their versions stay), the metrics report the newest
// snapshot, and a schedule signed by another key is refused. The newest
// snapshot restores into a new instance with every key. Then the data
// directory goes away: the BGSAVE fails, and so do the run and the
// lifeboat_redis_bgsave_success metric.
func TestAccAgentTakesScheduledRedisSnapshots(t *testing.T) {
	env := testenv.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r := testenv.NewRedis(t)
	rc, err := redisx.Connect(ctx, redisx.Options{Addr: r.Addr})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Close() }()
	const fixed = 500
	for i := 0; i < fixed; i++ {
		if err := rc.Set(ctx, fmt.Sprintf("session:%d", i), fmt.Sprintf("user-%d", i), 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	var written atomic.Int64
	stopWriter := make(chan struct{})
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for j := int64(0); ; j++ {
			select {
			case <-stopWriter:
				return
			default:
			}
			if rc.Set(ctx, fmt.Sprintf("w:%d", j), j, 0).Err() == nil {
				written.Store(j + 1)
			}
		}
	}()

	store := env.MinIO[0].NewStore(t, "redis-agent", objectstore.BucketSpec{Retention: &objectstore.Retention{Mode: objectstore.ModeGovernance, Days: 1}})
	bucket := store.Bucket()
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	provider, _ := signature.Generate()
	attacker, _ := signature.Generate()
	if err := redisx.WriteSchedule(ctx, store, l, redisx.ScheduleDoc{Instance: "sessions", Cluster: "main", Class: "session",
		Schedule: "@every 1s", KeepCount: 2}, provider); err != nil {
		t.Fatal(err)
	}
	if err := redisx.WriteSchedule(ctx, store, l, redisx.ScheduleDoc{Instance: "forged", Cluster: "main", Class: "queue",
		Schedule: "@every 1s"}, attacker); err != nil {
		t.Fatal(err)
	}
	// The agent's recipients encrypt its snapshots as they do its backups.
	idFile, recipient, err := crypt.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	d := runRedisAgent(ctx, t, store, repo.AgentConfig{Bucket: bucket, Prefix: l.Prefix, Cluster: l.Cluster,
		TrustedKeys: []string{provider.Public().String()}, Encryption: &repo.Encryption{Recipients: []string{recipient}},
		Redis: map[string]repo.RedisEntry{"sessions": {Address: r.Addr}, "forged": {Address: r.Addr}}}, 500*time.Millisecond)

	// Retention: after four snapshots, two complete ones remain and the
	// pruned ones are delete markers over versions that stay.
	var deleted []string
	waitUntil(t, 90*time.Second, "four snapshots taken, two kept", func() bool {
		all, err := redisx.Snapshots(ctx, store, l, "sessions")
		if err != nil {
			t.Fatal(err)
		}
		deleted = deletedManifests(t, store, l)
		return len(all) == 2 && len(deleted) >= 2
	})
	close(stopWriter)
	<-writerDone
	if got := testutil.ToFloat64(d.m.ConfigRefused.WithLabelValues("redis_schedule")); got < 1 {
		t.Fatalf("lifeboat_config_refused_total{document=redis_schedule} = %v: the forged schedule was not refused", got)
	}
	d.mu.Lock()
	_, forgedJob := d.jobs[RedisJobPrefix+"forged"]
	d.mu.Unlock()
	if forgedJob {
		t.Fatal("a Redis schedule signed by another key was scheduled")
	}
	all, err := redisx.Snapshots(ctx, store, l, "sessions")
	if err != nil || len(all) < 2 {
		t.Fatalf("snapshots %v, %v", all, err)
	}
	newest := all[len(all)-1]
	// Object lock holds every snapshot object (the bucket's default).
	for _, key := range []string{newest.Key, l.RedisManifestKey("sessions", newest.ID)} {
		info, err := store.Head(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if until, mode, ok := store.Retention(ctx, key, info.VersionID); !ok || mode != objectstore.ModeGovernance || until.Before(time.Now().Add(time.Hour)) {
			t.Fatalf("%s: retention %s until %s (%v), want the bucket's GOVERNANCE default", key, mode, until, ok)
		}
	}
	// A pruned snapshot's versions are still there behind the markers.
	for _, id := range deleted[:1] {
		n := 0
		err := store.ListVersions(ctx, l.RedisManifestKey("sessions", id), func(o objectstore.ObjectInfo) error {
			if !o.DeleteMarker {
				n++
			}
			return nil
		})
		if err != nil || n != 1 {
			t.Fatalf("pruned manifest %s: %d versions left, %v; want its one version kept behind the marker", id, n, err)
		}
	}
	if got := testutil.ToFloat64(d.m.RedisSnapshotLast.WithLabelValues("sessions")); got < float64(newest.TakenAt.Unix())-5 {
		t.Fatalf("lifeboat_redis_snapshot_last_timestamp_seconds = %v, newest snapshot %s", got, newest.TakenAt)
	}
	if got := testutil.ToFloat64(d.m.RedisSnapshotBytes.WithLabelValues("sessions")); got <= 0 {
		t.Fatalf("lifeboat_redis_snapshot_bytes = %v", got)
	}
	if got := testutil.ToFloat64(d.m.RedisBgsaveSuccess.WithLabelValues("sessions")); got != 1 {
		t.Fatalf("lifeboat_redis_bgsave_success = %v, want 1", got)
	}
	if got := testutil.ToFloat64(d.m.RedisAOFEnabled.WithLabelValues("sessions")); got != 0 {
		t.Fatalf("lifeboat_redis_aof_enabled = %v, want 0 (the test server runs without AOF)", got)
	}

	// The newest snapshot restores into a new instance with every key.
	dst := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dst, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	fp := crypt.Fingerprint(recipient)
	if newest.Encryption == nil || len(newest.Encryption.Recipients) != 1 || newest.Encryption.Recipients[0] != fp {
		t.Fatalf("snapshot encryption %+v, want age to the agent's recipient %s", newest.Encryption, fp)
	}
	if _, err := redisx.RestoreSnapshot(ctx, store, l, "sessions", "", filepath.Join(dst, "data"), nil); !errors.Is(err, crypt.ErrNoIdentity) || !strings.Contains(err.Error(), fp) {
		t.Fatalf("restore without an identity: want ErrNoIdentity naming %s, got %v", fp, err)
	}
	ids, err := crypt.ParseIdentities("test identity", strings.NewReader(idFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := redisx.RestoreSnapshot(ctx, store, l, "sessions", "", filepath.Join(dst, "data"), ids); err != nil {
		t.Fatal(err)
	}
	restored, err := testenv.StartRedis(ctx, dst, false)
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Stop()
	nc, err := redisx.Connect(ctx, redisx.Options{Addr: restored.Addr})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = nc.Close() }()
	if n, err := nc.DBSize(ctx).Result(); err != nil || n < fixed {
		t.Fatalf("restored %d keys (%v), want at least %d", n, err, fixed)
	}
	if v, err := nc.Get(ctx, "session:321").Result(); err != nil || v != "user-321" {
		t.Fatalf("session:321 = %q, %v", v, err)
	}

	// A failing BGSAVE fails the run and the metric.
	failuresBefore := testutil.ToFloat64(d.m.JobFailures.WithLabelValues(RedisJobPrefix + "sessions"))
	// The agent's BGSAVE every second may create its temp file in the
	// directory while RemoveAll empties it (the directory is then "not
	// empty" at its removal): retry until the directory is gone.
	waitUntil(t, 30*time.Second, "the Redis data directory removed", func() bool {
		return os.RemoveAll(r.DataDir) == nil
	})
	if err := rc.Set(ctx, "after", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// NOTE: the metrics move before the run's record is written: wait for
	// both, or a read between the two finds the previous (successful) run.
	var run *Run
	waitUntil(t, 60*time.Second, "the failed BGSAVE reported in the metrics and the job record", func() bool {
		if testutil.ToFloat64(d.m.RedisBgsaveSuccess.WithLabelValues("sessions")) != 0 ||
			testutil.ToFloat64(d.m.JobFailures.WithLabelValues(RedisJobPrefix+"sessions")) <= failuresBefore {
			return false
		}
		var err error
		run, err = ReadRun(ctx, store, l, RedisJobPrefix+"sessions")
		return err == nil && run != nil && run.Result == ResultFailure
	})
	t.Logf("writer keys %d; newest snapshot %s (%d bytes stored); failed run: %s", written.Load(), newest.ID, newest.StoredSize, run.Error)
}

// deletedManifests are the snapshot ids whose manifest is hidden by a
// delete marker.
func deletedManifests(t *testing.T, store objectstore.Store, l repo.Layout) []string {
	t.Helper()
	var ids []string
	err := store.ListVersions(context.Background(), l.RedisDir(), func(o objectstore.ObjectInfo) error {
		if k, ok := l.Parse(o.Key); ok && k.Kind == repo.KindRedisManifest && o.DeleteMarker && o.IsLatest {
			ids = append(ids, k.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}
