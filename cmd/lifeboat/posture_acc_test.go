package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access/accesstest"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/posture"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestAccPostureReport runs `lifeboat posture report` on a repository with
// a real base backup and its WAL, a policy, and a server that does not
// archive: the JSON names the backup's manifest as evidence of a passing
// backup age, the missing drill and the unarchived server fail (exit 1),
// and the Markdown, CSV and HTML renderings carry the same findings, the
// HTML self-contained with a summary whose counts match the JSON.
func TestAccPostureReport(t *testing.T) {
	env := testenv.Require(t)
	f := setupAgentRepo(t, env, "posture-cmd-acc")
	ctx := context.Background()
	if err := repo.WritePolicy(ctx, f.store, f.cfg.Layout(), repo.Policy{Format: 1, Cluster: f.cfg.Cluster, Schedule: "@hourly"}, nil); err != nil {
		t.Fatal(err)
	}
	f.run(t, 0, "backup")
	id := f.newest(t)
	f.archiveWAL(t)

	dir := t.TempDir()
	out := filepath.Join(dir, "posture.json")
	f.run(t, exitPostureFailed, "posture", "report", "--format", "json", "-o", out, "--window-days", "1")
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var r posture.Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, b)
	}
	find := func(control string, status posture.Status, observed string) posture.Finding {
		t.Helper()
		fd, ok := r.Find(control, f.cfg.Cluster)
		if !ok || fd.Status != status || !strings.Contains(fd.Observed, observed) {
			t.Fatalf("%s = %+v; want %s with %q", control, fd, status, observed)
		}
		return fd
	}
	fd := find(posture.ControlBaseBackupAge, posture.Pass, "old")
	if fd.Evidence[0].Key != f.cfg.Layout().BackupManifestKey(id) {
		t.Errorf("backup age evidence %+v, want the manifest of %s", fd.Evidence, id)
	}
	fd = find(posture.ControlWindow, posture.Fail, "days)")
	if !strings.Contains(fd.Evidence[0].Note, id) {
		t.Errorf("window evidence %+v, want backup %s", fd.Evidence, id)
	}
	find(posture.ControlDrill, posture.Fail, "no drill schedule")
	find(posture.ControlWALArchiving, posture.Fail, "archive_mode = off")
	find(posture.ControlConfiguration, posture.Pass, "policy.json")

	md := f.run(t, exitPostureFailed, "posture", "report", "--window-days", "1")
	if strings.Count(md, "\n### ") != len(r.Findings) || !strings.Contains(md, "### FAIL `drill.last_passed`") {
		t.Errorf("markdown differs from the JSON's %d findings:\n%s", len(r.Findings), md)
	}

	csvPath := filepath.Join(dir, "posture.csv")
	f.run(t, exitPostureFailed, "posture", "report", "--format", "csv", "-o", csvPath, "--window-days", "1")
	cf, _ := os.Open(csvPath)
	rows, err := csv.NewReader(cf).ReadAll()
	cf.Close()
	if err != nil || len(rows) != len(r.Findings)+1 {
		t.Fatalf("CSV: %v, %d rows for %d findings", err, len(rows), len(r.Findings))
	}

	htmlPath := filepath.Join(dir, "posture.html")
	f.run(t, exitPostureFailed, "posture", "report", "--format", "html", "-o", htmlPath, "--window-days", "1")
	page, _ := os.ReadFile(htmlPath)
	if regexp.MustCompile(`(?i)(src|href)=|<script|<link|url\(`).Match(page) {
		t.Fatalf("HTML loads an external asset or runs a script")
	}
	for cluster, byStatus := range r.Counts() {
		scope := cluster
		if scope == "" {
			scope = "bucket"
		}
		for _, s := range posture.Statuses() {
			m := regexp.MustCompile(`data-scope="` + scope + `">.*?data-status="` + string(s) + `">(\d+)<`).FindSubmatch(page)
			if m == nil || string(m[1]) != strconv.Itoa(byStatus[s]) {
				t.Errorf("HTML summary %s/%s = %q, JSON counts %d", scope, s, m, byStatus[s])
			}
		}
	}

	if out, code := f.exec(t, "posture", "report", "--format", "pdf"); code != 2 || !strings.Contains(out, "unknown format") {
		t.Errorf("unknown format: exit %d\n%s", code, out)
	}
}

// TestAccPostureReportAuditorReadsTheBucket: run with the keys of a MinIO
// user made from the writer's document (as the demo's agent runs), the
// bucket controls of posture report are unknown: those keys may not read
// the bucket's configuration. With the keys of a user made from the
// auditor's document in $LIFEBOAT_AUDITOR_ACCESS_KEY and
// $LIFEBOAT_AUDITOR_SECRET_KEY, the same report judges them: the object
// lock (GOVERNANCE, 1 day) fails the 7-day minimum naming the bucket, and
// versioning passes.
func TestAccPostureReportAuditorReadsTheBucket(t *testing.T) {
	env := testenv.Require(t)
	f, _ := setupWriterRepo(t, env, "posture-auditor")
	ctx := context.Background()
	if err := repo.WritePolicy(ctx, f.store, f.cfg.Layout(), repo.Policy{Format: 1, Cluster: f.cfg.Cluster, Schedule: "@hourly"}, nil); err != nil {
		t.Fatal(err)
	}
	report := func(extraEnv ...string) *posture.Report {
		t.Helper()
		cmd := f.command("posture", "report", "--format", "json")
		cmd.Env = append(cmd.Env, extraEnv...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() > exitPostureFailed {
			t.Fatalf("posture report: %v\n%s", err, stderr.String())
		}
		var r posture.Report
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("report is not JSON: %v\n%s", err, out)
		}
		return &r
	}
	status := func(r *posture.Report, control string) posture.Finding {
		t.Helper()
		fd, ok := r.Find(control, "")
		if !ok {
			t.Fatalf("no finding for %s", control)
		}
		return fd
	}
	r := report()
	for _, c := range []string{posture.ControlObjectLock, posture.ControlVersioning} {
		if fd := status(r, c); fd.Status != posture.Unknown {
			t.Fatalf("with the writer's keys %s = %s %q, want unknown (they may not read the bucket's configuration)", c, fd.Status, fd.Observed)
		}
	}

	ak, sk := accesstest.User(t, env.MinIO[0], "posture-auditor", access.RoleAuditor, f.cfg.Bucket, repo.Layout{Prefix: f.cfg.Prefix})
	r = report(EnvAuditorAccessKey+"="+ak, EnvAuditorSecretKey+"="+sk)
	lock := status(r, posture.ControlObjectLock)
	if lock.Status != posture.Fail || !strings.Contains(lock.Observed, "GOVERNANCE, 1 days") || len(lock.Evidence) == 0 ||
		!strings.Contains(lock.Evidence[0].Key, f.cfg.Bucket) {
		t.Fatalf("with the auditor's keys the object lock = %+v, want a fail on GOVERNANCE, 1 days naming the bucket", lock)
	}
	if v := status(r, posture.ControlVersioning); v.Status != posture.Pass {
		t.Fatalf("with the auditor's keys versioning = %s %q, want pass", v.Status, v.Observed)
	}
	// The repository's controls still read with the configuration's keys.
	if fd, _ := r.Find(posture.ControlConfiguration, f.cfg.Cluster); fd.Status != posture.Pass {
		t.Errorf("configuration = %s %q, want pass (read with the writer's keys)", fd.Status, fd.Observed)
	}
}
