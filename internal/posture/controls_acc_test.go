package posture_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/drill"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/posture"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// writeRun stores a job record as the agent does (the agent's writer is
// the only writer of these records in production).
func writeRun(t *testing.T, store objectstore.Store, l repo.Layout, r repo.JobRun) {
	t.Helper()
	b, _ := json.Marshal(r)
	if _, err := store.Put(context.Background(), l.JobRecordKey(r.Job), strings.NewReader(string(b)), objectstore.PutOptions{Size: int64(len(b))}); err != nil {
		t.Fatal(err)
	}
}

// TestAccPostureObjectLockCompliance: COMPLIANCE retention of at least
// the minimum days passes (the fail and warn cases are in
// TestAccPostureBucketControls).
func TestAccPostureObjectLockCompliance(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	c := client(t, env)
	b := bucketName("compliance")
	// NOTE: an empty bucket: COMPLIANCE holds no object of this test that
	// would outlive it.
	if err := c.CreateBucket(ctx, objectstore.BucketSpec{Name: b, Retention: &objectstore.Retention{Mode: objectstore.ModeCompliance, Days: 1}}); err != nil {
		t.Fatal(err)
	}
	o, err := posture.Gather(ctx, posture.Target{Buckets: c, Store: c.Store(b)})
	if err != nil {
		t.Fatal(err)
	}
	f := want(t, posture.Evaluate(o, posture.Params{MinLockDays: 1}), posture.ControlObjectLock, "", posture.Pass, "COMPLIANCE, 1 days")
	hasEvidence(t, f, "s3://"+b)
	want(t, posture.Evaluate(o, posture.Params{MinLockDays: 2}), posture.ControlObjectLock, "", posture.Fail, "COMPLIANCE, 1 days")
}

// TestAccPostureJobRecords: the agent's records of its scheduled backup and
// verification, read back from the bucket: a backup that could not dump a
// tenant fails the tenant control naming it and the record; a failed
// verification fails with its error, an old one fails as overdue, a
// recent successful one passes.
func TestAccPostureJobRecords(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	c := client(t, env)
	b := bucketName("jobs")
	if err := c.CreateBucket(ctx, objectstore.BucketSpec{Name: b}); err != nil {
		t.Fatal(err)
	}
	store := c.Store(b)
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	evaluate := func(now time.Time) *posture.Report {
		t.Helper()
		o, err := posture.Gather(ctx, posture.Target{Buckets: c, Store: store, Prefix: "pg", Clusters: []string{"main"}, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		return posture.Evaluate(o, posture.Params{VerifyWithinDays: 2})
	}
	now := time.Now().UTC()
	want(t, evaluate(now), posture.ControlTenantDumpErrors, "main", posture.Unknown, "no scheduled backup")

	writeRun(t, store, l, repo.JobRun{Job: repo.JobBackup, Result: repo.JobFailure, Holder: "db1", Started: now, Finished: now,
		TenantFailures: map[string]string{"acme_gone": `database "acme_gone" does not exist`}})
	writeRun(t, store, l, repo.JobRun{Job: repo.JobVerify, Result: repo.JobFailure, Holder: "db1", Started: now, Finished: now,
		Error: "pg/main/wal/00000001/000000010000000000000003.zst: WAL segment content does not match"})
	r := evaluate(now)
	f := want(t, r, posture.ControlTenantDumpErrors, "main", posture.Fail, "acme_gone")
	hasEvidence(t, f, l.JobRecordKey(repo.JobBackup))
	if f.Problem != "Tenant Dumps Failing" {
		t.Errorf("problem %q", f.Problem)
	}
	f = want(t, r, posture.ControlVerification, "main", posture.Fail, "000000010000000000000003")
	hasEvidence(t, f, l.JobRecordKey(repo.JobVerify))

	writeRun(t, store, l, repo.JobRun{Job: repo.JobBackup, Result: repo.JobSuccess, Holder: "db1", Started: now, Finished: now})
	writeRun(t, store, l, repo.JobRun{Job: repo.JobVerify, Result: repo.JobSuccess, Holder: "db1", Started: now, Finished: now})
	r = evaluate(now)
	want(t, r, posture.ControlTenantDumpErrors, "main", posture.Pass, "dumped every tenant")
	want(t, r, posture.ControlVerification, "main", posture.Pass, "success")
	f = want(t, evaluate(now.Add(72*time.Hour)), posture.ControlVerification, "main", posture.Fail, "3.0 days ago")
	if f.Problem != "Verification Overdue" {
		t.Errorf("problem %q, want Verification Overdue", f.Problem)
	}
}

// TestAccPostureDrillScheduleAndEvidence: a daily drill that ran an hour
// ago is on schedule and its evidence intact; judged three days later it
// is overdue; a version written over its evidence is reported, naming the
// key, while the locked original stays the one judged.
func TestAccPostureDrillScheduleAndEvidence(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	c := client(t, env)
	b := bucketName("drillsched")
	if err := c.CreateBucket(ctx, objectstore.BucketSpec{Name: b}); err != nil {
		t.Fatal(err)
	}
	store := c.Store(b)
	l := repo.Layout{Cluster: "main"}
	if err := drill.WriteSchedule(ctx, store, l, drill.ScheduleDoc{Format: 1, Name: "nightly", Cluster: "main", Schedule: "@daily", Kind: "cluster"}, nil); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	ev := drill.Evidence{Format: 1, ID: "20261101T000000Z-aaaa", Schedule: "nightly", Cluster: "main", Passed: true, RTOSeconds: 3,
		Started: now.Add(-time.Hour), Finished: now.Add(-time.Hour + 3*time.Second)}
	key := l.DrillEvidenceKey("nightly", ev.ID)
	put := func(ev drill.Evidence) {
		t.Helper()
		body, _ := json.Marshal(ev)
		if _, err := store.Put(ctx, key, strings.NewReader(string(body)), objectstore.PutOptions{Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
	}
	put(ev)
	evaluate := func(now time.Time) *posture.Report {
		t.Helper()
		o, err := posture.Gather(ctx, posture.Target{Buckets: c, Store: store, Clusters: []string{"main"}, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		return posture.Evaluate(o, posture.Params{})
	}
	r := evaluate(now)
	f := want(t, r, posture.ControlDrillOnSchedule, "main", posture.Pass, "none overdue")
	hasEvidence(t, f, key)
	want(t, r, posture.ControlDrillEvidence, "main", posture.Pass, "1 evidence object(s) intact")

	f = want(t, evaluate(now.Add(72*time.Hour)), posture.ControlDrillOnSchedule, "main", posture.Fail, `drill "nightly" was due at`)
	hasEvidence(t, f, key)

	forged := ev
	forged.RTOSeconds = 1
	put(forged)
	r = evaluate(now)
	f = want(t, r, posture.ControlDrillEvidence, "main", posture.Warn, "written over after the drill: "+key)
	if f.Problem != "Drill Evidence Overwritten" {
		t.Errorf("problem %q", f.Problem)
	}
	want(t, r, posture.ControlRTO, "main", posture.Unknown, "3s measured")
}

// TestAccPostureLifecycleSparesConfig: a bucket tier that expires the whole
// repository (its policy.json, drill schedules, job records) fails the
// control with the tier named; a tier on a data folder passes.
func TestAccPostureLifecycleSparesConfig(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	c := client(t, env)
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	for _, tc := range []struct {
		prefix string
		status posture.Status
		seen   string
	}{
		{"pg/", posture.Fail, `"wipe" (prefix "pg/")`},
		{l.Dir(repo.FolderBaseBackups), posture.Pass, "none reaching the configuration"},
	} {
		b := bucketName("tiers")
		if err := c.CreateBucket(ctx, objectstore.BucketSpec{Name: b,
			Lifecycle: []objectstore.LifecycleTier{{Name: "wipe", Prefix: tc.prefix, ExpirationDays: 30}}}); err != nil {
			t.Fatal(err)
		}
		o, err := posture.Gather(ctx, posture.Target{Buckets: c, Store: c.Store(b), Prefix: "pg", Clusters: []string{"main"}})
		if err != nil {
			t.Fatal(err)
		}
		f := want(t, posture.Evaluate(o, posture.Params{}), posture.ControlLifecycleSpares, "main", tc.status, tc.seen)
		hasEvidence(t, f, "s3://"+b)
	}
}
