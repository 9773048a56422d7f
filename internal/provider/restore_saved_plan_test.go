package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestAccRestoreResource_savedPlanAfterNewBackup: a restore to latest is
// reviewed as a saved plan, a newer base backup finishes, and the reviewed
// plan still applies: the cluster restore and the tenant restore (which
// goes through PITR) each use exactly the backup the plan named, and both
// replay WAL written after the plan. terraform-plugin-testing cannot save
// a plan, so this drives the Terraform CLI with the provider built as a
// binary (dev_overrides).
func TestAccRestoreResource_savedPlanAfterNewBackup(t *testing.T) {
	f := newRestoreFixture(t)
	env := testenv.Require(t)
	ctx := context.Background()
	tf := terraformCLI(t)

	const db = "sp_acme"
	env.Postgres.NewDatabase(t, db, db+"_restored")
	tenant, err := pgx.Connect(ctx, env.Postgres.DSN(db))
	if err != nil {
		t.Fatal(err)
	}
	defer tenant.Close(ctx)
	if _, err := tenant.Exec(ctx, "CREATE TABLE marker (phase text)"); err != nil {
		t.Fatal(err)
	}
	switchAndWaitArchived(t, f.pool, 90*time.Second)

	port, _ := testenv.FreePort()
	dataDir := filepath.Join(f.scratch, "saved-plan")
	tf.Write(t, fmt.Sprintf(`
terraform {
  required_providers {
    lifeboat = { source = "lifeboat-dr/lifeboat" }
  }
}

resource "lifeboat_restore" "cluster" {
  kind       = "cluster"
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
  check {
    name     = "written_after_plan"
    sql      = "SELECT count(*) FROM marker WHERE phase = 'after plan'"
    expected = "1"
  }
}

resource "lifeboat_restore" "tenant" {
  kind       = "tenant"
  agent_path = %[1]q
  cluster    = "main"
  repository {
    bucket = %[2]q
    prefix = "pg"
  }
  target {
    source_database = %[5]q
    database        = "%[5]s_restored"
  }
  postgres {
    dsn = %[6]q
  }
  check {
    name     = "written_after_plan"
    sql      = "SELECT count(*) FROM marker WHERE phase = 'after plan'"
    expected = "1"
  }
}
`, f.agent, f.bucket, dataDir, port, db, env.Postgres.DSN("postgres")))
	// The cluster check runs in database postgres: the marker lives there too.
	if _, err := f.pool.Exec(ctx, "DROP TABLE IF EXISTS marker; CREATE TABLE marker (phase text)"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tf.Run(t, "destroy", "-auto-approve", "-input=false") })

	tf.Run(t, "plan", "-input=false", "-out=reviewed.tfplan")
	var planned struct {
		ResourceChanges []struct {
			Address string `json:"address"`
			Change  struct {
				After map[string]any `json:"after"`
			} `json:"change"`
		} `json:"resource_changes"`
	}
	if err := json.Unmarshal([]byte(tf.Run(t, "show", "-json", "reviewed.tfplan")), &planned); err != nil {
		t.Fatal(err)
	}
	plannedSource := map[string]string{}
	for _, rc := range planned.ResourceChanges {
		src, _ := rc.Change.After["recovery_source"].(string)
		plannedSource[rc.Address] = src
	}
	first := plannedSource["lifeboat_restore.cluster"]
	if !strings.HasPrefix(first, "backup:") || plannedSource["lifeboat_restore.tenant"] != first {
		t.Fatalf("planned recovery sources %v: want the one base backup, known at plan", plannedSource)
	}

	// The world moves: rows written after the plan, then a newer base
	// backup, then more WAL.
	if _, err := f.pool.Exec(ctx, "INSERT INTO marker VALUES ('after plan')"); err != nil {
		t.Fatal(err)
	}
	if _, err := tenant.Exec(ctx, "INSERT INTO marker VALUES ('after plan')"); err != nil {
		t.Fatal(err)
	}
	newer, err := backup.Take(ctx, testAccClient(t).Store(f.bucket), backup.Options{Layout: repo.Layout{Prefix: "pg", Cluster: "main"}, DSN: env.Postgres.DSN("postgres")})
	if err != nil {
		t.Fatal(err)
	}
	if "backup:"+newer.ID+"+wal" == first {
		t.Fatalf("the newer backup has the planned backup's id %s", newer.ID)
	}
	switchAndWaitArchived(t, f.pool, 90*time.Second)

	// The reviewed plan applies, from the backup it named.
	tf.Run(t, "apply", "-input=false", "reviewed.tfplan")
	state := tf.State(t)
	if n := len(state); n != 2 {
		t.Fatalf("%d resources in state, want 2", n)
	}
	for addr, values := range state {
		if got := values["recovery_source"]; got != first {
			t.Errorf("%s restored from %v, the plan named %s (the newer backup is %s)", addr, got, first, newer.ID)
		}
		if got, _ := values["check_results"].(map[string]any); got["written_after_plan"] != "pass" {
			t.Errorf("%s check_results %v: WAL written after the plan was not replayed", addr, got)
		}
	}

	// Applied, the next plan of the same configuration is empty.
	if out := tf.Run(t, "plan", "-input=false", "-detailed-exitcode"); !strings.Contains(out, "No changes") {
		t.Fatalf("plan after apply:\n%s", out)
	}
}

// terraformCLI is a working directory in which the real Terraform CLI
// runs the provider built from this tree as a binary.
func terraformCLI(t *testing.T) *testenv.TerraformCLI {
	t.Helper()
	return testenv.NewTerraformCLI(t, Address, "github.com/lifeboat-dr/terraform-provider-lifeboat")
}
