package posture

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"strings"
	"sync"
)

// JSON is the report as indented JSON.
func (r *Report) JSON() ([]byte, error) { return json.MarshalIndent(r, "", "  ") }

func standardsList(ss []Standard) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = s.String()
	}
	return strings.Join(parts, "; ")
}

func evidenceLine(e Evidence) string {
	var parts []string
	if e.Key != "" {
		k := e.Key
		if e.Version != "" {
			k += " (version " + e.Version + ")"
		}
		parts = append(parts, k)
	}
	if !e.Time.IsZero() {
		parts = append(parts, ts(e.Time))
	}
	if e.Note != "" {
		parts = append(parts, e.Note)
	}
	return strings.Join(parts, " · ")
}

// Markdown is the report for a pull request or a ticket: a summary table
// by scope, then each finding.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Recovery posture of s3://%s", r.Bucket)
	if r.Prefix != "" {
		fmt.Fprintf(&b, "/%s", r.Prefix)
	}
	fmt.Fprintf(&b, "\n\nGenerated %s. Worst status: **%s**.\n\n", ts(r.Generated), r.Worst())
	b.WriteString("| scope | fail | warn | unknown | pass |\n|---|---|---|---|---|\n")
	counts := r.Counts()
	for _, s := range r.scopes() {
		c := counts[s]
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d |\n", scopeName(s), c[Fail], c[Warn], c[Unknown], c[Pass])
	}
	for _, s := range r.scopes() {
		fmt.Fprintf(&b, "\n## %s\n", scopeName(s))
		for _, f := range r.Findings {
			if f.Cluster != s {
				continue
			}
			fmt.Fprintf(&b, "\n### %s `%s` — %s\n\n", strings.ToUpper(string(f.Status)), f.Control, mdEscape(f.Title))
			fmt.Fprintf(&b, "- Observed: %s\n", mdEscape(f.Observed))
			if f.Threshold != "" {
				fmt.Fprintf(&b, "- Threshold: %s\n", mdEscape(f.Threshold))
			}
			if f.Remedy != "" {
				fmt.Fprintf(&b, "- Remedy: %s\n", mdEscape(f.Remedy))
			}
			fmt.Fprintf(&b, "- Standards: %s\n", standardsList(f.Standards))
			for _, e := range f.Evidence {
				fmt.Fprintf(&b, "- Evidence: %s\n", mdEscape(evidenceLine(e)))
			}
		}
	}
	return b.String()
}

// mdEscape keeps observed text (errors, keys) from breaking the Markdown.
func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "*", `\*`, "_", `\_`, "`", "'").Replace(s)
}

// CSVHeader is the CSV report's header row.
var CSVHeader = []string{"scope", "control", "title", "status", "observed", "threshold", "remedy", "standards", "evidence"}

// CSV writes one row per finding, for spreadsheets.
func (r *Report) CSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	for _, f := range r.Findings {
		ev := make([]string, len(f.Evidence))
		for i, e := range f.Evidence {
			ev[i] = evidenceLine(e)
		}
		if err := cw.Write([]string{scopeName(f.Cluster), f.Control, f.Title, string(f.Status), f.Observed, f.Threshold,
			f.Remedy, standardsList(f.Standards), strings.Join(ev, "\n")}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// HTML writes the report as one self-contained page: inline CSS and SVG,
// no script, no external asset, so it can be archived and opened anywhere.
// It opens with what a reviewer needs in ten seconds (the worst status, the
// counts, what fails), then per scope the counts, the plots and each
// finding with its evidence.
func (r *Report) HTML(w io.Writer) error {
	type scopeRow struct {
		Name                      string
		Fail, Warn, Unknown, Pass int
		Findings                  []Finding
		Plots                     []renderedPlot
	}
	var rows []scopeRow
	counts := r.Counts()
	total := map[string]int{}
	var failing []Finding
	for _, s := range r.scopes() {
		c := counts[s]
		row := scopeRow{Name: scopeName(s), Fail: c[Fail], Warn: c[Warn], Unknown: c[Unknown], Pass: c[Pass]}
		for _, f := range r.Findings {
			if f.Cluster == s {
				row.Findings = append(row.Findings, f)
				total[string(f.Status)]++
				if f.Status == Fail {
					failing = append(failing, f)
				}
			}
		}
		if s != "" {
			row.Plots = r.plotsOf(s)
		}
		rows = append(rows, row)
	}
	return htmlReport().Execute(w, struct {
		R       *Report
		Worst   Status
		Total   map[string]int
		Failing []Finding
		Scopes  []scopeRow
	}{r, r.Worst(), total, failing, rows})
}

// htmlReport is parsed on first use, not at start: every lifeboat command
// (archive_command's wal-push among them, once per WAL segment) would
// otherwise pay for parsing it.
var htmlReport = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("report").Funcs(template.FuncMap{
		"ts":        ts,
		"evidence":  evidenceLine,
		"standards": standardsList,
		"scope":     scopeName,
	}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Recovery posture of s3://{{.R.Bucket}}{{if .R.Prefix}}/{{.R.Prefix}}{{end}}</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:72em;color:#1d2330;padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em}h2{margin-top:2em;border-bottom:1px solid #ccd}
table{border-collapse:collapse}td,th{padding:.3em .8em;border:1px solid #ccd;text-align:left}
.n{text-align:right;font-variant-numeric:tabular-nums}
.fail{background:#fbe0e0}.warn{background:#fdf1d0}.unknown{background:#e8e8ee}.pass{background:#e0f3e3}
.badge{display:inline-block;min-width:5em;text-align:center;font-weight:600;border-radius:.3em;padding:.1em .4em}
.verdict{display:flex;gap:1em;align-items:stretch;margin:1em 0}
.tile{border-radius:.5em;padding:.6em 1.2em;min-width:6em;text-align:center}
.tile b{display:block;font-size:2em;line-height:1.1}
.tile.worst{min-width:10em}
.failing{margin:.5em 0 1.5em;padding-left:1.2em}.failing li{margin:.2em 0}
.f{border:1px solid #ccd;border-radius:.4em;margin:1em 0;padding:.6em 1em}
.f h3{margin:.2em 0;font-size:1.05em}code{font-size:.9em}ul{margin:.3em 0}
.plots{display:grid;grid-template-columns:repeat(auto-fit,minmax(360px,1fr));gap:1em}
.plots svg{width:100%;height:auto}
figure{margin:0}figcaption{color:#555;font-size:.9em}figure h3{margin:.3em 0;font-size:1em}
.meta{color:#555}
</style></head><body>
<h1>Recovery posture of s3://{{.R.Bucket}}{{if .R.Prefix}}/{{.R.Prefix}}{{end}}</h1>
<p class="meta">Generated {{ts .R.Generated}} · {{len .R.Findings}} findings over {{len .Scopes}} scope(s)</p>
<div class="verdict" id="verdict">
<div class="tile worst {{.Worst}}" data-worst="{{.Worst}}">worst<b>{{.Worst}}</b></div>
<div class="tile fail" data-total="fail">fail<b>{{index .Total "fail"}}</b></div>
<div class="tile warn" data-total="warn">warn<b>{{index .Total "warn"}}</b></div>
<div class="tile unknown" data-total="unknown">unknown<b>{{index .Total "unknown"}}</b></div>
<div class="tile pass" data-total="pass">pass<b>{{index .Total "pass"}}</b></div>
</div>
{{if .Failing}}<p><b>What fails:</b></p><ul class="failing" id="failing">{{range .Failing}}
<li><span class="badge fail">fail</span> <b>{{scope .Cluster}}</b> · {{.Title}} <code>{{.Control}}</code>: {{.Observed}}</li>{{end}}
</ul>{{else}}<p id="failing">No control fails.</p>{{end}}
<table id="summary"><thead><tr><th>scope</th><th class="fail">fail</th><th class="warn">warn</th><th class="unknown">unknown</th><th class="pass">pass</th></tr></thead><tbody>
{{range .Scopes}}<tr data-scope="{{.Name}}"><td>{{.Name}}</td><td class="n" data-status="fail">{{.Fail}}</td><td class="n" data-status="warn">{{.Warn}}</td><td class="n" data-status="unknown">{{.Unknown}}</td><td class="n" data-status="pass">{{.Pass}}</td></tr>
{{end}}</tbody></table>
{{range .Scopes}}{{if .Plots}}<h2>Trends of {{.Name}}</h2>
<div class="plots">{{range .Plots}}<figure><h3>{{.Title}}</h3>{{.SVG}}<figcaption>{{.Caption}}</figcaption></figure>
{{end}}</div>{{end}}{{end}}
{{range .Scopes}}<h2>Findings: {{.Name}}</h2>
{{range .Findings}}<div class="f" data-control="{{.Control}}" data-status="{{.Status}}">
<h3><span class="badge {{.Status}}">{{.Status}}</span> {{.Title}} <code>{{.Control}}</code></h3>
<ul><li>Observed: {{.Observed}}</li>{{if .Threshold}}<li>Threshold: {{.Threshold}}</li>{{end}}{{if .Remedy}}<li>Remedy: {{.Remedy}}</li>{{end}}
<li>Standards: {{standards .Standards}}</li>
{{range .Evidence}}<li>Evidence: {{evidence .}}</li>{{end}}</ul></div>
{{end}}{{end}}</body></html>
`))
})
