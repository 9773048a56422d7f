package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/drill"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/remote"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestAccAgentAuditRetention_trustedPolicyOnly: the restores the agent
// runs (a drill request and a restore request, through the executor the
// agent process builds) lock their audit records as the policy declares
// only when the policy carries the signature of one of the agent's
// trusted_keys. A policy.json a writer of the bucket forged (unsigned, or
// signed by a key the agent does not trust) declaring 1 day in GOVERNANCE
// is ignored: the record is locked COMPLIANCE for 365 days, as the
// provider and the CLI already do. With the provider's signed policy the
// declared retention holds. The restores fail at planning (the repository
// holds no backup yet): a restore refused at planning is audited like any
// other, and the lock is all this test is about.
func TestAccAgentAuditRetention_trustedPolicyOnly(t *testing.T) {
	env := testenv.Require(t)
	f := setupAgentRepo(t, env, "audit-trust-acc")
	ctx := context.Background()
	layout := f.cfg.Layout()

	provider, err := signature.Generate()
	if err != nil {
		t.Fatal(err)
	}
	forger, err := signature.Generate()
	if err != nil {
		t.Fatal(err)
	}
	agentKey, err := signature.Generate()
	if err != nil {
		t.Fatal(err)
	}
	cfg := f.cfg
	cfg.TrustedKeys = []string{provider.Public().String()}
	trust, err := cfg.Trust()
	if err != nil {
		t.Fatal(err)
	}
	host := &remote.Host{Store: f.store, Layout: layout, Agent: cfg, AgentPath: f.bin,
		DSN: func() string { return env.Postgres.DSN("postgres") }, Trust: trust, Signer: agentKey}
	// The drill schedule is the provider's, as the agent requires.
	if err := drill.WriteSchedule(ctx, f.store, layout, drill.ScheduleDoc{
		Name: "locked", Cluster: cfg.Cluster, Schedule: "@daily", Kind: "cluster",
		Checks: []drill.Check{{Name: "one", Kind: drill.CheckSQL, SQL: "SELECT 1", Expected: "1"}},
	}, provider); err != nil {
		t.Fatal(err)
	}
	scratch, err := os.MkdirTemp("", "lifeboat-audit-trust-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(scratch) })

	// newest is the finished record of the newest restore the agent key
	// signed, and its lock.
	seen := map[string]bool{}
	newest := func(t *testing.T, frontEnd string) (time.Time, string) {
		t.Helper()
		agentTrust, err := signature.NewTrust(agentKey.Public().String())
		if err != nil {
			t.Fatal(err)
		}
		all, err := restore.ListAudit(ctx, f.store, layout, agentTrust)
		if err != nil {
			t.Fatal(err)
		}
		var e *restore.AuditEntry
		for i := range all {
			if !seen[all[i].Record.ID] {
				e = &all[i]
			}
		}
		if e == nil {
			t.Fatalf("no new audit record among %d", len(all))
		}
		seen[e.Record.ID] = true
		if e.Record.FrontEnd != frontEnd || e.FinishedKey == "" || e.SignatureError != nil {
			t.Fatalf("audit record %+v (signature %v), want the %s front end's finished and signed", e.Record, e.SignatureError, frontEnd)
		}
		info, err := f.store.Head(ctx, e.FinishedKey)
		if err != nil {
			t.Fatal(err)
		}
		r, ok := f.store.(interface {
			Retention(ctx context.Context, key, versionID string) (time.Time, string, bool)
		})
		if !ok {
			t.Fatalf("%T reports no retention", f.store)
		}
		until, mode, has := r.Retention(ctx, e.FinishedKey, info.VersionID)
		if !has {
			t.Fatalf("%s is not locked", e.FinishedKey)
		}
		return until, mode
	}
	runBoth := func(t *testing.T, name string) map[string][2]any {
		t.Helper()
		got := map[string][2]any{}
		if _, err := host.Exec(ctx, &remote.Request{ID: "drill-" + name, Kind: remote.KindDrill, Cluster: cfg.Cluster, Drill: "locked"},
			func(remote.Progress) {}); err != nil {
			t.Fatalf("drill request: %v", err)
		}
		until, mode := newest(t, restore.FrontEndDrill)
		got[restore.FrontEndDrill] = [2]any{until, mode}
		_, err := host.Exec(ctx, &remote.Request{ID: "restore-" + name, Kind: remote.KindRestore, Cluster: cfg.Cluster,
			Restore: &remote.RestoreSpec{Kind: restore.KindCluster, DataDir: scratch + "/" + name, BinDir: env.Postgres.BinDir}},
			func(remote.Progress) {})
		if err == nil || !strings.Contains(err.Error(), "backup") {
			t.Fatalf("restore request with no backup in the repository: %v", err)
		}
		until, mode = newest(t, restore.FrontEndAgent)
		got[restore.FrontEndAgent] = [2]any{until, mode}
		return got
	}
	short := repo.Policy{Cluster: cfg.Cluster, Schedule: "@daily",
		AuditRetention: &repo.AuditRetention{Mode: objectstore.ModeGovernance, Days: 1}}
	for _, forged := range []struct {
		name   string
		signer *signature.Signer
	}{{"unsigned", nil}, {"untrusted", forger}} {
		t.Run(forged.name+"_policy_is_ignored", func(t *testing.T) {
			if err := repo.WritePolicy(ctx, f.store, layout, short, forged.signer); err != nil {
				t.Fatal(err)
			}
			for front, lock := range runBoth(t, forged.name) {
				until, mode := lock[0].(time.Time), lock[1].(string)
				if mode != objectstore.ModeCompliance || until.Before(time.Now().Add(364*24*time.Hour)) {
					t.Errorf("%s record under a %s policy locked until %s (%s), want 365 days in COMPLIANCE", front, forged.name, until, mode)
				}
			}
		})
	}
	t.Run("provider_signed_policy_holds", func(t *testing.T) {
		if err := repo.WritePolicy(ctx, f.store, layout, short, provider); err != nil {
			t.Fatal(err)
		}
		for front, lock := range runBoth(t, "signed") {
			until, mode := lock[0].(time.Time), lock[1].(string)
			if mode != objectstore.ModeGovernance || until.Before(time.Now().Add(23*time.Hour)) || until.After(time.Now().Add(25*time.Hour)) {
				t.Errorf("%s record under the provider's policy locked until %s (%s), want 1 day in GOVERNANCE as declared", front, until, mode)
			}
		}
	})
}
