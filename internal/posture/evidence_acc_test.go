package posture_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access/accesstest"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/posture"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/redisx"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/remote"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestAccPostureRestorableWindowPass: a real base backup taken with WAL
// archiving on, its WAL pushed with wal.Push, makes the cluster restorable
// from the backup's start to the last pushed segment. Judged two days on,
// the window covers a required day (pass, naming the backup's manifest and
// the last segment); a required three days it does not (fail).
func TestAccPostureRestorableWindowPass(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	c := client(t, env)
	bucket := bucketName("window")
	if err := c.CreateBucket(ctx, objectstore.BucketSpec{Name: bucket}); err != nil {
		t.Fatal(err)
	}
	store := c.Store(bucket)
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	a := newArchiver(t, env)
	a.exec("create table if not exists posture_window(x int)")
	a.exec("insert into posture_window select generate_series(1, 1000)")
	m, err := backup.Take(ctx, store, backup.Options{Layout: l, DSN: env.Postgres.DSN("postgres")})
	if err != nil {
		t.Fatal(err)
	}
	a.exec("insert into posture_window select generate_series(1, 1000)")
	a.switchAndPush(store, l)

	later := time.Now().Add(48 * time.Hour)
	o, err := posture.Gather(ctx, posture.Target{Store: store, Prefix: "pg", Clusters: []string{"main"}, Now: later})
	if err != nil {
		t.Fatal(err)
	}
	f := want(t, posture.Evaluate(o, posture.Params{WindowDays: 1}), posture.ControlWindow, "main", posture.Pass, " days)")
	if e := hasEvidence(t, f, l.BackupManifestKey(m.ID)); e.Time.After(m.StopTime) || e.Time.Before(m.StartTime.Add(-time.Second)) {
		t.Errorf("window starts %s, want the backup's start %s", e.Time, m.StartTime)
	}
	hasEvidence(t, f, l.WALDir())
	if !strings.HasPrefix(f.Threshold, "restorable from at least 1 day") {
		t.Errorf("threshold %q", f.Threshold)
	}
	want(t, posture.Evaluate(o, posture.Params{WindowDays: 3}), posture.ControlWindow, "main", posture.Fail, " days)")
}

// TestAccPostureWriterProbe: the writer probe run with a MinIO user made
// from the writer's policy document (mc) is denied every forbidden action,
// so writer_cannot_delete passes; the same probe with a user given a too
// broad document (the admin's whole-bucket s3:*) deletes past governance
// retention and rewrites the lifecycle, and the control fails naming them.
func TestAccPostureWriterProbe(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	m := env.MinIO[0]
	admin := client(t, env)
	bucket := bucketName("probe")
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	if err := admin.CreateBucket(ctx, objectstore.BucketSpec{Name: bucket,
		Retention: &objectstore.Retention{Mode: objectstore.ModeGovernance, Days: 1},
		Lifecycle: []objectstore.LifecycleTier{{Name: "wal", Prefix: l.WALDir(), NoncurrentVersionExpirationDays: 30}}}); err != nil {
		t.Fatal(err)
	}
	if err := repo.WritePolicy(ctx, admin.Store(bucket), l, repo.Policy{Format: 1, Cluster: "main", Schedule: "@daily"}, nil); err != nil {
		t.Fatal(err)
	}
	user := func(role access.Role) *objectstore.Client {
		t.Helper()
		return accesstest.Client(t, m, bucket+"-"+string(role), role, bucket, l)
	}
	judge := func(c *objectstore.Client) posture.Finding {
		t.Helper()
		probe := access.Probe(ctx, c, bucket, l)
		o, err := posture.Gather(ctx, posture.Target{Buckets: admin, Store: admin.Store(bucket), Prefix: "pg", Clusters: []string{"main"}, Probe: &probe})
		if err != nil {
			t.Fatal(err)
		}
		f, _ := posture.Evaluate(o, posture.Params{}).Find(posture.ControlWriterNoDelete, "")
		return f
	}

	f := judge(user(access.RoleWriter))
	want(t, &posture.Report{Findings: []posture.Finding{f}}, posture.ControlWriterNoDelete, "", posture.Pass,
		"6 of 6 actions denied")
	for _, check := range access.Checks() {
		found := false
		for _, e := range f.Evidence {
			found = found || strings.HasPrefix(e.Note, string(check)+": denied")
		}
		if !found {
			t.Errorf("no evidence that %s was denied: %+v", check, f.Evidence)
		}
	}

	f = judge(user(access.RoleAdmin))
	f = want(t, &posture.Report{Findings: []posture.Finding{f}}, posture.ControlWriterNoDelete, "", posture.Fail, "allowed: ")
	for _, check := range []access.Check{access.CheckBypassGovernance, access.CheckPutLifecycle, access.CheckWriteOtherCluster} {
		if !strings.Contains(f.Observed, string(check)) {
			t.Errorf("observed %q does not name %s", f.Observed, check)
		}
	}
	if !strings.Contains(f.Remedy, "never delete versions") {
		t.Errorf("remedy %q: want the destructive one", f.Remedy)
	}
}

// TestAccPostureWALVolumeSurge archives real WAL with wal.Push: one
// segment (a few real rows, then a switch) every window of six seconds
// makes the baseline, and one more in the last window passes; then twelve
// segments of real writes in a burst warn, naming segments of the burst,
// with the baseline and the observed volume.
func TestAccPostureWALVolumeSurge(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	c := client(t, env)
	bucket := bucketName("walvolume")
	if err := c.CreateBucket(ctx, objectstore.BucketSpec{Name: bucket}); err != nil {
		t.Fatal(err)
	}
	store := c.Store(bucket)
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	a := newArchiver(t, env)
	a.exec("create table if not exists posture_volume(x int, pad text)")
	write := func() {
		a.exec("insert into posture_volume select g, repeat('line', 25) from generate_series(1, 2000) g")
		a.switchAndPush(store, l)
	}
	const window = 6 * time.Second
	evaluate := func(w time.Duration) posture.Finding {
		t.Helper()
		o, err := posture.Gather(ctx, posture.Target{Store: store, Prefix: "pg", Clusters: []string{"main"}})
		if err != nil {
			t.Fatal(err)
		}
		f, _ := posture.Evaluate(o, posture.Params{AnomalyWindow: w}).Find(posture.ControlWALVolume, "main")
		return f
	}
	write() // archived before the test: not the baseline
	first := time.Now()
	for i := 0; i < 5; i++ {
		time.Sleep(time.Until(first.Add(time.Duration(i) * window)))
		write()
	}
	// The last window holds the newest segment, and the one before it
	// when its put landed a moment after the window's start.
	f := want(t, &posture.Report{Findings: []posture.Finding{evaluate(window)}}, posture.ControlWALVolume, "main", posture.Pass, " segment(s)), against")
	if obs, base := f.Measures[posture.MeasureObserved], f.Measures[posture.MeasureBaseline]; base < posture.DefaultWALSegmentSize || obs > 2*posture.DefaultWALSegmentSize {
		t.Fatalf("usual volume %.0f bytes against a baseline of %.0f: want one or two segments against at least one", obs, base)
	}

	time.Sleep(time.Until(first.Add(5 * window)))
	start := time.Now()
	for i := 0; i < 12; i++ {
		write()
	}
	// The burst takes what the loaded machine gives it: the window is at
	// least its length, so every segment of it is in the last window.
	w := max(window, time.Since(start)+time.Second)
	f = want(t, &posture.Report{Findings: []posture.Finding{evaluate(w)}}, posture.ControlWALVolume, "main", posture.Warn, "(12 segment(s))")
	if obs, base := f.Measures[posture.MeasureObserved], f.Measures[posture.MeasureBaseline]; obs != 12*posture.DefaultWALSegmentSize || base > 3*posture.DefaultWALSegmentSize {
		t.Fatalf("burst %.0f bytes against a baseline of %.0f", obs, base)
	}
	if f.Problem != "WAL Volume Surge" {
		t.Errorf("problem %q", f.Problem)
	}
	hasEvidence(t, f, l.WALDir())
}

// TestAccPostureClientEncryptionRedis: a snapshot of the harness' Redis
// stored in the clear fails the client-side encryption control, naming it,
// even though the policy declares recipients; a snapshot encrypted to the
// policy's recipients passes it, with its manifest as evidence.
func TestAccPostureClientEncryptionRedis(t *testing.T) {
	env := testenv.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := client(t, env)
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	_, recipient, err := crypt.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	recipients, err := crypt.ParseRecipients([]string{recipient})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := redisx.Connect(ctx, redisx.Options{Addr: env.Redis.Addr})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Close() }()
	if err := rc.Set(ctx, "session:enc", "alice", 0).Err(); err != nil {
		t.Fatal(err)
	}
	judge := func(snapshotTo *crypt.Recipients) (posture.Finding, *redisx.SnapshotManifest) {
		t.Helper()
		bucket := bucketName("redisenc")
		if err := c.CreateBucket(ctx, objectstore.BucketSpec{Name: bucket}); err != nil {
			t.Fatal(err)
		}
		store := c.Store(bucket)
		if err := repo.WritePolicy(ctx, store, l, repo.Policy{Format: 1, Cluster: "main", Schedule: "@daily",
			Encryption: &repo.Encryption{Recipients: []string{recipient}}}, nil); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		if err := redisx.WriteSchedule(ctx, store, l, redisx.ScheduleDoc{Instance: "sessions", Cluster: "main", Class: "session",
			Schedule: "@every 1h", Updated: now, Created: now}, nil); err != nil {
			t.Fatal(err)
		}
		m, err := redisx.Snapshot(ctx, rc, store, redisx.SnapshotOptions{Layout: l, Instance: "sessions", Recipients: snapshotTo})
		if err != nil {
			t.Fatal(err)
		}
		o, err := posture.Gather(ctx, posture.Target{Store: store, Prefix: "pg", Clusters: []string{"main"}})
		if err != nil {
			t.Fatal(err)
		}
		f, _ := posture.Evaluate(o, posture.Params{}).Find(posture.ControlClientEncryption, "main")
		return f, m
	}

	f, m := judge(nil)
	f = want(t, &posture.Report{Findings: []posture.Finding{f}}, posture.ControlClientEncryption, "main", posture.Fail,
		"not encrypted: Redis snapshot "+m.ID+" of sessions")
	hasEvidence(t, f, l.RedisManifestKey("sessions", m.ID))

	f, m = judge(recipients)
	f = want(t, &posture.Report{Findings: []posture.Finding{f}}, posture.ControlClientEncryption, "main", posture.Pass, "encrypted to ")
	if e := hasEvidence(t, f, l.RedisManifestKey("sessions", m.ID)); !strings.Contains(e.Note, "Redis snapshot") {
		t.Errorf("evidence %+v does not say it is the Redis snapshot", e)
	}
}

// TestAccPostureWALArchiveLag: the report's lag plot is each segment's
// real wait between PostgreSQL finishing it and the repository storing it,
// read from the written time wal.Push records: a segment pushed at once
// waits less than the RPO of two seconds, one pushed three seconds after
// the server finished it is drawn beyond it, at about three seconds.
func TestAccPostureWALArchiveLag(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	c := client(t, env)
	bucket := bucketName("wallag")
	if err := c.CreateBucket(ctx, objectstore.BucketSpec{Name: bucket}); err != nil {
		t.Fatal(err)
	}
	store := c.Store(bucket)
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	a := newArchiver(t, env)
	a.exec("create table if not exists posture_lag(x int)")
	a.exec("insert into posture_lag select generate_series(1, 1000)")
	a.switchAndPush(store, l)
	a.exec("insert into posture_lag select generate_series(1, 1000)")
	a.switchWAL()
	time.Sleep(3 * time.Second) // the archiver is behind: the segment waits on the server
	a.push(store, l)

	o, err := posture.Gather(ctx, posture.Target{Store: store, Prefix: "pg", Clusters: []string{"main"}})
	if err != nil {
		t.Fatal(err)
	}
	r := posture.Evaluate(o, posture.Params{RPO: 2 * time.Second})
	var lag *posture.Series
	for i := range r.Series {
		if r.Series[i].Plot == posture.PlotWALLag {
			lag = &r.Series[i]
		}
	}
	if lag == nil || len(lag.Points) < 2 || lag.Limit != 2 || lag.Unit != "seconds" {
		t.Fatalf("lag series %+v: want a point per pushed segment against the RPO", lag)
	}
	prompt, late := lag.Points[len(lag.Points)-2], lag.Points[len(lag.Points)-1]
	if prompt.Bad || prompt.V >= 2 {
		t.Errorf("segment pushed at once: lag %.2fs (bad %v), want under the RPO", prompt.V, prompt.Bad)
	}
	if !late.Bad || late.V < 3 || late.V > 30 {
		t.Errorf("segment pushed three seconds late: lag %.2fs (bad %v), want about 3s, beyond the RPO", late.V, late.Bad)
	}
	var html strings.Builder
	if err := r.HTML(&html); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(html.String(), `data-plot="wal_lag"`) || !strings.Contains(html.String(), "WAL archive lag over time") {
		t.Error("the HTML report does not draw the lag plot")
	}
}

// TestAccPostureLiveAgent: a cluster no agent ever served fails; an agent
// heartbeat published into MinIO as the agent does (remote.PublishHeartbeat)
// passes, naming the host and the heartbeat's key; judged ten minutes
// later, with a heartbeat every 30 seconds, the same agent is dead and the
// control fails naming when it was last heard.
func TestAccPostureLiveAgent(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	c := client(t, env)
	bucket := bucketName("agents")
	if err := c.CreateBucket(ctx, objectstore.BucketSpec{Name: bucket}); err != nil {
		t.Fatal(err)
	}
	store := c.Store(bucket)
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	judge := func(now time.Time) posture.Finding {
		t.Helper()
		o, err := posture.Gather(ctx, posture.Target{Store: store, Prefix: "pg", Clusters: []string{"main"}, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		f, _ := posture.Evaluate(o, posture.Params{}).Find(posture.ControlLiveAgent, "main")
		return f
	}
	want(t, &posture.Report{Findings: []posture.Finding{judge(time.Now())}}, posture.ControlLiveAgent, "main", posture.Fail, "no agent has ever published")
	if err := remote.PublishHeartbeat(ctx, store, l, remote.Heartbeat{Host: "db-eu-1", Holder: "agent-a", Cluster: "main",
		Started: time.Now().UTC(), IntervalSeconds: 30}); err != nil {
		t.Fatal(err)
	}
	f := want(t, &posture.Report{Findings: []posture.Finding{judge(time.Now())}}, posture.ControlLiveAgent, "main", posture.Pass, "live: db-eu-1")
	hasEvidence(t, f, l.HeartbeatKey("db-eu-1"))
	want(t, &posture.Report{Findings: []posture.Finding{judge(time.Now().Add(10 * time.Minute))}}, posture.ControlLiveAgent, "main", posture.Fail,
		"no agent alive; last heard: db-eu-1")
}
