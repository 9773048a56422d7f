package posture_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/drill"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/pg"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/posture"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

var seq int

func client(t *testing.T, env *testenv.Env) *objectstore.Client {
	t.Helper()
	m := env.MinIO[0]
	c, err := objectstore.NewClient(context.Background(), objectstore.Config{Endpoint: m.Endpoint, AccessKey: m.AccessKey, SecretKey: m.SecretKey, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func bucketName(kind string) string {
	seq++
	return fmt.Sprintf("posture-%s-%d-%d", kind, os.Getpid(), seq)
}

func want(t *testing.T, r *posture.Report, control, cluster string, status posture.Status, observed string) posture.Finding {
	t.Helper()
	f, ok := r.Find(control, cluster)
	if !ok {
		t.Fatalf("no finding for %s on %q", control, cluster)
	}
	if f.Status != status || !strings.Contains(f.Observed, observed) {
		t.Fatalf("%s on %q = %s %q (remedy %q); want %s with %q", control, cluster, f.Status, f.Observed, f.Remedy, status, observed)
	}
	if status != posture.Pass && status != posture.Unknown && f.Remedy == "" {
		t.Errorf("%s on %q is %s without a remedy", control, cluster, status)
	}
	if len(f.Standards) == 0 {
		t.Errorf("%s maps to no standard", control)
	}
	return f
}

func hasEvidence(t *testing.T, f posture.Finding, key string) posture.Evidence {
	t.Helper()
	for _, e := range f.Evidence {
		if strings.Contains(e.Key, key) {
			return e
		}
	}
	t.Fatalf("%s: no evidence with key %q in %+v", f.Control, key, f.Evidence)
	return posture.Evidence{}
}

// TestAccPostureBucketControls: a bucket made by hand without object lock
// fails lock, versioning and encryption; an immutable bucket with
// GOVERNANCE retention is only warned about (an administrator can shorten
// it), and its encryption and versioning pass.
func TestAccPostureBucketControls(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	c := client(t, env)

	plain := bucketName("plain")
	if _, err := c.S3().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(plain)}); err != nil {
		t.Fatal(err)
	}
	o, err := posture.Gather(ctx, posture.Target{Buckets: c, Store: c.Store(plain)})
	if err != nil {
		t.Fatal(err)
	}
	r := posture.Evaluate(o, posture.Params{})
	f := want(t, r, posture.ControlObjectLock, "", posture.Fail, "object lock not enabled")
	hasEvidence(t, f, "s3://"+plain)
	want(t, r, posture.ControlVersioning, "", posture.Fail, "none")
	want(t, r, posture.ControlEncryption, "", posture.Fail, "none")
	want(t, r, posture.ControlWriterNoDelete, "", posture.Unknown, "no writer probe")

	locked := bucketName("locked")
	if err := c.CreateBucket(ctx, objectstore.BucketSpec{Name: locked,
		Retention:  &objectstore.Retention{Mode: objectstore.ModeGovernance, Days: 3},
		Encryption: &objectstore.Encryption{Algorithm: objectstore.SSEAES256}}); err != nil {
		t.Fatal(err)
	}
	o, err = posture.Gather(ctx, posture.Target{Buckets: c, Store: c.Store(locked)})
	if err != nil {
		t.Fatal(err)
	}
	r = posture.Evaluate(o, posture.Params{MinLockDays: 7})
	want(t, r, posture.ControlObjectLock, "", posture.Fail, "GOVERNANCE, 3 days")
	r = posture.Evaluate(o, posture.Params{MinLockDays: 2})
	want(t, r, posture.ControlObjectLock, "", posture.Warn, "GOVERNANCE, 3 days")
	want(t, r, posture.ControlVersioning, "", posture.Pass, "Enabled")
	want(t, r, posture.ControlEncryption, "", posture.Pass, "AES256")
}

// TestAccPostureBackupsAndConfiguration: a real base backup taken just now
// passes the backup age control, and the same repository judged three
// days later fails it, naming the manifest; a cluster whose policy is old
// and that has no backup fails; a policy signed by a trusted key passes the
// configuration control, an unsigned one fails it when a key is trusted.
func TestAccPostureBackupsAndConfiguration(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	c := client(t, env)
	bucket := bucketName("backups")
	if err := c.CreateBucket(ctx, objectstore.BucketSpec{Name: bucket}); err != nil {
		t.Fatal(err)
	}
	store := c.Store(bucket)
	signer, err := signature.Generate()
	if err != nil {
		t.Fatal(err)
	}
	trust, err := signature.NewTrust(signer.Public().String())
	if err != nil {
		t.Fatal(err)
	}

	main := repo.Layout{Prefix: "pg", Cluster: "main"}
	if err := repo.WritePolicy(ctx, store, main, repo.Policy{Format: 1, Cluster: "main", Schedule: "@hourly",
		TenantDatabases: []string{"postgres"}}, signer); err != nil {
		t.Fatal(err)
	}
	m, err := backup.Take(ctx, store, backup.Options{Layout: main, DSN: env.Postgres.DSN("postgres")})
	if err != nil {
		t.Fatal(err)
	}
	// The idle cluster: its policy is two days old and it never had a backup.
	idle := repo.Layout{Prefix: "pg", Cluster: "idle"}
	if err := repo.WritePolicy(ctx, store, idle, repo.Policy{Format: 1, Cluster: "idle", Schedule: "@hourly"}, nil); err != nil {
		t.Fatal(err)
	}

	gather := func(now time.Time) *posture.Report {
		t.Helper()
		o, err := posture.Gather(ctx, posture.Target{Buckets: c, Store: store, Prefix: "pg", Clusters: []string{"main", "idle"}, Trust: trust, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		return posture.Evaluate(o, posture.Params{Trust: trust})
	}
	r := gather(time.Time{})
	f := want(t, r, posture.ControlBaseBackupAge, "main", posture.Pass, "old")
	if e := hasEvidence(t, f, main.BackupManifestKey(m.ID)); !e.Time.Equal(m.StopTime) {
		t.Errorf("evidence time %s, want the backup's stop time %s", e.Time, m.StopTime)
	}
	// No dump of the declared tenant, but the policy is new: none is owed yet.
	want(t, r, posture.ControlTenantDumps, "main", posture.Pass, "0 of 1 tenants have a dump, none overdue")
	f = want(t, r, posture.ControlConfiguration, "main", posture.Pass, "all signed")
	if e := hasEvidence(t, f, main.PolicyKey()); e.Version == "" || !strings.Contains(e.Note, signer.Public().ID()) {
		t.Errorf("policy evidence %+v: want its version and signer %s", e, signer.Public().ID())
	}
	want(t, r, posture.ControlConfiguration, "idle", posture.Fail, "policy.json not signed")
	want(t, r, posture.ControlDrill, "main", posture.Fail, "no drill schedule")
	want(t, r, posture.ControlWindow, "main", posture.Fail, "not restorable")

	later := gather(time.Now().Add(72 * time.Hour))
	f = want(t, later, posture.ControlBaseBackupAge, "main", posture.Fail, "3.0 days old")
	hasEvidence(t, f, main.BackupManifestKey(m.ID))
	want(t, later, posture.ControlBaseBackupAge, "idle", posture.Fail, "no complete base backup")
	want(t, later, posture.ControlTenantDumps, "main", posture.Fail, "postgres (never)")
}

// TestAccPostureDrills: drill evidence as the agent stores it, read back
// through drill.Latest; a passed drill within its RTO passes both drill
// controls, a failed one beyond its RTO fails both, naming the failed check
// and the evidence key.
func TestAccPostureDrills(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	c := client(t, env)
	bucket := bucketName("drills")
	if err := c.CreateBucket(ctx, objectstore.BucketSpec{Name: bucket}); err != nil {
		t.Fatal(err)
	}
	store := c.Store(bucket)
	l := repo.Layout{Cluster: "main"}
	if err := drill.WriteSchedule(ctx, store, l, drill.ScheduleDoc{Format: 1, Name: "nightly", Cluster: "main", Schedule: "@daily",
		Kind: "cluster", RTOTargetSeconds: 60}, nil); err != nil {
		t.Fatal(err)
	}
	record := func(id string, ev drill.Evidence) string {
		t.Helper()
		ev.Format, ev.ID, ev.Schedule, ev.Cluster, ev.RTOTargetSeconds = 1, id, "nightly", "main", 60
		b, _ := json.Marshal(ev)
		key := l.DrillEvidenceKey("nightly", id)
		if _, err := store.Put(ctx, key, strings.NewReader(string(b)), objectstore.PutOptions{Size: int64(len(b)), IfAbsent: true}); err != nil {
			t.Fatal(err)
		}
		return key
	}
	evaluate := func() *posture.Report {
		t.Helper()
		o, err := posture.Gather(ctx, posture.Target{Buckets: c, Store: store, Clusters: []string{"main"}})
		if err != nil {
			t.Fatal(err)
		}
		return posture.Evaluate(o, posture.Params{DrillWithinDays: 7})
	}

	now := time.Now().UTC()
	passed := record("20261101T000000Z-aaaa", drill.Evidence{Passed: true, RTOSeconds: 42, RTOMet: true,
		Started: now.Add(-time.Hour), Finished: now.Add(-time.Hour + 42*time.Second)})
	r := evaluate()
	f := want(t, r, posture.ControlDrill, "main", posture.Pass, "passed")
	hasEvidence(t, f, passed)
	want(t, r, posture.ControlRTO, "main", posture.Pass, "42s")

	failed := record("20261102T000000Z-bbbb", drill.Evidence{Passed: false, RTOSeconds: 125,
		Checks:  []drill.CheckResult{{Name: "row count", Passed: false, Expected: ">0", Observed: "0"}},
		Started: now.Add(-3 * time.Minute), Finished: now.Add(-time.Minute)})
	r = evaluate()
	f = want(t, r, posture.ControlDrill, "main", posture.Fail, "failed")
	if !strings.Contains(f.Observed, "row count") {
		t.Errorf("observed %q does not name the failed check", f.Observed)
	}
	hasEvidence(t, f, failed)
	f = want(t, r, posture.ControlRTO, "main", posture.Fail, "2m5s")
	if f.Threshold != "<= 1m0s" {
		t.Errorf("threshold %q, want the drill's own target <= 1m0s", f.Threshold)
	}
}

// TestAccPostureArchiver: once archive_command is false, after a WAL switch the archiver fails and its segment waits
// beyond a one-second RPO; once archive_command succeeds, both controls
// pass.
func TestAccPostureArchiver(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	c := client(t, env)
	bucket := bucketName("wal")
	if err := c.CreateBucket(ctx, objectstore.BucketSpec{Name: bucket}); err != nil {
		t.Fatal(err)
	}
	pool, err := pg.Pool(ctx, env.Postgres.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	exec := func(sql string) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	evaluate := func() *posture.Report {
		t.Helper()
		o, err := posture.Gather(ctx, posture.Target{Store: c.Store(bucket), Clusters: []string{"main"},
			Postgres: map[string]posture.Server{"main": {Name: "test server", Pool: pool}}})
		if err != nil {
			t.Fatal(err)
		}
		return posture.Evaluate(o, posture.Params{RPO: time.Second})
	}
	waitFor := func(what string, ok func(st pg.ArchiveState) bool) {
		t.Helper()
		for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(500 * time.Millisecond) {
			st, err := pg.ReadArchive(ctx, pool)
			if err == nil && ok(st) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s: %+v %v", what, st.Archiver, err)
			}
		}
	}

	exec("alter system set archive_command = 'false'")
	exec("select pg_reload_conf()")
	defer func() {
		exec("alter system reset archive_command")
		exec("select pg_reload_conf()")
	}()
	exec("create table if not exists posture_wal(x int)")
	// pg_reload_conf only signals: the archiver may still archive the
	// segment switched next with the old command before it rereads the
	// configuration. Switch again until a segment meets the failing one.
	for deadline := time.Now().Add(90 * time.Second); ; {
		exec("insert into posture_wal values (1)")
		exec("select pg_switch_wal()")
		st, err := pg.ReadArchive(ctx, pool)
		for wait := time.Now().Add(3 * time.Second); err == nil && !st.Archiver.Failing() && time.Now().Before(wait); {
			time.Sleep(200 * time.Millisecond)
			st, err = pg.ReadArchive(ctx, pool)
		}
		if err == nil && st.Archiver.Failing() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for a failed archive attempt: %+v %v", st.Archiver, err)
		}
	}
	time.Sleep(1500 * time.Millisecond) // the waiting segment is now older than the RPO
	r := evaluate()
	f := want(t, r, posture.ControlArchiverFailures, "main", posture.Fail, "failing")
	st, _ := pg.ReadArchive(ctx, pool)
	hasEvidence(t, f, st.Archiver.LastFailedWAL)
	want(t, r, posture.ControlWALArchiving, "main", posture.Fail, "waiting")

	exec("alter system set archive_command = 'true'")
	exec("select pg_reload_conf()")
	waitFor("the archiver to succeed", func(st pg.ArchiveState) bool { return !st.Archiver.Failing() && st.Archiver.ArchivedCount > 0 })
	exec("select pg_switch_wal()")
	waitFor("nothing waiting", func(pg.ArchiveState) bool { _, n, err := pg.OldestReady(ctx, pool); return err == nil && n == 0 })
	r = evaluate()
	want(t, r, posture.ControlArchiverFailures, "main", posture.Pass, "none since the last success")
	want(t, r, posture.ControlWALArchiving, "main", posture.Pass, "no segment waiting")
}
