package main

import (
	"bytes"
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/drill"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestAccAgent_refusesConfigurationNotSignedByTheProvider: the agent
// process, trusting the provider's key (trusted_keys), reads its
// configuration from MinIO and refuses what it did not sign: a drill
// schedule signed by another key, and a policy replaced by an unsigned
// one, each counted in lifeboat_config_refused_total; the provider's own
// signed policy is not refused.
func TestAccAgent_refusesConfigurationNotSignedByTheProvider(t *testing.T) {
	env := testenv.Require(t)
	f := setupAgentRepo(t, env, "agent-acc-trust")
	ctx := context.Background()
	provider, _ := signature.Generate()
	attacker, _ := signature.Generate()
	cfg := f.cfg
	cfg.TrustedKeys = []string{provider.Public().String()}
	body, err := cfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.cfgPath, body, 0o600); err != nil {
		t.Fatal(err)
	}
	l := cfg.Layout()
	// Schedules that never come during the test: only the reading counts.
	if err := repo.WritePolicy(ctx, f.store, l, repo.Policy{Cluster: cfg.Cluster, Schedule: "0 3 1 1 *", Retention: repo.PolicyRetention{FullCount: 1}}, provider); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*signature.Signer{"signed": provider, "forged": attacker} {
		if err := drill.WriteSchedule(ctx, f.store, l, drill.ScheduleDoc{Name: name, Cluster: cfg.Cluster, Schedule: "0 3 1 1 *", Kind: "cluster"}, s); err != nil {
			t.Fatal(err)
		}
	}
	a := startAgent(t, f, "T")
	refused := func(doc string) float64 {
		return counter(a.scrape(t), "lifeboat_config_refused_total", "document", doc)
	}
	waitFor(t, 30*time.Second, "the forged drill schedule refused", func() bool { return refused("drill_schedule") >= 1 })
	if got := refused("policy"); got != 0 {
		t.Fatalf("the provider's signed policy was refused (%v):\n%s", got, a.out.String())
	}
	// The policy replaced by an unsigned one.
	unsigned := []byte(`{"format":1,"cluster":"` + cfg.Cluster + `","schedule":"* * * * *","retention":{"full_count":1}}`)
	if _, err := f.store.Put(ctx, l.PolicyKey(), bytes.NewReader(unsigned), objectstore.PutOptions{Size: int64(len(unsigned))}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the unsigned policy refused", func() bool { return refused("policy") >= 1 })
	if code := a.stop(t, syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("agent exited %d:\n%s", code, a.out.String())
	}
}
