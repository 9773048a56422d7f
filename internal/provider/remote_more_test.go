package provider

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/jackc/pgx/v5"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/agentd"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
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
	ctx := context.Background()
	store := testenv.Require(t).MinIO[0].NewStore(t, "lb-drillct", objectstore.BucketSpec{})
	bucket := store.Bucket()
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

// TestAccBackupPolicy_backupNowOnAgent: the policy's first backup is a
// "backup now" request the agent on the database host executes, as the
// signed policy declares it (compression and tenant dumps), while
// Terraform runs as a pipeline would: no PostgreSQL programs, a postgres
// block that reaches no server, plan -out in one process and the saved
// plan applied in another. Then the compression is changed in Terraform
// and the policy replaced: the same running agent (never restarted) takes
// the new backup with the new codec. Then, after the world moved on (new
// WAL archived, new backups taken between plan and apply), compression,
// agent, executor and claim_timeout, and a drill schedule's claim_timeout,
// are updated in place through saved plans: each apply does what its
// plan showed.
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
	// pinned is the policy's agent, executor and claim_timeout, and
	// extra more resources, for the update steps below.
	pinned, extra := `agent            = "db-eu-1"
  claim_timeout    = "2m"`, ""
	config := func(codec string) string {
		return tfHeader + extra + fmt.Sprintf(`
resource "lifeboat_backup_policy" "main" {
  cluster          = "main"
  schedule         = "0 2 * * *"
  tenant_databases = [%[2]q]
  backup_on_create = true
  %[5]s
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
`, f.bucket, db, codec, unreachable, pinned)
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
		// The state names the backup the request took, as its result says.
		if last.BackupID == "" || !strings.Contains(last.Backup, "backup "+last.BackupID) {
			t.Fatalf("%s: the request's result names no backup id: %+v", step, last)
		}
		if v := tf.State(t)["lifeboat_backup_policy.main"]; v["last_backup_id"] != last.BackupID {
			t.Errorf("%s: last_backup_id %v, want %s, the request's backup", step, v["last_backup_id"], last.BackupID)
		}
		m, err := backup.ReadManifest(ctx, store, layout, last.BackupID)
		if err != nil || m.Compression != codec {
			t.Errorf("%s: the request's backup %s: %+v, %v; want compressed %s", step, last.BackupID, m, err, codec)
		}
		// And it is the newest: the agent took no scheduled backup beside
		// it (the policy's slot of today began before the policy existed,
		// and the request served it).
		if id, _ := newest(); id != last.BackupID {
			t.Errorf("%s: newest backup %s, want the request's %s", step, id, last.BackupID)
		}
		run, err := agentd.ReadRun(ctx, store, layout, agentd.BackupJob)
		if err != nil || run == nil || run.Request == "" || run.Output != last.Backup {
			t.Errorf("%s: backup job record %+v (%v): want the request's run of the slot", step, run, err)
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

	// Updates after the world moved on: each of compression, agent,
	// executor and claim_timeout (and the drill schedule's claim_timeout)
	// changes in a later step, planned with -out while new WAL is
	// archived and new backups are taken, and the saved plan is applied
	// after more of both: an in-place update that does what the plan
	// said, takes no backup, and leaves no diff behind.
	moveOn := func(rows int) {
		t.Helper()
		if _, err := f.pool.Exec(ctx, fmt.Sprintf("CREATE TABLE IF NOT EXISTS moved_on (id int); INSERT INTO moved_on SELECT generate_series(1, %d)", rows)); err != nil {
			t.Fatal(err)
		}
		switchAndWaitArchived(t, f.pool, 90*time.Second)
		if _, err := backup.Take(ctx, store, backup.Options{Layout: layout, DSN: env.Postgres.DSN("postgres")}); err != nil {
			t.Fatal(err)
		}
	}
	drill := func(claim string) string {
		return fmt.Sprintf(`
resource "lifeboat_drill_schedule" "nightly" {
  name          = "nightly"
  schedule      = "@daily"
  kind          = "cluster"
  agent         = "db-eu-1"
  claim_timeout = %[2]q
  cluster       = "main"
  repository {
    bucket = %[1]q
    prefix = "pg"
  }
}
`, f.bucket, claim)
	}
	savedUpdate := func(step, codec string) {
		t.Helper()
		moveOn(50)
		tf.Write(t, config(codec))
		tf.RunWith(t, ci, "plan", "-input=false", "-out="+step+".tfplan")
		planned := map[string]map[string]any{}
		for addr, c := range tf.Planned(t, step+".tfplan") {
			if a := strings.Join(c.Actions, ","); a != "update" && a != "create" && a != "no-op" {
				t.Fatalf("%s: %s plans %s, want an update in place", step, addr, a)
			}
			planned[addr] = c.After
		}
		moveOn(80) // between the review and the apply
		tf.RunWith(t, ci, "apply", "-input=false", step+".tfplan")
		got := tf.State(t)
		for addr, after := range planned {
			for _, attr := range []string{"compression", "agent", "executor", "claim_timeout", "last_backup_id"} {
				if want, ok := after[attr]; ok && fmt.Sprint(got[addr][attr]) != fmt.Sprint(want) {
					t.Errorf("%s: %s.%s = %v after the apply, planned %v", step, addr, attr, got[addr][attr], want)
				}
			}
		}
		p, err := repo.ReadPolicy(ctx, store, layout, signature.Trust{})
		if err != nil || p.Compression != codec {
			t.Errorf("%s: stored policy %+v (%v), want compression %s", step, p, err, codec)
		}
		if n := len(requestResults(t, store, remote.KindBackup)); n != 2 {
			t.Errorf("%s: %d backup requests, want still 2: an update takes no backup", step, n)
		}
		if out := tf.RunWith(t, ci, "plan", "-input=false", "-detailed-exitcode"); !strings.Contains(out, "No changes") {
			t.Fatalf("%s: plan after the saved plan's apply:\n%s", step, out)
		}
	}
	pinned, extra = `agent            = "db-eu-1"
  executor         = "agent"
  claim_timeout    = "3m"`, drill("1m")
	savedUpdate("codec-executor-claim", "zstd")
	pinned, extra = `agent            = "db-eu-2"
  executor         = "agent"
  claim_timeout    = "45s"`, drill("2m")
	savedUpdate("agent-drill-claim", "lz4")
	if v := tf.State(t)["lifeboat_drill_schedule.nightly"]; v["claim_timeout"] != "2m" {
		t.Errorf("drill schedule's claim_timeout %v, want 2m", v["claim_timeout"])
	}
	if v := tf.State(t)["lifeboat_backup_policy.main"]; v["agent"] != "db-eu-2" || v["executor"] != "agent" || v["claim_timeout"] != "45s" {
		t.Errorf("policy's agent %v, executor %v, claim_timeout %v; want db-eu-2, agent, 45s", v["agent"], v["executor"], v["claim_timeout"])
	}
}
