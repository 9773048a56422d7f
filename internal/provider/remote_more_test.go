package provider

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/remote"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

// requestResults are the results of the requests of kind in the cluster
// main below pg.
func requestResults(t *testing.T, store objectstore.Store, kind remote.Kind) []*remote.Result {
	t.Helper()
	ctx := context.Background()
	layout := repo.Layout{Prefix: "pg", Cluster: "main"}
	var out []*remote.Result
	err := store.List(ctx, layout.RequestsDir(), func(o objectstore.ObjectInfo) error {
		if k, ok := layout.Parse(o.Key); ok && k.Kind == repo.KindRequestResult && strings.HasPrefix(k.Request, string(kind)+"-") {
			res, err := remote.ReadResult(ctx, store, layout, k.Request)
			if err != nil {
				return err
			}
			out = append(out, res)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A drill of run_on_apply sent to a host with no agent fails the apply
// after the schedule's claim_timeout (not the 5 minute default), naming the
// request; the request is withdrawn and the schedule the failed create
// wrote is taken back, so no agent runs anything later.
func TestAccDrillSchedule_claimTimeoutNoAgent(t *testing.T) {
	testAccPreCheck(t)
	bucket := randomName("lb-drillct")
	client := testAccClient(t)
	ctx := context.Background()
	if err := client.CreateBucket(ctx, objectstore.BucketSpec{Name: bucket}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.DestroyBucket(context.Background(), bucket, true) })
	store := client.Store(bucket)
	start := time.Now()
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: fmt.Sprintf(`
resource "lifeboat_drill_schedule" "test" {
  name          = "nightly"
  schedule      = "@daily"
  kind          = "cluster"
  run_on_apply  = true
  agent         = "db-nowhere"
  claim_timeout = "2s"
  cluster       = "main"
  repository {
    bucket = %q
    prefix = "pg"
  }
}
`, bucket),
			ExpectError: regexp.MustCompile(`(?s)Drill Not Claimed By An Agent.*no agent claimed request.*within 2s.*withdrawn`),
		}},
	})
	if d := time.Since(start); d > 90*time.Second {
		t.Errorf("the unclaimed drill took %s to fail: claim_timeout was not applied", d)
	}
	res := requestResults(t, store, remote.KindDrill)
	if len(res) != 1 || res[0].Status != remote.StatusWithdrawn {
		t.Errorf("drill requests' results %+v: want one, withdrawn", res)
	}
	if _, _, err := findDrillSchedule(ctx, store, repo.Layout{Prefix: "pg", Cluster: "main"}, "nightly", signature.Trust{}); !isNotFound(err) {
		t.Errorf("schedule of the failed create: %v, want it taken back", err)
	}
}
