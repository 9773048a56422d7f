package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/jackc/pgx/v5"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/catalog"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/remote"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
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

// stateValues are the resources' attribute values in the directory's
// state, by address.
func stateValues(t *testing.T, tf *testenv.TerraformCLI) map[string]map[string]any {
	t.Helper()
	var state struct {
		Values struct {
			RootModule struct {
				Resources []struct {
					Address string         `json:"address"`
					Values  map[string]any `json:"values"`
				} `json:"resources"`
			} `json:"root_module"`
		} `json:"values"`
	}
	if err := json.Unmarshal([]byte(tf.Run(t, "show", "-json")), &state); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	for _, r := range state.Values.RootModule.Resources {
		out[r.Address] = r.Values
	}
	return out
}

// TestAccBackupPolicy_backupNowOnAgent: the policy's first backup is a
// "backup now" request the agent on the database host executes, as the
// signed policy declares it (compression and tenant dumps), while
// Terraform runs as a pipeline would: no PostgreSQL programs, a postgres
// block that reaches no server, plan -out in one process and the saved
// plan applied in another. Then the compression is changed in Terraform
// and the policy replaced: the same running agent (never restarted) takes
// the new backup with the new codec.
func TestAccBackupPolicy_backupNowOnAgent(t *testing.T) {
	f := newRestoreFixture(t)
	env := testenv.Require(t)
	ctx := context.Background()
	store := testAccClient(t).Store(f.bucket)
	layout := repo.Layout{Prefix: "pg", Cluster: "main"}
	const db = "bn_acme"
	env.Postgres.NewDatabase(t, db)
	conn, err := pgx.Connect(ctx, env.Postgres.DSN(db))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE orders (id int); INSERT INTO orders SELECT generate_series(1, 5)"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)

	a := startTestAgent(t, f.agent, f.bucket, "db-eu-1", "agent-a", env.Postgres.DSN("postgres"))
	waitLive(t, store, "db-eu-1")
	tf := terraformCLI(t)
	ci := withoutPostgres(t, nil)
	unreachable, _ := testenv.FreePort() // nothing listens there: the runner reaches no PostgreSQL
	config := func(codec string) string {
		return tfHeader + fmt.Sprintf(`
resource "lifeboat_backup_policy" "main" {
  cluster          = "main"
  schedule         = "0 2 * * *"
  tenant_databases = [%[2]q]
  backup_on_create = true
  agent            = "db-eu-1"
  claim_timeout    = "2m"
  compression      = %[3]q
  postgres {
    host = "127.0.0.1"
    port = %[4]d
    user = "postgres"
  }
  repository {
    bucket = %[1]q
    prefix = "pg"
  }
  retention {
    full_count = 7
  }
}
`, f.bucket, db, codec, unreachable)
	}
	newest := func() (id, codec string) {
		c, err := catalog.LoadPhysical(ctx, store, layout)
		if err != nil || len(c.Physical) == 0 {
			t.Fatalf("catalog: %v (%d backups)", err, len(c.Physical))
		}
		m := c.Physical[len(c.Physical)-1]
		return m.ID, m.Compression
	}
	checkBackup := func(step, codec string, want int) {
		t.Helper()
		res := requestResults(t, store, remote.KindBackup)
		if len(res) != want {
			t.Fatalf("%s: %d backup requests' results, want %d", step, len(res), want)
		}
		var last *remote.Result
		for _, r := range res {
			if last == nil || r.Finished.After(last.Finished) {
				last = r
			}
		}
		if last.Status != remote.StatusSucceeded || last.Host != "db-eu-1" || last.Holder != "agent-a" ||
			!strings.Contains(last.Backup, "backup ") || !strings.Contains(last.Backup, "tenant "+db+"/") {
			t.Errorf("%s: backup request's result %+v: want succeeded on db-eu-1 by agent-a, a base backup and the tenant dump", step, last)
		}
		id, got := newest()
		if got != codec || !strings.Contains(last.Backup, "backup "+id) {
			t.Errorf("%s: newest backup %s compressed %q, want %s by the agent's request (%q)", step, id, got, codec, last.Backup)
		}
		if v := stateValues(t, tf)["lifeboat_backup_policy.main"]; v["last_backup_id"] != id {
			t.Errorf("%s: last_backup_id %v, want %s", step, v["last_backup_id"], id)
		}
	}

	tf.Write(t, config("lz4"))
	tf.RunWith(t, ci, "plan", "-input=false", "-out=reviewed.tfplan")
	tf.RunWith(t, ci, "apply", "-input=false", "reviewed.tfplan")
	checkBackup("create", "lz4", 1)

	// The codec changes in Terraform only; the agent keeps running.
	tf.Write(t, config("none"))
	tf.RunWith(t, ci, "apply", "-auto-approve", "-input=false", "-replace=lifeboat_backup_policy.main")
	checkBackup("replace", "none", 2)
	if a.Exited() {
		t.Fatal("the agent exited")
	}
	if log, _ := os.ReadFile(a.Log); strings.Count(string(log), "agent starting") != 1 {
		t.Errorf("the agent started %d times, want once", strings.Count(string(log), "agent starting"))
	}
	if out := tf.RunWith(t, ci, "plan", "-input=false", "-detailed-exitcode"); !strings.Contains(out, "No changes") {
		t.Fatalf("plan after apply:\n%s", out)
	}
}
