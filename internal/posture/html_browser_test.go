package posture_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/drill"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/posture"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// chromium finds Debian's chromium. The acceptance tests run where
// tools/scripts/install-tools.sh installed it: a missing browser fails the
// test instead of skipping it, so the report is never left untested.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("LIFEBOAT_CHROMIUM"), "chromium", "chromium-browser"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium not found on PATH: install it with tools/scripts/install-tools.sh (only=apt), or set LIFEBOAT_CHROMIUM")
	return ""
}

// artifactDir is where tests leave files for people to look at:
// $LIFEBOAT_ARTIFACTS, or .artifacts at the repository's root.
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("LIFEBOAT_ARTIFACTS")
	if dir == "" {
		_, file, _, _ := runtime.Caller(0)
		dir = filepath.Join(filepath.Dir(file), "..", "..", ".artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestAccPostureHTMLInBrowser opens the HTML report of a real repository
// (a base backup, a tenant dump, archived WAL segments, five drills, one
// failed beyond its RTO) in headless chromium: no console error or
// exception, the summary's counts are the JSON report's, the three plots
// are SVG with drawn series and the RTO plot shows the failed drill; the
// screenshot is saved as an artifact.
func TestAccPostureHTMLInBrowser(t *testing.T) {
	env := testenv.Require(t)
	browser := chromium(t)
	ctx := context.Background()
	c := client(t, env)
	bucket := bucketName("html")
	if err := c.CreateBucket(ctx, objectstore.BucketSpec{Name: bucket, Encryption: &objectstore.Encryption{Algorithm: objectstore.SSEAES256}}); err != nil {
		t.Fatal(err)
	}
	store := c.Store(bucket)
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	if err := repo.WritePolicy(ctx, store, l, repo.Policy{Format: 1, Cluster: "main", Schedule: "@daily", TenantDatabases: []string{"postgres"}}, nil); err != nil {
		t.Fatal(err)
	}
	a := newArchiver(t, env)
	a.exec("create table if not exists posture_html(x int, pad text)")
	for i := 0; i < 3; i++ {
		a.exec("insert into posture_html select g, repeat('lifeboat', 20) from generate_series(1, 20000) g")
		a.switchAndPush(store, l)
		time.Sleep(300 * time.Millisecond)
	}
	if _, err := backup.Take(ctx, store, backup.Options{Layout: l, DSN: env.Postgres.DSN("postgres")}); err != nil {
		t.Fatal(err)
	}
	a.switchAndPush(store, l)
	if _, err := backup.DumpTenant(ctx, store, backup.TenantOptions{Layout: l, DSN: env.Postgres.DSN("postgres")}, "postgres"); err != nil {
		t.Fatal(err)
	}
	if err := drill.WriteSchedule(ctx, store, l, drill.ScheduleDoc{Format: 1, Name: "nightly", Cluster: "main", Schedule: "@daily",
		Kind: "cluster", RTOTargetSeconds: 120}, nil); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for i, rto := range []float64{61, 74, 90, 150, 83} {
		finished := now.Add(time.Duration(i-5) * 24 * time.Hour)
		ev := drill.Evidence{Format: 1, ID: fmt.Sprintf("%s-%04d", finished.Format("20060102T150405Z"), i), Schedule: "nightly", Cluster: "main",
			Passed: rto <= 120, RTOSeconds: rto, RTOTargetSeconds: 120, Started: finished.Add(-time.Duration(rto) * time.Second), Finished: finished}
		body, _ := json.Marshal(ev)
		if _, err := store.Put(ctx, l.DrillEvidenceKey("nightly", ev.ID), strings.NewReader(string(body)),
			objectstore.PutOptions{Size: int64(len(body)), IfAbsent: true}); err != nil {
			t.Fatal(err)
		}
	}

	o, err := posture.Gather(ctx, posture.Target{Buckets: c, Store: store, Prefix: "pg", Clusters: []string{"main"}})
	if err != nil {
		t.Fatal(err)
	}
	r := posture.Evaluate(o, posture.Params{})
	dir := t.TempDir()
	page := filepath.Join(dir, "posture.html")
	f, err := os.Create(page)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.HTML(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	js, _ := r.JSON()
	var fromJSON posture.Report
	if err := json.Unmarshal(js, &fromJSON); err != nil {
		t.Fatal(err)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox,
		chromedp.WindowSize(1400, 1250), chromedp.Flag("disable-gpu", true))
	actx, cancel := chromedp.NewExecAllocator(ctx, opts...)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	bctx, cancel = context.WithTimeout(bctx, 90*time.Second)
	defer cancel()
	var mu sync.Mutex
	var problems []string
	messages := chromedp.Console(bctx) // subscribed now: nothing the page logs is missed
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning || m.IsException() {
				mu.Lock()
				problems = append(problems, m.String())
				mu.Unlock()
			}
		}
	}()
	type row struct {
		Scope                     string
		Fail, Warn, Unknown, Pass int
	}
	type plot struct {
		Plot            string
		Series, Circles int
		Width, Height   float64
		Bad, Limit      int
	}
	if err := chromedp.Do(bctx, chromedp.Navigate("file://"+page), chromedp.WaitReady("#summary")); err != nil {
		t.Fatalf("opening the report in %s: %v", browser, err)
	}
	rows, err := chromedp.Run(bctx, chromedp.Evaluate[[]row](`Array.from(document.querySelectorAll('#summary tbody tr')).map(tr => ({
		Scope: tr.dataset.scope,
		Fail: +tr.querySelector('[data-status=fail]').textContent, Warn: +tr.querySelector('[data-status=warn]').textContent,
		Unknown: +tr.querySelector('[data-status=unknown]').textContent, Pass: +tr.querySelector('[data-status=pass]').textContent}))`))
	if err != nil {
		t.Fatal(err)
	}
	totals, err := chromedp.Run(bctx, chromedp.Evaluate[map[string]int](
		`Object.fromEntries(Array.from(document.querySelectorAll('[data-total]')).map(e => [e.dataset.total, +e.querySelector('b').textContent]))`))
	if err != nil {
		t.Fatal(err)
	}
	plots, err := chromedp.Run(bctx, chromedp.Evaluate[[]plot](`Array.from(document.querySelectorAll('svg.plot')).map(s => { const b = s.getBoundingClientRect(); return {
		Plot: s.dataset.plot, Series: s.querySelectorAll('polyline.series').length, Circles: s.querySelectorAll('circle').length,
		Width: b.width, Height: b.height, Bad: s.querySelectorAll('circle[fill="#c53030"]').length, Limit: s.querySelectorAll('line.limit').length} })`))
	if err != nil {
		t.Fatal(err)
	}
	full, err := chromedp.Run(bctx, chromedp.FullScreenshot(85))
	if err != nil {
		t.Fatal(err)
	}
	// The first screen, what a reviewer sees in ten seconds (and the
	// README shows).
	first, err := chromedp.Call(bctx, cdppage.CaptureScreenshot, cdppage.CaptureScreenshotParams{Format: cdppage.CaptureScreenshotFormatPng})
	if err != nil {
		t.Fatal(err)
	}
	shot := first.Data
	time.Sleep(200 * time.Millisecond) // let the last console events arrive
	mu.Lock()
	defer mu.Unlock()
	if len(problems) > 0 {
		t.Errorf("the page logged problems: %v", problems)
	}
	counts := fromJSON.Counts()
	if len(rows) != len(counts) {
		t.Fatalf("summary has %d scopes, the JSON %d: %+v", len(rows), len(counts), rows)
	}
	total := map[string]int{}
	for _, rw := range rows {
		scope := rw.Scope
		if scope == "bucket" {
			scope = ""
		}
		want := counts[scope]
		if rw.Fail != want[posture.Fail] || rw.Warn != want[posture.Warn] || rw.Unknown != want[posture.Unknown] || rw.Pass != want[posture.Pass] {
			t.Errorf("summary of %s is %+v, the JSON counts %v", rw.Scope, rw, want)
		}
	}
	for _, fd := range fromJSON.Findings {
		total[string(fd.Status)]++
	}
	for _, s := range posture.Statuses() {
		if totals[string(s)] != total[string(s)] {
			t.Errorf("tile %s shows %d, the JSON has %d", s, totals[string(s)], total[string(s)])
		}
	}
	if len(plots) != 3 {
		t.Fatalf("%d plots, want 3 (drill RTO, WAL archive lag, growth): %+v", len(plots), plots)
	}
	for _, p := range plots {
		if p.Series == 0 || p.Circles == 0 || p.Width < 100 || p.Height < 100 {
			t.Errorf("plot %s is empty or invisible: %+v", p.Plot, p)
		}
		if p.Plot == posture.PlotDrillRTO && (p.Bad != 1 || p.Limit != 1) {
			t.Errorf("RTO plot: %d red points and %d target lines, want the failed drill and the target: %+v", p.Bad, p.Limit, p)
		}
		if p.Plot == posture.PlotGrowth && p.Series < 3 {
			t.Errorf("growth plot has %d folders, want base backups, WAL, tenants and drills", p.Series)
		}
	}
	out := filepath.Join(artifactDir(t), "posture-report.png")
	if err := os.WriteFile(out, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(artifactDir(t), "posture-report-full.jpg"), full, 0o644); err != nil {
		t.Fatal(err)
	}
	html, _ := os.ReadFile(page)
	if err := os.WriteFile(filepath.Join(artifactDir(t), "posture-report.html"), html, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", out, len(shot))
}
