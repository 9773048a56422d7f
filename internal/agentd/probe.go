package agentd

import (
	"context"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access"
)

// ProbeFunc runs the writer probe (access.Probe) with the agent's own
// credentials.
type ProbeFunc func(ctx context.Context) access.Report

// probeLoop runs the probe at start and every ProbeInterval until ctx is
// done. An agent's keys are a writer's: every forbidden action must be
// denied, and lifeboat_writer_forbidden_actions_allowed says which is not.
func (d *Daemon) probeLoop(ctx context.Context) {
	if d.cfg.Probe == nil {
		return
	}
	t := time.NewTicker(d.cfg.ProbeInterval)
	defer t.Stop()
	for {
		d.probe(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (d *Daemon) probe(ctx context.Context) {
	report := d.cfg.Probe(ctx)
	if ctx.Err() != nil {
		return // stopping: a cancelled probe says nothing
	}
	for _, r := range report.Results {
		g := d.m.WriterForbiddenAllowed.WithLabelValues(string(r.Check))
		switch r.Outcome {
		case access.Allowed:
			g.Set(1)
			d.log.Error("the agent's credentials can do what a writer must never do: attach only the writer policy document to them",
				"action", r.Check, "detail", r.Detail)
		case access.Denied:
			g.Set(0)
		default:
			// No verdict: the series goes, so an alert on == 1 stays
			// quiet and one on absent() can tell.
			d.m.WriterForbiddenAllowed.DeleteLabelValues(string(r.Check))
			d.log.Warn("writer probe check could not be made", "action", r.Check, "detail", r.Detail)
		}
	}
	d.m.WriterProbeAt.Set(float64(d.cfg.Now().Unix()))
	// A posture report runs with other credentials: the agent's own
	// verdict is kept in the repository for it to judge.
	rec := access.ProbeRecord{Format: 1, Holder: d.cfg.Holder, Ran: d.cfg.Now().UTC(), Results: report.Results,
		IntervalSeconds: d.cfg.ProbeInterval.Seconds()}
	b, err := rec.Marshal()
	if err == nil {
		err = PutRecord(ctx, d.cfg.Store, d.layout.WriterProbeKey(), b, false, 3*d.cfg.ProbeInterval)
	}
	if err != nil {
		d.log.Error("writer probe not recorded", "err", err)
	}
}
