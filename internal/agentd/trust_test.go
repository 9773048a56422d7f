package agentd

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/drill"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

// TestAgentRunsOnlyConfigurationSignedByTheProvider: an agent that trusts
// the provider's key schedules the signed policy and drill schedule, and
// refuses what a writer of the bucket put there instead (an unsigned
// policy, a schedule signed by another key, a signed one changed after
// signing), counting each refusal; the refused policy does not replace the
// jobs of the last valid one.
func TestAgentRunsOnlyConfigurationSignedByTheProvider(t *testing.T) {
	ctx := context.Background()
	store := objectstore.NewMemory("b")
	provider, _ := signature.Generate()
	attacker, _ := signature.Generate()
	d, err := New(Config{
		Store: store, Agent: repo.AgentConfig{Bucket: "b", Prefix: testLayout.Prefix, Cluster: testLayout.Cluster,
			TrustedKeys: []string{provider.Public().String()}},
		Holder: "A", Refresh: time.Hour, Tick: time.Hour, DSN: "host=/nonexistent",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, WithMinGap(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	jobs := func() map[string]*job {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.jobs
	}
	refused := func(doc string) float64 { return testutil.ToFloat64(d.m.ConfigRefused.WithLabelValues(doc)) }

	if err := repo.WritePolicy(ctx, store, testLayout, repo.Policy{Cluster: testLayout.Cluster, Schedule: "0 2 * * *"}, provider); err != nil {
		t.Fatal(err)
	}
	sched := func(name string, s *signature.Signer) {
		t.Helper()
		if err := drill.WriteSchedule(ctx, store, testLayout, drill.ScheduleDoc{Name: name, Cluster: testLayout.Cluster,
			Schedule: "0 3 * * *", Kind: "cluster"}, s); err != nil {
			t.Fatal(err)
		}
	}
	sched("signed", provider)
	sched("forged", attacker)
	d.refresh(ctx)
	if _, ok := jobs()[BackupJob]; !ok {
		t.Fatalf("signed policy not scheduled: jobs %v", jobs())
	}
	if _, ok := jobs()[DrillJobPrefix+"signed"]; !ok {
		t.Fatalf("signed drill schedule not scheduled: jobs %v", jobs())
	}
	if _, ok := jobs()[DrillJobPrefix+"forged"]; ok {
		t.Fatal("a drill schedule signed by another key was scheduled")
	}
	if got := refused("drill_schedule"); got != 1 {
		t.Fatalf("lifeboat_config_refused_total{document=drill_schedule} = %v, want 1", got)
	}

	// A writer replaces the policy: unsigned, then a signed body altered.
	body := []byte(`{"format":1,"cluster":"` + testLayout.Cluster + `","schedule":"0 0 1 1 *"}`)
	if _, err := store.Put(ctx, testLayout.PolicyKey(), bytes.NewReader(body), objectstore.PutOptions{Size: int64(len(body))}); err != nil {
		t.Fatal(err)
	}
	d.refresh(ctx)
	if got := refused("policy"); got != 1 {
		t.Fatalf("unsigned policy: lifeboat_config_refused_total{document=policy} = %v, want 1", got)
	}
	if j, ok := jobs()[BackupJob]; !ok || j.sched == nil {
		t.Fatal("the refused policy removed the backup job of the last valid one")
	}
	meta := provider.Sign(testLayout.PolicyKey(), []byte(`{"format":1,"schedule":"0 2 * * *"}`), nil)
	if _, err := store.Put(ctx, testLayout.PolicyKey(), bytes.NewReader(body), objectstore.PutOptions{Size: int64(len(body)), Metadata: meta}); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.ReadPolicy(ctx, store, testLayout, d.trust); err == nil {
		t.Fatal("a policy whose body changed after signing was accepted")
	}
	d.refresh(ctx)
	if got := refused("policy"); got != 2 {
		t.Fatalf("altered policy: lifeboat_config_refused_total{document=policy} = %v, want 2", got)
	}
}
