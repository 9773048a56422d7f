package main

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access/accesstest"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestAccAgent_writerProbe: the agent probes its own credentials at start.
// Run with MinIO's root keys, /metrics names the forbidden actions they
// allow; run as a MinIO user made (with mc) from the writer's document,
// every action is 0.
func TestAccAgent_writerProbe(t *testing.T) {
	env := testenv.Require(t)
	f := setupAgentRepo(t, env, "agent-acc-probe")
	ctx := context.Background()
	// A policy whose schedule never comes during the test, so the agent
	// only probes; policy.json is what rewrite_policy targets.
	if err := repo.WritePolicy(ctx, f.store, f.cfg.Layout(), repo.Policy{Cluster: f.cfg.Cluster, Schedule: "0 3 1 1 *",
		Retention: repo.PolicyRetention{FullCount: 1}}, nil); err != nil {
		t.Fatal(err)
	}
	probed := func(p *agentProc) map[string]*dto.MetricFamily {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			mf := p.scrape(t)
			if gauge(mf, "lifeboat_writer_probe_timestamp_seconds") > 0 {
				return mf
			}
			time.Sleep(500 * time.Millisecond)
		}
		t.Fatalf("no writer probe reported within 60s:\n%s", p.out.String())
		return nil
	}

	admin := startAgent(t, f, "root")
	mf := probed(admin)
	admin.stop(t, syscall.SIGTERM, 30*time.Second)
	want := map[access.Check]float64{
		access.CheckDeleteLockedVersion: 0, // the lock says no, even to root
		access.CheckBypassGovernance:    1,
		access.CheckPutLifecycle:        1,
		access.CheckPutDefaultRetention: 1,
		access.CheckWriteOtherCluster:   1,
		access.CheckRewritePolicy:       1,
	}
	for c, v := range want {
		if got := gauge(mf, "lifeboat_writer_forbidden_actions_allowed", "action", string(c)); got != v {
			t.Errorf("root keys: lifeboat_writer_forbidden_actions_allowed{action=%q} = %v, want %v", c, got, v)
		}
	}

	w := f.asWriter(t, "agent-probe-writer")
	writer := startAgent(t, w, "writer")
	mf = probed(writer)
	writer.stop(t, syscall.SIGTERM, 30*time.Second)
	for _, c := range access.Checks() {
		if got := gauge(mf, "lifeboat_writer_forbidden_actions_allowed", "action", string(c)); got != 0 {
			t.Errorf("writer keys: lifeboat_writer_forbidden_actions_allowed{action=%q} = %v, want 0\n%s", c, got, writer.out.String())
		}
	}
}

// asWriter is f as a database host runs it: with the keys of a MinIO user
// (name) made from the writer role's document, in a configuration file of
// its own beside f's.
func (f *backupFixture) asWriter(t *testing.T, name string) *backupFixture {
	t.Helper()
	w := *f
	w.cfg.AccessKey, w.cfg.SecretKey = accesstest.User(t, f.env.MinIO[0], name, access.RoleWriter, f.cfg.Bucket, f.cfg.Layout())
	body, err := w.cfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	w.cfgPath = filepath.Join(filepath.Dir(f.cfgPath), "writer.json")
	if err := os.WriteFile(w.cfgPath, body, 0o600); err != nil {
		t.Fatal(err)
	}
	return &w
}
