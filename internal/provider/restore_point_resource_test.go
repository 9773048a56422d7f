package provider

import (
	"fmt"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// lifeboat_restore_point makes a named point (with a fresh base backup and
// a tenant dump) whose WAL is archived by the time apply returns; a
// lifeboat_restore fed its name restores to it: rows written after the
// point are not in the copy.
func TestAccRestorePointResource(t *testing.T) {
	f := newRestoreFixture(t)
	env := testenv.Require(t)
	ctx := t.Context()
	if _, err := f.pool.Exec(ctx, "DROP TABLE IF EXISTS release_rows; CREATE TABLE release_rows (id int); INSERT INTO release_rows SELECT generate_series(1, 5)"); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(f.scratch, "at-point")
	port, _ := testenv.FreePort()
	point := fmt.Sprintf(`
resource "lifeboat_restore_point" "before" {
  name    = "before-release-acc"
  cluster = "main"
  repository {
    bucket = %[1]q
    prefix = "pg"
  }
  postgres {
    dsn = %[2]q
  }
  tenant_databases = ["postgres"]
  base_backup      = true
}
`, f.bucket, env.Postgres.DSN("postgres"))
	restoreCfg := fmt.Sprintf(`
resource "lifeboat_restore" "test" {
  kind          = "cluster"
  restore_point = lifeboat_restore_point.before.name
  agent_path    = %[1]q
  cluster       = "main"
  repository {
    bucket = %[2]q
    prefix = "pg"
  }
  target {
    data_directory = %[3]q
    port           = %[4]d
  }
  check {
    name     = "rows_at_point"
    sql      = "SELECT count(*) FROM release_rows"
    expected = "5"
  }
}
`, f.agent, f.bucket, dir, port)
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: point,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("lifeboat_restore_point.before", tfjsonpath.New("lsn"), knownvalue.StringRegexp(regexp.MustCompile(`^[0-9A-F]+/[0-9A-F]+$`))),
					statecheck.ExpectKnownValue("lifeboat_restore_point.before", tfjsonpath.New("backup_id"), knownvalue.StringRegexp(regexp.MustCompile(`^\d{8}T\d{6}Z`))),
					statecheck.ExpectKnownValue("lifeboat_restore_point.before", tfjsonpath.New("dump_ids"), knownvalue.MapSizeExact(1)),
					statecheck.ExpectKnownValue("lifeboat_restore_point.before", tfjsonpath.New("schema_records"), knownvalue.MapExact(map[string]knownvalue.Check{
						"postgres": knownvalue.StringExact("pg/main/restore-points/before-release-acc/postgres.json")})),
					statecheck.ExpectKnownValue("lifeboat_restore_point.before", tfjsonpath.New("wal_segment"), knownvalue.StringRegexp(regexp.MustCompile(`^[0-9A-F]{24}$`))),
				},
			},
			{
				// After the point, the release writes; the rollback restores to the point.
				PreConfig: func() {
					if _, err := f.pool.Exec(ctx, "INSERT INTO release_rows SELECT generate_series(6, 9)"); err != nil {
						t.Fatal(err)
					}
					switchAndWaitArchived(t, f.pool, 90*time.Second)
				},
				Config: point + restoreCfg,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(restoreAddr, tfjsonpath.New("check_results"), knownvalue.MapExact(map[string]knownvalue.Check{"rows_at_point": knownvalue.StringExact("pass")})),
					statecheck.ExpectKnownValue(restoreAddr, tfjsonpath.New("target_lsn"), knownvalue.NotNull()),
					// A cluster restore reviews no tenant.
					statecheck.ExpectKnownValue(restoreAddr, tfjsonpath.New("compatibility_review"), knownvalue.Null()),
				},
			},
		},
	})
}
