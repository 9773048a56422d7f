package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/posture"
)

// expectPlanPosture runs posture.EvaluatePlan on the plan Terraform made,
// as `lifeboat posture plan` does on `terraform show -json`.
type expectPlanPosture struct {
	control, scope string
	status         posture.Status
	observed       string
}

func (e expectPlanPosture) CheckPlan(_ context.Context, req plancheck.CheckPlanRequest, resp *plancheck.CheckPlanResponse) {
	js, err := json.Marshal(req.Plan)
	if err != nil {
		resp.Error = err
		return
	}
	r, err := posture.EvaluatePlan(js, posture.Params{MinLockDays: 1})
	if err != nil {
		resp.Error = err
		return
	}
	f, ok := r.Find(e.control, e.scope)
	if !ok || f.Status != e.status || !strings.Contains(f.Observed, e.observed) {
		resp.Error = fmt.Errorf("plan posture %s on %s = %+v; want %s with %q", e.control, e.scope, f, e.status, e.observed)
	}
}

// TestAccPosturePlan judges real plans of the repository bucket: creating
// it with GOVERNANCE retention is a warning, shortening that retention
// fails the lock control before apply.
func TestAccPosturePlan(t *testing.T) {
	name := randomName("lb-plan")
	config := func(days int) string {
		return fmt.Sprintf(`
resource "lifeboat_immutable_bucket" "test" {
  name = %[1]q
  retention {
    mode = "GOVERNANCE"
    days = %[2]d
  }
  encryption {
    algorithm = "AES256"
  }
  force_destroy = true
}
`, name, days)
	}
	addr := "lifeboat_immutable_bucket.test"
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             testAccCheckBucketDestroyed(t, name),
		Steps: []resource.TestStep{
			{Config: config(3), ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				expectPlanPosture{posture.ControlObjectLock, addr, posture.Warn, "GOVERNANCE, 3 days"},
				expectPlanPosture{posture.ControlEncryption, addr, posture.Pass, "AES256"},
			}}},
			{Config: config(2), ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				expectPlanPosture{posture.ControlObjectLock, addr, posture.Fail, "weakened from GOVERNANCE, 3 days"},
			}}},
		},
	})
}
