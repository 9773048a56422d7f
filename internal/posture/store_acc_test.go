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
	st, err := posture.StoreReport(ctx, store, l, r, "html", 2*24*time.Hour)
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
	if _, err := posture.StoreReport(ctx, store, l, r, "html", time.Hour); !errors.Is(err, objectstore.ErrExists) {
		t.Fatalf("storing the same report again: %v, want ErrExists", err)
	}

	plain := bucketName("reports-plain")
	if _, err := c.S3().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(plain)}); err != nil {
		t.Fatal(err)
	}
	if _, err := posture.StoreReport(ctx, c.Store(plain), l, r, "json", time.Hour); !errors.Is(err, posture.ErrReportNotLocked) {
		t.Fatalf("a bucket without lock: %v, want ErrReportNotLocked", err)
	}
}
