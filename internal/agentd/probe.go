package agentd

import (
	"context"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/region"
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
		err = PutSignedRecord(ctx, d.cfg.Store, d.layout.WriterProbeKey(), b, 3*d.cfg.ProbeInterval, d.signer)
	}
	if err != nil {
		d.log.Error("writer probe not recorded", "err", err)
	}
	d.probeRegions(ctx)
}

// CopyProbeFunc probes a recovery region's copy keys on its destination
// (access.ProbeRole for access.RoleCopy).
type CopyProbeFunc func(ctx context.Context, doc region.ConfigDoc) (access.Report, error)

// probeRegions probes the copy keys of every recovery region this agent
// copies, with the writer probe: keys that may delete what they copied,
// bypass governance, change the destination bucket or write the region's
// activation mark would let whoever steals them from this host erase or
// activate the recovery region. Each verdict is recorded, signed, in the
// primary repository (RegionCopyProbeKey), where posture reports and the
// recovery region's refresh read it.
func (d *Daemon) probeRegions(ctx context.Context) {
	docs, _, err := region.ListConfigs(ctx, d.cfg.Store, d.layout, d.trust)
	if err != nil {
		d.log.Error("recovery region copy keys not probed", "err", err)
		return
	}
	for _, doc := range docs {
		if doc.Mode == region.ModeNative || d.inRegion(doc) || (doc.Cluster != "" && doc.Cluster != d.layout.Cluster) {
			continue
		}
		report, err := d.copyProbe(ctx, doc)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			d.log.Error("recovery region copy keys not probed", "region", doc.Name, "err", err)
			continue
		}
		for _, r := range report.Results {
			g := d.m.RegionCopyForbiddenAllowed.WithLabelValues(doc.Name, string(r.Check))
			switch r.Outcome {
			case access.Allowed:
				g.Set(1)
				d.log.Error("the recovery region's copy keys can do what the copy role must never do: attach only the copy role's document to them",
					"region", doc.Name, "action", r.Check, "detail", r.Detail)
			case access.Denied:
				g.Set(0)
			default:
				d.m.RegionCopyForbiddenAllowed.DeleteLabelValues(doc.Name, string(r.Check))
				d.log.Warn("copy probe check could not be made", "region", doc.Name, "action", r.Check, "detail", r.Detail)
			}
		}
		rec := access.ProbeRecord{Format: 1, Holder: d.cfg.Holder, Ran: d.cfg.Now().UTC(), Results: report.Results,
			IntervalSeconds: d.cfg.ProbeInterval.Seconds(), Role: access.RoleCopy, Region: doc.Name, Destination: "s3://" + doc.Destination.Bucket}
		b, err := rec.Marshal()
		if err == nil {
			err = PutSignedRecord(ctx, d.cfg.Store, d.layout.RegionCopyProbeKey(doc.Name), b, 3*d.cfg.ProbeInterval, d.signer)
		}
		if err != nil {
			d.log.Error("recovery region copy probe not recorded", "region", doc.Name, "err", err)
		}
	}
}

// copyProbe probes doc's copy keys: Config.CopyProbe, else access.ProbeRole
// with the credentials of the agent configuration's store doc names.
func (d *Daemon) copyProbe(ctx context.Context, doc region.ConfigDoc) (access.Report, error) {
	if d.cfg.CopyProbe != nil {
		return d.cfg.CopyProbe(ctx, doc)
	}
	c, err := d.regionClient(ctx, doc)
	if err != nil {
		return access.Report{}, err
	}
	return access.ProbeRole(ctx, c, doc.Destination.Bucket, d.layout, access.RoleCopy), nil
}
