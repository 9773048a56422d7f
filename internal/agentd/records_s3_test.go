package agentd

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access/accesstest"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// deleteWatch records every delete the agent asks of its store.
type deleteWatch struct {
	objectstore.Store
	mu       sync.Mutex
	versions []string // DeleteVersion calls (key@version)
	denied   []string // deletes the store refused
}

func (w *deleteWatch) DeleteVersion(ctx context.Context, key, versionID string) error {
	w.mu.Lock()
	w.versions = append(w.versions, key+"@"+versionID)
	w.mu.Unlock()
	return w.Store.DeleteVersion(ctx, key, versionID)
}

func (w *deleteWatch) Delete(ctx context.Context, key string) error {
	err := w.Store.Delete(ctx, key)
	if err != nil {
		w.mu.Lock()
		w.denied = append(w.denied, fmt.Sprintf("%s: %v", key, err))
		w.mu.Unlock()
	}
	return err
}

// The agent, running with writer credentials (a MinIO user made from the
// writer's policy document) in a bucket whose default retention is
// COMPLIANCE for a day, renews leases, takes over a lease generation,
// records runs, heartbeats and a request's progress: it never asks for a
// version to be deleted (the writer may not, and the backup policy's
// agent.* lifecycle rules expire what it replaced), the one delete it does
// ask (a delete marker retiring a superseded lease generation) is allowed,
// and no version it writes is held like the bucket's default: each carries
// its own short GOVERNANCE retention, so lifecycle can expire it.
func TestAccLeaseAndJobRecordVersionsAreNotHeldForTheBucketRetention(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	m := env.MinIO[0]
	admin, err := objectstore.NewClient(ctx, objectstore.Config{Endpoint: m.Endpoint, AccessKey: m.AccessKey, SecretKey: m.SecretKey, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	bucket := fmt.Sprintf("leases-%08x", rand.Uint32())
	if err := admin.CreateBucket(ctx, objectstore.BucketSpec{Name: bucket, Retention: &objectstore.Retention{Mode: objectstore.ModeCompliance, Days: 1}}); err != nil {
		t.Fatal(err)
	}
	// NOTE: if this test fails, versions under the bucket's COMPLIANCE
	// default stay for a day in the test MinIO; the bucket is random.
	t.Cleanup(func() { _ = admin.DestroyBucket(context.Background(), bucket, true) })
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	wc := accesstest.Client(t, m, bucket+"-w", access.RoleWriter, bucket, l)
	adminStore := admin.Store(bucket)
	store := &deleteWatch{Store: wc.Store(bucket)}
	// The test can fail: a plain put is held by the bucket's default.
	info, err := adminStore.Put(ctx, l.PolicyKey(), strings.NewReader("{}"), objectstore.PutOptions{Size: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, mode, ok := adminStore.Retention(ctx, l.PolicyKey(), info.VersionID); !ok || mode != objectstore.ModeCompliance {
		t.Fatalf("plain put: retention %q, %v; the bucket default does not apply", mode, ok)
	}
	dayAway := time.Now().Add(12 * time.Hour)

	const ttl = 2 * time.Second
	le, err := AcquireLease(ctx, store, l, "backup", "agent-a", time.Now(), ttl, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := le.Renew(ctx); err != nil {
			t.Fatal(err)
		}
		if err := WriteRun(ctx, store, l, Run{Job: "backup", Result: ResultSuccess, Finished: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if err := PutRecord(ctx, store, l.HeartbeatKey("db-1"), []byte("{}"), false, time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := PutRecord(ctx, store, l.RequestProgressKey("r1"), []byte("{}"), false, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	// Generation 2 takes over once generation 1 has expired, and retires it.
	time.Sleep(ttl + time.Second)
	if _, err := AcquireLease(ctx, store, l, "backup", "agent-b", time.Now(), ttl, nil); err != nil {
		t.Fatal(err)
	}
	versions := func(key string) (n int, marker bool) {
		t.Helper()
		err := adminStore.ListVersions(ctx, key, func(o objectstore.ObjectInfo) error {
			if o.Key != key {
				return nil
			}
			if o.DeleteMarker {
				marker = marker || o.IsLatest
				return nil
			}
			n++
			until, mode, ok := adminStore.Retention(ctx, key, o.VersionID)
			if !ok || mode != objectstore.ModeGovernance || until.After(dayAway) {
				t.Errorf("%s version %s: retention %s until %s (ok %v): held like the bucket's default", key, o.VersionID, mode, until, ok)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return n, marker
	}
	for _, key := range []string{l.JobRecordKey("backup"), l.HeartbeatKey("db-1"), l.RequestProgressKey("r1")} {
		// Every version written stays for lifecycle (none deleted).
		if n, _ := versions(key); n != 3 {
			t.Errorf("%s keeps %d versions, want the 3 written", key, n)
		}
	}
	if n, marker := versions(l.LeaseKey("backup", 1)); n != 4 || !marker {
		t.Errorf("retired generation 1: %d versions (want the 4 written), delete marker on top %v", n, marker)
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	if len(store.versions) != 0 {
		t.Errorf("the agent asked to delete %d versions (the writer never may): %v", len(store.versions), store.versions)
	}
	if len(store.denied) != 0 {
		t.Errorf("deletes refused to the writer: %v", store.denied)
	}
}
