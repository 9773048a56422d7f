package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/posture"
)

// TestPosturePlanExitsOneOnAWeakenedPlan: a plan that shortens the
// repository's retention fails with exit 1 after printing the report; one
// that keeps it passes.
func TestPosturePlanExitsOneOnAWeakenedPlan(t *testing.T) {
	plan := func(before, after int) string {
		p := filepath.Join(t.TempDir(), "plan.json")
		body := `{"resource_changes":[{"address":"lifeboat_immutable_bucket.repo","type":"lifeboat_immutable_bucket","change":{"actions":["update"],
 "before":{"retention":{"mode":"COMPLIANCE","days":` + strconv.Itoa(before) + `},"encryption":{"algorithm":"AES256"}},
 "after":{"retention":{"mode":"COMPLIANCE","days":` + strconv.Itoa(after) + `},"encryption":{"algorithm":"AES256"}}}}]}`
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var out bytes.Buffer
	err := runPosturePlan(plan(30, 7), "markdown", "", posture.DefaultParams, &out)
	if exitCode(err) != exitPostureFailed || !strings.Contains(out.String(), "weakened from COMPLIANCE, 30 days") {
		t.Fatalf("weakened plan: exit %d (%v)\n%s", exitCode(err), err, out.String())
	}
	out.Reset()
	if err := runPosturePlan(plan(30, 60), "json", "", posture.DefaultParams, &out); err != nil || !strings.Contains(out.String(), `"status": "pass"`) {
		t.Fatalf("strengthened plan: %v\n%s", err, out.String())
	}
}
