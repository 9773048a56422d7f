package posture

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"
	"time"
)

// plotTitles are the report's plots, in order, with what they show.
var plotTitles = []struct{ Plot, Title, Caption string }{
	{PlotDrillRTO, "Restore time of each drill against its RTO target",
		"Seconds from the drill's start to its checks passing; red points are drills that failed; the dashed line is the target."},
	{PlotWALLag, "WAL archive lag over time against the RPO",
		"For each archived segment, how long it waited on the server between PostgreSQL finishing it and the repository storing it (from its push record): written data that existed only on the server. Red points exceed the RPO (the dashed line)."},
	{PlotGrowth, "Repository growth by folder",
		"Bytes stored under each data folder (current objects), by the time they were written."},
}

var palette = []string{"#2b6cb0", "#2f855a", "#b7791f", "#6b46c1", "#c05621", "#2c7a7b"}

// plotSVG draws the series of one plot as inline SVG: no script, no
// external asset, readable when the page is archived or printed.
func plotSVG(plot, title string, series []Series) template.HTML {
	const w, h, left, right, top, bottom = 680.0, 250.0, 78.0, 16.0, 14.0, 52.0
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="plot" data-plot="%s" role="img" aria-label="%s" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" xmlns="http://www.w3.org/2000/svg">`,
		plot, html.EscapeString(title), w, h, w, h)
	var t0, t1 time.Time
	maxV, limit, unit, n := 0.0, 0.0, "", 0
	for _, s := range series {
		unit = s.Unit
		limit = math.Max(limit, s.Limit)
		for _, p := range s.Points {
			if t0.IsZero() || p.T.Before(t0) {
				t0 = p.T
			}
			if p.T.After(t1) {
				t1 = p.T
			}
			maxV = math.Max(maxV, p.V)
			n++
		}
	}
	fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="%.0f" height="%.0f" fill="#fafbfd" stroke="#ccd"/>`, left, top, w-left-right, h-top-bottom)
	if n == 0 {
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="middle" fill="#667">no data yet</text></svg>`, w/2, h/2)
		return template.HTML(b.String()) //nolint:gosec // built from escaped values only
	}
	top1 := math.Max(maxV, limit) * 1.1
	if top1 == 0 {
		top1 = 1
	}
	span := t1.Sub(t0)
	if span <= 0 {
		span = time.Second
	}
	x := func(t time.Time) float64 {
		if t1.Equal(t0) {
			return left + (w-left-right)/2
		}
		return left + float64(t.Sub(t0))/float64(span)*(w-left-right)
	}
	y := func(v float64) float64 { return top + (h-top-bottom)*(1-v/top1) }
	// Y axis: 0, half, top.
	for _, v := range []float64{0, top1 / 2, top1} {
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#e2e4ea"/>`, left, w-right, y(v), y(v))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end" font-size="11" fill="#445">%s</text>`, left-6, y(v)+4, html.EscapeString(formatValue(v, unit)))
	}
	// X axis: first and last time.
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" fill="#445">%s</text>`, left, h-bottom+16, t0.UTC().Format("2006-01-02 15:04"))
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end" font-size="11" fill="#445">%s</text>`, w-right, h-bottom+16, t1.UTC().Format("2006-01-02 15:04"))
	if limit > 0 {
		fmt.Fprintf(&b, `<line class="limit" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#c53030" stroke-dasharray="6 4"/>`, left, w-right, y(limit), y(limit))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end" font-size="11" fill="#c53030">limit %s</text>`, w-right-4, y(limit)-4, html.EscapeString(formatValue(limit, unit)))
	}
	lx := left
	for i, s := range series {
		color := palette[i%len(palette)]
		var pts []string
		for _, p := range s.Points {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(p.T), y(p.V)))
		}
		fmt.Fprintf(&b, `<polyline class="series" data-series="%s" fill="none" stroke="%s" stroke-width="2" points="%s"/>`,
			html.EscapeString(s.Name), color, strings.Join(pts, " "))
		if len(s.Points) <= 60 || plot != PlotGrowth {
			for _, p := range s.Points {
				fill := color
				if p.Bad {
					fill = "#c53030"
				}
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s: %s</title></circle>`,
					x(p.T), y(p.V), fill, p.T.UTC().Format(time.RFC3339), html.EscapeString(formatValue(p.V, unit)))
			}
		}
		// Legend below the axis.
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="10" height="10" fill="%s"/><text x="%.1f" y="%.1f" font-size="11" fill="#223">%s</text>`,
			lx, h-18, color, lx+14, h-9, html.EscapeString(s.Name))
		lx += 24 + 7*float64(len(s.Name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // built from escaped values only
}

// formatValue writes v in its unit for an axis or a tooltip.
func formatValue(v float64, unit string) string {
	switch unit {
	case "bytes":
		const k = 1024.0
		switch {
		case v >= k*k*k:
			return fmt.Sprintf("%.1f GiB", v/(k*k*k))
		case v >= k*k:
			return fmt.Sprintf("%.1f MiB", v/(k*k))
		case v >= k:
			return fmt.Sprintf("%.1f KiB", v/k)
		default:
			return fmt.Sprintf("%.0f B", v)
		}
	case "seconds":
		return (time.Duration(v * float64(time.Second))).Round(time.Second).String()
	}
	return fmt.Sprintf("%.3g", v)
}

// plotsOf returns, for one cluster, each plot with its SVG.
func (r *Report) plotsOf(cluster string) []renderedPlot {
	var out []renderedPlot
	for _, pt := range plotTitles {
		var ss []Series
		for _, s := range r.Series {
			if s.Cluster == cluster && s.Plot == pt.Plot {
				ss = append(ss, s)
			}
		}
		out = append(out, renderedPlot{Plot: pt.Plot, Title: pt.Title, Caption: pt.Caption, SVG: plotSVG(pt.Plot, pt.Title, ss)})
	}
	return out
}

type renderedPlot struct {
	Plot, Title, Caption string
	SVG                  template.HTML
}
