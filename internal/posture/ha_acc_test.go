package posture_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/drill"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/pg"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/posture"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestAccPostureHAIsNotDR: a real streaming standby of the test server
// (pg_basebackup -R) is discovered from the primary's pg_stat_replication.
// With an empty repository and no drill the control fails, naming both
// gaps; judged from the standby itself it fails too. Once the repository
// holds a base backup with its archived WAL and a passed restore drill's
// evidence, it passes; with the standby stopped there is nothing to judge
// and it passes as "no streaming standby".
func TestAccPostureHAIsNotDR(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	c := client(t, env)
	bucket := bucketName("ha")
	if err := c.CreateBucket(ctx, objectstore.BucketSpec{Name: bucket}); err != nil {
		t.Fatal(err)
	}
	store := c.Store(bucket)
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	a := newArchiver(t, env)

	dir, err := os.MkdirTemp("", "posture-standby-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	standby, err := env.Postgres.StartStandby(ctx, dir+"/sb")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(standby.Stop)
	sbPool, err := pg.Pool(ctx, standby.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		r, err := pg.ReadReplication(ctx, a.pool)
		if err == nil && len(r.Standbys) == 1 && r.Standbys[0].State == "streaming" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the standby never streams: %+v %v", r, err)
		}
	}
	evaluate := func(srv posture.Server) *posture.Report {
		t.Helper()
		o, err := posture.Gather(ctx, posture.Target{Store: store, Prefix: "pg", Clusters: []string{"main"},
			Postgres: map[string]posture.Server{"main": srv}})
		if err != nil {
			t.Fatal(err)
		}
		return posture.Evaluate(o, posture.Params{})
	}
	primary := posture.Server{Name: "primary", Pool: a.pool}

	// A standby, nothing else: HA without DR.
	f := want(t, evaluate(primary), posture.ControlHAIsNotDR, "main", posture.Fail, "1 streaming standby(s), but")
	for _, gap := range []string{"no WAL archive in the repository", "no passed restore drill"} {
		if !strings.Contains(f.Observed, gap) {
			t.Errorf("observed %q does not name %q", f.Observed, gap)
		}
	}
	if f.Problem != "HA Is Not DR" || !strings.Contains(f.Evidence[0].Note, "streaming") {
		t.Errorf("finding %+v", f)
	}
	want(t, evaluate(posture.Server{Name: "standby", Pool: sbPool}), posture.ControlHAIsNotDR, "main", posture.Fail, "standby is itself a standby")

	// An archive (a base backup and its WAL), still no tested restore.
	if _, err := backup.Take(ctx, store, backup.Options{Layout: l, DSN: env.Postgres.DSN("postgres")}); err != nil {
		t.Fatal(err)
	}
	a.switchAndPush(store, l)
	f = want(t, evaluate(primary), posture.ControlHAIsNotDR, "main", posture.Fail, "but no passed restore drill")
	if strings.Contains(f.Observed, "archive") {
		t.Errorf("the archive is there, yet observed %q", f.Observed)
	}

	// A failed drill is no tested restore; a passed one is.
	if err := drill.WriteSchedule(ctx, store, l, drill.ScheduleDoc{Format: 1, Name: "nightly", Cluster: "main", Schedule: "@daily", Kind: "cluster"}, nil); err != nil {
		t.Fatal(err)
	}
	record := func(id string, passed bool) string {
		t.Helper()
		now := time.Now().UTC()
		ev := drill.Evidence{Format: 1, ID: id, Schedule: "nightly", Cluster: "main", Passed: passed, Started: now.Add(-time.Minute), Finished: now}
		b, _ := json.Marshal(ev)
		key := l.DrillEvidenceKey("nightly", id)
		if _, err := store.Put(ctx, key, strings.NewReader(string(b)), objectstore.PutOptions{Size: int64(len(b)), IfAbsent: true}); err != nil {
			t.Fatal(err)
		}
		return key
	}
	record("20261101T000000Z-aaaa", false)
	want(t, evaluate(primary), posture.ControlHAIsNotDR, "main", posture.Fail, "but no passed restore drill")
	key := record("20261102T000000Z-bbbb", true)
	f = want(t, evaluate(primary), posture.ControlHAIsNotDR, "main", posture.Pass, "1 streaming standby(s), with a restorable WAL archive and a passed restore drill")
	hasEvidence(t, f, key)

	// No standby: nothing to mistake for DR.
	standby.Stop()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		r, err := pg.ReadReplication(ctx, a.pool)
		if err == nil && len(r.Standbys) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stopped standby still streams: %+v %v", r, err)
		}
	}
	want(t, evaluate(primary), posture.ControlHAIsNotDR, "main", posture.Pass, "no streaming standby")
}
