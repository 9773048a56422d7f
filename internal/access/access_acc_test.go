package access

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.Spec{MinIO: 1}))
}

// fixture is a repository bucket in MinIO as the provider leaves it
// (object lock with a GOVERNANCE default, a lifecycle tier, a policy), and
// one MinIO user per role, each created with mc from that role's document.
type fixture struct {
	bucket string
	l      repo.Layout
	admin  *objectstore.Client // MinIO's root user
	users  map[Role]*objectstore.Client
}

func newFixture(t *testing.T, bucket string) *fixture {
	t.Helper()
	env := testenv.Require(t)
	m := env.MinIO[0]
	ctx := context.Background()
	f := &fixture{bucket: bucket, l: repo.Layout{Prefix: "pg", Cluster: "main"}, users: map[Role]*objectstore.Client{}}
	f.admin = client(t, m, m.AccessKey, m.SecretKey)
	err := f.admin.CreateBucket(ctx, objectstore.BucketSpec{
		Name:      bucket,
		Retention: &objectstore.Retention{Mode: objectstore.ModeGovernance, Days: 1},
		Lifecycle: []objectstore.LifecycleTier{{Name: "wal", Prefix: f.l.WALDir(), NoncurrentVersionExpirationDays: 30}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.WritePolicy(ctx, f.admin.Store(bucket), f.l, repo.Policy{Cluster: "main", Schedule: "0 2 * * *"}, nil); err != nil {
		t.Fatal(err)
	}
	for _, role := range Roles() {
		d, err := Policy(role, bucket, f.l)
		if err != nil {
			t.Fatal(err)
		}
		ak, sk := bucket+"-"+string(role), "secret-"+bucket+"-"+string(role)
		if err := m.CreateUser(ctx, ak, sk, bucket+"-"+string(role), d.JSON()); err != nil {
			t.Fatalf("creating the %s user from its document: %v", role, err)
		}
		// Again: creating an existing user with an attached policy is
		// not an error (the demo reruns it on the same server).
		if err := m.CreateUser(ctx, ak, sk, bucket+"-"+string(role), d.JSON()); err != nil {
			t.Fatalf("creating the %s user again: %v", role, err)
		}
		f.users[role] = client(t, m, ak, sk)
	}
	return f
}

func client(t *testing.T, m *testenv.MinIO, ak, sk string) *objectstore.Client {
	t.Helper()
	c, err := objectstore.NewClient(context.Background(), objectstore.Config{Endpoint: m.Endpoint, AccessKey: ak, SecretKey: sk, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func put(ctx context.Context, c *objectstore.Client, bucket, key string, opts objectstore.PutOptions) error {
	opts.Size = 2
	_, err := c.Store(bucket).Put(ctx, key, strings.NewReader("{}"), opts)
	return err
}

func get(ctx context.Context, c *objectstore.Client, bucket, key string) error {
	rc, _, err := c.Store(bucket).Get(ctx, key)
	if err == nil {
		rc.Close()
	}
	return err
}

func listKeys(ctx context.Context, c *objectstore.Client, bucket, prefix string) error {
	return c.Store(bucket).List(ctx, prefix, func(objectstore.ObjectInfo) error { return nil })
}

// TestAccRolesMinIO creates a MinIO user from each role's document with mc
// (MinIO refuses a document with an action or condition it does not know)
// and checks, request by request, what each may and may not do.
func TestAccRolesMinIO(t *testing.T) {
	f := newFixture(t, "access-roles")
	ctx := context.Background()
	l, b := f.l, f.bucket
	wal := l.WALKey("00000001", "000000010000000000000001", "zst")
	other := repo.Layout{Prefix: "pg", Cluster: "other"}
	if err := put(ctx, f.admin, b, other.PolicyKey(), objectstore.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := put(ctx, f.admin, b, l.DrillScheduleKey("nightly"), objectstore.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	w, r, a := f.users[RoleWriter], f.users[RoleRestorer], f.users[RoleAuditor]
	type op struct {
		name string
		do   func() error
	}
	mustAllow := func(t *testing.T, role Role, ops ...op) {
		t.Helper()
		for _, o := range ops {
			if err := o.do(); err != nil {
				t.Errorf("%s: %s: %v, want allowed", role, o.name, err)
			}
		}
	}
	mustDeny := func(t *testing.T, role Role, ops ...op) {
		t.Helper()
		for _, o := range ops {
			if err := o.do(); !errors.Is(err, objectstore.ErrAccessDenied) {
				t.Errorf("%s: %s: %v, want access denied", role, o.name, err)
			}
		}
	}
	t.Run("writer", func(t *testing.T) {
		mustAllow(t, RoleWriter,
			op{"put WAL", func() error { return put(ctx, w, b, wal, objectstore.PutOptions{IfAbsent: true}) }},
			op{"put cluster.json", func() error { return put(ctx, w, b, l.ClusterInfoKey(), objectstore.PutOptions{IfAbsent: true}) }},
			op{"put lease", func() error { return put(ctx, w, b, l.LeaseKey("backup", 1), objectstore.PutOptions{}) }},
			op{"put job record", func() error { return put(ctx, w, b, l.JobRecordKey("backup"), objectstore.PutOptions{}) }},
			op{"put evidence under COMPLIANCE retention", func() error {
				return put(ctx, w, b, l.DrillEvidenceKey("nightly", "e1"), objectstore.PutOptions{IfAbsent: true, RetainUntil: time.Now().Add(time.Minute)})
			}},
			op{"put a multipart backup part", func() error {
				_, err := w.Store(b).Put(ctx, l.BackupObjectKey("b1", "base.tar.zst/000001"), io.LimitReader(zeros{}, 6<<20), objectstore.PutOptions{Size: -1})
				return err
			}},
			op{"put a request's progress", func() error { return put(ctx, w, b, l.RequestProgressKey("r1"), objectstore.PutOptions{}) }},
			op{"put a request's result", func() error { return put(ctx, w, b, l.RequestResultKey("r1"), objectstore.PutOptions{IfAbsent: true}) }},
			op{"put a heartbeat", func() error { return put(ctx, w, b, l.HeartbeatKey("db-eu-1"), objectstore.PutOptions{}) }},
			op{"read policy.json", func() error { return get(ctx, w, b, l.PolicyKey()) }},
			op{"list own root", func() error { return listKeys(ctx, w, b, l.RootDir()) }},
			op{"list own WAL versions", func() error {
				return w.Store(b).ListVersions(ctx, l.WALDir(), func(objectstore.ObjectInfo) error { return nil })
			}},
			op{"delete WAL (a delete marker)", func() error { return w.Store(b).Delete(ctx, wal) }},
			op{"read the lifecycle", func() error {
				_, err := w.S3().GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String(b)})
				return err
			}},
			op{"read the object lock", func() error {
				_, err := w.S3().GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String(b)})
				return err
			}},
		)
		mustDeny(t, RoleWriter,
			op{"put policy.json", func() error { return put(ctx, w, b, l.PolicyKey(), objectstore.PutOptions{}) }},
			op{"put a drill schedule", func() error { return put(ctx, w, b, l.DrillScheduleKey("nightly"), objectstore.PutOptions{}) }},
			op{"put a request (only the provider orders work)", func() error { return put(ctx, w, b, l.RequestKey("r2"), objectstore.PutOptions{}) }},
			op{"acknowledge a request", func() error { return put(ctx, w, b, l.RequestAckKey("r1"), objectstore.PutOptions{}) }},
			op{"put a heartbeat into another cluster", func() error { return put(ctx, w, b, other.HeartbeatKey("db-eu-1"), objectstore.PutOptions{}) }},
			op{"put into another cluster", func() error {
				return put(ctx, w, b, other.WALKey("00000001", "000000010000000000000001", "zst"), objectstore.PutOptions{})
			}},
			op{"read another cluster", func() error { return get(ctx, w, b, other.PolicyKey()) }},
			op{"list the prefix", func() error { return listKeys(ctx, w, b, "pg/") }},
			op{"list another cluster", func() error { return listKeys(ctx, w, b, other.RootDir()) }},
			op{"delete policy.json", func() error { return w.Store(b).Delete(ctx, l.PolicyKey()) }},
			op{"delete evidence", func() error { return w.Store(b).Delete(ctx, l.DrillEvidenceKey("nightly", "e1")) }},
			op{"delete a WAL version", func() error { return deleteFirstVersion(ctx, f.admin, w, b, wal) }},
		)
	})
	t.Run("restorer", func(t *testing.T) {
		mustAllow(t, RoleRestorer,
			op{"read policy.json", func() error { return get(ctx, r, b, l.PolicyKey()) }},
			op{"read a WAL version", func() error {
				var v objectstore.ObjectInfo
				_ = f.admin.Store(b).ListVersions(ctx, wal, func(o objectstore.ObjectInfo) error {
					if !o.DeleteMarker {
						v = o
					}
					return nil
				})
				rc, _, err := r.Store(b).GetVersion(ctx, wal, v.VersionID)
				if err == nil {
					rc.Close()
				}
				return err
			}},
			op{"list versions", func() error {
				return r.Store(b).ListVersions(ctx, l.RootDir(), func(objectstore.ObjectInfo) error { return nil })
			}},
		)
		mustDeny(t, RoleRestorer,
			op{"put WAL", func() error {
				return put(ctx, r, b, l.WALKey("00000001", "000000010000000000000002", "zst"), objectstore.PutOptions{})
			}},
			op{"delete", func() error { return r.Store(b).Delete(ctx, l.ClusterInfoKey()) }},
			op{"read another cluster", func() error { return get(ctx, r, b, other.PolicyKey()) }},
		)
	})
	t.Run("auditor", func(t *testing.T) {
		mustAllow(t, RoleAuditor,
			op{"read evidence", func() error { return get(ctx, a, b, l.DrillEvidenceKey("nightly", "e1")) }},
			op{"list evidence versions", func() error {
				return a.Store(b).ListVersions(ctx, l.DrillEvidenceDir("nightly"), func(objectstore.ObjectInfo) error { return nil })
			}},
			op{"read the versioning", func() error {
				_, err := a.S3().GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(b)})
				return err
			}},
			// What a posture report reads of the bucket with the
			// auditor's keys: every field, as the admin reads it.
			op{"read the bucket's posture", func() error {
				st, err := a.ReadBucket(ctx, b)
				if err != nil {
					return err
				}
				want, err := f.admin.ReadBucket(ctx, b)
				if err != nil {
					return err
				}
				if !st.ObjectLockEnabled || st.Versioning != "Enabled" || st.Spec.Retention == nil || *st.Spec.Retention != *want.Spec.Retention ||
					len(st.Spec.Lifecycle) != 1 || st.Spec.Lifecycle[0].Name != "wal" || (st.PublicAccessBlocked == nil) != (want.PublicAccessBlocked == nil) {
					return fmt.Errorf("auditor read %+v, the admin %+v", st, want)
				}
				return nil
			}},
		)
		mustDeny(t, RoleAuditor,
			op{"read policy.json", func() error { return get(ctx, a, b, l.PolicyKey()) }},
			op{"read cluster.json", func() error { return get(ctx, a, b, l.ClusterInfoKey()) }},
			op{"put evidence", func() error { return put(ctx, a, b, l.DrillEvidenceKey("nightly", "e2"), objectstore.PutOptions{}) }},
			op{"list the root", func() error { return listKeys(ctx, a, b, l.RootDir()) }},
			op{"tag the bucket", func() error {
				_, err := a.S3().PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: aws.String(b),
					Tagging: &s3types.Tagging{TagSet: []s3types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}})
				return a.Classify("tag the bucket", err)
			}},
		)
	})
}

// TestAccCopyRoleMinIO: the copy role's MinIO user (created from its
// document) writes copies, reads them back and appends the index below the
// cluster root of the destination, under the bucket's default lock; it
// deletes nothing, names no retention, writes no agent state nor a
// region's activation mark and cannot change the bucket; the probe, run as that user, finds every forbidden
// action denied by the policy.
func TestAccCopyRoleMinIO(t *testing.T) {
	f := newFixture(t, "access-copy")
	ctx := context.Background()
	l, b, c := f.l, f.bucket, f.users[RoleCopy]
	wal := l.WALKey("00000001", "000000010000000000000001", "zst")
	other := repo.Layout{Prefix: "pg", Cluster: "other"}
	ok := func(name string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("copy: %s: %v, want allowed", name, err)
		}
	}
	denied := func(name string, err error) {
		t.Helper()
		if !errors.Is(err, objectstore.ErrAccessDenied) {
			t.Errorf("copy: %s: %v, want access denied", name, err)
		}
	}
	ok("put WAL", put(ctx, c, b, wal, objectstore.PutOptions{}))
	ok("put policy.json (the copy carries it)", put(ctx, c, b, l.PolicyKey(), objectstore.PutOptions{}))
	ok("put a drill schedule's copy", put(ctx, c, b, l.DrillScheduleKey("nightly"), objectstore.PutOptions{}))
	ok("append an index segment", put(ctx, c, b, l.RegionIndexKey("eu2", 1), objectstore.PutOptions{IfAbsent: true}))
	_, err := c.Store(b).Put(ctx, l.BackupObjectKey("b1", "base.tar.zst/000001"), io.LimitReader(zeros{}, 6<<20), objectstore.PutOptions{Size: -1})
	ok("put a multipart backup part", err)
	ok("read back", get(ctx, c, b, wal))
	ok("list the index", listKeys(ctx, c, b, l.RegionIndexDir("eu2")))
	info, err := f.admin.Store(b).Head(ctx, wal)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, locked := f.admin.Store(b).Retention(ctx, wal, info.VersionID); !locked {
		t.Error("a copy written by the copy role is not under the bucket's default lock")
	}

	denied("put with its own retention", put(ctx, c, b, l.WALKey("00000001", "000000010000000000000002", "zst"),
		objectstore.PutOptions{RetainUntil: time.Now().Add(time.Minute)}))
	denied("delete (a delete marker)", c.Store(b).Delete(ctx, wal))
	denied("delete a version", deleteFirstVersion(ctx, f.admin, c, b, wal))
	denied("put a lease", put(ctx, c, b, l.LeaseKey("backup", 1), objectstore.PutOptions{}))
	denied("put a job record", put(ctx, c, b, l.JobRecordKey("backup"), objectstore.PutOptions{}))
	denied("put a heartbeat", put(ctx, c, b, l.HeartbeatKey("db-eu-1"), objectstore.PutOptions{}))
	denied("put a request (an agent in the region would act on it)", put(ctx, c, b, l.RequestKey("r1"), objectstore.PutOptions{}))
	denied("put the region's activation mark", put(ctx, c, b, l.RegionActivationKey("eu2"), objectstore.PutOptions{}))
	denied("put beside the activation mark", put(ctx, c, b, l.RegionActivationPrefix("eu2")+".json.sig", objectstore.PutOptions{}))
	denied("put into another cluster", put(ctx, c, b, other.WALKey("00000001", "000000010000000000000001", "zst"), objectstore.PutOptions{}))
	_, err = c.S3().PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(b),
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusSuspended}})
	denied("suspend versioning", c.Classify("suspend versioning", err))

	before := snapshot(t, f)
	for run := 1; run <= 2; run++ {
		rep := ProbeRole(ctx, c, b, l, RoleCopy)
		if len(rep.Results) != len(ChecksFor(RoleCopy)) {
			t.Fatalf("%d results, want %d", len(rep.Results), len(ChecksFor(RoleCopy)))
		}
		for _, r := range rep.Results {
			if r.Outcome != Denied || r.By != ByPolicy {
				t.Errorf("copy run %d: %s: %s (%s) %s, want denied by policy", run, r.Check, r.Outcome, r.By, r.Detail)
			}
		}
	}
	if n := versionCount(t, f, l.RegionCanaryKey(probeJob)); n != 1 {
		t.Errorf("two copy probes left %d canary versions, want 1 (the canary is reused)", n)
	}
	// The same checks with the root user's keys: allowed, except the
	// locked version, which the lock keeps; the probe tells them apart.
	rep := ProbeRole(ctx, f.admin, b, l, RoleCopy)
	for _, r := range rep.Results {
		want := Allowed
		if r.Check == CheckDeleteLockedVersion {
			want = Denied
		}
		if r.Outcome != want {
			t.Errorf("admin: %s: %s (%s) %s, want %s", r.Check, r.Outcome, r.By, r.Detail, want)
		}
	}
	if after := snapshot(t, f); before.lifecycle != after.lifecycle || before.lock != after.lock {
		t.Errorf("the probe changed the bucket:\nbefore %+v\nafter  %+v", before, after)
	}
}

// deleteFirstVersion permanently deletes the oldest version of key with c.
func deleteFirstVersion(ctx context.Context, admin, c *objectstore.Client, bucket, key string) error {
	var versions []objectstore.ObjectInfo
	if err := admin.Store(bucket).ListVersions(ctx, key, func(o objectstore.ObjectInfo) error {
		if !o.DeleteMarker && o.Key == key {
			versions = append(versions, o)
		}
		return nil
	}); err != nil {
		return err
	}
	if len(versions) == 0 {
		return fmt.Errorf("no version of %s to delete", key)
	}
	// NOTE: the raw call: Store.DeleteVersion reports a locked version as
	// ErrObjectLocked, and every version in this bucket is locked; what is
	// checked here is the policy's answer.
	_, err := c.S3().DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), VersionId: aws.String(versions[len(versions)-1].VersionID)})
	return c.Classify("delete a version", err)
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestAccProbeMinIO runs the probe as the writer (every check denied, twice:
// the second run reuses the canary) and as the admin's document (the checks
// its keys can do are reported allowed, so the probe can fail), and checks
// that the allowed checks changed nothing.
func TestAccProbeMinIO(t *testing.T) {
	f := newFixture(t, "access-probe")
	ctx := context.Background()
	before := snapshot(t, f)

	for run := 1; run <= 2; run++ {
		rep := Probe(ctx, f.users[RoleWriter], f.bucket, f.l)
		if len(rep.Results) != len(Checks()) {
			t.Fatalf("%d results, want %d", len(rep.Results), len(Checks()))
		}
		for _, r := range rep.Results {
			if r.Outcome != Denied || r.By != ByPolicy {
				t.Errorf("writer run %d: %s: %s (%s) %s, want denied by policy", run, r.Check, r.Outcome, r.By, r.Detail)
			}
		}
	}
	if n := versionCount(t, f, f.l.JobRecordKey(probeJob)); n != 1 {
		t.Errorf("two writer probes left %d canary versions, want 1 (the canary is reused)", n)
	}

	want := map[Check]Outcome{
		// The admin's keys have the permission; the lock still says no.
		CheckDeleteLockedVersion: Denied,
		CheckBypassGovernance:    Allowed,
		CheckPutLifecycle:        Allowed,
		CheckPutDefaultRetention: Allowed,
		CheckWriteOtherCluster:   Allowed,
		CheckRewritePolicy:       Allowed,
	}
	for run := 1; run <= 2; run++ {
		rep := Probe(ctx, f.users[RoleAdmin], f.bucket, f.l)
		for _, r := range rep.Results {
			if r.Outcome != want[r.Check] {
				t.Errorf("admin run %d: %s: %s (%s) %s, want %s", run, r.Check, r.Outcome, r.By, r.Detail, want[r.Check])
			}
		}
		if r, _ := rep.Result(CheckDeleteLockedVersion); r.By != ByLock {
			t.Errorf("admin: %s denied by %q, want by the lock: %s", r.Check, r.By, r.Detail)
		}
		if got := len(rep.Allowed()); got != 5 {
			t.Errorf("admin run %d: %d checks allowed, want 5", run, got)
		}
	}
	after := snapshot(t, f)
	if before.lifecycle != after.lifecycle || before.lock != after.lock || before.policy != after.policy {
		t.Errorf("the probe changed the bucket:\nbefore %+v\nafter  %+v", before, after)
	}
	if n := versionCount(t, f, f.l.PolicyKey()); n != 1 {
		t.Errorf("policy.json has %d versions after the probes, want 1", n)
	}
	otherKey := repo.Layout{Prefix: f.l.Prefix, Cluster: otherCluster(f.l.Cluster)}.JobRecordKey(probeJob)
	if n := versionCount(t, f, otherKey); n != 1 {
		t.Errorf("two allowed probes left %d versions of %s, want 1 (conditional put)", n, otherKey)
	}
}

// TestAccProbeUnknown: a bucket without lifecycle, object lock or policy
// leaves the checks that need them Unknown, never a false Denied, and the
// lifecycle check still gives a verdict.
func TestAccProbeUnknown(t *testing.T) {
	env := testenv.Require(t)
	m := env.MinIO[0]
	ctx := context.Background()
	admin := client(t, m, m.AccessKey, m.SecretKey)
	if _, err := admin.S3().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("access-plain")}); err != nil {
		t.Fatal(err)
	}
	rep := Probe(ctx, admin, "access-plain", repo.Layout{Cluster: "main"})
	want := map[Check]Outcome{
		CheckDeleteLockedVersion: Unknown, // no lock, no version to lock
		CheckBypassGovernance:    Unknown,
		CheckPutLifecycle:        Allowed,
		CheckPutDefaultRetention: Unknown,
		CheckWriteOtherCluster:   Allowed,
		CheckRewritePolicy:       Unknown,
	}
	for _, r := range rep.Results {
		if r.Outcome != want[r.Check] {
			t.Errorf("%s: %s %s, want %s", r.Check, r.Outcome, r.Detail, want[r.Check])
		}
	}
	if _, err := admin.S3().GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String("access-plain")}); err == nil {
		t.Error("the probe enabled object lock on a bucket without it")
	}
}

type bucketSnapshot struct{ lifecycle, lock, policy string }

func snapshot(t *testing.T, f *fixture) bucketSnapshot {
	t.Helper()
	ctx := context.Background()
	api := f.admin.S3()
	lc, err := api.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String(f.bucket)})
	if err != nil {
		t.Fatal(err)
	}
	lock, err := api.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String(f.bucket)})
	if err != nil {
		t.Fatal(err)
	}
	rc, _, err := f.admin.Store(f.bucket).Get(ctx, f.l.PolicyKey())
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var pol bytes.Buffer
	if _, err := pol.ReadFrom(rc); err != nil {
		t.Fatal(err)
	}
	r := lock.ObjectLockConfiguration.Rule.DefaultRetention
	return bucketSnapshot{
		lifecycle: fmt.Sprintf("%d rules, first %s prefix %s noncurrent %d", len(lc.Rules), aws.ToString(lc.Rules[0].ID),
			aws.ToString(lc.Rules[0].Filter.Prefix), aws.ToInt32(lc.Rules[0].NoncurrentVersionExpiration.NoncurrentDays)),
		lock:   fmt.Sprintf("%s %s %d", lock.ObjectLockConfiguration.ObjectLockEnabled, r.Mode, aws.ToInt32(r.Days)),
		policy: pol.String(),
	}
}

func versionCount(t *testing.T, f *fixture, key string) int {
	t.Helper()
	n := 0
	err := f.admin.Store(f.bucket).ListVersions(context.Background(), key, func(o objectstore.ObjectInfo) error {
		if o.Key == key && !o.DeleteMarker {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
