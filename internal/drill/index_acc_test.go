package drill

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// The drill index against MinIO (an object-locked bucket): it holds every
// schedule and its newest evidence exactly as stored, so the provider's
// signature on a schedule and the agent's on evidence verify from the
// index as they do from the objects, and evidence written over shows as
// such. A reader refuses it when it is too old or, with trusted keys, not
// signed by one of them; each rewrite is a new version under a short lock.
func TestAccDrillIndex(t *testing.T) {
	testenv.Require(t)
	ctx := context.Background()
	c, err := objectstore.NewClient(ctx, objectstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	bucket := fmt.Sprintf("drill-index-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)
	if err := c.CreateBucket(ctx, objectstore.BucketSpec{Name: bucket, Retention: &objectstore.Retention{Mode: objectstore.ModeGovernance, Days: 1}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.DestroyBucket(context.Background(), bucket, true) })
	store := c.Store(bucket)
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	provider, _ := signature.Generate()
	agent, _ := signature.Generate()
	providerTrust, _ := signature.NewTrust(provider.Public().String())
	agentTrust, _ := signature.NewTrust(agent.Public().String())

	for _, name := range []string{"tenant-acme", "tenant-globex"} {
		if err := WriteSchedule(ctx, store, l, ScheduleDoc{Name: name, Cluster: "main", Schedule: "@weekly", Kind: "tenant",
			Database: strings.TrimPrefix(name, "tenant-"), EvidenceDays: 1}, provider); err != nil {
			t.Fatal(err)
		}
	}
	spec := Spec{Schedule: "tenant-acme", Layout: l, Signer: agent, EvidenceRetention: time.Hour}
	for i, passed := range []bool{true, false} {
		ev := &Evidence{ID: fmt.Sprintf("2026110%dT000000Z-r%d", i+1, i), Schedule: "tenant-acme", Passed: passed,
			Finished: time.Date(2026, 11, i+1, 0, 0, 0, 0, time.UTC)}
		if err := writeEvidence(ctx, store, spec, ev); err != nil {
			t.Fatal(err)
		}
	}
	direct, err := Latest(ctx, store, l, "tenant-acme")
	if err != nil {
		t.Fatal(err)
	}
	// A writer of the bucket puts a "passed" over the newest (failed) record.
	if _, err := store.Put(ctx, direct.Key, strings.NewReader(`{"passed":true}`), objectstore.PutOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
	direct, err = Latest(ctx, store, l, "tenant-acme")
	if err != nil {
		t.Fatal(err)
	}

	x, err := BuildIndex(ctx, store, l, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteIndex(ctx, store, l, x, agent); err != nil {
		t.Fatal(err)
	}
	got, err := ReadIndex(ctx, store, l)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Schedules) != 2 {
		t.Fatalf("index of %d schedules, want 2", len(got.Schedules))
	}
	if why := got.Usable(l, agentTrust, time.Now()); why != "" {
		t.Fatalf("an index signed by the trusted agent is refused: %s", why)
	}
	if why := got.Usable(l, providerTrust, time.Now()); !strings.Contains(why, "not signed by a trusted key") {
		t.Fatalf("an index signed by an untrusted key: %q", why)
	}
	if why := got.Usable(l, agentTrust, time.Now().Add(IndexMaxAge+time.Minute)); !strings.Contains(why, "older than") {
		t.Fatalf("an index older than IndexMaxAge: %q", why)
	}

	e := got.Entry("tenant-acme")
	doc, signedBy, err := e.Schedule(l, providerTrust)
	if err != nil || doc.Database != "acme" || signedBy != provider.Public().ID() {
		t.Fatalf("schedule from the index: %+v signed by %q, %v", doc, signedBy, err)
	}
	ev, err := e.Latest()
	if err != nil {
		t.Fatal(err)
	}
	if ev.Key != direct.Key || ev.Passed || ev.LaterVersions != 1 || ev.ID != direct.ID {
		t.Fatalf("evidence from the index: key %s passed %v later %d, want %s failed, written over once", ev.Key, ev.Passed, ev.LaterVersions, direct.Key)
	}
	if id, err := ev.SignedBy(agentTrust); err != nil || id != agent.Public().ID() {
		t.Fatalf("the agent's signature on the indexed evidence: %q, %v", id, err)
	}
	if _, err := got.Entry("tenant-globex").Latest(); !errors.Is(err, objectstore.ErrNotFound) {
		t.Fatalf("a schedule that never ran: %v, want ErrNotFound", err)
	}
	if got.Entry("tenant-nobody") != nil {
		t.Fatal("an entry for a schedule that does not exist")
	}

	// Each version of the index is locked briefly, not for the bucket's day.
	head, err := c.S3().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(l.DrillIndexKey())})
	if err != nil {
		t.Fatal(err)
	}
	if head.ObjectLockRetainUntilDate == nil || time.Until(*head.ObjectLockRetainUntilDate) > indexRetention+time.Minute {
		t.Fatalf("index version locked until %v, want about %s from now", head.ObjectLockRetainUntilDate, indexRetention)
	}
}
