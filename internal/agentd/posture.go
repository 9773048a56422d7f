package agentd

import (
	"context"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/pg"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/posture"
)

// postureStats evaluates the posture engine's controls on this agent's
// cluster and exports each finding as lifeboat_posture_finding: the agent
// judges nothing itself, so an alert on a metric and the report an auditor
// reads always agree. The bucket's own controls are left to the report:
// the agent's writer credentials may not read the bucket's configuration,
// and an unknown there would only be noise.
func (d *Daemon) postureStats(ctx context.Context) error {
	d.mu.Lock()
	p := d.policy
	d.mu.Unlock()
	t := posture.Target{Store: d.cfg.Store, Prefix: d.layout.Prefix, Clusters: []string{d.layout.Cluster}, Trust: d.trust, Now: d.cfg.Now(),
		Buckets: d.cfg.PostureBuckets}
	if dsn := d.dsn(p); dsn != "" {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		// NOTE: pg.Pool is process-wide and shared: never closed here.
		if pool, err := pg.Pool(cctx, dsn); err == nil {
			t.Postgres = map[string]posture.Server{d.layout.Cluster: {Name: d.layout.Cluster, Pool: pool}}
		}
	}
	o, err := posture.Gather(ctx, t)
	if err != nil {
		return err
	}
	r := posture.Evaluate(o, posture.Params{Trust: d.trust})
	for _, f := range r.Findings {
		if f.Cluster == "" {
			continue
		}
		for name, v := range f.Measures {
			d.m.PostureMeasure.WithLabelValues(f.Control, f.Cluster, name).Set(v)
		}
		for _, s := range posture.Statuses() {
			v := 0.0
			if f.Status == s {
				v = 1
			}
			d.m.PostureFinding.WithLabelValues(f.Control, f.Cluster, string(s)).Set(v)
		}
	}
	d.m.PostureAt.Set(float64(d.cfg.Now().UnixNano()) / 1e9)
	d.storeReport(ctx, r)
	return nil
}

// storeReport stores r (HTML and JSON) when PostureReportInterval has
// passed since this agent last did. Failures are logged: the next stats
// pass tries again.
func (d *Daemon) storeReport(ctx context.Context, r *posture.Report) {
	every := d.cfg.PostureReportInterval
	if every <= 0 || (!d.lastReport.IsZero() && d.cfg.Now().Sub(d.lastReport) < every) {
		return
	}
	retain := d.cfg.PostureReportRetain
	if retain <= 0 {
		retain = 400 * 24 * time.Hour
	}
	for _, format := range []string{"html", "json"} {
		st, err := posture.StoreReport(ctx, d.cfg.Store, d.layout, r, format, retain, d.signer)
		if err != nil {
			d.log.Warn("storing the posture report", "format", format, "err", err)
			return
		}
		d.log.Info("posture report stored", "key", st.Key, "version", st.Version, "sha256", st.SHA256, "signer", st.Signer, "retain_until", st.RetainUntil)
	}
	d.lastReport = d.cfg.Now()
}
