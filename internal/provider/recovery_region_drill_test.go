package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/jackc/pgx/v5"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/drill"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/region"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// The regional activation drill: a lifeboat_drill_schedule of kind region
// names a lifeboat_recovery_region with two activation groups; the copy
// carries the schedule, the region document, the backups and the WAL to a
// second MinIO server. With the primary MinIO stopped, `lifeboat drill run`
// by an agent configured on the region restores the groups in order from
// the destination only, runs the checks on each tenant, and writes signed
// evidence under the destination's lock with each group's achieved RTO
// against its target; `lifeboat drill report` reads it back. A second step,
// after new WAL, plans nothing.
func TestAccRecoveryRegion_drillWithPrimaryDown(t *testing.T) {
	f := newRestoreFixture(t)
	env := testenv.Require(t)
	ctx := context.Background()
	dr, drClient := secondRegion(t)
	dst := randomName("lb-rd-dr")
	if err := drClient.CreateBucket(ctx, objectstore.BucketSpec{Name: dst, Retention: &objectstore.Retention{Mode: objectstore.ModeGovernance, Days: 1}}); err != nil {
		t.Fatal(err)
	}
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	src, dest := testAccClient(t).Store(f.bucket), drClient.Store(dst)
	if err := repo.WritePolicy(ctx, src, l, repo.Policy{Cluster: "main", Schedule: "0 2 * * *", TenantDatabases: []string{"rd_acme", "rd_globex"}}, nil); err != nil {
		t.Fatal(err)
	}
	execSQL := func(db, sql string) { t.Helper(); env.Postgres.MustPsql(t, db, sql) }
	for _, db := range []string{"rd_acme", "rd_globex"} {
		execSQL("postgres", "DROP DATABASE IF EXISTS "+db)
		execSQL("postgres", "CREATE DATABASE "+db)
		execSQL(db, "CREATE TABLE marker (x int); INSERT INTO marker VALUES (1)")
	}
	switchAndWaitArchived(t, f.pool, 90*time.Second)
	copyPass := func() {
		t.Helper()
		st, err := region.Copy(ctx, region.Options{Name: dst, Layout: l, Source: src, Dest: dest})
		if err != nil || st.PendingObjects != 0 {
			t.Fatalf("copy pass: %+v, %v", st, err)
		}
	}

	config := fmt.Sprintf(`
resource "lifeboat_recovery_region" "eu2" {
  source {
    bucket = %[1]q
    prefix = "pg"
  }
  destination {
    bucket     = %[2]q
    endpoint   = %[3]q
    region     = "eu-central-2"
    access_key = %[4]q
    secret_key = %[5]q
    path_style = true
  }
  clusters = ["main"]
  activation {
    group {
      name    = "warehouse"
      tenants = ["rd_acme"]
      rto     = "30m"
    }
    group {
      name    = "finance"
      tenants = ["rd_globex"]
      rto     = "8h"
    }
  }
}

resource "lifeboat_drill_schedule" "regional" {
  name                    = "regional"
  schedule                = "@weekly"
  kind                    = "region"
  recovery_region         = lifeboat_recovery_region.eu2.id
  evidence_retention_days = 1
  agent_path              = %[6]q
  cluster                 = "main"
  repository {
    bucket = %[1]q
    prefix = "pg"
  }
  postgres {
    dsn = %[7]q
  }
  check {
    name     = "marker"
    sql      = "SELECT max(x) FROM marker"
    expected = "1"
  }
}
`, f.bucket, dst, dr.Endpoint, dr.AccessKey, dr.SecretKey, f.agent, env.Postgres.DSN("postgres"))

	// An agent started in the region: its repository is the destination,
	// and it signs what it records.
	agentKey, _ := signature.Generate()
	keyFile := filepath.Join(f.scratch, "dr-agent.key")
	if err := os.WriteFile(keyFile, []byte(agentKey.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	drCfg := filepath.Join(f.scratch, "dr-agent.json")
	drAgent := repo.AgentConfig{Endpoint: dr.Endpoint, Region: "eu-central-2", PathStyle: true, AccessKey: dr.AccessKey, SecretKey: dr.SecretKey,
		Bucket: dst, Prefix: "pg", Cluster: "main", SigningKeyFile: keyFile, Host: "dr-host"}
	content, err := drAgent.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.WriteConfigFile(drCfg, "postgres", content); err != nil {
		t.Fatal(err)
	}
	lifeboat := func(args ...string) (string, error) {
		out, err := exec.Command(f.agent, append(args, "--config", drCfg)...).CombinedOutput()
		return string(out), err
	}

	drillWithPrimaryDown := func() error {
		out, err := lifeboat("drill", "run", "regional", "--pg-dsn", env.Postgres.DSN("postgres"))
		t.Logf("lifeboat drill run (primary down):\n%s", out)
		if err != nil {
			return fmt.Errorf("region drill: %w", err)
		}
		out, err = lifeboat("drill", "report", "regional", "--format", "json")
		if err != nil {
			return fmt.Errorf("drill report: %w: %s", err, out)
		}
		var evs []drill.Evidence
		if err := json.Unmarshal([]byte(out), &evs); err != nil || len(evs) != 1 {
			return fmt.Errorf("drill report: %d records, %v:\n%s", len(evs), err, out)
		}
		ev := evs[0]
		if !ev.Passed || ev.Kind != drill.KindRegion || !strings.Contains(ev.Source, dst) || len(ev.Groups) != 2 {
			return fmt.Errorf("region drill evidence: %+v", ev)
		}
		w, fin := ev.Groups[0], ev.Groups[1]
		if w.Name != "warehouse" || fin.Name != "finance" || w.RTOTargetSeconds != 1800 || fin.RTOTargetSeconds != 8*3600 ||
			!w.RTOMet || !fin.RTOMet || w.RTOSeconds <= 0 || fin.RTOSeconds < w.RTOSeconds || fin.RTOSeconds > ev.RTOSeconds {
			return fmt.Errorf("groups not restored in order with their RTOs: %+v", ev.Groups)
		}
		var checked []string
		for _, c := range ev.Checks {
			if !c.Passed {
				return fmt.Errorf("check %s failed: %+v", c.Name, c)
			}
			checked = append(checked, c.Name)
		}
		want := "rd_acme: marker,rto of group warehouse,rd_globex: marker,rto of group finance"
		if strings.Join(checked, ",") != want {
			return fmt.Errorf("checks %v, want %s", checked, want)
		}
		// Evidence in the region's repository, under its lock.
		key := l.DrillEvidenceKey("regional", ev.ID)
		info, err := dest.Head(ctx, key)
		if err != nil {
			return fmt.Errorf("evidence %s at the destination: %w", key, err)
		}
		if _, _, locked := dest.Retention(ctx, key, info.VersionID); !locked {
			return fmt.Errorf("evidence %s is not under object lock", key)
		}
		stored, err := drill.Read(ctx, dest, l, "regional", key)
		if err != nil {
			return err
		}
		trust, _ := signature.NewTrust(agentKey.Public().String())
		if _, err := stored.SignedBy(trust); err != nil {
			return fmt.Errorf("region drill evidence not signed by the agent: %w", err)
		}
		// The scratch databases are gone.
		conn, err := pgx.Connect(ctx, env.Postgres.DSN("postgres"))
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname LIKE '%_drill_%'").Scan(&n); err != nil || n != 0 {
			return fmt.Errorf("%d scratch databases left (%v)", n, err)
		}
		return nil
	}

	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:      strings.Replace(config, `recovery_region         = lifeboat_recovery_region.eu2.id`, "", 1),
				ExpectError: regexpMust(`Missing Recovery Region`),
			},
			{
				Config: config,
				Check: resource.ComposeTestCheckFunc(
					resource.TestCheckResourceAttr("lifeboat_drill_schedule.regional", "kind", "region"),
					func(*terraform.State) error {
						doc, err := drill.ReadSchedule(ctx, src, l, "regional", signature.Trust{})
						if err != nil || doc.Region != dst {
							return fmt.Errorf("schedule document names region %q (%v), want %q", doc.Region, err, dst)
						}
						return nil
					},
				),
			},
			{
				// The world moved on (new WAL): nothing to plan; the copy
				// then carries the schedule, the region and the WAL over.
				PreConfig: func() {
					execSQL("rd_acme", "INSERT INTO marker VALUES (0)")
					switchAndWaitArchived(t, f.pool, 90*time.Second)
				},
				Config: config,
				Check: func(*terraform.State) error {
					copyPass()
					_, err := dest.Head(ctx, l.DrillScheduleKey("regional"))
					return err
				},
			},
		},
	})

	// The primary store is gone for good.
	primary := env.MinIO[0]
	primary.Stop()
	t.Cleanup(func() {
		if err := primary.Start(context.Background()); err != nil {
			t.Errorf("restarting the primary MinIO: %v", err)
		}
	})
	if _, err := src.Head(ctx, l.PolicyKey()); err == nil {
		t.Fatal("the primary still answers")
	}
	if err := drillWithPrimaryDown(); err != nil {
		t.Fatal(err)
	}
	// Posture reads the region drill's evidence like any drill's: the
	// last drill passed, within its targets.
	// NOTE: stdout only (failing controls of this test repository are
	// reported on stderr with a non-zero exit).
	stdout, _ := exec.Command(f.agent, "posture", "report", "--format", "json", "--config", drCfg).Output()
	out := string(stdout)
	var rep struct {
		Findings []struct {
			Control  string `json:"control"`
			Status   string `json:"status"`
			Evidence []struct {
				Key string `json:"key"`
			} `json:"evidence"`
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("posture of the region's repository: %v\n%s", err, out)
	}
	found := false
	for _, fd := range rep.Findings {
		if fd.Control == "drill.last_passed" {
			found = true
			if fd.Status != "pass" || len(fd.Evidence) == 0 || !strings.Contains(fd.Evidence[0].Key, "drills/regional/evidence/") {
				t.Fatalf("posture drill.last_passed: %+v", fd)
			}
		}
	}
	if !found {
		t.Fatalf("posture has no drill.last_passed finding:\n%s", out)
	}

	// lifeboat_restore with the agent executor and source_region: the
	// request goes into the region's repository, the agent started in the
	// region claims it and restores the tenant from there; destroy asks it
	// to drop the copy, through the region too.
	testenv.StartAgent(t, f.agent, drAgent, "dr-host", "dr", env.Postgres.DSN("postgres"))
	restoreConfig := fmt.Sprintf(`
resource "lifeboat_restore" "tenant" {
  kind          = "tenant"
  point_in_time = "latest"
  agent         = "dr-host"
  claim_timeout = "2m"
  cluster       = "main"
  repository {
    bucket = %[1]q
    prefix = "pg"
  }
  target {
    source_database = "rd_acme"
    database        = "rd_acme_dr"
  }
  check {
    name     = "markers"
    sql      = "SELECT count(*) FROM marker"
    expected = "2"
  }
  source_region {
    bucket     = %[2]q
    endpoint   = %[3]q
    region     = "eu-central-2"
    access_key = %[4]q
    secret_key = %[5]q
    path_style = true
  }
}
`, f.bucket, dst, dr.Endpoint, dr.AccessKey, dr.SecretKey)
	dbExists := func() (bool, error) {
		conn, err := pgx.Connect(ctx, env.Postgres.DSN("postgres"))
		if err != nil {
			return false, err
		}
		defer conn.Close(ctx)
		var n int
		err = conn.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = 'rd_acme_dr'").Scan(&n)
		return n == 1, err
	}
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy: func(*terraform.State) error {
			if ok, err := dbExists(); ok || err != nil {
				return fmt.Errorf("rd_acme_dr still exists after destroy (%v)", err)
			}
			return nil
		},
		Steps: []resource.TestStep{{
			Config: restoreConfig,
			Check: resource.ComposeTestCheckFunc(
				resource.TestCheckResourceAttr("lifeboat_restore.tenant", "check_results.markers", "pass"),
				resource.TestMatchResourceAttr("lifeboat_restore.tenant", "request", regexpMust(`^pg/main/requests/`)),
				func(*terraform.State) error {
					if ok, err := dbExists(); !ok || err != nil {
						return fmt.Errorf("rd_acme_dr not restored by the region's agent (%v)", err)
					}
					// The request and its result are in the region's
					// repository, the agent's.
					n := 0
					_ = dest.List(ctx, l.RequestsDir(), func(o objectstore.ObjectInfo) error {
						if k, ok := l.Parse(o.Key); ok && k.Kind == repo.KindRequestResult {
							n++
						}
						return nil
					})
					if n == 0 {
						return errors.New("no request result in the region's repository")
					}
					return nil
				},
			),
		}},
	})
}
