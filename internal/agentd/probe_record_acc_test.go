package agentd

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
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

// TestAccWriterProbeRecordJudgedByReport: the agent probes with its own
// MinIO user and records the verdict in the repository; a posture report
// run with other credentials, probing nothing itself, judges
// bucket.writer_cannot_delete from that record: pass for the writer's
// document, fail for a too-broad one, unknown once the record is stale.
func TestAccWriterProbeRecordJudgedByReport(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	m := env.MinIO[0]
	admin := m.Admin(t)
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	bucket := m.NewBucket(t, "probe-rec", objectstore.BucketSpec{Retention: &objectstore.Retention{Mode: objectstore.ModeGovernance, Days: 1},
		Lifecycle: []objectstore.LifecycleTier{{Name: "wal", Prefix: l.WALDir(), NoncurrentVersionExpirationDays: 30}}})
	if err := repo.WritePolicy(ctx, admin.Store(bucket), l, repo.Policy{Format: 1, Cluster: "main", Schedule: "@daily"}, nil); err != nil {
		t.Fatal(err)
	}
	user := func(role access.Role) *objectstore.Client {
		t.Helper()
		return accesstest.Client(t, m, bucket+"-"+string(role), role, bucket, l)
	}
	// agentProbe runs one probe of an agent holding c's keys, which also
	// writes the record with them.
	agentProbe := func(c *objectstore.Client) {
		t.Helper()
		d, err := New(Config{Store: c.Store(bucket), Agent: repo.AgentConfig{Bucket: bucket, Prefix: l.Prefix, Cluster: l.Cluster},
			Holder: "agent-" + fmt.Sprint(rand.Uint32()), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Probe: func(ctx context.Context) access.Report { return access.Probe(ctx, c, bucket, l) }})
		if err != nil {
			t.Fatal(err)
		}
		d.probe(ctx)
	}
	judge := func(now time.Time) posture.Finding {
		t.Helper()
		o, err := posture.Gather(ctx, posture.Target{Buckets: admin, Store: admin.Store(bucket), Prefix: l.Prefix, Clusters: []string{l.Cluster}, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		f, ok := posture.Evaluate(o, posture.Params{}).Find(posture.ControlWriterNoDelete, "")
		if !ok {
			t.Fatal("no writer_cannot_delete finding")
		}
		return f
	}
	if f := judge(time.Now()); f.Status != posture.Unknown {
		t.Fatalf("before any probe: %s %q, want unknown", f.Status, f.Observed)
	}

	agentProbe(user(access.RoleWriter))
	f := judge(time.Now())
	if f.Status != posture.Pass || !strings.Contains(f.Observed, "actions denied") || len(f.Evidence) == 0 || f.Evidence[0].Key != l.WriterProbeKey() {
		t.Fatalf("writer's document: %s %q %+v, want pass from the agent's record", f.Status, f.Observed, f.Evidence)
	}
	if f := judge(time.Now().Add(4 * time.Hour)); f.Status != posture.Unknown || !strings.Contains(f.Observed, "last probe") {
		t.Fatalf("record four hourly probes old: %s %q, want unknown", f.Status, f.Observed)
	}

	agentProbe(user(access.RoleAdmin))
	f = judge(time.Now())
	if f.Status != posture.Fail || !strings.Contains(f.Observed, string(access.CheckBypassGovernance)) {
		t.Fatalf("too-broad document: %s %q, want fail naming %s", f.Status, f.Observed, access.CheckBypassGovernance)
	}
}
