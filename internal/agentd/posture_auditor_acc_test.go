package agentd

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access/accesstest"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/posture"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestAccScheduledReportReadsBucketWithAuditorKeys: the agent's scheduled
// report, run with the writer's keys only, leaves bucket.object_lock
// unknown (the writer may not read the bucket's lock configuration); given
// the auditor's keys (PostureBuckets, as `lifeboat agent` builds from
// $LIFEBOAT_AUDITOR_ACCESS_KEY/_SECRET_KEY or --auditor-profile), the
// stored report judges it (here: a one-day GOVERNANCE lock, too weak).
func TestAccScheduledReportReadsBucketWithAuditorKeys(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	m := env.MinIO[0]
	admin := m.Admin(t)
	// NOTE: the stored reports stay under COMPLIANCE for a day in the test
	// MinIO (the bucket name is random); the cleanup removes what it may.
	bucket := m.NewBucket(t, "report-aud", objectstore.BucketSpec{Retention: &objectstore.Retention{Mode: objectstore.ModeGovernance, Days: 1}})
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	user := func(role access.Role) *objectstore.Client {
		t.Helper()
		return accesstest.Client(t, m, bucket+"-"+string(role), role, bucket, l)
	}
	writer, auditor := user(access.RoleWriter), user(access.RoleAuditor)
	seen := map[string]bool{}
	// report runs one stats pass of an agent with the writer's keys and
	// returns bucket.object_lock of the JSON report it stored.
	report := func(buckets posture.BucketReader) posture.Finding {
		t.Helper()
		d, err := New(Config{Store: writer.Store(bucket), Agent: repo.AgentConfig{Bucket: bucket, Prefix: l.Prefix, Cluster: l.Cluster},
			DSN: "host=/nonexistent", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			PostureReportInterval: time.Hour, PostureReportRetain: time.Hour, PostureBuckets: buckets})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.postureStats(ctx); err != nil {
			t.Fatal(err)
		}
		var key string
		if err := admin.Store(bucket).List(ctx, l.PostureReportsDir(), func(o objectstore.ObjectInfo) error {
			if strings.HasSuffix(o.Key, ".json") && !seen[o.Key] {
				key = o.Key
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if key == "" {
			t.Fatal("no new JSON report stored")
		}
		seen[key] = true
		rc, _, err := admin.Store(bucket).Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		var r posture.Report
		if err := json.NewDecoder(rc).Decode(&r); err != nil {
			t.Fatal(err)
		}
		f, ok := r.Find(posture.ControlObjectLock, "")
		if !ok {
			t.Fatalf("stored report %s has no %s finding", key, posture.ControlObjectLock)
		}
		return f
	}
	if f := report(nil); f.Status != posture.Unknown {
		t.Fatalf("writer's keys only: %s %q, want unknown", f.Status, f.Observed)
	}
	time.Sleep(1100 * time.Millisecond) // a new report id
	// The bucket's one-day GOVERNANCE default is read and judged (too
	// weak a lock: fail), no longer unknown.
	if f := report(auditor); f.Status != posture.Fail || !strings.Contains(f.Observed, "GOVERNANCE, 1 days") {
		t.Fatalf("auditor's keys: %s %q, want the bucket's GOVERNANCE 1-day lock read and judged", f.Status, f.Observed)
	}
}
