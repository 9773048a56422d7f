package agentd

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// In a bucket whose default retention is COMPLIANCE for a day, lease
// renewals and job records must not each leave a version locked for that
// day: every version is locked (GOVERNANCE) for the lease ttl or
// JobRecordRetention only, and the versions replaced are deleted once that
// has passed.
func TestAccLeaseAndJobRecordVersionsAreNotHeldForTheBucketRetention(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	c, err := objectstore.NewClient(ctx, objectstore.Config{
		Endpoint: env.MinIO[0].Endpoint, AccessKey: env.MinIO[0].AccessKey, SecretKey: env.MinIO[0].SecretKey, PathStyle: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	bucket := fmt.Sprintf("leases-%08x", rand.Uint32())
	if err := c.CreateBucket(ctx, objectstore.BucketSpec{Name: bucket, Retention: &objectstore.Retention{Mode: objectstore.ModeCompliance, Days: 1}}); err != nil {
		t.Fatal(err)
	}
	// NOTE: if this test fails, versions under the bucket's COMPLIANCE
	// default stay for a day in the test MinIO; the bucket is random.
	t.Cleanup(func() { _ = c.DestroyBucket(context.Background(), bucket, true) })
	store := c.Store(bucket)
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	// The test can fail: a plain put is held by the bucket's default.
	info, err := store.Put(ctx, l.PolicyKey(), strings.NewReader("{}"), objectstore.PutOptions{Size: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, mode, ok := store.Retention(ctx, l.PolicyKey(), info.VersionID); !ok || mode != objectstore.ModeCompliance {
		t.Fatalf("plain put: retention %q, %v; the bucket default does not apply", mode, ok)
	}
	dayAway := time.Now().Add(12 * time.Hour)

	const ttl = 3 * time.Second
	le, err := AcquireLease(ctx, store, l, "backup", "agent-a", time.Now(), ttl, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := le.Renew(ctx); err != nil {
			t.Fatal(err)
		}
		if err := WriteRun(ctx, store, l, Run{Job: "backup", Result: ResultSuccess, Finished: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	locks := func(key string) (n int) {
		t.Helper()
		err := store.ListVersions(ctx, key, func(o objectstore.ObjectInfo) error {
			if o.Key != key || o.DeleteMarker {
				return nil
			}
			n++
			until, mode, ok := store.Retention(ctx, key, o.VersionID)
			if !ok || mode != objectstore.ModeGovernance || until.After(dayAway) {
				t.Errorf("%s version %s: retention %s until %s (ok %v): held like the bucket's default", key, o.VersionID, mode, until, ok)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	locks(l.LeaseKey("backup", 1))
	locks(l.JobRecordKey("backup"))

	// Once the ttl has passed, the next renewal deletes the versions it
	// replaced: the lease key holds the current version (and at most the
	// one written just before, still locked).
	time.Sleep(ttl + time.Second)
	if err := le.Renew(ctx); err == nil {
		t.Fatal("a lease past its ttl renewed")
	}
	le, err = AcquireLease(ctx, store, l, "backup", "agent-a", time.Now(), ttl, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := locks(l.LeaseKey("backup", 1)); n != 0 {
		t.Fatalf("generation 1 keeps %d versions after generation 2 took over", n)
	}
	// Renewed every 2s with a 3s ttl: each renewal finds the version
	// written two renewals ago unlocked and deletes it, so the key keeps at
	// most two versions however long the job runs (five would pile up).
	for range 4 {
		time.Sleep(2 * time.Second)
		if err := le.Renew(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := locks(l.LeaseKey("backup", 2)); n > 2 {
		t.Fatalf("generation 2 keeps %d versions after 5 renewals, want at most 2", n)
	}
}
