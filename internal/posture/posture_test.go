package posture

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/catalog"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

var now = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// observation is a cluster with every read failed but the ones a test
// sets: controls must say unknown, never pass, on what they could not read.
func observation() *Observation {
	gone := errors.New("connection refused")
	return &Observation{Bucket: "b", Now: now, BucketErr: gone, Clusters: []ClusterObservation{{
		Cluster: "main", Layout: repo.Layout{Cluster: "main"},
		CatalogErr: gone, WindowErr: gone, PolicyErr: gone, VerifyErr: gone, BackupRunErr: gone, DrillsErr: gone, AgentsErr: gone, RedisErr: gone, RegionsErr: gone,
	}}}
}

// TestUnreadableIsNeverPass: a repository that cannot be read yields no
// pass at all.
func TestUnreadableIsNeverPass(t *testing.T) {
	r := Evaluate(observation(), Params{})
	if len(r.Findings) != len(Controls()) {
		t.Fatalf("%d findings for %d controls over one cluster", len(r.Findings), len(Controls()))
	}
	for _, f := range r.Findings {
		if f.Status == Pass {
			t.Errorf("%s passed on unreadable data: %q", f.Control, f.Observed)
		}
	}
	if f, _ := r.Find(ControlConfiguration, "main"); f.Status != Fail {
		t.Errorf("unreadable policy.json is %s, want fail (a configuration that cannot be read is not intact)", f.Status)
	}
}

func TestWriterProbe(t *testing.T) {
	o := observation()
	o.Probe = &access.Report{Results: []access.Result{
		{Check: access.CheckDeleteLockedVersion, Outcome: access.Denied, By: access.ByLock},
		{Check: access.CheckPutLifecycle, Outcome: access.Denied, By: access.ByPolicy},
	}}
	if f, _ := Evaluate(o, Params{}).Find(ControlWriterNoDelete, ""); f.Status != Pass || len(f.Evidence) != 2 {
		t.Fatalf("all denied: %s %q with %d evidence; want pass with 2", f.Status, f.Observed, len(f.Evidence))
	}
	o.Probe.Results = append(o.Probe.Results, access.Result{Check: access.CheckBypassGovernance, Outcome: access.Allowed})
	if f, _ := Evaluate(o, Params{}).Find(ControlWriterNoDelete, ""); f.Status != Fail || !strings.Contains(f.Observed, "bypass_governance_retention") {
		t.Fatalf("bypass allowed: %s %q; want fail naming it", f.Status, f.Observed)
	}
}

func TestVerification(t *testing.T) {
	o := observation()
	c := &o.Clusters[0]
	c.VerifyErr = nil
	if f, _ := Evaluate(o, Params{}).Find(ControlVerification, "main"); f.Status != Unknown {
		t.Fatalf("no record: %s, want unknown", f.Status)
	}
	c.VerifyRun = &repo.JobRun{Job: repo.JobVerify, Result: repo.JobSuccess, Finished: now.Add(-24 * time.Hour), Holder: "h"}
	f, _ := Evaluate(o, Params{VerifyWithinDays: 2}).Find(ControlVerification, "main")
	if f.Status != Pass || f.Evidence[0].Key != c.Layout.JobRecordKey(repo.JobVerify) {
		t.Fatalf("recent success: %s %+v", f.Status, f.Evidence)
	}
	if f, _ := Evaluate(o, Params{VerifyWithinDays: 1}).Find(ControlVerification, "main"); f.Status != Pass {
		t.Fatalf("success 24h ago within 1 day: %s", f.Status)
	}
	c.VerifyRun.Finished = now.Add(-49 * time.Hour)
	if f, _ := Evaluate(o, Params{VerifyWithinDays: 2}).Find(ControlVerification, "main"); f.Status != Fail {
		t.Fatalf("success 49h ago, 2 days required: %s", f.Status)
	}
	c.VerifyRun.Finished, c.VerifyRun.Result, c.VerifyRun.Error = now, repo.JobFailure, "checksum mismatch"
	if f, _ := Evaluate(o, Params{}).Find(ControlVerification, "main"); f.Status != Fail || !strings.Contains(f.Evidence[0].Note, "checksum mismatch") {
		t.Fatalf("failed verification: %s %+v", f.Status, f.Evidence)
	}
}

func TestWindowTruncatedWarns(t *testing.T) {
	o := observation()
	c := &o.Clusters[0]
	c.WindowErr = nil
	c.Window = &catalog.Window{Restorable: true, FromBackup: "x", Earliest: now.Add(-10 * 24 * time.Hour), Latest: now.Add(-time.Hour),
		LatestSegment: "000000010000000000000002", NewestSegment: "000000010000000000000009"}
	if f, _ := Evaluate(o, Params{WindowDays: 7}).Find(ControlWindow, "main"); f.Status != Warn {
		t.Fatalf("truncated window: %s %q", f.Status, f.Observed)
	}
	if f, _ := Evaluate(o, Params{WindowDays: 14}).Find(ControlWindow, "main"); f.Status != Fail {
		t.Fatalf("10 days of 14: %s %q", f.Status, f.Observed)
	}
	c.Window.NewestSegment = c.Window.LatestSegment
	if f, _ := Evaluate(o, Params{WindowDays: 7}).Find(ControlWindow, "main"); f.Status != Pass || !strings.Contains(f.Observed, "(10.0 days)") {
		t.Fatalf("10 days of 7: %s %q", f.Status, f.Observed)
	}
}

// TestRenderings: every format carries every finding, and the HTML page
// loads nothing from elsewhere.
func TestRenderings(t *testing.T) {
	o := observation()
	o.BucketErr, o.BucketState = nil, &objectstore.BucketState{Versioning: "Enabled", ObjectLockEnabled: true,
		Spec: objectstore.BucketSpec{Retention: &objectstore.Retention{Mode: "COMPLIANCE", Days: 30}}}
	o.Clusters[0].CatalogErr = errors.New("a | pipe\nand <script>alert(1)</script>")
	r := Evaluate(o, Params{})

	js, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js, &back); err != nil || len(back.Findings) != len(r.Findings) {
		t.Fatalf("JSON round trip: %v, %d findings", err, len(back.Findings))
	}

	var buf bytes.Buffer
	if err := r.CSV(&buf); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(rows) != len(r.Findings)+1 {
		t.Fatalf("CSV: %v, %d rows for %d findings", err, len(rows), len(r.Findings))
	}

	md := r.Markdown()
	if strings.Count(md, "\n### ") != len(r.Findings) || !strings.Contains(md, `a \| pipe and`) {
		t.Fatalf("Markdown has %d findings (want %d) or an unescaped pipe:\n%s", strings.Count(md, "\n### "), len(r.Findings), md)
	}

	buf.Reset()
	if err := r.HTML(&buf); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	if regexp.MustCompile(`(?i)(src|href)=|<script|<link|url\(`).MatchString(page) {
		t.Fatalf("HTML loads an external asset or runs a script:\n%s", page)
	}
	if n := strings.Count(page, `class="f"`); n != len(r.Findings) {
		t.Fatalf("HTML shows %d findings, want %d", n, len(r.Findings))
	}
	counts := r.Counts()
	for scope, byStatus := range counts {
		for _, s := range Statuses() {
			cell := regexp.MustCompile(`data-scope="` + scopeName(scope) + `">.*?data-status="` + string(s) + `">(\d+)<`).FindStringSubmatch(page)
			if cell == nil || cell[1] != itoa(byStatus[s]) {
				t.Errorf("summary %s/%s = %v, want %d", scopeName(scope), s, cell, byStatus[s])
			}
		}
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestParamsWithDefaults: a zero or out-of-range threshold takes its
// default (a factor must be above 1, a size drop between 0 and 1); a set
// one stays.
func TestParamsWithDefaults(t *testing.T) {
	d := DefaultParams
	if got := (Params{}).withDefaults(); got.MinLockDays != d.MinLockDays || got.RPO != d.RPO || got.WindowDays != d.WindowDays ||
		got.VerifyWithinDays != d.VerifyWithinDays || got.DrillWithinDays != d.DrillWithinDays || got.AnomalyWindow != d.AnomalyWindow ||
		got.CollapseFactor != d.CollapseFactor || got.SurgeFactor != d.SurgeFactor || got.MaxSizeDrop != d.MaxSizeDrop {
		t.Fatalf("zero params: %+v, want the defaults %+v", got, d)
	}
	out := Params{MinLockDays: -1, RPO: -time.Second, CollapseFactor: 1, SurgeFactor: 0.5, MaxSizeDrop: 1}.withDefaults()
	if out.MinLockDays != d.MinLockDays || out.RPO != d.RPO || out.CollapseFactor != d.CollapseFactor || out.SurgeFactor != d.SurgeFactor ||
		out.MaxSizeDrop != d.MaxSizeDrop {
		t.Fatalf("out-of-range params: %+v, want the defaults", out)
	}
	set := Params{MinLockDays: 30, RPO: time.Minute, WindowDays: 14, VerifyWithinDays: 3, DrillWithinDays: 90, AnomalyWindow: 2 * time.Hour,
		CollapseFactor: 1.5, SurgeFactor: 8, MaxSizeDrop: 0.9}
	if got := set.withDefaults(); got.MinLockDays != 30 || got.RPO != time.Minute || got.WindowDays != 14 || got.VerifyWithinDays != 3 ||
		got.DrillWithinDays != 90 || got.AnomalyWindow != 2*time.Hour || got.CollapseFactor != 1.5 || got.SurgeFactor != 8 || got.MaxSizeDrop != 0.9 {
		t.Fatalf("set params: %+v, want them kept", got)
	}
}

// TestJobRecordControlsWithoutARun: the controls judging the agent's last
// verification and last scheduled backup are unknown, with their
// threshold, when the record is unreadable (naming the problem and the
// credentials needed) or was never written (saying what is missing).
func TestJobRecordControlsWithoutARun(t *testing.T) {
	for _, c := range []struct {
		control, problem, none string
		set                    func(c *ClusterObservation, err error)
	}{
		{ControlVerification, "Verification Record Unreadable", "recorded no verification",
			func(c *ClusterObservation, err error) { c.VerifyRun, c.VerifyErr = nil, err }},
		{ControlTenantDumpErrors, "Backup Job Record Unreadable", "recorded no scheduled backup",
			func(c *ClusterObservation, err error) { c.BackupRun, c.BackupRunErr = nil, err }},
	} {
		t.Run(c.control, func(t *testing.T) {
			o := observation()
			c.set(&o.Clusters[0], errors.New("access denied"))
			f, _ := Evaluate(o, Params{}).Find(c.control, "main")
			if f.Status != Unknown || f.Problem != c.problem || f.Observed != "access denied" || f.Threshold == "" ||
				!strings.Contains(f.Remedy, "job records") {
				t.Fatalf("unreadable record: %+v", f)
			}
			c.set(&o.Clusters[0], nil)
			f, _ = Evaluate(o, Params{}).Find(c.control, "main")
			if f.Status != Unknown || !strings.Contains(f.Observed, c.none) || f.Threshold == "" || f.Remedy == "" {
				t.Fatalf("no record: %+v", f)
			}
		})
	}
}
