package agentd

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/drill"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/region"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// drillJobs lists the cluster's drill schedules as jobs. A schedule that
// cannot run (another cluster, a bad cron expression) is logged and left
// out; the others still run.
func (d *Daemon) drillJobs(ctx context.Context) ([]*job, map[string]drill.ScheduleDoc, error) {
	docs, refused, err := drill.ListSchedules(ctx, d.cfg.Store, d.layout, d.trust)
	if err != nil {
		return nil, nil, fmt.Errorf("reading drill schedules: %w", err)
	}
	for _, err := range refused {
		d.log.Error("drill schedule not scheduled", "err", err)
		d.m.ConfigRefused.WithLabelValues("drill_schedule").Inc()
	}
	var jobs []*job
	byName := map[string]drill.ScheduleDoc{}
	for _, doc := range docs {
		if doc.Cluster != "" && doc.Cluster != d.layout.Cluster {
			d.log.Error("drill schedule not scheduled", "schedule", doc.Name, "err",
				fmt.Sprintf("schedule is for cluster %q, this agent serves %q", doc.Cluster, d.layout.Cluster))
			continue
		}
		s, err := d.parseSchedule(doc.Schedule)
		if err != nil {
			d.log.Error("drill schedule not scheduled", "schedule", doc.Name, "err", err)
			continue
		}
		doc := doc
		byName[doc.Name] = doc
		if doc.RTOTargetSeconds > 0 {
			d.m.DrillRTOTarget.WithLabelValues(doc.Name).Set(doc.RTOTargetSeconds)
		}
		jobs = append(jobs, &job{name: DrillJobPrefix + doc.Name, sched: s, run: func(ctx context.Context, _ time.Time) (string, error) {
			defer func() {
				// New evidence, passed or not: the index is stale.
				d.mu.Lock()
				d.drillIndexDirty = true
				d.mu.Unlock()
			}()
			return d.drillFn(ctx, doc)
		}})
	}
	return jobs, byName, nil
}

// indexDrills rewrites the drill index (drill.Index) that refreshes read in
// place of every schedule and its evidence, when it may be stale: a
// schedule changed (docs differ from the last refresh's), a drill ran here,
// or drill.IndexRebuild passed (evidence another agent wrote). Without
// schedules there is nothing to index. A failure is logged and retried at
// the next refresh: readers then read the objects themselves.
func (d *Daemon) indexDrills(ctx context.Context, docs map[string]drill.ScheduleDoc) {
	d.mu.Lock()
	due := len(docs) > 0 && (d.drillIndexDirty || d.drillIndexAt.IsZero() || !reflect.DeepEqual(d.drills, docs) ||
		d.cfg.Now().Sub(d.drillIndexAt) >= drill.IndexRebuild)
	if due {
		d.drillIndexDirty = false
	}
	d.mu.Unlock()
	if !due {
		return
	}
	// NOTE: the real clock: readers judge the index's age with theirs.
	x, err := drill.BuildIndex(ctx, d.cfg.Store, d.layout, time.Now())
	if err == nil {
		err = drill.WriteIndex(ctx, d.cfg.Store, d.layout, x, d.signer)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		d.drillIndexDirty = true
		d.log.Error("drill index not written", "key", d.layout.DrillIndexKey(), "err", err)
		return
	}
	d.drillIndexAt = d.cfg.Now()
	d.log.Debug("drill index written", "key", d.layout.DrillIndexKey(), "schedules", len(x.Schedules))
}

// drill runs one drill of doc. The drill writes its evidence, passed or
// not; a drill that ran and failed is a failed run that is not retried in
// the same slot (its evidence is the answer), while one whose evidence
// could not be written is retried.
func (d *Daemon) drill(ctx context.Context, doc drill.ScheduleDoc) (string, error) {
	d.mu.Lock()
	p := d.policy
	d.mu.Unlock()
	storeFor := d.cfg.StoreFor
	if storeFor == nil {
		storeFor = func(string) objectstore.Store { return d.cfg.Store }
	}
	spec := doc.Spec(storeFor, d.layout, d.cfg.Agent, d.cfg.AgentPath, d.dsn(p))
	spec.Signer, spec.Trust = d.signer, d.trust
	d.cfg.Restorer.ApplyDrill(&spec)
	// A redis drill reads its RPO from the instance's snapshot schedule,
	// trusted like every other configuration the agent reads.
	spec.Redis.Trust = d.trust
	// A region drill opens the region's destination as the copy does.
	spec.Region.Trust = d.trust
	spec.Region.Open = drill.OpenRegionFromConfig(d.cfg.Agent, d.clients.Get)
	if d.cfg.RegionStore != nil {
		spec.Region.Open = func(_ context.Context, doc region.ConfigDoc) (objectstore.Store, repo.AgentConfig, error) {
			s, err := d.cfg.RegionStore(doc)
			return s, d.cfg.Agent, err
		}
	}
	ev, err := drill.Run(ctx, d.cfg.Store, spec)
	if ev != nil && ev.Key != "" {
		d.setDrillMetrics(ev)
	}
	if err != nil {
		return "", fmt.Errorf("drill %s: %w", doc.Name, err)
	}
	out := "evidence " + ev.Key
	if !ev.Passed {
		why := ev.FailedChecks()
		if ev.Error != "" {
			why = append([]string{ev.Error}, why...)
		}
		if !ev.RTOMet {
			why = append(why, fmt.Sprintf("RTO %.1fs over target %.1fs", ev.RTOSeconds, ev.RTOTargetSeconds))
		}
		return out, &FinalError{Err: fmt.Errorf("drill %s failed: %s", doc.Name, strings.Join(why, "; "))}
	}
	return out, nil
}

func (d *Daemon) setDrillMetrics(ev *drill.Evidence) {
	s := ev.Schedule
	d.m.DrillLast.WithLabelValues(s).Set(float64(ev.Finished.UnixNano()) / 1e9)
	d.m.DrillDuration.WithLabelValues(s).Set(ev.Finished.Sub(ev.Started).Seconds())
	d.m.DrillRTO.WithLabelValues(s).Set(ev.RTOSeconds)
	ok := 0.0
	if ev.Passed {
		ok = 1
	}
	d.m.DrillSuccess.WithLabelValues(s).Set(ok)
	if ev.RTOTargetSeconds > 0 {
		d.m.DrillRTOTarget.WithLabelValues(s).Set(ev.RTOTargetSeconds)
	}
}

// drillStats sets each schedule's metrics from its newest evidence,
// whichever agent wrote it.
func (d *Daemon) drillStats(ctx context.Context) error {
	d.mu.Lock()
	names := make([]string, 0, len(d.drills))
	for n := range d.drills {
		names = append(names, n)
	}
	d.mu.Unlock()
	var errs []error
	for _, n := range names {
		ev, err := drill.Latest(ctx, d.cfg.Store, d.layout, n)
		if errors.Is(err, objectstore.ErrNotFound) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		d.setDrillMetrics(ev)
	}
	return errors.Join(errs...)
}

// FinalError is a failed run that must not be retried within its slot.
type FinalError struct{ Err error }

func (e *FinalError) Error() string { return e.Err.Error() }
func (e *FinalError) Unwrap() error { return e.Err }

// Restorer is the restorer identity the agent's restores and drills read
// the repository with (repo.AgentConfig.Restorer): its store on the
// repository bucket, on any other bucket (attachments), and the
// configuration their restore_command is given.
type Restorer struct {
	Store    objectstore.Store
	StoreFor func(bucket string) objectstore.Store
	Agent    repo.AgentConfig
}

// ApplyDrill makes spec read with the restorer: the restore and the
// attachments' history through its stores, restore_command with its
// configuration. Evidence and audit records stay with the store drill.Run
// is given. A nil r changes nothing.
func (r *Restorer) ApplyDrill(spec *drill.Spec) {
	if r == nil {
		return
	}
	spec.ReadStore, spec.AgentConfig = r.Store, r.Agent
	if a := spec.Attachments; a != nil && r.StoreFor != nil {
		b := *a
		b.ReadStore = r.StoreFor(a.Store.Bucket())
		spec.Attachments = &b
	}
}
