package provider

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// The declared tiers become rules that cover backup data only, and the
// rules read back become the same tiers (no perpetual diff), with and
// without custom prefixes; rules that drifted show as a different prefix.
func TestBackupPolicyTierRulesRoundTrip(t *testing.T) {
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	tier := func(name, prefix string, days int64) policyTierModel {
		p := types.StringNull()
		if prefix != "-" {
			p = types.StringValue(prefix)
		}
		return policyTierModel{Name: types.StringValue(name), Prefix: p, RetentionDays: types.Int64Value(days)}
	}
	m := &backupPolicyModel{Tiers: []policyTierModel{
		tier("transactional", "-", 40), tier("attachments", "files/", 90), tier("audit", "pg/main/wal/", 10),
	}, Schedule: types.StringValue("0 2 * * *"), Retention: &policyRetentionModel{FullCount: types.Int64Null(), Days: types.Int64Value(5)}}
	rules, err := m.tiers(l)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"agent.jobs": "pg/main/jobs/", "agent.leases": "pg/main/leases/", "agent.agents": "pg/main/agents/", "agent.requests": "pg/main/requests/",
		"attachments": "files/", "audit": "pg/main/wal/",
		"transactional.basebackups": "pg/main/basebackups/", "transactional.tenants": "pg/main/tenants/", "transactional.wal": "pg/main/wal/",
		"transactional.redis": "pg/main/redis/",
		"pruned.basebackups":  "pg/main/basebackups/", "pruned.tenants": "pg/main/tenants/", "pruned.wal": "pg/main/wal/",
		"pruned.redis": "pg/main/redis/",
	}
	if len(rules) != len(want) {
		t.Fatalf("rules = %+v", rules)
	}
	for _, r := range rules {
		if want[r.Name] != r.Prefix {
			t.Errorf("rule %s covers %q, want %q", r.Name, r.Prefix, want[r.Name])
		}
		// The agent (writer role) never deletes a version: what it
		// replaced in its own records goes by these rules, and only that.
		agent := strings.HasPrefix(r.Name, "agent.")
		if agent && (r.ExpirationDays != 0 || r.NoncurrentVersionExpirationDays != 1 || r.ExpiredObjectDeleteMarker != (r.Name == "agent.leases")) {
			t.Errorf("rule %s = %+v: the agent's records must only lose replaced versions (and a retired lease its marker)", r.Name, r)
		}
		// What prune hid goes after the retention (5 days, and the day
		// before them a restore needs), with markers left alone; current
		// versions never expire by these rules.
		pruned := strings.HasPrefix(r.Name, "pruned.")
		if pruned && (r.ExpirationDays != 0 || r.NoncurrentVersionExpirationDays != 6 || !r.ExpiredObjectDeleteMarker) {
			t.Errorf("rule %s = %+v: want noncurrent versions after 6 days and expired delete markers removed", r.Name, r)
		}
		if !pruned && r.Name != "agent.leases" && r.ExpiredObjectDeleteMarker {
			t.Errorf("rule %s removes delete markers", r.Name)
		}
	}

	// Read back after apply: the prior state holds the planned prefixes.
	prior := []policyTierModel{tier("transactional", l.RootDir(), 40), tier("attachments", "files/", 90), tier("audit", "pg/main/wal/", 10)}
	got := observedPolicyTiers(prior, rules, l)
	if fmt.Sprint(got) != fmt.Sprint([]policyTierModel{prior[1], prior[2], prior[0]}) {
		t.Errorf("read back %v, want %v", got, prior)
	}
	// Imported (no prior state): default prefixes are recognised.
	if got := observedPolicyTiers(nil, rules[:0:0], l); len(got) != 0 {
		t.Errorf("no rules read as %v", got)
	}
	def, _ := (&backupPolicyModel{Tiers: []policyTierModel{tier("transactional", "-", 40)}}).tiers(l)
	if got := observedPolicyTiers(nil, def, l); len(got) != 1 || got[0].Prefix.ValueString() != "pg/main/" {
		t.Errorf("imported default tier read as %v", got)
	}
	// One data folder's rule removed out of band: the prefix shows the drift.
	var partial []objectstore.LifecycleTier
	for _, r := range rules {
		if r.Name != "transactional.wal" {
			partial = append(partial, r)
		}
	}
	for _, g := range observedPolicyTiers(prior, partial, l) {
		if g.Name.ValueString() == "transactional" && g.Prefix.ValueString() == l.RootDir() {
			t.Errorf("a tier missing its WAL rule reads as converged: %v", g)
		}
	}

	// Prefixes that would expire configuration are refused.
	for _, p := range []string{"pg/main/drills/", "pg/main/jobs/", "pg/main-eu/", "pg/main/policy.json"} {
		bad := &backupPolicyModel{Tiers: []policyTierModel{tier("config", p, 30)}}
		if _, err := bad.tiers(l); err == nil {
			t.Errorf("tier prefix %q accepted", p)
		}
	}
}
