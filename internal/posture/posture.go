package posture

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

// Status is a finding's verdict.
type Status string

// Statuses, from best to worst but unknown: unknown means the control could
// not be evaluated, which a reviewer must not read as a pass.
const (
	Pass    Status = "pass"
	Warn    Status = "warn"
	Fail    Status = "fail"
	Unknown Status = "unknown"
)

// Statuses lists every status in report order.
func Statuses() []Status { return []Status{Fail, Warn, Unknown, Pass} }

// Standard is one clause of a standard a control evidences.
type Standard struct {
	Framework string `json:"framework"`
	Clause    string `json:"clause"`
	Title     string `json:"title"`
}

// String is "<framework> <clause>".
func (s Standard) String() string { return s.Framework + " " + s.Clause }

// The clauses the controls map to.
var (
	ISO27001A813 = Standard{"ISO/IEC 27001:2022", "A.8.13", "Information backup"}
	ISO27001A530 = Standard{"ISO/IEC 27001:2022", "A.5.30", "ICT readiness for business continuity"}
	SOC2A12      = Standard{"SOC 2", "A1.2", "Environmental protections, software, data back-up processes and recovery infrastructure"}
	SOC2A13      = Standard{"SOC 2", "A1.3", "Recovery plan procedures are tested"}
	DORAArt12    = Standard{"DORA", "Art. 12", "Backup policies and procedures, restoration and recovery procedures and methods"}
	NISTCP4      = Standard{"NIST SP 800-53", "CP-4", "Contingency plan testing"}
	NISTCP9      = Standard{"NIST SP 800-53", "CP-9", "System backup"}
	NISTCP10     = Standard{"NIST SP 800-53", "CP-10", "System recovery and reconstitution"}
	NIS2Art21c   = Standard{"NIS2", "Art. 21(2)(c)", "Business continuity, such as backup management and disaster recovery"}
)

// Evidence is one thing a finding was judged on: an object (key and
// version) or a server value, and when it was written or observed.
type Evidence struct {
	Key     string    `json:"key,omitempty"`
	Version string    `json:"version,omitempty"`
	Time    time.Time `json:"time,omitempty"`
	Note    string    `json:"note,omitempty"`
}

// Finding is a control's verdict on one cluster (or on the bucket, with
// Cluster empty).
type Finding struct {
	Control   string     `json:"control"`
	Title     string     `json:"title"`
	Cluster   string     `json:"cluster,omitempty"`
	Status    Status     `json:"status"`
	Observed  string     `json:"observed"`
	Threshold string     `json:"threshold"`
	Evidence  []Evidence `json:"evidence,omitempty"`
	Remedy    string     `json:"remedy,omitempty"`
	// Problem names, in a short Title Case phrase, what is wrong when the
	// finding does not pass ("Backup Overdue"): the summary of the
	// warning a resource shows for it. Empty on a pass, and on an unknown
	// that is not worth a warning (nothing declared to judge).
	Problem string `json:"problem,omitempty"`
	// Measures are the numbers a finding compared, by name (the anomaly
	// controls' MeasureObserved and MeasureBaseline), for metrics.
	Measures   map[string]float64 `json:"measures,omitempty"`
	Parameters map[string]string  `json:"parameters,omitempty"`
	Standards  []Standard         `json:"standards"`
}

// Scope says what a control judges once: the bucket, or each cluster.
type Scope int

// Scopes.
const (
	ScopeBucket Scope = iota
	ScopeCluster
)

// Control is one posture control.
type Control struct {
	ID        string
	Title     string
	Scope     Scope
	Standards []Standard
	// Problem is the Problem of a failing or warning finding whose
	// evaluation named none.
	Problem string
	// Parameters names the Params fields the control reads, with their
	// values, for the report.
	Parameters func(p Params) map[string]string
	// Evaluate judges the observation; c is nil for bucket controls.
	Evaluate func(o *Observation, c *ClusterObservation, p Params) Finding
}

// Params are the thresholds controls use; zero fields take the defaults
// of DefaultParams.
type Params struct {
	// MinLockDays is the shortest default object-lock retention accepted.
	MinLockDays int
	// AcceptGovernance passes a GOVERNANCE default retention instead of
	// warning that privileged users may bypass it (a bucket that declares
	// GOVERNANCE holds what it declares).
	AcceptGovernance bool
	// RPO bounds how long a WAL segment may wait to be archived.
	RPO time.Duration
	// WindowDays is how far back the restorable window must reach.
	WindowDays int
	// VerifyWithinDays is how recent the last passed verification must be.
	VerifyWithinDays int
	// DrillWithinDays is how recent the last passed drill must be.
	DrillWithinDays int
	// RTOTarget bounds a drill's measured RTO; zero: the target the drill
	// itself recorded (its schedule's rto_target).
	RTOTarget time.Duration
	// AnomalyWindow is the window the anomaly controls compare with the
	// windows before it (default one hour).
	AnomalyWindow time.Duration
	// CollapseFactor: WAL compressibility fails when the last window's
	// median ratio times this is below the earlier median (default 2).
	CollapseFactor float64
	// SurgeFactor: WAL volume warns above this many times the earlier
	// windows' median (default 4).
	SurgeFactor float64
	// MaxSizeDrop: a newest base backup or dump smaller than (1 - this) of
	// the earlier ones' median fails (default 0.5).
	MaxSizeDrop float64
	// Trust, when it holds keys, requires policy.json, drill schedules and
	// drill evidence to be signed by one of them.
	Trust signature.Trust
}

// DefaultParams are the thresholds used when a Params field is zero.
var DefaultParams = Params{MinLockDays: 7, RPO: 5 * time.Minute, WindowDays: 7, VerifyWithinDays: 7, DrillWithinDays: 30,
	AnomalyWindow: time.Hour, CollapseFactor: 2, SurgeFactor: 4, MaxSizeDrop: 0.5}

func (p Params) withDefaults() Params {
	d := DefaultParams
	atLeast(&p.MinLockDays, 0, d.MinLockDays)
	atLeast(&p.RPO, 0, d.RPO)
	atLeast(&p.WindowDays, 0, d.WindowDays)
	atLeast(&p.VerifyWithinDays, 0, d.VerifyWithinDays)
	atLeast(&p.DrillWithinDays, 0, d.DrillWithinDays)
	atLeast(&p.AnomalyWindow, 0, d.AnomalyWindow)
	// A factor of 1 or less would flag every window.
	atLeast(&p.CollapseFactor, 1, d.CollapseFactor)
	atLeast(&p.SurgeFactor, 1, d.SurgeFactor)
	if p.MaxSizeDrop <= 0 || p.MaxSizeDrop >= 1 {
		p.MaxSizeDrop = d.MaxSizeDrop
	}
	return p
}

// atLeast sets *v to def unless it is above floor.
func atLeast[T int | float64 | time.Duration](v *T, floor, def T) {
	if *v <= floor {
		*v = def
	}
}

// Report is every control's findings over a repository.
type Report struct {
	Bucket    string    `json:"bucket"`
	Prefix    string    `json:"prefix,omitempty"`
	Clusters  []string  `json:"clusters"`
	Generated time.Time `json:"generated"`
	Findings  []Finding `json:"findings"`
	// Series are the plots' data: drill restore times against their RTO
	// target, WAL archive lag against the RPO, repository growth.
	Series []Series `json:"series,omitempty"`
}

// Evaluate judges o with every control: bucket controls once, cluster
// controls once per observed cluster.
func Evaluate(o *Observation, p Params) *Report {
	p = p.withDefaults()
	r := &Report{Bucket: o.Bucket, Prefix: o.Prefix, Generated: o.Now.UTC(), Clusters: []string{}}
	for _, c := range o.Clusters {
		r.Clusters = append(r.Clusters, c.Cluster)
	}
	for _, ctl := range Controls() {
		if ctl.Scope == ScopeBucket {
			r.Findings = append(r.Findings, ctl.finding(o, nil, p))
			continue
		}
		for i := range o.Clusters {
			r.Findings = append(r.Findings, ctl.finding(o, &o.Clusters[i], p))
		}
	}
	for i := range o.Clusters {
		r.Series = append(r.Series, historySeries(&o.Clusters[i], p)...)
	}
	return r
}

// Judge evaluates only the controls named by ids, on every cluster of o
// (bucket controls once), in the order of ids. Resources call it on what
// they read for themselves, so that their warnings are the engine's
// findings and not a judgement of their own.
func Judge(o *Observation, p Params, ids ...string) []Finding {
	p = p.withDefaults()
	var out []Finding
	for _, id := range ids {
		ctl, ok := ControlByID(id)
		if !ok {
			continue
		}
		if ctl.Scope == ScopeBucket {
			out = append(out, ctl.finding(o, nil, p))
			continue
		}
		for i := range o.Clusters {
			out = append(out, ctl.finding(o, &o.Clusters[i], p))
		}
	}
	return out
}

func (ctl Control) finding(o *Observation, c *ClusterObservation, p Params) Finding {
	f := ctl.Evaluate(o, c, p)
	f.Control, f.Title, f.Standards = ctl.ID, ctl.Title, ctl.Standards
	switch {
	case f.Status == Pass:
		f.Problem = ""
	case f.Problem == "" && (f.Status == Fail || f.Status == Warn):
		f.Problem = ctl.Problem
	}
	if c != nil {
		f.Cluster = c.Cluster
	}
	if ctl.Parameters != nil {
		f.Parameters = ctl.Parameters(p)
	}
	return f
}

// Counts returns, per cluster ("" for the bucket's controls), how many
// findings have each status.
func (r *Report) Counts() map[string]map[Status]int {
	out := map[string]map[Status]int{}
	for _, f := range r.Findings {
		if out[f.Cluster] == nil {
			out[f.Cluster] = map[Status]int{}
		}
		out[f.Cluster][f.Status]++
	}
	return out
}

// Worst is the worst status of the report: fail, then warn, then unknown.
func (r *Report) Worst() Status {
	worst := Pass
	rank := map[Status]int{Pass: 0, Unknown: 1, Warn: 2, Fail: 3}
	for _, f := range r.Findings {
		if rank[f.Status] > rank[worst] {
			worst = f.Status
		}
	}
	return worst
}

// Find returns the finding of control for cluster ("" for the bucket).
func (r *Report) Find(control, cluster string) (Finding, bool) {
	for _, f := range r.Findings {
		if f.Control == control && f.Cluster == cluster {
			return f, true
		}
	}
	return Finding{}, false
}

// scopeName is how reports name a scope.
func scopeName(cluster string) string {
	if cluster == "" {
		return "bucket"
	}
	return cluster
}

// scopes lists the report's scopes in order: the bucket, then clusters.
func (r *Report) scopes() []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range r.Findings {
		if !seen[f.Cluster] {
			seen[f.Cluster] = true
			out = append(out, f.Cluster)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i] == "" && out[j] != "" })
	return out
}

func days(n int) string { return strconv.Itoa(n) + " days" }

func age(now, t time.Time) string {
	d := now.Sub(t)
	if d < 0 {
		d = 0
	}
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%.1f days", d.Hours()/24)
	case d >= time.Hour:
		return fmt.Sprintf("%.1f hours", d.Hours())
	default:
		return d.Truncate(time.Second).String()
	}
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }
