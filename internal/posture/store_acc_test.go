package posture_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/posture"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestAccPostureReportStoredUnderLock: a report stored in the repository
// is the exact bytes rendered, its sha256 is in its metadata, it is under
// COMPLIANCE retention for the period asked, it cannot be written again or
// deleted, and a bucket without object lock refuses to hold one.
func TestAccPostureReportStoredUnderLock(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	c := client(t, env)
	bucket := bucketName("reports")
	if err := c.CreateBucket(ctx, objectstore.BucketSpec{Name: bucket, Retention: &objectstore.Retention{Mode: objectstore.ModeGovernance, Days: 1}}); err != nil {
		t.Fatal(err)
	}
	store := c.Store(bucket)
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	o, err := posture.Gather(ctx, posture.Target{Buckets: c, Store: store, Prefix: "pg", Clusters: []string{"main"}})
	if err != nil {
		t.Fatal(err)
	}
	r := posture.Evaluate(o, posture.Params{})
	st, err := posture.StoreReport(ctx, store, l, r, "html", 2*24*time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := l.Parse(st.Key); !ok || k.Kind != repo.KindPostureReport || k.ID != posture.ReportID(r) || k.Ext != "html" {
		t.Fatalf("stored at %s, parsed %+v", st.Key, k)
	}
	rc, info, err := store.Get(ctx, st.Key)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(rc)
	rc.Close()
	sum := sha256.Sum256(body)
	if got := hex.EncodeToString(sum[:]); got != st.SHA256 || info.Metadata[posture.MetaReportSHA256] != got {
		t.Fatalf("sha256 of the stored bytes %s, reported %s, metadata %q", got, st.SHA256, info.Metadata[posture.MetaReportSHA256])
	}
	var want strings.Builder
	if err := r.HTML(&want); err != nil {
		t.Fatal(err)
	}
	if string(body) != want.String() {
		t.Fatal("the stored report is not the rendered one")
	}
	until, mode, ok := store.Retention(ctx, st.Key, st.Version)
	if !ok || mode != objectstore.ModeCompliance || until.Before(time.Now().Add(47*time.Hour)) {
		t.Fatalf("retention %s until %s (%v), want COMPLIANCE for two days", mode, until, ok)
	}
	if err := store.DeleteVersion(ctx, st.Key, st.Version); err == nil {
		t.Fatal("a locked report version was deleted")
	}
	if _, err := posture.StoreReport(ctx, store, l, r, "html", time.Hour, nil); !errors.Is(err, objectstore.ErrExists) {
		t.Fatalf("storing the same report again: %v, want ErrExists", err)
	}

	plain := bucketName("reports-plain")
	if _, err := c.S3().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(plain)}); err != nil {
		t.Fatal(err)
	}
	if _, err := posture.StoreReport(ctx, c.Store(plain), l, r, "json", time.Hour, nil); !errors.Is(err, posture.ErrReportNotLocked) {
		t.Fatalf("a bucket without lock: %v, want ErrReportNotLocked", err)
	}
}

// TestAccStoredPostureReportsVerified: a report the agent's key signed
// verifies; one stored unsigned, one signed by another key, one whose
// signature belongs to other bytes, and one written over are each flagged
// for what they are, and the signed one stays sound beside them.
func TestAccStoredPostureReportsVerified(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	c := client(t, env)
	bucket := bucketName("signed-reports")
	if err := c.CreateBucket(ctx, objectstore.BucketSpec{Name: bucket, Retention: &objectstore.Retention{Mode: objectstore.ModeGovernance, Days: 1}}); err != nil {
		t.Fatal(err)
	}
	store := c.Store(bucket)
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	agent, _ := signature.Generate()
	other, _ := signature.Generate()
	trust, err := signature.NewTrust(agent.Public().String())
	if err != nil {
		t.Fatal(err)
	}
	o, err := posture.Gather(ctx, posture.Target{Buckets: c, Store: store, Prefix: "pg", Clusters: []string{"main"}})
	if err != nil {
		t.Fatal(err)
	}
	report := func(at string) *posture.Report {
		r := posture.Evaluate(o, posture.Params{})
		r.Generated, _ = time.Parse(time.RFC3339, at)
		return r
	}
	signed, err := posture.StoreReport(ctx, store, l, report("2026-11-30T10:00:00Z"), "json", time.Hour, agent)
	if err != nil {
		t.Fatal(err)
	}
	if signed.Signer != agent.Public().ID() {
		t.Fatalf("stored signer %q, want %s", signed.Signer, agent.Public().ID())
	}
	if _, err := posture.StoreReport(ctx, store, l, report("2026-11-30T11:00:00Z"), "json", time.Hour, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := posture.StoreReport(ctx, store, l, report("2026-11-30T12:00:00Z"), "json", time.Hour, other); err != nil {
		t.Fatal(err)
	}
	// A forger copies the signed report's signature onto other bytes.
	rc, info, err := store.Get(ctx, signed.Key)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(rc)
	rc.Close()
	forgedKey := l.PostureReportKey("20261130T130000Z", "json")
	fake := []byte(strings.ReplaceAll(string(body), `"fail"`, `"pass"`) + " ")
	fsum := sha256.Sum256(fake)
	meta := map[string]string{posture.MetaReportSHA256: hex.EncodeToString(fsum[:]), signature.MetaSignature: info.Metadata[signature.MetaSignature]}
	if _, err := store.Put(ctx, forgedKey, strings.NewReader(string(fake)), objectstore.PutOptions{Size: int64(len(fake)), Metadata: meta,
		RetainUntil: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	// Another version written over a signed report (the bucket's
	// GOVERNANCE default lets a writer add versions, never remove one).
	over, err := posture.StoreReport(ctx, store, l, report("2026-11-30T14:00:00Z"), "json", time.Hour, agent)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Put(ctx, over.Key, strings.NewReader("{}"), objectstore.PutOptions{Size: 2, Metadata: other.Sign(over.Key, []byte("{}"), nil)}); err != nil {
		t.Fatal(err)
	}

	entries, err := posture.ListReports(ctx, store, l, trust)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		signed.Key: "",
		l.PostureReportKey("20261130T110000Z", "json"): "unsigned",
		l.PostureReportKey("20261130T120000Z", "json"): "signed by an untrusted key",
		forgedKey: "forged",
		over.Key:  "written over",
	}
	if len(entries) != len(want) {
		t.Fatalf("%d reports listed, want %d: %+v", len(entries), len(want), entries)
	}
	for _, e := range entries {
		flags := strings.Join(e.Flags(trust), "; ")
		w, ok := want[e.Key]
		switch {
		case !ok:
			t.Errorf("unexpected report %s", e.Key)
		case w == "" && (flags != "" || e.SignedBy != agent.Public().ID() || e.SHA256 != signed.SHA256 || !e.Locked):
			t.Errorf("the signed report %s: flags %q, signed by %q, sha256 %s, locked %v", e.Key, flags, e.SignedBy, e.SHA256, e.Locked)
		case w != "" && !strings.Contains(flags, w):
			t.Errorf("%s: flags %q, want %q", e.Key, flags, w)
		}
	}
}
