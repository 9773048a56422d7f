package posture

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/region"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

// ControlRegionLag judges each agent-copied recovery region's lag from the
// status the copying agent records in the primary repository after each
// pass: the destination's own index is in a bucket the report cannot read.
const ControlRegionLag = "region.lag"

// regionStaleIntervals is how many copy intervals a status record may age
// before the copy is taken to have stopped (its lag then is not known).
const regionStaleIntervals = 3

// RegionObservation is one recovery region and the copying agent's last
// status record (nil: none recorded yet).
type RegionObservation struct {
	Config region.ConfigDoc
	Status *region.StatusRecord
	Err    error
}

func init() {
	register(Control{ID: ControlRegionLag, Title: "Every recovery region's copy is within its maximum lag", Scope: ScopeCluster,
		Standards: backupStandards, Problem: "Recovery Region Lag Beyond Target", Evaluate: regionLag})
}

// gatherRegions lists the cluster's recovery regions (signed or not: an
// unsigned region is still one the reader declared) and reads each one's
// status record. Native regions are measured by the store, not copied by
// the agent, and have no record.
func gatherRegions(ctx context.Context, store objectstore.Store, l repo.Layout, cluster string) ([]RegionObservation, error) {
	docs, _, err := region.ListConfigs(ctx, store, l, signature.Trust{})
	if err != nil {
		return nil, err
	}
	sort.Slice(docs, func(i, j int) bool { return docs[i].Name < docs[j].Name })
	var out []RegionObservation
	for _, d := range docs {
		if d.Mode == region.ModeNative || (d.Cluster != "" && d.Cluster != cluster) {
			continue
		}
		ro := RegionObservation{Config: d}
		ro.Status, ro.Err = region.ReadStatusRecord(ctx, store, l, d.Name)
		out = append(out, ro)
	}
	return out, nil
}

// regionLag passes when every region's recorded lag is within its
// max_lag, fails when one is over it, and is unknown when a region has no
// record or only a stale one (the copy may have stopped: its lag now is
// not known, and likely growing).
func regionLag(o *Observation, c *ClusterObservation, _ Params) Finding {
	th := fmt.Sprintf("each recovery region's last copy pass within %d copy intervals, its lag within the region's max_lag", regionStaleIntervals)
	if c.RegionsErr != nil {
		f := unknown("recovery regions unreadable: "+c.RegionsErr.Error(), "Give the report credentials that may list and read the repository's regions/ and jobs/ folders.")
		f.Threshold = th
		return f
	}
	f := Finding{Threshold: th}
	if len(c.Regions) == 0 {
		// NOTE: a pass, as for Redis: a cluster without an agent-copied
		// region owes no copy; whether it needs one is the policy's call.
		f.Status, f.Observed = Pass, "no agent-copied recovery region declared"
		return f
	}
	var over, unsure, ok []string
	for _, r := range c.Regions {
		d := r.Config
		maxLag := d.MaxLag()
		f.Evidence = append(f.Evidence, Evidence{Key: c.Layout.RegionConfigKey(d.Name), Time: d.Updated,
			Note: fmt.Sprintf("destination s3://%s, every %s, max lag %s", d.Destination.Bucket, d.Interval(), maxLag)})
		switch {
		case r.Err != nil:
			unsure = append(unsure, fmt.Sprintf("%s: %v", d.Name, r.Err))
			continue
		case r.Status == nil:
			unsure = append(unsure, d.Name+": no copy pass recorded yet")
			continue
		}
		s := r.Status
		lag := time.Duration(s.LagSeconds * float64(time.Second))
		f.Evidence = append(f.Evidence, Evidence{Key: c.Layout.RegionStatusKey(d.Name), Time: s.Written,
			Note: fmt.Sprintf("lag %s, %d objects (%d bytes) pending, last verified %s, to %s",
				lag.Round(time.Millisecond), s.Status.PendingObjects, s.Status.PendingBytes, ts(s.LastVerified), s.Destination)})
		age := o.Now.Sub(s.Written)
		desc := fmt.Sprintf("%s lag %s (max %s; %d pending, %d bytes; recorded %s ago)", d.Name, lag.Round(time.Second),
			maxLag, s.Status.PendingObjects, s.Status.PendingBytes, age.Truncate(time.Second))
		switch {
		case d.Interval() > 0 && age > regionStaleIntervals*d.Interval():
			unsure = append(unsure, fmt.Sprintf("%s: last copy pass recorded %s ago (every %s): the copy stopped", d.Name, age.Truncate(time.Second), d.Interval()))
		case maxLag > 0 && lag > maxLag:
			over = append(over, desc)
		default:
			ok = append(ok, desc)
		}
	}
	var parts []string
	if len(over) > 0 {
		parts = append(parts, "over max lag: "+strings.Join(over, "; "))
	}
	if len(unsure) > 0 {
		parts = append(parts, "not known: "+strings.Join(unsure, "; "))
	}
	if len(ok) > 0 {
		parts = append(parts, "within: "+strings.Join(ok, "; "))
	}
	f.Observed = strings.Join(parts, "; ")
	switch {
	case len(over) > 0:
		f.Status = Fail
		f.Remedy = "Check the copying agent's log and lifeboat_region_pending_bytes: the destination falls behind (bandwidth, credentials, a failing object); a disaster now loses everything pending."
	case len(unsure) > 0:
		f.Status = Unknown
		f.Problem = "Recovery Region Lag Not Known"
		f.Remedy = "Check that `lifeboat agent` runs on the cluster's host and has the destination's credentials under \"stores\"; each copy pass records its status in jobs/."
	default:
		f.Status = Pass
	}
	return f
}
