package posture

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access"
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

// ControlRegionCopyRole judges each agent-copied recovery region's copy
// keys from the probe the copying agent runs with them and records in the
// primary repository: keys that can delete or bypass governance in the
// destination could erase the very copy the region exists for.
const ControlRegionCopyRole = "region.copy_keys_cannot_delete"

// RegionObservation is one recovery region and the copying agent's last
// status record (nil: none recorded yet) and last probe of the region's
// copy keys (nil: none recorded yet).
type RegionObservation struct {
	Config region.ConfigDoc
	Status *region.StatusRecord
	Err    error

	CopyProbe    *access.ProbeRecord
	CopyProbeErr error
}

func init() {
	register(Control{ID: ControlRegionLag, Title: "Every recovery region's copy is within its maximum lag", Scope: ScopeCluster,
		Standards: backupStandards, Problem: "Recovery Region Lag Beyond Target", Evaluate: regionLag})
	register(Control{ID: ControlRegionCopyRole, Title: "Every recovery region's copy keys cannot delete or weaken the copy", Scope: ScopeCluster,
		Standards: storageStandards, Problem: "Recovery Region Copy Keys Can Weaken The Copy", Evaluate: regionCopyRole})
}

// gatherRegions lists the cluster's recovery regions (signed or not: an
// unsigned region is still one the reader declared) and reads each one's
// status and copy probe records, their signers judged against trust.
// Native regions are measured by the store, not copied by the agent, and
// have no record.
func gatherRegions(ctx context.Context, store objectstore.Store, l repo.Layout, cluster string, trust signature.Trust) ([]RegionObservation, error) {
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
		ro.Status, ro.Err = region.ReadStatusRecord(ctx, store, l, d.Name, trust)
		ro.CopyProbe, ro.CopyProbeErr = access.ReadCopyProbeRecord(ctx, store, l, d.Name, trust)
		out = append(out, ro)
	}
	return out, nil
}

// regionLag passes when every region's recorded lag is within its
// max_lag, fails when one is over it, and is unknown when a region has no
// record or only a stale one (the copy may have stopped: its lag now is
// not known, and likely growing).
func regionLag(o *Observation, c *ClusterObservation, p Params) Finding {
	th := fmt.Sprintf("each recovery region's last copy pass within %d copy intervals, its lag within the region's max_lag", regionStaleIntervals)
	f, judged := regionsFinding(c, th)
	if judged {
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
		case p.Trust.Required() && r.Status.Signer == "":
			// Whoever can write jobs/ could have written a lag of zero:
			// only the copying agent's signature says it measured it.
			unsure = append(unsure, fmt.Sprintf("%s: status record not signed by a trusted key (%v)", d.Name, r.Status.SignatureErr))
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
	f.Observed = observedGroups(group{"over max lag", over}, group{"not known", unsure}, group{"within", ok})
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

// regionsFinding is the finding, with threshold th, of the region controls
// and whether it is already judged without looking at any region: unknown
// when the regions could not be read, a pass when none is declared.
func regionsFinding(c *ClusterObservation, th string) (Finding, bool) {
	if c.RegionsErr != nil {
		f := unknown("recovery regions unreadable: "+c.RegionsErr.Error(), "Give the report credentials that may list and read the repository's regions/ and jobs/ folders.")
		f.Threshold = th
		return f, true
	}
	f := Finding{Threshold: th}
	if len(c.Regions) == 0 {
		// NOTE: a pass, as for Redis: a cluster without an agent-copied
		// region owes no copy; whether it needs one is the policy's call.
		f.Status, f.Observed = Pass, "no agent-copied recovery region declared"
		return f, true
	}
	return f, false
}

// regionCopyRole fails when a region's copy keys were allowed a forbidden
// action by the copying agent's last probe, and is unknown when a region
// has no current probe record (none, stale, or, when keys are trusted, not
// signed by one of them).
func regionCopyRole(o *Observation, c *ClusterObservation, p Params) Finding {
	th := "each recovery region's copy keys denied every forbidden action of the copy role by the copying agent's probe, within " +
		fmt.Sprint(probeStaleIntervals) + " probe intervals"
	if p.Trust.Required() {
		th += ", the record signed by a trusted key"
	}
	f, judged := regionsFinding(c, th)
	if judged {
		return f
	}
	var destructive, allowed, unsure, ok []string
	for _, r := range c.Regions {
		name, rec := r.Config.Name, r.CopyProbe
		switch {
		case r.CopyProbeErr != nil:
			unsure = append(unsure, fmt.Sprintf("%s: %v", name, r.CopyProbeErr))
			continue
		case rec == nil:
			unsure = append(unsure, name+": no copy probe recorded")
			continue
		}
		f.Evidence = append(f.Evidence, Evidence{Key: c.Layout.RegionCopyProbeKey(name), Time: rec.Ran,
			Note: fmt.Sprintf("copy probe of agent %s against %s%s", rec.Holder, rec.Destination, signedNote(p, rec.Signer))})
		if p.Trust.Required() && rec.Signer == "" {
			unsure = append(unsure, fmt.Sprintf("%s: probe record not signed by a trusted key (%v)", name, rec.SignatureErr))
			continue
		}
		if every := time.Duration(rec.IntervalSeconds * float64(time.Second)); every > 0 && o.Now.Sub(rec.Ran) > probeStaleIntervals*every {
			unsure = append(unsure, fmt.Sprintf("%s: last probe %s ago (every %s)", name, o.Now.Sub(rec.Ran).Truncate(time.Second), every))
			continue
		}
		var bad, notRun []string
		for _, res := range rec.Results {
			f.Evidence = append(f.Evidence, Evidence{Note: fmt.Sprintf("%s %s: %s %s %s", name, res.Check, res.Outcome, res.By, res.Detail)})
			switch res.Outcome {
			case access.Allowed:
				bad = append(bad, string(res.Check))
				if res.Check == access.CheckDeleteLockedVersion || res.Check == access.CheckBypassGovernance || res.Check == access.CheckDeleteObject {
					destructive = append(destructive, name+" "+string(res.Check))
				}
			case access.Unknown:
				notRun = append(notRun, string(res.Check))
			}
		}
		switch {
		case len(bad) > 0:
			allowed = append(allowed, name+": "+strings.Join(bad, ", "))
		case len(notRun) > 0 || len(rec.Results) == 0:
			unsure = append(unsure, fmt.Sprintf("%s: could not check %s", name, orNone(strings.Join(notRun, ", "))))
		default:
			ok = append(ok, fmt.Sprintf("%s: %d of %d denied", name, len(rec.Results), len(rec.Results)))
		}
	}
	f.Observed = observedGroups(group{"allowed", allowed}, group{"not known", unsure}, group{"denied", ok})
	switch {
	case len(allowed) > 0:
		f.Status = Fail
		f.Remedy = "Give the copy keys (the agent configuration's stores entry of the region) only the copy role's document " +
			"(lifeboat_recovery_region copy_policy): they must never delete, bypass governance, change the destination bucket or write its activation mark."
		if len(destructive) > 0 {
			f.Remedy = "The copy keys can destroy the recovery region's copy (" + strings.Join(destructive, ", ") + "). " + f.Remedy
		}
	case len(unsure) > 0:
		f.Status = Unknown
		f.Problem = "Recovery Region Copy Keys Not Probed"
		f.Remedy = "Check that `lifeboat agent` runs on the cluster's host with its probe on and a signing key whose public half the report trusts; it probes the copy keys at start and hourly."
	default:
		f.Status = Pass
	}
	return f
}

// group is one labelled list of a finding's observations.
type group struct {
	label string
	items []string
}

// observedGroups joins the non-empty groups, in the order given, as
// "label: a; b; label: c".
func observedGroups(groups ...group) string {
	var parts []string
	for _, g := range groups {
		if len(g.items) > 0 {
			parts = append(parts, g.label+": "+strings.Join(g.items, "; "))
		}
	}
	return strings.Join(parts, "; ")
}
