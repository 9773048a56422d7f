package posture

import (
	"strings"
	"testing"
	"time"
)

// planFixture is shaped as `terraform show -json` prints resource changes
// (the bucket's shape is checked against real plans by the provider's
// TestAccPosturePlan).
const planFixture = `{"format_version":"1.2","resource_changes":[
 {"address":"lifeboat_backup_policy.main","type":"lifeboat_backup_policy","change":{"actions":["update"],
  "before":{"schedule":"@hourly","rpo":"5m","tenant_databases":["acme","globex","initech"]},
  "after":{"schedule":"@hourly","rpo":"15m","tenant_databases":["acme","initech"]}}},
 {"address":"lifeboat_wal_archive.main","type":"lifeboat_wal_archive","change":{"actions":["delete"],"before":{"rpo":"5m"},"after":null}},
 {"address":"lifeboat_immutable_bucket.repo","type":"lifeboat_immutable_bucket","change":{"actions":["create"],"before":null,
  "after":{"name":"b","retention":{"mode":"COMPLIANCE","days":30},"encryption":null}}}
]}`

func TestEvaluatePlan(t *testing.T) {
	r, err := EvaluatePlan([]byte(planFixture), Params{RPO: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		control, scope string
		status         Status
		observed       string
	}{
		{ControlTenantDumps, "lifeboat_backup_policy.main", Fail, "drops globex"},
		{ControlWALArchiving, "lifeboat_backup_policy.main", Fail, "rpo 15m (lengthened from 5m)"},
		{ControlWALArchiving, "lifeboat_wal_archive.main", Fail, "stops WAL archiving"},
		{ControlObjectLock, "lifeboat_immutable_bucket.repo", Pass, "COMPLIANCE, 30 days"},
		{ControlEncryption, "lifeboat_immutable_bucket.repo", Fail, "none declared"},
	} {
		f, ok := r.Find(tt.control, tt.scope)
		if !ok || f.Status != tt.status || !strings.Contains(f.Observed, tt.observed) {
			t.Errorf("%s on %s = %s %q, want %s %q", tt.control, tt.scope, f.Status, f.Observed, tt.status, tt.observed)
		}
	}
	if _, err := EvaluatePlan([]byte("not json"), Params{}); err == nil {
		t.Error("a plan that is not JSON must be refused")
	}
}
