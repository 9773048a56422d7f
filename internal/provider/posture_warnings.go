package provider

import (
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/posture"
)

// warnFindings judges c (and the bucket read into o, if any) with the
// posture controls named by ids and shows every finding that does not hold
// as a warning: posture declared but not holding shows in terraform plan
// without failing it. Resources read; the engine judges: no resource
// decides for itself whether a backup is overdue or a drill failed, so a
// resource's warning and the report's finding can never disagree.
func warnFindings(diags *diag.Diagnostics, o *posture.Observation, p posture.Params, ids ...string) {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	for _, f := range posture.Judge(o, p, ids...) {
		if f.Problem == "" || f.Status == posture.Pass {
			continue
		}
		diags.AddWarning(f.Problem, findingDetail(f))
	}
}

// findingDetail says what was observed, against what, on which evidence,
// and what to do.
func findingDetail(f posture.Finding) string {
	var b strings.Builder
	if f.Cluster != "" {
		fmt.Fprintf(&b, "Cluster %q: ", f.Cluster)
	}
	fmt.Fprintf(&b, "%s (expected: %s).", f.Observed, f.Threshold)
	var keys []string
	for _, e := range f.Evidence {
		if e.Key == "" {
			continue
		}
		k := e.Key
		if e.Version != "" {
			k += " (version " + e.Version + ")"
		}
		keys = append(keys, k)
	}
	if len(keys) > 0 {
		fmt.Fprintf(&b, " Evidence: %s.", strings.Join(keys, ", "))
	}
	if f.Remedy != "" {
		b.WriteString(" " + f.Remedy)
	}
	fmt.Fprintf(&b, " (posture control %s)", f.Control)
	return b.String()
}
