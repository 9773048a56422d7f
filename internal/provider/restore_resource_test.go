package provider

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/pg"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

const restoreAddr = "lifeboat_restore.test"

// restoreFixture is a live cluster archiving into a repository with one
// base backup, set up with the engine so the test knows its times before
// Terraform runs.
type restoreFixture struct {
	bucket, agent, scratch string
	pool                   pgPool
}

func newRestoreFixture(t *testing.T) *restoreFixture {
	env := testenv.Require(t)
	pgSrv := env.Postgres
	ctx := context.Background()
	agent, dir := buildAgent(t)
	f := &restoreFixture{bucket: randomName("lb-restore"), agent: agent, scratch: dir}
	client := testAccClient(t)
	if err := client.CreateBucket(ctx, objectstore.BucketSpec{Name: f.bucket}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.DestroyBucket(context.Background(), f.bucket, true) })
	resetArchiving(t, pgSrv)
	t.Cleanup(func() { resetArchiving(t, pgSrv) })

	cfgPath := filepath.Join(dir, "agent.json")
	agentCfg := (&providerData{}).agentConfig(f.bucket, "pg", "main", "")
	content, err := agentCfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.WriteConfigFile(cfgPath, "postgres", content); err != nil {
		t.Fatal(err)
	}
	pool, err := pg.Pool(ctx, pgSrv.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	f.pool = pool
	if _, err := pg.ApplyArchive(ctx, pool, pg.ArchiveSettings{ArchiveMode: "on", ArchiveTimeout: 5 * time.Second,
		ArchiveCommand: fmt.Sprintf("%s wal-push --config %s %%p", agent, cfgPath)}); err != nil {
		t.Fatal(err)
	}
	if err := pgSrv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := pg.Ping(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Take(ctx, client.Store(f.bucket), backup.Options{Layout: repo.Layout{Prefix: "pg", Cluster: "main"}, DSN: pgSrv.DSN("postgres")}); err != nil {
		t.Fatal(err)
	}
	return f
}

// exec runs sql in the live cluster's database postgres.
func (f *restoreFixture) exec(t *testing.T, sql string) {
	t.Helper()
	if _, err := f.pool.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// An accidental deletion, undone by a restore to just before it; moving
// point_in_time plans a replacement; the live cluster is never touched.
func TestAccRestoreResource_clusterAccidentalDeletion(t *testing.T) {
	f := newRestoreFixture(t)
	pgSrv := testenv.Require(t).Postgres
	ctx := context.Background()
	exec := func(sql string) { t.Helper(); f.exec(t, sql) }
	exec("DROP TABLE IF EXISTS shipments")
	exec("CREATE TABLE shipments (id int PRIMARY KEY, customer text)")
	exec("INSERT INTO shipments SELECT g, 'acme' FROM generate_series(1, 25) g")
	time.Sleep(1100 * time.Millisecond)
	beforeDelete := time.Now().UTC().Truncate(time.Second)
	time.Sleep(1100 * time.Millisecond)
	exec("DELETE FROM shipments") // the accident
	switchAndWaitArchived(t, f.pool, 90*time.Second)

	dir1 := filepath.Join(f.scratch, "restored-before")
	port1, _ := testenv.FreePort()
	port2, _ := testenv.FreePort()
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy: func(*terraform.State) error {
			if _, err := os.Stat(dir1); !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("restored copy %s still exists after destroy", dir1)
			}
			if restore.CheckPort(port1) != nil {
				return fmt.Errorf("a server still listens on %d after destroy", port1)
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				Config: testAccRestoreConfig_cluster(f, beforeDelete.Format(time.RFC3339), dir1, port1, "25"),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(restoreAddr, plancheck.ResourceActionCreate),
						// The plan names the recovery point before anyone approves it.
						plancheck.ExpectKnownValue(restoreAddr, tfjsonpath.New("recovery_source"), knownvalue.StringRegexp(regexp.MustCompile(`^backup:\d{8}T\d{6}Z.*\+wal$`))),
						plancheck.ExpectKnownValue(restoreAddr, tfjsonpath.New("wal_range"), knownvalue.StringRegexp(regexp.MustCompile(`^[0-9A-F]{24}\.\.[0-9A-F]{24}$`))),
						plancheck.ExpectKnownValue(restoreAddr, tfjsonpath.New("timeline"), knownvalue.Int64Exact(1)),
					},
				},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(restoreAddr, tfjsonpath.New("check_results"), knownvalue.MapExact(map[string]knownvalue.Check{"shipments_back": knownvalue.StringExact("pass")})),
				},
				Check: func(*terraform.State) error {
					// The live cluster still has the deletion.
					var n int
					if err := f.pool.QueryRow(ctx, "SELECT count(*) FROM shipments").Scan(&n); err != nil || n != 0 {
						return fmt.Errorf("live cluster has %d shipments (%v); the restore must not touch it", n, err)
					}
					return nil
				},
			},
			{
				// Moving the point in time replaces the copy; to latest the rows are gone again.
				Config: testAccRestoreConfig_cluster(f, "latest", dir1, port2, "0"),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(restoreAddr, plancheck.ResourceActionDestroyBeforeCreate),
						plancheck.ExpectKnownValue(restoreAddr, tfjsonpath.New("wal_range"), knownvalue.StringRegexp(regexp.MustCompile(`^[0-9A-F]{24}\.\.latest$`))),
					},
				},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(restoreAddr, tfjsonpath.New("check_results"), knownvalue.MapExact(map[string]knownvalue.Check{"shipments_back": knownvalue.StringExact("pass")})),
					statecheck.ExpectKnownValue(restoreAddr, tfjsonpath.New("data_loss_window"), knownvalue.NotNull()),
				},
			},
			{
				// A second plan of the same restore is empty: "latest" is not re-resolved.
				Config:   testAccRestoreConfig_cluster(f, "latest", dir1, port2, "0"),
				PlanOnly: true,
			},
			{
				Config:      testAccRestoreConfig_cluster(f, "2001-01-01T00:00:00Z", filepath.Join(f.scratch, "too-early"), port1, "0"),
				ExpectError: regexp.MustCompile(`(?s)Point In Time Outside Restorable Window.*outside\s+the\s+restorable\s+window\s+20`),
			},
			{
				// A failing check fails the apply, naming the check and what it saw.
				Config:      testAccRestoreConfig_cluster(f, beforeDelete.Format(time.RFC3339), filepath.Join(f.scratch, "restored-check"), port1, "999"),
				ExpectError: regexp.MustCompile(`(?s)Restore Check Failed.*"shipments_back":\s+expected\s+"999",\s+observed\s+"25"`),
			},
		},
	})
	_ = pgSrv
}

func TestAccRestoreResource_planTimeRefusals(t *testing.T) {
	env := testenv.Require(t)
	f := &restoreFixture{bucket: "lb-unused", agent: "/usr/local/bin/lifeboat", scratch: t.TempDir()}
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			// The live cluster's own data directory and port are refused.
			{Config: testAccRestoreConfig_cluster(f, "latest", env.Postgres.DataDir, 5999, "0"), ExpectError: regexp.MustCompile(`(?s)Restore Target Not Empty.*data_directory`)},
			{Config: testAccRestoreConfig_cluster(f, "latest", filepath.Join(f.scratch, "x"), env.Postgres.Port, "0"), ExpectError: regexp.MustCompile(`(?s)Restore Port In Use.*port`)},
			{Config: testAccRestoreConfig_cluster(f, "yesterday", filepath.Join(f.scratch, "x"), 5999, "0"), ExpectError: regexp.MustCompile(`(?s)Invalid Point In Time`)},
			// recovery_target_timeline is latest, current or a number.
			{Config: strings.Replace(testAccRestoreConfig_cluster(f, "latest", filepath.Join(f.scratch, "x"), 5999, "0"),
				`kind          = "cluster"`, `kind          = "cluster"
  recovery_target_timeline = "sideways"`, 1), ExpectError: regexp.MustCompile(`(?s)recovery_target_timeline.*latest, current or a timeline\s+number`)},
			{Config: fmt.Sprintf(`
resource "lifeboat_restore" "test" {
  kind = "tenant"
  cluster = "main"
  repository {
    bucket = "b-unused"
  }
  target {
    source_database = "acme"
    database        = "acme"
  }
  postgres {
    dsn = %q
  }
}`, env.Postgres.DSN("postgres")), ExpectError: regexp.MustCompile(`(?s)Restore Target Is The Live Source.*acme_restored`)},
		},
	})
}

func testAccRestoreConfig_cluster(f *restoreFixture, pit, dir string, port int, expected string) string {
	return fmt.Sprintf(`
resource "lifeboat_restore" "test" {
  kind          = "cluster"
  point_in_time = %[1]q
  agent_path    = %[5]q

  cluster = "main"
  repository {
    bucket = %[2]q
    prefix = "pg"
  }

  target {
    data_directory = %[3]q
    port           = %[4]d
  }

  check {
    name     = "shipments_back"
    sql      = "SELECT count(*) FROM shipments"
    expected = %[6]q
  }
}
`, pit, f.bucket, dir, port, f.agent, expected)
}

func regexpMust(s string) *regexp.Regexp { return regexp.MustCompile(s) }
