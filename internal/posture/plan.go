package posture

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// planJSON is the part of `terraform show -json plan` the plan controls
// read: each resource's change, before and after.
type planJSON struct {
	ResourceChanges []struct {
		Address string `json:"address"`
		Type    string `json:"type"`
		Change  struct {
			Actions []string       `json:"actions"`
			Before  map[string]any `json:"before"`
			After   map[string]any `json:"after"`
		} `json:"change"`
	} `json:"resource_changes"`
}

// EvaluatePlan judges the posture a Terraform plan declares, before it is
// applied and without reading anything: the repository bucket's retention
// and encryption, tenants dropped from a backup policy, an RPO lengthened
// or beyond p.RPO, and a repository bucket or backup policy destroyed.
// Each finding's scope (Cluster) is the resource address. Values unknown
// until apply are not judged.
func EvaluatePlan(plan []byte, p Params) (*Report, error) {
	var pj planJSON
	if err := json.Unmarshal(plan, &pj); err != nil {
		return nil, fmt.Errorf("reading the plan (terraform show -json): %w", err)
	}
	p = p.withDefaults()
	byID := map[string]Control{}
	for _, c := range Controls() {
		byID[c.ID] = c
	}
	r := &Report{Bucket: "(plan)", Clusters: []string{}, Generated: time.Now().UTC()}
	add := func(id, addr string, f Finding) {
		c := byID[id]
		f.Control, f.Title, f.Standards, f.Cluster = c.ID, c.Title, c.Standards, addr
		f.Evidence = append(f.Evidence, Evidence{Key: addr, Note: "planned change"})
		r.Findings = append(r.Findings, f)
	}
	for _, rc := range pj.ResourceChanges {
		ch := rc.Change
		deleting := slices.Contains(ch.Actions, "delete") && !slices.Contains(ch.Actions, "create")
		switch rc.Type {
		case "lifeboat_immutable_bucket":
			if deleting {
				add(ControlObjectLock, rc.Address, Finding{Status: Fail, Observed: "the plan destroys the repository bucket", Threshold: "the bucket kept",
					Remedy: "Do not destroy the repository bucket: move the backups first, or keep it out of this change."})
				continue
			}
			add(ControlObjectLock, rc.Address, planLock(ch.Before, ch.After, p))
			f := Finding{Threshold: "default server-side encryption"}
			if enc, ok := ch.After["encryption"].(map[string]any); ok && enc["algorithm"] != nil {
				f.Status, f.Observed = Pass, fmt.Sprint(enc["algorithm"])
			} else {
				f.Status, f.Observed, f.Remedy = Fail, "none declared", "Declare an encryption block (AES256 or aws:kms)."
			}
			add(ControlEncryption, rc.Address, f)
		case "lifeboat_backup_policy":
			if deleting {
				add(ControlBaseBackupAge, rc.Address, Finding{Status: Fail, Observed: "the plan removes the backup policy: no more scheduled backups",
					Threshold: "a backup policy for every cluster", Remedy: "Keep the backup policy, or replace it in the same change."})
				continue
			}
			add(ControlTenantDumps, rc.Address, planTenants(ch.Before, ch.After))
			add(ControlWALArchiving, rc.Address, planRPO(ch.Before, ch.After, p))
		case "lifeboat_wal_archive":
			if deleting {
				add(ControlWALArchiving, rc.Address, Finding{Status: Fail, Observed: "the plan stops WAL archiving", Threshold: "archiving kept",
					Remedy: "Keep lifeboat_wal_archive: without it no point in time after the last base backup is restorable."})
				continue
			}
			add(ControlWALArchiving, rc.Address, planRPO(ch.Before, ch.After, p))
		}
	}
	seen := map[string]bool{}
	for _, f := range r.Findings {
		if !seen[f.Cluster] {
			seen[f.Cluster] = true
			r.Clusters = append(r.Clusters, f.Cluster)
		}
	}
	return r, nil
}

func retentionOf(v map[string]any) (mode string, days int, ok bool) {
	ret, isMap := v["retention"].(map[string]any)
	if !isMap || ret == nil {
		return "", 0, false
	}
	mode, _ = ret["mode"].(string)
	d, _ := ret["days"].(float64)
	return mode, int(d), mode != ""
}

func planLock(before, after map[string]any, p Params) Finding {
	f := Finding{Threshold: fmt.Sprintf("COMPLIANCE (or GOVERNANCE), at least %s, never weakened", days(p.MinLockDays))}
	mode, n, ok := retentionOf(after)
	if !ok {
		f.Status, f.Observed, f.Remedy = Fail, "no retention declared", "Declare a retention block on the repository bucket."
		return f
	}
	f.Observed = fmt.Sprintf("%s, %s", mode, days(n))
	bMode, bDays, had := retentionOf(before)
	switch {
	case had && (n < bDays || bMode == "COMPLIANCE" && mode != "COMPLIANCE"):
		f.Status = Fail
		f.Observed += fmt.Sprintf(" (weakened from %s, %s)", bMode, days(bDays))
		f.Remedy = "Do not shorten or relax the repository's retention: backups written after the change would be deletable sooner."
	case n < p.MinLockDays:
		f.Status, f.Remedy = Fail, fmt.Sprintf("Declare at least %s of retention.", days(p.MinLockDays))
	case mode != "COMPLIANCE":
		f.Status, f.Remedy = Warn, "Declare COMPLIANCE so that no account can shorten the retention."
	default:
		f.Status = Pass
	}
	return f
}

func stringsOf(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

func planTenants(before, after map[string]any) Finding {
	was, now := stringsOf(before["tenant_databases"]), stringsOf(after["tenant_databases"])
	f := Finding{Threshold: "no declared tenant dropped", Observed: fmt.Sprintf("%d tenant database(s) declared", len(now))}
	var dropped []string
	for _, db := range was {
		if !slices.Contains(now, db) {
			dropped = append(dropped, db)
		}
	}
	if len(dropped) > 0 {
		f.Status = Fail
		f.Observed = "drops " + strings.Join(dropped, ", ")
		f.Remedy = "Keep dumping the dropped tenants until their data is no longer needed; a dropped tenant has no new restore point."
		return f
	}
	f.Status = Pass
	return f
}

func planRPO(before, after map[string]any, p Params) Finding {
	f := Finding{Threshold: "rpo <= " + p.RPO.String() + ", never lengthened"}
	rpo, ok := after["rpo"].(string)
	if !ok || rpo == "" {
		return unknown("no rpo declared or known at plan", "Declare rpo.")
	}
	d, err := time.ParseDuration(rpo)
	if err != nil {
		return unknown(fmt.Sprintf("rpo %q: %v", rpo, err), "Declare rpo as a duration such as 5m.")
	}
	f.Observed = "rpo " + rpo
	if was, ok := before["rpo"].(string); ok {
		if bd, err := time.ParseDuration(was); err == nil && d > bd {
			f.Status = Fail
			f.Observed += " (lengthened from " + was + ")"
			f.Remedy = "Keep the RPO agreed with the business, or have the change approved as a new recovery objective."
			return f
		}
	}
	if d > p.RPO {
		f.Status, f.Remedy = Fail, "Declare an rpo within "+p.RPO.String()+"."
		return f
	}
	f.Status = Pass
	return f
}
