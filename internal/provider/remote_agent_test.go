package provider

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/remote"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// startTestAgent starts the agent bin for cluster main below prefix pg of
// bucket as host (testenv.StartAgent), with the writer's keys (a MinIO user
// made from the writer's document), connecting to dsn for tenant work.
func startTestAgent(t *testing.T, bin, bucket, host, holder, dsn string, trustedKeys ...string) *testenv.Agent {
	t.Helper()
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	ak, sk := testAccUser(t, access.RoleWriter, bucket, l)
	cfg := (&providerData{}).agentConfig(bucket, "pg", "main", "")
	cfg.AccessKey, cfg.SecretKey, cfg.TrustedKeys = ak, sk, trustedKeys
	return testenv.StartAgent(t, bin, cfg, host, holder, dsn)
}

// waitLive waits until host's heartbeat is in the repository.
func waitLive(t *testing.T, store objectstore.Store, host string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		live, err := remote.LiveAgents(context.Background(), store, repo.Layout{Prefix: "pg", Cluster: "main"}, time.Now())
		if err == nil {
			for _, h := range live {
				if h.Host == host {
					return
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("agent %s published no heartbeat within a minute", host)
}

// data.lifeboat_agents lists the agent started as a separate process, live.
func TestAccAgentsDataSource_heartbeat(t *testing.T) {
	testAccPreCheck(t)
	bin, _ := buildAgent(t)
	store := testenv.Require(t).MinIO[0].NewStore(t, "lb-agents", objectstore.BucketSpec{})
	bucket := store.Bucket()
	startTestAgent(t, bin, bucket, "db-eu-1", "agent-a", "")
	waitLive(t, store, "db-eu-1")
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: fmt.Sprintf(`
data "lifeboat_agents" "main" {
  cluster    = "main"
  repository = { bucket = %q, prefix = "pg" }
}
`, bucket),
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue("data.lifeboat_agents.main", tfjsonpath.New("live_hosts"), knownvalue.ListExact([]knownvalue.Check{knownvalue.StringExact("db-eu-1")})),
				statecheck.ExpectKnownValue("data.lifeboat_agents.main", tfjsonpath.New("agents").AtSliceIndex(0).AtMapKey("holder"), knownvalue.StringExact("agent-a")),
				statecheck.ExpectKnownValue("data.lifeboat_agents.main", tfjsonpath.New("agents").AtSliceIndex(0).AtMapKey("live"), knownvalue.Bool(true)),
			},
		}},
	})
}
