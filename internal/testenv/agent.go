package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// Agent is `lifeboat agent` run as a separate process, as on a database
// host: its own bootstrap file, working directory and log. Its environment
// holds no AWS or agent credentials, so it reaches the repository only
// with what its bootstrap file says.
type Agent struct {
	Host, Holder string
	// Dir is its working directory (enterable by the PostgreSQL account,
	// which the servers it starts inherit it as); Bootstrap is the file.
	Dir, Bootstrap string
	Log            string
	cmd            *exec.Cmd
	done           chan struct{}
}

// FastAgentFlags are the intervals a test's agent runs with: requests
// picked up within 200 ms, heartbeats, leases and schedule ticks every
// second, refresh of the repository's documents every two.
var FastAgentFlags = []string{"--listen", "", "--request-poll", "200ms", "--heartbeat", "1s",
	"--lease-renew", "1s", "--tick", "1s", "--refresh", "2s"}

// StartAgent starts bin (Lifeboat) as `agent` with the bootstrap file cfg
// (its Host set to host), holder as its lease holder, dsn for the cluster
// (empty: none), FastAgentFlags and extra flags. When the test ends it is
// stopped as systemd would (SIGTERM); a failed test logs its output.
func StartAgent(t testing.TB, bin string, cfg repo.AgentConfig, host, holder, dsn string, extra ...string) *Agent {
	t.Helper()
	cfg.Host = host
	b, err := cfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	dir := Dir(t)
	a := &Agent{Host: host, Holder: holder, Dir: dir, Bootstrap: filepath.Join(dir, "bootstrap.json"),
		Log: filepath.Join(dir, "agent.log"), done: make(chan struct{})}
	if err := os.WriteFile(a.Bootstrap, b, 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(a.Log)
	if err != nil {
		t.Fatal(err)
	}
	// NOTE: --pg-dsn always: without it the agent falls back to the
	// environment's LIFEBOAT_PG_DSN, which Main sets.
	args := append([]string{"agent", "--config", a.Bootstrap, "--holder", holder, "--pg-dsn", dsn}, FastAgentFlags...)
	a.cmd = exec.Command(bin, append(args, extra...)...)
	a.cmd.Dir = dir
	a.cmd.Stdout, a.cmd.Stderr = logf, logf
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_ACCESS_KEY_ID=") && !strings.HasPrefix(kv, "AWS_SECRET_ACCESS_KEY=") && !strings.HasPrefix(kv, "LIFEBOAT_AGENT_") {
			a.cmd.Env = append(a.cmd.Env, kv)
		}
	}
	if err := a.cmd.Start(); err != nil {
		logf.Close()
		t.Fatal(err)
	}
	go func() { _ = a.cmd.Wait(); logf.Close(); close(a.done) }()
	// Registered after Dir's removal, so it runs first.
	t.Cleanup(func() {
		a.Stop()
		if t.Failed() {
			b, _ := os.ReadFile(a.Log)
			t.Logf("agent %s (%s) log:\n%s", host, holder, b)
		}
	})
	return a
}

// Stop ends the agent as systemd would (SIGTERM) and waits, killing it
// after 30 seconds.
func (a *Agent) Stop() {
	if a.Exited() {
		return
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(30 * time.Second):
		_ = a.cmd.Process.Kill()
		<-a.done
	}
}

// Kill ends the agent as a crash or an OOM kill would: no clean-up at all.
func (a *Agent) Kill() {
	_ = a.cmd.Process.Kill()
	<-a.done
}

// Exited reports whether the agent process has ended.
func (a *Agent) Exited() bool {
	select {
	case <-a.done:
		return true
	default:
		return false
	}
}

// Pid is the agent's process id.
func (a *Agent) Pid() int { return a.cmd.Process.Pid }
