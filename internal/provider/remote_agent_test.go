package provider

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/remote"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// testAgent is `lifeboat agent` run as a separate process, as on a
// database host: its own bootstrap file (the writer's keys, the cluster,
// its host name), its own scratch directory and log.
type testAgent struct {
	cmd    *exec.Cmd
	host   string
	holder string
	log    string
	done   chan struct{}
}

// startTestAgent starts the agent bin for cluster main below prefix pg of
// bucket as host, with the writer's keys, connecting to dsn for tenant
// work. The agent's environment holds no AWS credentials: it reaches the
// repository only with what its bootstrap file says.
func startTestAgent(t *testing.T, bin, bucket, host, holder, dsn string, trustedKeys ...string) *testAgent {
	t.Helper()
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	ak, sk := testAccUser(t, access.RoleWriter, bucket, l)
	cfg := (&providerData{}).agentConfig(bucket, "pg", "main", "")
	cfg.AccessKey, cfg.SecretKey, cfg.TrustedKeys = ak, sk, trustedKeys
	return startTestAgentWith(t, bin, host, holder, dsn, cfg)
}

// startTestAgentWith starts the agent as host with the bootstrap file cfg
// (its credentials, restorer, trusted keys as the caller chose them).
func startTestAgentWith(t *testing.T, bin, host, holder, dsn string, cfg repo.AgentConfig) *testAgent {
	t.Helper()
	cfg.Host = host
	b, err := cfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// The agent's working directory is inherited by the PostgreSQL servers
	// it starts as postgres: it must be able to enter it.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bootstrap.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	a := &testAgent{host: host, holder: holder, log: filepath.Join(dir, "agent.log"), done: make(chan struct{})}
	logf, err := os.Create(a.log)
	if err != nil {
		t.Fatal(err)
	}
	a.cmd = exec.Command(bin, "agent", "--config", filepath.Join(dir, "bootstrap.json"), "--listen", "", "--holder", holder,
		"--request-poll", "200ms", "--heartbeat", "1s", "--lease-renew", "1s", "--tick", "1s", "--refresh", "2s", "--pg-dsn", dsn)
	a.cmd.Dir = dir
	a.cmd.Stdout, a.cmd.Stderr = logf, logf
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_ACCESS_KEY_ID=") && !strings.HasPrefix(kv, "AWS_SECRET_ACCESS_KEY=") && !strings.HasPrefix(kv, "LIFEBOAT_AGENT_") {
			a.cmd.Env = append(a.cmd.Env, kv)
		}
	}
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = a.cmd.Wait(); logf.Close(); close(a.done) }()
	t.Cleanup(func() {
		a.stop()
		if t.Failed() {
			b, _ := os.ReadFile(a.log)
			t.Logf("agent %s (%s) log:\n%s", host, holder, b)
		}
	})
	return a
}

// stop ends the agent as systemd would (SIGTERM), and waits.
func (a *testAgent) stop() {
	select {
	case <-a.done:
		return
	default:
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(30 * time.Second):
		_ = a.cmd.Process.Kill()
		<-a.done
	}
}

// waitLive waits until host's heartbeat is in the repository.
func waitLive(t *testing.T, store objectstore.Store, host string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		live, err := remote.LiveAgents(context.Background(), store, repo.Layout{Prefix: "pg", Cluster: "main"}, time.Now())
		if err == nil {
			for _, h := range live {
				if h.Host == host {
					return
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("agent %s published no heartbeat within a minute", host)
}

// data.lifeboat_agents lists the agent started as a separate process, live.
func TestAccAgentsDataSource_heartbeat(t *testing.T) {
	testAccPreCheck(t)
	bin, _ := buildAgent(t)
	bucket := randomName("lb-agents")
	client := testAccClient(t)
	ctx := context.Background()
	if err := client.CreateBucket(ctx, objectstore.BucketSpec{Name: bucket}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.DestroyBucket(context.Background(), bucket, true) })
	startTestAgent(t, bin, bucket, "db-eu-1", "agent-a", "")
	waitLive(t, client.Store(bucket), "db-eu-1")
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: fmt.Sprintf(`
data "lifeboat_agents" "main" {
  cluster    = "main"
  repository = { bucket = %q, prefix = "pg" }
}
`, bucket),
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue("data.lifeboat_agents.main", tfjsonpath.New("live_hosts"), knownvalue.ListExact([]knownvalue.Check{knownvalue.StringExact("db-eu-1")})),
				statecheck.ExpectKnownValue("data.lifeboat_agents.main", tfjsonpath.New("agents").AtSliceIndex(0).AtMapKey("holder"), knownvalue.StringExact("agent-a")),
				statecheck.ExpectKnownValue("data.lifeboat_agents.main", tfjsonpath.New("agents").AtSliceIndex(0).AtMapKey("live"), knownvalue.Bool(true)),
			},
		}},
	})
}

// kill ends the agent as a crash or an OOM kill would: no clean-up at all.
func (a *testAgent) kill() {
	_ = a.cmd.Process.Kill()
	<-a.done
}
