package regionaldisruption_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/drill"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/provider"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.Spec{MinIO: 2, Postgres: true}))
}

// tenants are the activation groups' tenants of main.tf, in order.
var tenants = []string{"acme_logistics", "globex", "initech_cargo", "acme_finance"}

// TestScenarioRegionalDisruption runs the scenario as the README tells it,
// with the Terraform CLI and two MinIO servers as the two regions:
//
//  1. Normal times: this folder's main.tf (both buckets through two
//     provider configurations, the recovery region with its three
//     activation groups). odoo-main archives into the primary and has a
//     base backup; `lifeboat region copy`, with keys made from the region's
//     copy_policy, copies it to the region; refresh finds nothing pending
//     and the runbook lists the groups in order; `lifeboat region activate
//     --plan` prints it from the region alone.
//  2. The primary MinIO stops for good.
//  3. failover/main.tf, applied with Terraform talking to the region only:
//     the region drill, run on apply by the agent started in the region,
//     restores warehouse, transport and finance in that order with each
//     group's RTO recorded in evidence the agent signed; that agent also
//     restores the whole cluster and the acme_logistics tenant from the
//     region (agent executor), their checks passing. Destroy has the agent
//     remove the copies.
func TestScenarioRegionalDisruption(t *testing.T) {
	env := testenv.Require(t)
	pg, primary, dr := env.Postgres, env.MinIO[0], env.MinIO[1]
	ctx := context.Background()
	started := time.Now()
	dir, err := os.MkdirTemp("", "lifeboat-regional-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// NOTE: PostgreSQL's account runs this binary as restore_command and
	// enters the restored data directory below dir.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "lifeboat")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/lifeboat-dr/terraform-provider-lifeboat/cmd/lifeboat").CombinedOutput(); err != nil {
		t.Fatalf("building lifeboat: %v\n%s", err, out)
	}
	suffix := fmt.Sprintf("%08x", rand.Uint32())
	src, dst := "acme-odoo-backups-"+suffix, "acme-odoo-backups-dr-"+suffix
	l := repo.Layout{Prefix: "pg", Cluster: "odoo-main"}
	client := func(m *testenv.MinIO) *objectstore.Client {
		c, err := objectstore.NewClient(ctx, objectstore.Config{Endpoint: m.Endpoint, Region: "eu-central-2", AccessKey: m.AccessKey, SecretKey: m.SecretKey, PathStyle: true})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	srcClient, drClient := client(primary), client(dr)
	t.Cleanup(func() {
		// NOTE: drill evidence stays under COMPLIANCE lock for a day: what
		// cannot be removed stays with the test's servers.
		_ = srcClient.DestroyBucket(context.Background(), src, true)
		_ = drClient.DestroyBucket(context.Background(), dst, true)
	})
	psql := func(db, sql string) string {
		t.Helper()
		out, err := pg.Psql(db, sql)
		if err != nil {
			t.Fatalf("%s: %v: %s", sql, err, out)
		}
		return strings.TrimSpace(out)
	}

	// 1. Normal times.
	tf := testenv.NewTerraformCLI(t, provider.Address, "github.com/lifeboat-dr/terraform-provider-lifeboat")
	tf.CopyFile(t, "main.tf")
	vars := []string{"-input=false", "-var", "source_bucket=" + src, "-var", "dr_bucket=" + dst, "-var", "dr_endpoint=" + dr.Endpoint,
		"-var", "dr_region=eu-central-2", "-var", "dr_access_key=" + dr.AccessKey, "-var", "dr_secret_key=" + dr.SecretKey,
		"-var", "retention_mode=GOVERNANCE", "-var", "retention_days=1"}
	tf.Run(t, append([]string{"apply", "-auto-approve"}, vars...)...)

	// The agent beside the database: it archives into the primary and
	// copies with keys made from the region's copy_policy.
	copyPolicy, _ := tf.Resource(t, "lifeboat_recovery_region.eu2")["copy_policy"].(string)
	if want, _ := access.Policy(access.RoleCopy, dst, l); copyPolicy != want.JSON() {
		t.Fatalf("copy_policy:\n%s\nwant\n%s", copyPolicy, want.JSON())
	}
	if err := dr.CreateUser(ctx, "copy-"+suffix, "copy-secret-"+suffix, "copy-"+suffix, copyPolicy); err != nil {
		t.Fatal(err)
	}
	agentCfg := repo.AgentConfig{Endpoint: primary.Endpoint, PathStyle: true, AccessKey: primary.AccessKey, SecretKey: primary.SecretKey,
		Bucket: src, Prefix: l.Prefix, Cluster: l.Cluster,
		Stores: map[string]repo.StoreEntry{"dr": {Endpoint: dr.Endpoint, Region: "eu-central-2", PathStyle: true, AccessKey: "copy-" + suffix, SecretKey: "copy-secret-" + suffix}}}
	cfgPath := filepath.Join(dir, "primary.json")
	writeConfig(t, cfgPath, pg.OSUser, agentCfg)
	psql("postgres", "ALTER SYSTEM SET archive_mode = on")
	psql("postgres", "ALTER SYSTEM SET archive_timeout = '5s'")
	psql("postgres", fmt.Sprintf("ALTER SYSTEM SET archive_command = '%s wal-push --config %s %%p'", bin, cfgPath))
	t.Cleanup(func() {
		_, _ = pg.Psql("postgres", "ALTER SYSTEM RESET archive_mode")
		_, _ = pg.Psql("postgres", "ALTER SYSTEM RESET archive_timeout")
		_, _ = pg.Psql("postgres", "ALTER SYSTEM RESET archive_command")
		_ = pg.Restart(context.Background())
	})
	if err := pg.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	for _, db := range tenants {
		psql("postgres", "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
		psql("postgres", "CREATE DATABASE "+db)
		psql(db, "CREATE TABLE sale_order (id int PRIMARY KEY, name text); INSERT INTO sale_order SELECT g, 'SO' || g FROM generate_series(1, 3) g")
	}
	t.Cleanup(func() {
		for _, db := range append(tenants, "acme_logistics_dr") {
			_, _ = pg.Psql("postgres", "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
		}
	})
	bk, err := backup.Take(ctx, srcClient.Store(src), backup.Options{Layout: l, DSN: pg.DSN("postgres")})
	if err != nil {
		t.Fatal(err)
	}
	seg := psql("postgres", "SELECT pg_walfile_name(pg_switch_wal())")
	for deadline := time.Now().Add(2 * time.Minute); psql("postgres", "SELECT coalesce(last_archived_wal, '') >= '"+seg+"' FROM pg_stat_archiver") != "t"; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s not archived", seg)
		}
	}
	lifeboat := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("lifeboat %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	if out := lifeboat("region", "copy", "--config", cfgPath, "--name", dst, "--store", "dr"); !strings.Contains(out, "0 pending") {
		t.Fatalf("copy pass: %s", out)
	}
	tf.Run(t, append([]string{"apply", "-refresh-only", "-auto-approve"}, vars...)...)
	eu2 := tf.Resource(t, "lifeboat_recovery_region.eu2")
	runbook, _ := eu2["runbook"].(string)
	if eu2["pending_objects"] != float64(0) || !inOrder(runbook, "### 1. warehouse (RTO 30m0s)", "`acme_logistics`", "`globex`",
		"### 2. transport (RTO 2h0m0s)", "`initech_cargo`", "### 3. finance (RTO 8h0m0s)", "`acme_finance`") || !strings.Contains(runbook, bk.ID) {
		t.Fatalf("after a copy pass: %v pending, runbook:\n%s", eu2["pending_objects"], runbook)
	}

	// The agent started in the region: its repository is the copy.
	agentKey, _ := signature.Generate()
	keyFile := filepath.Join(dir, "dr-agent.key")
	if err := os.WriteFile(keyFile, []byte(agentKey.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	drCfgPath := filepath.Join(dir, "dr.json")
	writeConfig(t, drCfgPath, pg.OSUser, repo.AgentConfig{Endpoint: dr.Endpoint, Region: "eu-central-2", PathStyle: true,
		AccessKey: dr.AccessKey, SecretKey: dr.SecretKey, Bucket: dst, Prefix: l.Prefix, Cluster: l.Cluster, SigningKeyFile: keyFile, Host: "dr-host"})
	if plan := lifeboat("region", "activate", "--plan", "--config", drCfgPath); !inOrder(plan, "warehouse", "transport", "finance") || !strings.Contains(plan, bk.ID) {
		t.Fatalf("lifeboat region activate --plan:\n%s", plan)
	}

	// 2. The primary region is gone for good.
	primary.Stop()
	t.Cleanup(func() {
		if err := primary.Start(context.Background()); err != nil {
			t.Errorf("restarting the primary MinIO: %v", err)
		}
	})
	if _, err := srcClient.Store(src).Head(ctx, l.BackupManifestKey(bk.ID)); err == nil {
		t.Fatal("the primary still answers")
	}
	startAgent(t, bin, drCfgPath, dir, pg.DSN("postgres"))

	// 3. The rebuild, from code, against the region only.
	fo := &testenv.TerraformCLI{Bin: tf.Bin, Dir: t.TempDir(), Env: tf.Env}
	fo.CopyFile(t, filepath.Join("failover", "main.tf"))
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	foVars := []string{"-input=false", "-var", "dr_bucket=" + dst, "-var", "dr_endpoint=" + dr.Endpoint, "-var", "dr_region=eu-central-2",
		"-var", "dr_access_key=" + dr.AccessKey, "-var", "dr_secret_key=" + dr.SecretKey, "-var", "agent_host=dr-host",
		"-var", "scratch_dsn=" + pg.DSN("postgres"), "-var", "data_directory=" + filepath.Join(dir, "odoo-main-dr"),
		"-var", fmt.Sprintf("port=%d", port), "-var", "restored_suffix=_dr"}
	fo.Run(t, append([]string{"apply", "-auto-approve"}, foVars...)...)

	act := fo.Resource(t, "lifeboat_drill_schedule.activation")
	key, _ := act["last_evidence_key"].(string)
	if act["last_drill_result"] != "passed" || key == "" {
		t.Fatalf("activation drill: %v", act)
	}
	drStore := drClient.Store(dst)
	ev, err := drill.Read(ctx, drStore, l, "regional-activation", key)
	if err != nil {
		t.Fatal(err)
	}
	if signer, err := ev.SignedBy(mustTrust(t, agentKey)); err != nil || signer == "" {
		t.Fatalf("activation evidence not signed by the region's agent: %v", err)
	}
	want := []struct {
		name    string
		tenants string
		target  float64
	}{{"warehouse", "acme_logistics,globex", 1800}, {"transport", "initech_cargo", 7200}, {"finance", "acme_finance", 8 * 3600}}
	if !ev.Passed || ev.Kind != drill.KindRegion || len(ev.Groups) != len(want) {
		t.Fatalf("activation evidence: %+v", ev)
	}
	prev := 0.0
	for i, g := range ev.Groups {
		w := want[i]
		if g.Name != w.name || strings.Join(g.Tenants, ",") != w.tenants || g.RTOTargetSeconds != w.target || !g.RTOMet || !g.Passed ||
			g.RTOSeconds <= prev {
			t.Fatalf("group %d: %+v, want %s (%s) within %vs after the previous group's %vs", i+1, g, w.name, w.tenants, w.target, prev)
		}
		prev = g.RTOSeconds
		t.Logf("group %s: RTO %.1fs (target %vs)", g.Name, g.RTOSeconds, g.RTOTargetSeconds)
	}
	for _, addr := range []string{"lifeboat_restore.odoo_main", "lifeboat_restore.acme_logistics"} {
		r := fo.Resource(t, addr)
		checks, _ := r["check_results"].(map[string]any)
		if len(checks) != 1 {
			t.Fatalf("%s: check_results %v", addr, r["check_results"])
		}
		for name, res := range checks {
			if res != "pass" {
				t.Fatalf("%s: check %s %v", addr, name, res)
			}
		}
	}
	if got := psql("acme_logistics_dr", "SELECT count(*) FROM sale_order"); got != "3" {
		t.Fatalf("acme_logistics_dr holds %s orders", got)
	}
	fo.Run(t, append([]string{"destroy", "-auto-approve"}, foVars...)...)
	if got := psql("postgres", "SELECT count(*) FROM pg_database WHERE datname = 'acme_logistics_dr'"); got != "0" {
		t.Fatal("the restored tenant survived destroy")
	}
	t.Logf("scenario: %s", time.Since(started).Round(time.Second))
}

// inOrder reports whether every part appears in s, each after the one
// before.
func inOrder(s string, parts ...string) bool {
	at := 0
	for _, p := range parts {
		i := strings.Index(s[at:], p)
		if i < 0 {
			return false
		}
		at += i + len(p)
	}
	return true
}

func writeConfig(t *testing.T, path, owner string, cfg repo.AgentConfig) {
	t.Helper()
	body, err := cfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.WriteConfigFile(path, owner, body); err != nil {
		t.Fatal(err)
	}
}

func mustTrust(t *testing.T, s *signature.Signer) signature.Trust {
	t.Helper()
	tr, err := signature.NewTrust(s.Public().String())
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// startAgent runs `lifeboat agent` with the region's configuration until
// the test ends, its log shown when the test failed.
func startAgent(t *testing.T, bin, cfg, dir, dsn string) {
	t.Helper()
	logPath := filepath.Join(dir, "dr-agent.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "agent", "--config", cfg, "--listen", "", "--holder", "dr", "--request-poll", "200ms", "--heartbeat", "1s",
		"--lease-renew", "1s", "--tick", "1s", "--refresh", "2s", "--pg-dsn", dsn)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("region agent log:\n%s", b)
		}
	})
}
