package posture

import (
	"fmt"
	"strings"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/drill"
)

// ControlHAIsNotDR flags a cluster that has a streaming standby but no WAL
// archive or no tested restore. A standby replays every change the primary
// makes, the accidental DELETE and the ransomware's UPDATE included, within
// milliseconds: it survives the loss of a machine or a zone and nothing
// else. Only an archive (a restorable window in the repository) and a
// restore that was shown to work take a cluster back to before a mistake.
//
// NOTE: the standby is discovered, not declared: pg_stat_replication on the
// server the report connects to (the primary), or pg_is_in_recovery() when
// that server is itself a standby. A declared topology can drift from the
// real one; the primary's walsenders cannot.
const ControlHAIsNotDR = "ha.not_dr"

func init() {
	register(Control{ID: ControlHAIsNotDR, Title: "A cluster with a standby also has an archive and a tested restore (HA is not DR)", Scope: ScopeCluster,
		Standards: windowStandards, Problem: "HA Is Not DR", Evaluate: haIsNotDR})
}

func haIsNotDR(o *Observation, c *ClusterObservation, p Params) Finding {
	th := "a cluster with a streaming standby has WAL archiving on, a restorable window in the repository and a passed restore drill"
	r := c.Replication
	if r == nil {
		// NOTE: no Problem: without a server connection no standby can be
		// seen, and a standing warning on every such report would be noise.
		f := Finding{Status: Unknown, Threshold: th, Observed: "no PostgreSQL connection given: standbys not discovered",
			Remedy: "Give the report a connection to the cluster's primary to read pg_stat_replication."}
		return f
	}
	if r.Err != nil {
		f := unknown("reading pg_stat_replication of "+r.Server+": "+r.Err.Error(), "Give the report a role that may read pg_stat_replication (pg_monitor).")
		f.Threshold = th
		return f
	}
	st := r.State
	var standbys []string
	for _, s := range st.Standbys {
		standbys = append(standbys, fmt.Sprintf("%s from %s (%s, %s)", orNone(s.ApplicationName), s.ClientAddr, s.State, s.SyncState))
	}
	f := Finding{Threshold: th, Evidence: []Evidence{{Key: r.Server, Time: o.Now.UTC(),
		Note: fmt.Sprintf("pg_is_in_recovery=%t, pg_stat_replication: %s", st.InRecovery, orNone(strings.Join(standbys, "; ")))}}}
	if len(st.Standbys) == 0 && !st.InRecovery {
		f.Status, f.Observed = Pass, "no streaming standby"
		return f
	}
	ha := fmt.Sprintf("%d streaming standby(s)", len(st.Standbys))
	if st.InRecovery {
		ha = r.Server + " is itself a standby"
	}
	var missing []string
	if a := c.Archive; a != nil && a.Err == nil && a.State.Settings.ArchiveMode != "on" && a.State.Settings.ArchiveMode != "always" {
		missing = append(missing, "archive_mode = "+orNone(a.State.Settings.ArchiveMode))
	}
	switch {
	case c.WindowErr != nil || c.Window == nil || c.Window.NewestSegment == "":
		missing = append(missing, "no WAL archive in the repository")
	case !c.Window.Restorable:
		missing = append(missing, "no restorable window (no base backup with all its WAL)")
	default:
		f.Evidence = append(f.Evidence, Evidence{Key: c.Window.LatestSegment, Time: c.Window.Latest,
			Note: fmt.Sprintf("restorable window from backup %s", c.Window.FromBackup)})
	}
	if d := passedRestoreDrill(c, p); d != nil {
		f.Evidence = append(f.Evidence, drillEvidence(d))
	} else {
		missing = append(missing, "no passed restore drill")
	}
	if len(missing) > 0 {
		f.Status = Fail
		f.Observed = ha + ", but " + strings.Join(missing, ", ")
		f.Remedy = "A standby replays mistakes and attacks at once: declare lifeboat_wal_archive and lifeboat_backup_policy for the cluster, " +
			"and a lifeboat_drill_schedule whose restore passes."
		return f
	}
	f.Status, f.Observed = Pass, ha+", with a restorable WAL archive and a passed restore drill"
	return f
}

// passedRestoreDrill is the newest passed drill that restored PostgreSQL
// (a Redis drill proves nothing of the cluster), signed when trust is
// required.
func passedRestoreDrill(c *ClusterObservation, p Params) *DrillObservation {
	var best *DrillObservation
	for i := range c.Drills {
		d := &c.Drills[i]
		if d.Latest == nil || !d.Latest.Passed || d.Schedule.Kind == string(drill.KindRedis) {
			continue
		}
		if p.Trust.Required() && d.EvidenceSigner == "" {
			continue
		}
		if best == nil || d.Latest.Finished.After(best.Latest.Finished) {
			best = d
		}
	}
	return best
}
