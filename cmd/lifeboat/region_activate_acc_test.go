package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/region"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestAccRegionActivateCLI drives `lifeboat region activate` and a real
// `lifeboat agent` started in the recovery region (its configuration's
// bucket is the region's destination, with the provider's key trusted):
//   - `--plan` prints the runbook, groups in activation order with the
//     region's base backup, and writes nothing;
//   - the agent stands by (lifeboat_recovery_region_standby 1); an unsigned
//     mark written with the bucket's keys is refused (counted) and it keeps
//     standing by;
//   - `activate` refuses to write a mark without a key, or with a key the
//     configuration does not trust; signed with the provider's key
//     ($LIFEBOAT_SIGNING_KEY) the agent activates from its next refresh;
//   - `activate --standby` removes the mark and the agent stands by again.
func TestAccRegionActivateCLI(t *testing.T) {
	env := testenv.Require(t)
	f := setupAgentRepo(t, env, "agent-acc-region-activate")
	ctx := context.Background()
	l := f.cfg.Layout()
	provider, _ := signature.Generate()
	f.cfg.TrustedKeys = []string{provider.Public().String()}
	body, err := f.cfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.cfgPath, body, 0o600); err != nil {
		t.Fatal(err)
	}
	f.run(t, 0, "backup")
	f.archiveWAL(t)
	backupID := f.newest(t)
	// The documents the copy brought to the region: the primary's signed
	// policy (a schedule that never comes during the test) and region.
	if err := repo.WritePolicy(ctx, f.store, l, repo.Policy{Cluster: l.Cluster, Schedule: "0 3 1 1 *",
		TenantDatabases: []string{"acme", "globex", "acme_finance"}}, provider); err != nil {
		t.Fatal(err)
	}
	const name = "eu2"
	doc := region.ConfigDoc{Name: name, Cluster: l.Cluster, IntervalSeconds: 60, MaxLagSeconds: 900,
		Destination: region.Destination{Bucket: f.cfg.Bucket, Endpoint: f.cfg.Endpoint},
		Activation: []region.Group{{Name: "warehouse", Tenants: []string{"acme", "globex"}, RTOSeconds: 1800},
			{Name: "finance", Tenants: []string{"acme_finance"}, RTOSeconds: 8 * 3600}}}
	if err := region.WriteConfig(ctx, f.store, l, doc, provider); err != nil {
		t.Fatal(err)
	}
	activate := func(want int, env []string, args ...string) string {
		t.Helper()
		cmd := f.command(append([]string{"region", "activate", "--name", name}, args...)...)
		cmd.Env = append(cmd.Env, env...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		code := 0
		if err := cmd.Run(); err != nil {
			var ee interface{ ExitCode() int }
			if !errors.As(err, &ee) {
				t.Fatal(err)
			}
			code = ee.ExitCode()
		}
		if (want == 0) != (code == 0) {
			t.Fatalf("lifeboat region activate %v: exit %d, want %d\n%s", args, code, want, out.String())
		}
		return out.String()
	}
	markAbsent := func(when string) {
		t.Helper()
		if _, err := f.store.Head(ctx, l.RegionActivationKey(name)); !errors.Is(err, objectstore.ErrNotFound) {
			t.Fatalf("%s: activation mark present (%v)", when, err)
		}
	}

	plan := activate(0, nil, "--plan")
	w, fin := strings.Index(plan, "### 1. warehouse (RTO 30m0s)"), strings.Index(plan, "### 2. finance (RTO 8h0m0s)")
	if w < 0 || fin < w || !strings.Contains(plan, "restore tenant `acme` of cluster `"+l.Cluster+"`") ||
		!strings.Contains(plan, "| "+l.Cluster+" | "+backupID+" |") || strings.Index(plan, "`acme_finance`") < fin {
		t.Fatalf("runbook:\n%s", plan)
	}
	markAbsent("after --plan")

	agent := startAgent(t, f, "dr")
	standby := func(want float64) {
		t.Helper()
		waitFor(t, 30*time.Second, "lifeboat_recovery_region_standby", func() bool {
			return gauge(agent.scrape(t), "lifeboat_recovery_region_standby", "region", name) == want
		})
	}
	standby(1)

	// A mark anyone with the bucket's keys could write: refused.
	if _, err := region.Activate(ctx, f.store, l, name, "not the operator", time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the unsigned mark refused", func() bool {
		return counter(agent.scrape(t), "lifeboat_config_refused_total", "document", "recovery_region_activation") >= 1
	})
	standby(1)
	if err := region.Deactivate(ctx, f.store, l, name); err != nil {
		t.Fatal(err)
	}

	// No key, or one the region's agents do not trust: nothing written.
	if out := activate(1, []string{envSigningKey + "="}); !strings.Contains(out, "trusted_keys") {
		t.Fatalf("activate without a key:\n%s", out)
	}
	stranger, _ := signature.Generate()
	strangerFile := filepath.Join(filepath.Dir(f.cfgPath), "stranger.key")
	if err := os.WriteFile(strangerFile, []byte(stranger.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := activate(1, nil, "--signing-key-file", strangerFile); !strings.Contains(out, "not among the configuration's trusted_keys") {
		t.Fatalf("activate with an untrusted key:\n%s", out)
	}
	markAbsent("after refused activations")

	out := activate(0, []string{envSigningKey + "=" + provider.String()})
	if !strings.Contains(out, "signed by "+provider.Public().ID()) {
		t.Fatalf("activate:\n%s", out)
	}
	standby(0)
	if !strings.Contains(agent.out.String(), "recovery region activated") {
		t.Fatalf("the agent did not say it activated:\n%s", agent.out.String())
	}

	if out := activate(0, nil, "--standby"); !strings.Contains(out, "stands by") {
		t.Fatalf("activate --standby:\n%s", out)
	}
	markAbsent("after --standby")
	standby(1)
	agent.stop(t, syscall.SIGTERM, 30*time.Second)
}
