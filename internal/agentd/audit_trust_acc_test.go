package agentd

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/drill"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestAccDaemonDrillAuditRetention_trustedPolicyOnly: a drill the agent's
// scheduler runs locks its restore's audit record as the policy declares
// only when the policy carries the signature of a key in the agent's
// trusted_keys. Against MinIO: a policy.json declaring 1 day in GOVERNANCE,
// unsigned or signed by a key the agent does not trust, is ignored (the
// record is locked COMPLIANCE for 365 days); the provider's signed one
// holds. The drill's restore fails at planning (no backup in the
// repository, and this package starts no PostgreSQL), which is audited
// like any other restore.
func TestAccDaemonDrillAuditRetention_trustedPolicyOnly(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	m := env.MinIO[0]
	bucket := m.NewBucket(t, "audit-trust", objectstore.BucketSpec{})
	store := m.Admin(t).Store(bucket)
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	provider, _ := signature.Generate()
	forger, _ := signature.Generate()
	d, err := New(Config{
		Store: store, Agent: repo.AgentConfig{Endpoint: m.Endpoint, PathStyle: true, AccessKey: m.AccessKey, SecretKey: m.SecretKey,
			Bucket: bucket, Prefix: l.Prefix, Cluster: l.Cluster, TrustedKeys: []string{provider.Public().String()}},
		Holder: "A", Refresh: time.Hour, Tick: time.Hour, DSN: "host=/nonexistent",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	doc := drill.ScheduleDoc{Name: "locked", Cluster: l.Cluster, Schedule: "@daily", Kind: "cluster",
		Checks: []drill.Check{{Name: "one", Kind: drill.CheckSQL, SQL: "SELECT 1", Expected: "1"}}}
	if err := drill.WriteSchedule(ctx, store, l, doc, provider); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	drillLock := func(t *testing.T) (time.Time, string) {
		t.Helper()
		// The drill fails (its evidence says so); its restore is audited.
		if _, err := d.drill(ctx, doc); err == nil || !strings.Contains(err.Error(), "no complete base backup") {
			t.Fatalf("drill with no backup in the repository: %v", err)
		}
		all, err := restore.ListAudit(ctx, store, l, signature.Trust{})
		if err != nil {
			t.Fatal(err)
		}
		var e *restore.AuditEntry
		for i := range all {
			if !seen[all[i].Record.ID] {
				e = &all[i]
			}
		}
		if e == nil || e.Record.FrontEnd != restore.FrontEndDrill || e.FinishedKey == "" {
			t.Fatalf("no new finished drill audit record among %d: %+v", len(all), e)
		}
		seen[e.Record.ID] = true
		info, err := store.Head(ctx, e.FinishedKey)
		if err != nil {
			t.Fatal(err)
		}
		until, mode, ok := store.Retention(ctx, e.FinishedKey, info.VersionID)
		if !ok {
			t.Fatalf("%s is not locked", e.FinishedKey)
		}
		return until, mode
	}
	short := repo.Policy{Cluster: l.Cluster, Schedule: "@daily", AuditRetention: &repo.AuditRetention{Mode: objectstore.ModeGovernance, Days: 1}}
	for _, forged := range []struct {
		name   string
		signer *signature.Signer
	}{{"unsigned", nil}, {"untrusted", forger}} {
		if err := repo.WritePolicy(ctx, store, l, short, forged.signer); err != nil {
			t.Fatal(err)
		}
		if until, mode := drillLock(t); mode != objectstore.ModeCompliance || until.Before(time.Now().Add(364*24*time.Hour)) {
			t.Errorf("drill record under a %s policy locked until %s (%s), want 365 days in COMPLIANCE", forged.name, until, mode)
		}
	}
	if err := repo.WritePolicy(ctx, store, l, short, provider); err != nil {
		t.Fatal(err)
	}
	if until, mode := drillLock(t); mode != objectstore.ModeGovernance || until.Before(time.Now().Add(23*time.Hour)) || until.After(time.Now().Add(25*time.Hour)) {
		t.Errorf("drill record under the provider's policy locked until %s (%s), want 1 day in GOVERNANCE as declared", until, mode)
	}
}
