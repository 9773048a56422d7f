package agentd

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/region"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

// RegionJobPrefix prefixes the job name of a recovery region's copy
// ("region-<name>").
const RegionJobPrefix = "region-"

// regionJobs lists the cluster's recovery regions as copy jobs, each on an
// "@every <interval>" schedule. A region that cannot run (another cluster,
// an interval below MinGap, native mode) is logged and left out.
func (d *Daemon) regionJobs(ctx context.Context) ([]*job, error) {
	docs, refused, err := region.ListConfigs(ctx, d.cfg.Store, d.layout, d.trust)
	if err != nil {
		return nil, fmt.Errorf("reading recovery regions: %w", err)
	}
	for _, err := range refused {
		d.log.Error("recovery region not scheduled", "err", err)
		d.m.ConfigRefused.WithLabelValues("recovery_region").Inc()
	}
	var jobs []*job
	for _, doc := range docs {
		if doc.Cluster != "" && doc.Cluster != d.layout.Cluster {
			d.log.Error("recovery region not scheduled", "region", doc.Name, "err",
				fmt.Sprintf("region is for cluster %q, this agent serves %q", doc.Cluster, d.layout.Cluster))
			continue
		}
		if doc.Mode == region.ModeNative {
			continue
		}
		if d.inRegion(doc) {
			// An agent started in the region serves the copy (the region
			// document came along with it): it never copies it onto itself.
			continue
		}
		every := doc.Interval().Round(time.Second)
		s, err := d.parseSchedule("@every " + every.String())
		if err != nil {
			d.log.Error("recovery region not scheduled", "region", doc.Name, "err", err)
			continue
		}
		doc := doc
		if doc.MaxLagSeconds > 0 {
			d.m.RegionMaxLag.WithLabelValues(doc.Name).Set(doc.MaxLagSeconds)
		}
		jobs = append(jobs, &job{name: RegionJobPrefix + doc.Name, sched: s, run: func(ctx context.Context, _ time.Time) (string, error) {
			return d.regionCopy(ctx, doc)
		}})
	}
	return jobs, nil
}

// regionDest opens the destination of doc with the credentials of the
// agent configuration's store named by doc (regionClient).
func (d *Daemon) regionDest(ctx context.Context, doc region.ConfigDoc) (objectstore.Store, error) {
	if d.cfg.RegionStore != nil {
		return d.cfg.RegionStore(doc)
	}
	c, err := d.regionClient(ctx, doc)
	if err != nil {
		return nil, err
	}
	return c.Store(doc.Destination.Bucket), nil
}

// regionClient connects to doc's destination with the credentials of the
// agent configuration's store named by doc; where that entry leaves the
// endpoint or region empty, the document's apply.
func (d *Daemon) regionClient(ctx context.Context, doc region.ConfigDoc) (*objectstore.Client, error) {
	cfg, err := d.cfg.Agent.StoreConfig(doc.StoreName())
	if err != nil {
		return nil, fmt.Errorf("recovery region %s: destination credentials: %w (add it under \"stores\" in the agent configuration)", doc.Name, err)
	}
	if cfg.Endpoint == "" {
		cfg.Endpoint = doc.Destination.Endpoint
	}
	if cfg.Region == "" {
		cfg.Region = doc.Destination.Region
	}
	c, err := d.clients.Get(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("recovery region %s: %w", doc.Name, err)
	}
	return c, nil
}

// regionCopy runs one copy pass of doc and sets the region's metrics.
func (d *Daemon) regionCopy(ctx context.Context, doc region.ConfigDoc) (string, error) {
	dest, err := d.regionDest(ctx, doc)
	if err != nil {
		d.m.RegionCopyFailures.WithLabelValues(doc.Name).Inc()
		return "", err
	}
	st, err := region.Copy(ctx, region.Options{Name: doc.Name, Layout: d.layout, Source: d.cfg.Store, Dest: dest,
		Log: d.log.With("region", doc.Name), Now: d.cfg.Now})
	if st == nil {
		d.m.RegionCopyFailures.WithLabelValues(doc.Name).Inc()
		return "", fmt.Errorf("recovery region %s: %w", doc.Name, err)
	}
	d.setRegionMetrics(doc.Name, st)
	// The report reads the primary bucket only: the pass's status goes
	// there too, or the region's lag is unknown to it.
	if werr := d.recordRegionStatus(ctx, region.NewStatusRecord(doc, dest.Bucket(), *st, d.cfg.Now()), doc.Interval()); werr != nil {
		d.log.Error("recovery region status not recorded", "region", doc.Name, "err", werr)
	}
	d.m.RegionCopyFailures.WithLabelValues(doc.Name).Add(float64(st.Failures))
	lag := st.Lag(d.cfg.Now())
	out := fmt.Sprintf("copied %d objects (%d bytes) to %s; %d pending (%d bytes); lag %s",
		st.Copied, st.CopiedBytes, dest.Bucket(), st.PendingObjects, st.PendingBytes, lag.Round(time.Millisecond))
	if err != nil {
		return out, fmt.Errorf("recovery region %s: %w", doc.Name, err)
	}
	if target := doc.MaxLag(); target > 0 && lag > target {
		d.log.Warn("recovery region lag over its target", "region", doc.Name, "lag", lag, "max_lag", target)
	}
	return out, nil
}

func (d *Daemon) setRegionMetrics(name string, st *region.Status) {
	d.m.RegionLag.WithLabelValues(name).Set(math.Max(0, st.Lag(d.cfg.Now()).Seconds()))
	d.m.RegionPendingObjects.WithLabelValues(name).Set(float64(st.PendingObjects))
	d.m.RegionPendingBytes.WithLabelValues(name).Set(float64(st.PendingBytes))
	d.m.RegionLastCopy.WithLabelValues(name).Set(float64(st.Finished.UnixNano()) / 1e9)
}

// inRegion is true when this agent's own store is doc's destination: it was
// started in the recovery region, on the copy.
func (d *Daemon) inRegion(doc region.ConfigDoc) bool {
	return doc.Destination.Bucket == d.cfg.Agent.Bucket && (doc.Destination.Endpoint == "" || doc.Destination.Endpoint == d.cfg.Agent.Endpoint)
}

// regionStandby reports the recovery region this agent was started in
// while it is not activated (`lifeboat region activate`), "" otherwise.
// Standing by, the agent serves restore requests and drills from the copy
// but runs none of the primary's schedules: a base backup, tenant dump or
// Redis snapshot taken there would be of whatever database the region's
// host reaches, written into the primary's copied history. Signature
// refusals of region documents are counted by regionJobs; a mark not
// signed by one of the agent's trusted keys is refused here (logged,
// counted as recovery_region_activation) and the agent stands by.
func (d *Daemon) regionStandby(ctx context.Context) (string, error) {
	docs, _, err := region.ListConfigs(ctx, d.cfg.Store, d.layout, d.trust)
	if err != nil {
		return "", fmt.Errorf("reading recovery regions: %w", err)
	}
	for _, doc := range docs {
		if !d.inRegion(doc) {
			continue
		}
		a, err := region.ReadActivation(ctx, d.cfg.Store, d.layout, doc.Name, d.trust)
		var refused *signature.Error
		if errors.As(err, &refused) {
			d.log.Error("recovery region activation mark refused: standing by", "region", doc.Name, "err", err)
			d.m.ConfigRefused.WithLabelValues("recovery_region_activation").Inc()
			a, err = nil, nil
		}
		if err != nil {
			return "", err
		}
		if a == nil {
			d.m.RegionStandby.WithLabelValues(doc.Name).Set(1)
			return doc.Name, nil
		}
		d.m.RegionStandby.WithLabelValues(doc.Name).Set(0)
	}
	return "", nil
}

// recordRegionStatus stores the pass's status in the primary repository
// with the short-lived record rule, locked for a few copy intervals, and
// signed with the agent's key: whoever can write the bucket cannot make a
// stopped copy look current to a report that trusts the key.
func (d *Daemon) recordRegionStatus(ctx context.Context, r region.StatusRecord, every time.Duration) error {
	b, err := r.Marshal()
	if err != nil {
		return err
	}
	retain := 3 * every
	if retain < time.Minute {
		retain = time.Minute
	}
	key := d.layout.RegionStatusKey(r.Region)
	if err := PutSignedRecord(ctx, d.cfg.Store, key, b, retain, d.signer); err != nil {
		return fmt.Errorf("recording recovery region %s status at %s: %w", r.Region, key, err)
	}
	return nil
}
