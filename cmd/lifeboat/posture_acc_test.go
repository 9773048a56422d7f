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
