package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/agentd"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/catalog"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/drill"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/schedule"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestAccAgent_oneMinuteScheduleTwoAgents runs two agents on one
// repository with a real one-minute cron schedule: the slot due at start
// and the next minute's slot each give exactly one complete backup (and
// tenant dump), and both agents' /metrics report it.
func TestAccAgent_oneMinuteScheduleTwoAgents(t *testing.T) {
	env := testenv.Require(t)
	f := setupAgentRepo(t, env, "agent-acc-two")
	ctx := context.Background()
	if _, err := psqlErr(env.Postgres, "postgres", "CREATE DATABASE agent_tenant"); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
	if _, err := psqlErr(env.Postgres, "agent_tenant", "CREATE TABLE IF NOT EXISTS t(x int); INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	if err := repo.WritePolicy(ctx, f.store, f.cfg.Layout(), repo.Policy{Cluster: f.cfg.Cluster, Schedule: "* * * * *", Created: existing(),
		Retention: repo.PolicyRetention{FullCount: 5}, TenantDatabases: []string{"agent_tenant"}}, nil); err != nil {
		t.Fatal(err)
	}
	// Start early in a minute, so the first slot's backup starts in it.
	waitForSecondBelow(45)
	started := time.Now().UTC()
	a := startAgent(t, f, "A")
	b := startAgent(t, f, "B")

	// The slot due at start, then the next minute's.
	waitCatalog(t, f, 100*time.Second, func(c *catalog.Catalog) bool { return len(c.Physical) >= 2 })
	time.Sleep(5 * time.Second) // several ticks of both agents: no late duplicate
	c := loadCatalog(t, f)
	if len(c.Physical) != 2 {
		t.Fatalf("%d complete backups after two slots, want 2", len(c.Physical))
	}
	minutes := map[time.Time]int{}
	for _, m := range c.Physical {
		if m.StartTime.Before(started) {
			t.Fatalf("backup %s started before the agents", m.ID)
		}
		minutes[m.StartTime.Truncate(time.Minute)]++
	}
	if len(minutes) != 2 {
		t.Fatalf("backups per slot: %v, want one in each of two minutes", minutes)
	}
	if len(c.Tenant) != 2 || c.Tenant[0].Database != "agent_tenant" {
		t.Fatalf("tenant dumps: %d, want 2 of agent_tenant", len(c.Tenant))
	}
	last, err := agentd.ReadRun(ctx, f.store, f.cfg.Layout(), agentd.BackupJob)
	if err != nil || last == nil || last.Result != agentd.ResultSuccess || !last.Slot.Equal(c.Physical[1].StartTime.Truncate(time.Minute)) {
		t.Fatalf("last run %+v (%v), newest backup %s", last, err, c.Physical[1].ID)
	}

	newest := c.Physical[1]
	var runs float64
	waitFor(t, 15*time.Second, "both agents report the newest backup", func() bool {
		runs = 0
		for _, ag := range []*agentProc{a, b} {
			mf := ag.scrape(t)
			if gauge(mf, "lifeboat_backup_last_success_timestamp_seconds", "cluster", f.cfg.Cluster) != float64(newest.StopTime.UnixNano())/1e9 {
				return false
			}
			runs += counter(mf, "lifeboat_job_runs_total", "job", "backup", "result", "success")
		}
		return true
	})
	if runs != 2 {
		t.Fatalf("lifeboat_job_runs_total{job=backup,result=success} sums to %v over both agents, want 2", runs)
	}
	mf := a.scrape(t)
	wantDur := newest.StopTime.Sub(newest.StartTime).Seconds()
	if got := gauge(mf, "lifeboat_backup_duration_seconds", "cluster", f.cfg.Cluster); got != wantDur || got <= 0 {
		t.Fatalf("lifeboat_backup_duration_seconds = %v, want %v", got, wantDur)
	}
	if got := gauge(mf, "lifeboat_backup_bytes", "cluster", f.cfg.Cluster); got != float64(newest.StoredSize) {
		t.Fatalf("lifeboat_backup_bytes = %v, want %d", got, newest.StoredSize)
	}
	if got := gauge(mf, "lifeboat_repository_size_bytes", "prefix", "basebackups"); got < float64(newest.StoredSize) {
		t.Fatalf("lifeboat_repository_size_bytes{prefix=basebackups} = %v, below one backup (%d)", got, newest.StoredSize)
	}
	if _, ok := mf["lifeboat_wal_archive_lag_seconds"]; !ok {
		t.Fatal("no lifeboat_wal_archive_lag_seconds")
	}
	resp, err := http.Get("http://" + a.listen + "/healthz")
	if err != nil {
		t.Fatalf("/healthz: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/healthz: %s", resp.Status)
	}

	for _, ag := range []*agentProc{a, b} {
		if code := ag.stop(t, syscall.SIGTERM, 30*time.Second); code != 0 {
			t.Fatalf("agent %s exited %d on SIGTERM:\n%s", ag.holder, code, ag.out.String())
		}
	}
}

// TestAccAgent_tenantDumpFailures: the policy's second tenant was dropped.
// The scheduled backup still dumps the tenants before and after it, tries
// it twice, and reports the failure by name: the job record (a final
// failure: no second base backup for the slot), and
// lifeboat_tenant_dump_failures on /metrics.
func TestAccAgent_tenantDumpFailures(t *testing.T) {
	env := testenv.Require(t)
	f := setupAgentRepo(t, env, "agent-acc-tenants")
	ctx := context.Background()
	for _, db := range []string{"ag_t1", "ag_t2", "ag_t3"} {
		psql(t, env.Postgres, "DROP DATABASE IF EXISTS "+db)
		psql(t, env.Postgres, "CREATE DATABASE "+db)
	}
	psql(t, env.Postgres, "DROP DATABASE ag_t2")
	if err := repo.WritePolicy(ctx, f.store, f.cfg.Layout(), repo.Policy{Cluster: f.cfg.Cluster, Schedule: "* * * * *", Created: existing(),
		Retention: repo.PolicyRetention{FullCount: 5}, TenantDatabases: []string{"ag_t1", "ag_t2", "ag_t3"}}, nil); err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, f, "A")
	var last *agentd.Run
	waitFor(t, 90*time.Second, "the backup job is recorded", func() bool {
		last, _ = agentd.ReadRun(ctx, f.store, f.cfg.Layout(), agentd.BackupJob)
		return last != nil
	})
	// Final: the base backup succeeded, so the slot is not run again (it
	// would only take another base backup for a tenant that keeps failing).
	if last.Result != agentd.ResultFailure || !last.Final || len(last.TenantFailures) != 1 || last.TenantFailures["ag_t2"] == "" ||
		!strings.Contains(last.Error, "ag_t2") {
		t.Fatalf("job record %+v: want a failure naming ag_t2 only", last)
	}
	c := loadCatalog(t, f)
	var dumped []string
	for _, m := range c.Tenant {
		dumped = append(dumped, m.Database)
	}
	sort.Strings(dumped) // dumped in parallel: any order
	if len(c.Physical) != 1 || strings.Join(dumped, ",") != "ag_t1,ag_t3" || !strings.Contains(a.out.String(), "retrying failed tenant dumps") {
		t.Fatalf("%d base backups, tenant dumps %v: want 1 and ag_t1, ag_t3", len(c.Physical), dumped)
	}
	mf := a.scrape(t)
	if got := gauge(mf, "lifeboat_tenant_dump_failures", "database", "ag_t2"); got != 1 {
		t.Fatalf("lifeboat_tenant_dump_failures{database=ag_t2} = %v, want 1", got)
	}
	for _, db := range []string{"ag_t1", "ag_t3"} {
		if m := metric(mf, "lifeboat_tenant_dump_failures", "database", db); m == nil || m.GetGauge().GetValue() != 0 {
			t.Fatalf("lifeboat_tenant_dump_failures{database=%s} = %v, want 0", db, m)
		}
	}
	if code := a.stop(t, syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("agent exited %d on SIGTERM:\n%s", code, a.out.String())
	}
}

// TestAccAgent_scheduledVerify: with verify_schedule set, the agent
// verifies the newest base backup by content. One changed byte in a WAL
// segment the backup needs fails the run (recorded, not retried), and
// /metrics reports lifeboat_verify_success 0.
func TestAccAgent_scheduledVerify(t *testing.T) {
	env := testenv.Require(t)
	f := setupAgentRepo(t, env, "agent-acc-verify")
	ctx := context.Background()
	f.run(t, 0, "backup")
	f.archiveWAL(t)
	key := f.changeWALByte(t, loadCatalog(t, f).Physical[0].WALStart)

	// A yearly backup schedule whose current slot is recorded as done, so
	// only the verification runs.
	const yearly = "0 0 1 1 *"
	sched, err := schedule.Parse(yearly)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if err := agentd.WriteRun(ctx, f.store, f.cfg.Layout(), agentd.Run{Job: agentd.BackupJob, Slot: agentd.Slot(sched, now),
		Result: agentd.ResultSuccess, Attempts: 1, Holder: "test", Started: now, Finished: now}); err != nil {
		t.Fatal(err)
	}
	if err := repo.WritePolicy(ctx, f.store, f.cfg.Layout(), repo.Policy{Cluster: f.cfg.Cluster, Schedule: yearly,
		VerifySchedule: "* * * * *", Retention: repo.PolicyRetention{FullCount: 5}}, nil); err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, f, "A")
	var last *agentd.Run
	waitFor(t, 60*time.Second, "the verification is recorded", func() bool {
		last, _ = agentd.ReadRun(ctx, f.store, f.cfg.Layout(), agentd.VerifyJob)
		return last != nil
	})
	if last.Result != agentd.ResultFailure || !last.Final || !strings.Contains(last.Error, key) {
		t.Fatalf("verify run %+v: want a final failure naming %s", last, key)
	}
	mf := a.scrape(t)
	if got := gauge(mf, "lifeboat_verify_success", "cluster", f.cfg.Cluster); got != 0 {
		t.Fatalf("lifeboat_verify_success = %v, want 0", got)
	}
	if got := gauge(mf, "lifeboat_verify_problems", "cluster", f.cfg.Cluster); got < 1 {
		t.Fatalf("lifeboat_verify_problems = %v, want at least 1", got)
	}
	if c := loadCatalog(t, f); len(c.Physical) != 1 {
		t.Fatalf("%d base backups: the recorded backup slot ran again", len(c.Physical))
	}
	if code := a.stop(t, syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("agent exited %d on SIGTERM:\n%s", code, a.out.String())
	}
}

// TestAccAgent_killedMidBackup SIGKILLs an agent mid-backup: nothing looks
// complete; a second agent takes the expired lease over, redoes the slot
// and its prune removes the killed backup's parts.
func TestAccAgent_killedMidBackup(t *testing.T) {
	env := testenv.Require(t)
	f := setupAgentRepo(t, env, "agent-acc-kill")
	ctx := context.Background()
	pgbench(t, env.Postgres, "-i", "-s", "10", "-q")
	if err := repo.WritePolicy(ctx, f.store, f.cfg.Layout(), repo.Policy{Cluster: f.cfg.Cluster, Schedule: "* * * * *", Created: existing()}, nil); err != nil {
		t.Fatal(err)
	}
	waitForSecondBelow(30)
	a := startAgent(t, f, "A", slowBackup...)
	killed := waitParts(t, f, a)
	if code := a.stop(t, syscall.SIGKILL, 10*time.Second); code != -1 {
		t.Fatalf("SIGKILLed agent exited %d", code)
	}
	if _, err := f.store.Head(ctx, f.cfg.Layout().BackupManifestKey(killed)); !errors.Is(err, objectstore.ErrNotFound) {
		t.Fatalf("killed backup %s has a manifest: %v", killed, err)
	}
	c := loadCatalog(t, f)
	if len(c.Physical) != 0 || len(c.Incomplete) != 1 || c.Incomplete[0].ID != killed {
		t.Fatalf("after SIGKILL: %d complete, incomplete %+v", len(c.Physical), c.Incomplete)
	}
	if r, _ := agentd.ReadRun(ctx, f.store, f.cfg.Layout(), agentd.BackupJob); r != nil {
		t.Fatalf("the killed run was recorded: %+v", r)
	}

	// B takes over once A's lease (2× 1s) expires, in the same minute.
	b := startAgent(t, f, "B", "--prune-grace", "1s")
	var last *agentd.Run
	waitFor(t, 50*time.Second, "B runs the slot", func() bool {
		last, _ = agentd.ReadRun(ctx, f.store, f.cfg.Layout(), agentd.BackupJob)
		return last != nil
	})
	if last.Result != agentd.ResultSuccess || last.Holder != "B" {
		t.Fatalf("last run %+v\n%s", last, b.out.String())
	}
	c = loadCatalog(t, f)
	if len(c.Physical) != 1 || c.Physical[0].ID == killed || len(c.Incomplete) != 0 {
		t.Fatalf("after takeover: complete %d, incomplete %+v", len(c.Physical), c.Incomplete)
	}
	n := 0
	_ = f.store.List(ctx, f.cfg.Layout().BackupDir(killed), func(objectstore.ObjectInfo) error { n++; return nil })
	if n != 0 {
		t.Fatalf("%d objects of the killed backup left after B's prune", n)
	}
	lease := newestLease(t, f, agentd.BackupJob)
	if lease.Holder != "B" || lease.Generation < 2 || !lease.Released {
		t.Fatalf("lease after takeover: %+v", lease)
	}
	if code := b.stop(t, syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("agent B exited %d:\n%s", code, b.out.String())
	}
}

// TestAccAgent_SIGTERMMidBackup: SIGTERM cancels the running backup, which
// never looks complete; the agent releases its lease and exits 0, and the
// slot stays due.
func TestAccAgent_SIGTERMMidBackup(t *testing.T) {
	env := testenv.Require(t)
	f := setupAgentRepo(t, env, "agent-acc-term")
	ctx := context.Background()
	pgbench(t, env.Postgres, "-i", "-s", "10", "-q")
	if err := repo.WritePolicy(ctx, f.store, f.cfg.Layout(), repo.Policy{Cluster: f.cfg.Cluster, Schedule: "* * * * *", Created: existing()}, nil); err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, f, "A", slowBackup...)
	id := waitParts(t, f, a)
	if code := a.stop(t, syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("agent exited %d on SIGTERM:\n%s", code, a.out.String())
	}
	if !strings.Contains(a.out.String(), "job abandoned") {
		t.Fatalf("no abandoned job in the log:\n%s", a.out.String())
	}
	if _, err := f.store.Head(ctx, f.cfg.Layout().BackupManifestKey(id)); !errors.Is(err, objectstore.ErrNotFound) {
		t.Fatalf("cancelled backup %s has a manifest: %v", id, err)
	}
	if c := loadCatalog(t, f); len(c.Physical) != 0 {
		t.Fatalf("%d complete backups after SIGTERM", len(c.Physical))
	}
	if r, _ := agentd.ReadRun(ctx, f.store, f.cfg.Layout(), agentd.BackupJob); r != nil {
		t.Fatalf("the cancelled run was recorded: %+v", r)
	}
	if l := newestLease(t, f, agentd.BackupJob); l.Holder != "A" || !l.Released {
		t.Fatalf("lease not released: %+v", l)
	}
}

// slowBackup makes a base backup of pgbench -s 10 take ~20s, in 1 MiB parts.
var slowBackup = []string{"--compression", "none", "--part-size", strconv.Itoa(1 << 20), "--max-rate", "8192"}

// existing is the created time of a policy the tests' agents find already
// in place: older than the slot due at start, which is then the policy's
// to run (a slot that began before its policy existed is not due).
func existing() time.Time { return time.Now().Add(-time.Hour) }

func setupAgentRepo(t *testing.T, env *testenv.Env, bucket string) *backupFixture {
	t.Helper()
	// NOTE: testenv.Dir, not t.TempDir: the PostgreSQL account of a
	// drill's scratch server runs the binary as restore_command.
	r := env.MinIO[0].NewRepository(t, testenv.Dir(t), objectstore.BucketSpec{Name: bucket}, "acc", "pg15", "")
	return &backupFixture{env: env, bin: testenv.Lifeboat(t), cfgPath: r.ConfigPath, cfg: r.Config, store: r.Store}
}

// agentProc is a running `lifeboat agent`.
type agentProc struct {
	holder string
	listen string
	cmd    *exec.Cmd
	out    *syncBuffer
	done   chan struct{}
	code   int
}

func startAgent(t *testing.T, f *backupFixture, holder string, extra ...string) *agentProc {
	t.Helper()
	listen := freeListen(t)
	args := append([]string{"agent", "--holder", holder, "--listen", listen, "--tick", "1s", "--refresh", "2s",
		"--lease-renew", "1s", "--stats-interval", "2s", "--log-format", "json"}, extra...)
	return launchAgent(t, holder, listen, f.command(args...))
}

// freeListen is a loopback address, free a moment ago, for an agent's
// metrics and health listener.
func freeListen(t *testing.T) string {
	t.Helper()
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return "127.0.0.1:" + strconv.Itoa(port)
}

// launchAgent starts cmd, a `lifeboat agent` listening on listen, and
// waits until it answers /healthz. When the test ends it is killed if
// still running, and a failed test logs its output.
func launchAgent(t *testing.T, holder, listen string, cmd *exec.Cmd) *agentProc {
	t.Helper()
	p := &agentProc{holder: holder, listen: listen, cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("agent %s output:\n%s", holder, p.out.String())
		}
	})
	waitFor(t, 15*time.Second, "agent "+holder+" healthy", func() bool {
		resp, err := http.Get("http://" + listen + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return p
}

// stop signals the agent and returns its exit code (-1: killed by a signal).
func (p *agentProc) stop(t *testing.T, sig syscall.Signal, within time.Duration) int {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
		return p.code
	case <-time.After(within):
		t.Fatalf("agent %s still running %s after %s:\n%s", p.holder, within, sig, p.out.String())
		return 0
	}
}

func (p *agentProc) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + p.listen + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mf, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return mf
}

// metric returns the metric of family name with the given label pairs.
func metric(mf map[string]*dto.MetricFamily, name string, labels ...string) *dto.Metric {
	fam, ok := mf[name]
	if !ok {
		return nil
	}
	for _, m := range fam.GetMetric() {
		got := map[string]string{}
		for _, lp := range m.GetLabel() {
			got[lp.GetName()] = lp.GetValue()
		}
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			if got[labels[i]] != labels[i+1] {
				match = false
			}
		}
		if match {
			return m
		}
	}
	return nil
}

func gauge(mf map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	if m := metric(mf, name, labels...); m != nil {
		return m.GetGauge().GetValue()
	}
	return -1
}

func counter(mf map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	if m := metric(mf, name, labels...); m != nil {
		return m.GetCounter().GetValue()
	}
	return 0
}

// waitParts waits until a backup of the agent has stored two parts and
// no manifest, and returns its id.
func waitParts(t *testing.T, f *backupFixture, a *agentProc) string {
	t.Helper()
	l := f.cfg.Layout()
	var id string
	waitFor(t, 60*time.Second, "a backup with two parts stored", func() bool {
		parts := map[string]int{}
		complete := map[string]bool{}
		_ = f.store.List(context.Background(), l.BaseBackupsDir(), func(o objectstore.ObjectInfo) error {
			k, _ := l.Parse(o.Key)
			bid := k.ID
			if k.Kind == repo.KindBackupManifest {
				complete[bid] = true
			}
			parts[bid]++
			return nil
		})
		for bid, n := range parts {
			if !complete[bid] && n >= 2 {
				id = bid
				return true
			}
		}
		return false
	})
	return id
}

func newestLease(t *testing.T, f *backupFixture, job string) agentd.LeaseDoc {
	t.Helper()
	var last string
	_ = f.store.List(context.Background(), f.cfg.Layout().LeaseDir(job), func(o objectstore.ObjectInfo) error {
		last = o.Key
		return nil
	})
	if last == "" {
		t.Fatal("no lease object")
	}
	rc, _, err := f.store.Get(context.Background(), last)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var d agentd.LeaseDoc
	if err := json.NewDecoder(rc).Decode(&d); err != nil {
		t.Fatal(err)
	}
	return d
}

func loadCatalog(t *testing.T, f *backupFixture) *catalog.Catalog {
	t.Helper()
	c, err := catalog.Load(context.Background(), f.store, f.cfg.Layout())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func waitCatalog(t *testing.T, f *backupFixture, within time.Duration, ok func(*catalog.Catalog) bool) *catalog.Catalog {
	t.Helper()
	var c *catalog.Catalog
	waitFor(t, within, "backups in the catalog", func() bool {
		c = loadCatalog(t, f)
		return ok(c)
	})
	return c
}

func waitFor(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// waitForSecondBelow waits until the wall clock's second is below s, so a
// run started now falls in the current minute's slot.
func waitForSecondBelow(s int) {
	for time.Now().Second() >= s {
		time.Sleep(200 * time.Millisecond)
	}
}

func psqlErr(pg *testenv.Postgres, db, sql string) (string, error) {
	out, err := pg.Psql(db, sql)
	if err != nil {
		return out, fmt.Errorf("%w: %s", err, out)
	}
	return out, nil
}

// syncBuffer is a bytes.Buffer safe for a process's output and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAccAgent_drill runs a cluster drill on a one-minute cron schedule:
// the agent restores the newest backup (with the archived WAL) into a
// scratch server, checks it, writes locked evidence, and /metrics reports
// the drill.
func TestAccAgent_drill(t *testing.T) {
	env := testenv.Require(t)
	f := setupAgentRepo(t, env, "agent-acc-drill")
	ctx := context.Background()
	psql(t, env.Postgres, "DROP TABLE IF EXISTS drill_rows; CREATE TABLE drill_rows AS SELECT generate_series(1, 100) AS x")
	if err := repo.WritePolicy(ctx, f.store, f.cfg.Layout(), repo.Policy{Cluster: f.cfg.Cluster, Schedule: "* * * * *", Created: existing()}, nil); err != nil {
		t.Fatal(err)
	}
	waitForSecondBelow(45)
	a := startAgent(t, f, "A")
	waitCatalog(t, f, 60*time.Second, func(c *catalog.Catalog) bool { return len(c.Physical) == 1 })
	// One backup is enough: a yearly schedule whose slot is older than
	// the one just run, so the drill restores this backup and its WAL.
	if err := repo.WritePolicy(ctx, f.store, f.cfg.Layout(), repo.Policy{Cluster: f.cfg.Cluster, Schedule: "0 0 1 1 *"}, nil); err != nil {
		t.Fatal(err)
	}
	f.archiveWAL(t)

	if err := drill.WriteSchedule(ctx, f.store, f.cfg.Layout(), drill.ScheduleDoc{
		Name: "minutely", Cluster: f.cfg.Cluster, Schedule: "* * * * *", Kind: "cluster", RTOTargetSeconds: 600, EvidenceDays: 1,
		Checks: []drill.Check{{Name: "rows", Kind: drill.CheckRowCountFloor, SQL: "SELECT count(*) FROM drill_rows", Expected: "100"}},
	}, nil); err != nil {
		t.Fatal(err)
	}
	job := agentd.DrillJobPrefix + "minutely"
	var last *agentd.Run
	waitFor(t, 150*time.Second, "the drill to run", func() bool {
		last, _ = agentd.ReadRun(ctx, f.store, f.cfg.Layout(), job)
		return last != nil
	})
	if last.Result != agentd.ResultSuccess {
		t.Fatalf("drill run %+v", last)
	}
	ev, err := drill.Latest(ctx, f.store, f.cfg.Layout(), "minutely")
	if err != nil || !ev.Passed || !strings.Contains(last.Output, ev.Key) {
		t.Fatalf("evidence %+v, %v; run output %q", ev, err, last.Output)
	}
	mf := a.scrape(t)
	if got := gauge(mf, "lifeboat_drill_success", "schedule", "minutely"); got != 1 {
		t.Fatalf("lifeboat_drill_success = %v", got)
	}
	if got := gauge(mf, "lifeboat_drill_last_timestamp_seconds", "schedule", "minutely"); got != float64(ev.Finished.UnixNano())/1e9 {
		t.Fatalf("lifeboat_drill_last_timestamp_seconds = %v, evidence finished %s", got, ev.Finished)
	}
	if got := gauge(mf, "lifeboat_drill_duration_seconds", "schedule", "minutely"); got <= 0 || got < ev.RTOSeconds {
		t.Fatalf("lifeboat_drill_duration_seconds = %v (RTO %v)", got, ev.RTOSeconds)
	}
	if got := gauge(mf, "lifeboat_drill_rto_seconds", "schedule", "minutely"); got != ev.RTOSeconds {
		t.Fatalf("lifeboat_drill_rto_seconds = %v, evidence %v", got, ev.RTOSeconds)
	}
	if got := gauge(mf, "lifeboat_drill_rto_target_seconds", "schedule", "minutely"); got != 600 {
		t.Fatalf("lifeboat_drill_rto_target_seconds = %v", got)
	}
	if got := counter(mf, "lifeboat_job_runs_total", "job", job, "result", "success"); got != 1 {
		t.Fatalf("lifeboat_job_runs_total{job=%s,result=success} = %v", job, got)
	}
	if code := a.stop(t, syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("agent exited %d:\n%s", code, a.out.String())
	}

	// The same schedule by hand: `lifeboat drill run`, then the history.
	// NOTE: evidence ids are per second; make sure this one gets its own.
	time.Sleep(time.Until(ev.Started.Truncate(time.Second).Add(time.Second)))
	out := f.run(t, 0, "drill", "run", "minutely")
	if !strings.Contains(out, "PASSED") || !strings.Contains(out, "rows") {
		t.Fatalf("drill run output:\n%s", out)
	}
	report := f.run(t, 0, "drill", "report", "minutely", "--format", "markdown")
	if strings.Count(report, "| passed |") != 2 {
		t.Fatalf("report must list both drills as passed:\n%s", report)
	}
	if out, code := f.exec(t, "drill", "run", "no-such-schedule"); code == 0 || !strings.Contains(out, "no-such-schedule") {
		t.Fatalf("a missing schedule: exit %d\n%s", code, out)
	}
}

// TestAccAgent_writerPrunes: the agent, run with the writer's keys in a
// bucket under object lock, runs its scheduled backup and the prune after
// it: the job succeeds, the backup retention lets go leaves the catalog,
// and its versions stay, locked, behind delete markers.
func TestAccAgent_writerPrunes(t *testing.T) {
	env := testenv.Require(t)
	f, _ := setupWriterRepo(t, env, "agent-acc-prune")
	ctx := context.Background()
	l := f.cfg.Layout()
	f.run(t, 0, "backup")
	old := f.newest(t)
	f.archiveWAL(t)
	if err := repo.WritePolicy(ctx, f.store, l, repo.Policy{Cluster: f.cfg.Cluster, Schedule: "* * * * *", Created: existing(),
		Retention: repo.PolicyRetention{FullCount: 1}}, nil); err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, f, "W")
	var last *agentd.Run
	waitFor(t, 90*time.Second, "the agent runs the backup slot", func() bool {
		last, _ = agentd.ReadRun(ctx, f.store, l, agentd.BackupJob)
		return last != nil
	})
	if code := a.stop(t, syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("agent exited %d:\n%s", code, a.out.String())
	}
	if last.Result != agentd.ResultSuccess || !strings.Contains(a.out.String(), "prune complete") {
		t.Fatalf("backup job %+v\n%s", last, a.out.String())
	}
	c := loadCatalog(t, f)
	if len(c.Physical) != 1 || c.Physical[0].ID == old {
		t.Fatalf("after the agent's prune: %+v, want one backup newer than %s", c.Physical, old)
	}
	versions, markers := 0, 0
	if err := f.store.ListVersions(ctx, l.BackupDir(old), func(o objectstore.ObjectInfo) error {
		if o.DeleteMarker {
			markers++
		} else {
			versions++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if versions == 0 || markers != versions {
		t.Fatalf("pruned backup %s: %d versions, %d delete markers; want every version kept behind a marker", old, versions, markers)
	}
}
