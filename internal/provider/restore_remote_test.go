package provider

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/drill"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/pg"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/remote"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// withoutPostgres is the environment of a CI runner: no PostgreSQL
// binaries on PATH, and LIFEBOAT_PG_BINDIR pointing at an empty directory,
// so the provider can reach no pg_ctl, postgres, pg_dump or pg_restore.
func withoutPostgres(t *testing.T, env []string) []string {
	t.Helper()
	empty := t.TempDir()
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, "LIFEBOAT_PG_BINDIR=") {
			out = append(out, kv)
		}
	}
	return append(out, "PATH="+empty, "LIFEBOAT_PG_BINDIR="+empty)
}

const tfHeader = `
terraform {
  required_providers {
    lifeboat = { source = "lifeboat-dr/lifeboat" }
  }
}
`

// TestAccRestoreResource_agentPipeline: Terraform runs as a pipeline would,
// on a machine without PostgreSQL (plan -out in one process, apply of the
// saved plan in another, destroy in a third), and the agents on the
// database host, separate processes with their own bootstrap files, do the
// host-side work: a cluster restore started on the host, a tenant restore
// through a scratch PITR cluster, a drill run on apply, then the removal
// of the restored copies. Two agents
// share the host name: each request runs once. Then a restore for a host
// with no agent fails after its claim timeout, naming the request and the
// live agents, leaving nothing behind.
func TestAccRestoreResource_agentPipeline(t *testing.T) {
	f := newRestoreFixture(t)
	env := testenv.Require(t)
	ctx := context.Background()
	store := testAccClient(t).Store(f.bucket)
	layout := repo.Layout{Prefix: "pg", Cluster: "main"}

	const db = "ap_acme"
	env.Postgres.NewDatabase(t, db, db+"_restored")
	tenant, err := pgx.Connect(ctx, env.Postgres.DSN(db))
	if err != nil {
		t.Fatal(err)
	}
	defer tenant.Close(ctx)
	if _, err := tenant.Exec(ctx, "CREATE TABLE orders (id int); INSERT INTO orders SELECT generate_series(1, 42)"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.pool.Exec(ctx, "DROP TABLE IF EXISTS shipments; CREATE TABLE shipments (id int); INSERT INTO shipments SELECT generate_series(1, 7)"); err != nil {
		t.Fatal(err)
	}
	switchAndWaitArchived(t, f.pool, 90*time.Second)

	a := startTestAgent(t, f.agent, f.bucket, "db-eu-1", "agent-a", env.Postgres.DSN("postgres"))
	b := startTestAgent(t, f.agent, f.bucket, "db-eu-1", "agent-b", env.Postgres.DSN("postgres"))
	waitLive(t, store, "db-eu-1")

	tf := terraformCLI(t)
	ci := withoutPostgres(t, nil)
	port, _ := testenv.FreePort()
	// NOTE: below the 0755 scratch directory: the restored server runs as
	// postgres, which cannot enter a 0700 test directory.
	dataDir := filepath.Join(f.scratch, "agent-restored")

	// The proof that this machine cannot restore: the same cluster restore
	// run by Terraform itself (executor = "local") fails for want of
	// PostgreSQL's programs.
	tf.Write(t, tfHeader+fmt.Sprintf(`
resource "lifeboat_restore" "local" {
  kind       = "cluster"
  executor   = "local"
  agent_path = %[1]q
  cluster    = "main"
  repository {
    bucket = %[2]q
    prefix = "pg"
  }
  target {
    data_directory = %[3]q
    port           = %[4]d
  }
}
`, f.agent, f.bucket, filepath.Join(t.TempDir(), "local"), port))
	out, err := tf.TryWith(ci, "apply", "-auto-approve", "-input=false")
	if err == nil || !strings.Contains(out, "Error Restoring Cluster") || !strings.Contains(out, "pg_ctl") {
		t.Fatalf("a local restore on the PostgreSQL-less runner: %v\n%s", err, out)
	}
	tf.RunWith(t, ci, "destroy", "-auto-approve", "-input=false")

	tf.Write(t, tfHeader+fmt.Sprintf(`
resource "lifeboat_restore" "cluster" {
  kind          = "cluster"
  agent         = "db-eu-1"
  claim_timeout = "2m"
  cluster       = "main"
  repository {
    bucket = %[1]q
    prefix = "pg"
  }
  target {
    data_directory = %[2]q
    port           = %[3]d
  }
  check {
    name     = "shipments"
    sql      = "SELECT count(*) FROM shipments"
    expected = "7"
  }
}

resource "lifeboat_restore" "tenant" {
  kind    = "tenant"
  agent   = "db-eu-1"
  cluster = "main"
  repository {
    bucket = %[1]q
    prefix = "pg"
  }
  target {
    source_database = %[4]q
    database        = "%[4]s_restored"
  }
  check {
    name     = "orders"
    sql      = "SELECT count(*) FROM orders"
    expected = "42"
  }
}

resource "lifeboat_drill_schedule" "nightly" {
  name                    = "nightly"
  schedule                = "@daily"
  kind                    = "cluster"
  run_on_apply            = true
  agent                   = "db-eu-1"
  evidence_retention_days = 1
  scratch_dir             = %[5]q
  cluster                 = "main"
  repository {
    bucket = %[1]q
    prefix = "pg"
  }
  check {
    name     = "shipments"
    sql      = "SELECT count(*) FROM shipments"
    expected = "7"
  }
}
`, f.bucket, dataDir, port, db, f.scratch))
	tf.RunWith(t, ci, "plan", "-input=false", "-out=reviewed.tfplan")
	logPath := filepath.Join(t.TempDir(), "apply.log")
	tf.RunWith(t, append(ci, "TF_LOG_PROVIDER=INFO", "TF_LOG_PATH="+logPath), "apply", "-input=false", "reviewed.tfplan")

	state := tf.State(t)
	requests := map[string]string{}
	for addr, values := range state {
		if addr == "lifeboat_drill_schedule.nightly" {
			// The drill of run_on_apply ran on the agent: its request's
			// result names the evidence in state.
			if values["last_drill_result"] != "passed" {
				t.Errorf("drill on apply: last_drill_result %v", values["last_drill_result"])
			}
			var drills []*remote.Result
			_ = store.List(ctx, layout.RequestsDir(), func(o objectstore.ObjectInfo) error {
				if k, ok := layout.Parse(o.Key); ok && k.Kind == repo.KindRequestResult && strings.HasPrefix(k.Request, string(remote.KindDrill)+"-") {
					res, err := remote.ReadResult(ctx, store, layout, k.Request)
					if err != nil {
						return err
					}
					drills = append(drills, res)
				}
				return nil
			})
			// The agents' own schedule may run the new schedule's slot too, so
			// last_evidence_key (the newest drill) need not be the request's:
			// the request's evidence is read by its key instead.
			if len(drills) != 1 || (drills[0].Holder != "agent-a" && drills[0].Holder != "agent-b") {
				t.Errorf("drill requests' results %+v: want one, by agent-a or agent-b", drills)
			} else if ev, err := drill.Read(ctx, store, layout, "nightly", drills[0].Evidence); err != nil || !ev.Passed {
				t.Errorf("drill request's evidence %s: %v (passed %v)", drills[0].Evidence, err, ev != nil && ev.Passed)
			}
			continue
		}
		checks, _ := values["check_results"].(map[string]any)
		for name, v := range checks {
			if v != "pass" {
				t.Errorf("%s check %s: %v", addr, name, v)
			}
		}
		if len(checks) != 1 {
			t.Errorf("%s check_results %v: want the one check", addr, checks)
		}
		key, _ := values["request"].(string)
		k, ok := layout.Parse(key)
		if !ok || k.Kind != repo.KindRequest {
			t.Fatalf("%s request = %q: want the request's key", addr, key)
		}
		requests[addr] = k.Request
	}
	if len(requests) != 2 || len(state) != 3 {
		t.Fatalf("requests in state: %v", requests)
	}
	// Each request ran once, on the first claim, by one of the two agents
	// that share the host name.
	for addr, id := range requests {
		res, err := remote.ReadResult(ctx, store, layout, id)
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != remote.StatusSucceeded || res.Attempt != 1 || res.Host != "db-eu-1" || (res.Holder != "agent-a" && res.Holder != "agent-b") {
			t.Errorf("%s: result %+v: want succeeded on the first claim by agent-a or agent-b", addr, res)
		}
		if res.Restore == nil || res.Restore.AuditKey == "" {
			t.Errorf("%s: the agent's restore left no finished audit record: %+v", addr, res.Restore)
		}
		claimed := 0
		for _, ag := range []*testenv.Agent{a, b} {
			log, _ := os.ReadFile(ag.Log)
			claimed += strings.Count(string(log), `msg="request claimed" request=`+id)
		}
		if claimed != 1 {
			t.Errorf("%s: request %s claimed %d times by the two agents, want once", addr, id, claimed)
		}
	}
	// The restored server runs on the database host, the tenant copy is on
	// the agent's server; progress reached Terraform's log.
	if got := restore.RunningPort(dataDir); got != port {
		t.Errorf("restored server on port %d, want %d running", got, port)
	}
	if ok, err := pg.DatabaseExists(ctx, env.Postgres.DSN("postgres"), db+"_restored"); err != nil || !ok {
		t.Errorf("restored tenant database: %v, %v", ok, err)
	}
	if log, _ := os.ReadFile(logPath); !strings.Contains(string(log), "agent progress") || !strings.Contains(string(log), "phase=") {
		t.Errorf("no agent progress in Terraform's log %s", logPath)
	}
	if out := tf.RunWith(t, ci, "plan", "-input=false", "-detailed-exitcode"); !strings.Contains(out, "No changes") {
		t.Fatalf("plan after apply:\n%s", out)
	}

	// Destroy is a request too: the agent stops the server and removes the
	// directory, and drops the tenant copy.
	tf.RunWith(t, ci, "destroy", "-auto-approve", "-input=false")
	if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data directory after destroy: %v", err)
	}
	if ok, _ := pg.DatabaseExists(ctx, env.Postgres.DSN("postgres"), db+"_restored"); ok {
		t.Error("tenant copy still there after destroy")
	}

	// No agent on the named host: a clear error after the claim timeout,
	// the request withdrawn, nothing made.
	nowhere := filepath.Join(t.TempDir(), "nowhere")
	tf.Write(t, tfHeader+fmt.Sprintf(`
resource "lifeboat_restore" "cluster" {
  kind          = "cluster"
  agent         = "db-nowhere"
  claim_timeout = "3s"
  cluster       = "main"
  repository {
    bucket = %[1]q
    prefix = "pg"
  }
  target {
    data_directory = %[2]q
    port           = %[3]d
  }
}
`, f.bucket, nowhere, port))
	start := time.Now()
	out, err = tf.TryWith(ci, "apply", "-auto-approve", "-input=false")
	flat := strings.Join(strings.Fields(out), " ")
	if err == nil || !strings.Contains(flat, "Restore Not Claimed By An Agent") || !strings.Contains(flat, "no agent claimed request "+layout.RequestsDir()) ||
		!strings.Contains(flat, "db-eu-1 (agent-") || !strings.Contains(flat, "withdrawn") {
		t.Fatalf("apply with no agent on the host: %v\n%s", err, out)
	}
	if time.Since(start) > 2*time.Minute {
		t.Errorf("the unclaimed apply took %s", time.Since(start))
	}
	if _, err := os.Stat(nowhere); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s exists after an unclaimed restore: %v", nowhere, err)
	}
}
