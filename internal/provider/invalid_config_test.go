package provider

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/pg"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// invalidConfig is one configuration that is wrong in one attribute, and
// the phrases plan's error must show: the summary, then the attribute (as
// the detail names it) and what is wrong with it.
type invalidConfig struct {
	name   string
	config string
	want   []string
}

// expectPhrases matches the phrases in order, across Terraform's line
// wrapping (any run of spaces in a phrase matches any run of white space).
func expectPhrases(phrases ...string) *regexp.Regexp {
	var parts []string
	for _, p := range phrases {
		parts = append(parts, strings.Join(strings.Fields(regexp.QuoteMeta(p)), `\s+`))
	}
	return regexp.MustCompile(`(?s)` + strings.Join(parts, `.*`))
}

// runInvalidConfigs plans each configuration and expects its error. A
// provider panic would surface as "The plugin encountered an error" with
// no diagnostic of ours, so matching the summary also proves none
// happened.
func runInvalidConfigs(t *testing.T, cases []invalidConfig) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resource.Test(t, resource.TestCase{
				PreCheck:                 func() { testAccPreCheck(t) },
				ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
				Steps: []resource.TestStep{{
					Config:      c.config,
					PlanOnly:    true,
					ExpectError: expectPhrases(c.want...),
				}},
			})
		})
	}
}

func TestAccInvalidConfig_provider(t *testing.T) {
	testenv.Require(t)
	// A data source makes Terraform configure the provider.
	withProvider := func(settings string) string {
		return fmt.Sprintf(`
provider "lifeboat" {
  %s
}
data "lifeboat_recovery_points" "x" {
  cluster = "main"
  repository = { bucket = "some-bucket" }
}`, settings)
	}
	runInvalidConfigs(t, []invalidConfig{
		{"endpoint without scheme", withProvider(`endpoint = "127.0.0.1:9000"`),
			[]string{"Invalid Endpoint", `endpoint = "127.0.0.1:9000"`, "must be an http:// or https:// URL"}},
		{"endpoint with another scheme", withProvider(`endpoint = "s3://bucket"`), []string{"Invalid Endpoint", `endpoint = "s3://bucket"`}},
		{"half a key pair", withProvider(`access_key = "AKIAEXAMPLE"`),
			[]string{"Incomplete Object Store Credentials", "access_key is set but secret_key is not"}},
	})
	// The environment fallback is held to the same rule, naming the
	// variable.
	t.Setenv("LIFEBOAT_S3_ENDPOINT", "minio.internal:9000")
	runInvalidConfigs(t, []invalidConfig{
		{"endpoint from the environment without scheme", withProvider(""),
			[]string{"Invalid Endpoint", `LIFEBOAT_S3_ENDPOINT = "minio.internal:9000"`}},
	})
}

func TestAccInvalidConfig_immutableBucket(t *testing.T) {
	testenv.Require(t)
	bucket := func(name, tiers string) string {
		return fmt.Sprintf(`
resource "lifeboat_immutable_bucket" "x" {
  name = %q
  retention {
    mode = "GOVERNANCE"
    days = 1
  }
  %s
}`, name, tiers)
	}
	tier := func(name, prefix string) string {
		return fmt.Sprintf("lifecycle_tier {\n    name = %q\n    prefix = %q\n    expiration_days = 30\n  }\n  ", name, prefix)
	}
	runInvalidConfigs(t, []invalidConfig{
		{"bucket name", bucket("Bad_Bucket", ""), []string{"Invalid Bucket Name", `name = "Bad_Bucket"`}},
		{"tier prefix leading slash", bucket("lb-ok", tier("audit", "/audit/")), []string{"Invalid Key Prefix", `prefix = "/audit/" starts with '/'`}},
		{"tier prefix dot-dot", bucket("lb-ok", tier("audit", "a/../b/")), []string{"Invalid Key Prefix", `prefix = "a/../b/" has a ".." segment`}},
		{"tier prefix empty segment", bucket("lb-ok", tier("audit", "a//b/")), []string{"Invalid Key Prefix", `prefix = "a//b/" has an empty segment`}},
		{"duplicate tier prefix", bucket("lb-ok", tier("audit", "logs/")+tier("config", "logs/")),
			[]string{"Duplicate Lifecycle Tier Prefix", `both have prefix "logs/"`}},
	})
}

func TestAccInvalidConfig_walArchive(t *testing.T) {
	env := testenv.Require(t)
	archive := func(cluster, prefix string) string {
		return testAccWalArchiveConfig_plan(cluster, env.Postgres.DSN("postgres"), "some-bucket", prefix)
	}
	runInvalidConfigs(t, []invalidConfig{
		{"cluster climbs", archive("../main", "pg"), []string{"Invalid Name", `cluster = "../main"`, "becomes part of object keys"}},
		{"cluster with slash", archive("a/b", "pg"), []string{"Invalid Name", `cluster = "a/b"`}},
		{"prefix dot-dot", archive("main", "../other"), []string{"Invalid Key Prefix", `repository.prefix = "../other" has a ".." segment`}},
		{"prefix leading slash", archive("main", "/pg"), []string{"Invalid Key Prefix", `repository.prefix = "/pg" starts with '/'`}},
		{"prefix trailing slash", archive("main", "pg/"), []string{"Invalid Key Prefix", `repository.prefix = "pg/" has an empty segment`}},
		{"prefix dot", archive("main", "pg/./x"), []string{"Invalid Key Prefix", `repository.prefix = "pg/./x" has a "." segment`}},
		{"prefix characters", archive("main", "pg x"), []string{"Invalid Key Prefix", `repository.prefix = "pg x" has a character other than`}},
	})
}

// testAccWalArchiveConfig_plan is a lifeboat_wal_archive for plans only:
// its bucket need not exist.
func testAccWalArchiveConfig_plan(cluster, dsn, bucket, prefix string) string {
	return fmt.Sprintf(`
resource "lifeboat_wal_archive" "x" {
  cluster = %q
  rpo     = "5m"
  postgres {
    dsn = %q
  }
  repository {
    bucket = %q
    prefix = %q
  }
}`, cluster, dsn, bucket, prefix)
}

func TestAccInvalidConfig_backupPolicy(t *testing.T) {
	env := testenv.Require(t)
	policy := func(cluster, tiers string) string {
		return fmt.Sprintf(`
resource "lifeboat_backup_policy" "x" {
  cluster  = %q
  schedule = "0 2 * * *"
  postgres {
    dsn = %q
  }
  repository {
    bucket = "some-bucket"
    prefix = "pg"
  }
  retention {
    full_count = 7
  }
  %s
}`, cluster, env.Postgres.DSN("postgres"), tiers)
	}
	tier := func(name, prefix string) string {
		if prefix == "" {
			return fmt.Sprintf("tier {\n    name = %q\n    retention_days = 400\n  }\n  ", name)
		}
		return fmt.Sprintf("tier {\n    name = %q\n    prefix = %q\n    retention_days = 400\n  }\n  ", name, prefix)
	}
	runInvalidConfigs(t, []invalidConfig{
		{"cluster climbs", policy("..", ""), []string{"Invalid Name", `cluster = ".."`}},
		{"tier prefix dot-dot", policy("main", tier("audit", "../audit/")), []string{"Invalid Key Prefix", `prefix = "../audit/" has a ".." segment`}},
		{"tier prefix leading slash", policy("main", tier("audit", "/audit/")), []string{"Invalid Key Prefix", `prefix = "/audit/" starts with '/'`}},
		{"duplicate tier prefix, one by default", policy("main", tier("audit", "")+tier("config", "audit/")),
			[]string{"Duplicate Tier Prefix", `both apply to prefix "audit/"`}},
		{"duplicate tier prefix, transactional default", policy("main", tier("transactional", "")+tier("audit", "pg/main/")),
			[]string{"Duplicate Tier Prefix", `both apply to prefix "pg/main/"`}},
	})
}

func TestAccInvalidConfig_drillSchedule(t *testing.T) {
	testenv.Require(t)
	drillCfg := func(name, cluster, prefix, extra string) string {
		return fmt.Sprintf(`
resource "lifeboat_drill_schedule" "x" {
  name     = %q
  schedule = "@daily"
  kind     = "cluster"
  cluster  = %q
  repository {
    bucket = "some-bucket"
    prefix = %q
  }
  %s
}`, name, cluster, prefix, extra)
	}
	runInvalidConfigs(t, []invalidConfig{
		{"name climbs", drillCfg("../nightly", "main", "pg", ""), []string{"Invalid Name", `name = "../nightly"`}},
		{"cluster", drillCfg("nightly", "/main", "pg", ""), []string{"Invalid Name", `cluster = "/main"`}},
		{"repository prefix", drillCfg("nightly", "main", "pg/../x", ""), []string{"Invalid Key Prefix", `repository.prefix = "pg/../x" has a ".." segment`}},
		{"attachments prefix", drillCfg("nightly", "main", "pg", `attachments {
    bucket = "some-bucket"
    prefix = "/att/"
  }`), []string{"Invalid Key Prefix", `attachments.prefix = "/att/" starts with '/'`}},
		{"empty check sql", drillCfg("nightly", "main", "pg", `check {
    name     = "rows"
    sql      = "   "
    expected = "1"
  }`), []string{"Empty Check SQL", `check[0].sql (check "rows") is empty`}},
		{"recovery_region on a cluster drill", drillCfg("nightly", "main", "pg", `recovery_region = "acme-dr"`),
			[]string{"Recovery Region On Another Drill Kind", `this drill's kind is "cluster"`}},
		{"two drill targets", drillCfg("nightly", "main", "pg", `target {
    lsn       = "0/1"
    immediate = true
  }`), []string{"Invalid Drill Target", "(2 set)"}},
		{"exclusive offset", drillCfg("nightly", "main", "pg", `target {
    offset    = "1h"
    inclusive = false
  }`), []string{"Invalid Drill Target", "inclusive = false applies to lsn, xid and restore_point only"}},
		{"malformed drill lsn", drillCfg("nightly", "main", "pg", `target {
    lsn = "five"
  }`), []string{"Invalid Drill Target", "five"}},
	})
	regionCfg := func(extra string) string {
		return fmt.Sprintf(`
resource "lifeboat_drill_schedule" "x" {
  name     = "regional"
  schedule = "@weekly"
  kind     = "region"
  cluster  = "main"
  repository {
    bucket = "some-bucket"
    prefix = "pg"
  }
  %s
}`, extra)
	}
	runInvalidConfigs(t, []invalidConfig{
		{"region drill without its region", regionCfg(`postgres {
    dsn = "host=/tmp"
  }`), []string{"Missing Recovery Region", "needs recovery_region"}},
		{"region drill without a server", regionCfg(`recovery_region = "acme-dr"`),
			[]string{"Missing PostgreSQL Connection", "scratch database"}},
		{"region drill run on apply by Terraform", regionCfg(`recovery_region = "acme-dr"
  run_on_apply    = true
  postgres {
    dsn = "host=/tmp"
  }`), []string{"Region Drill Runs On An Agent", "set agent"}},
		{"target on a region drill", regionCfg(`recovery_region = "acme-dr"
  postgres {
    dsn = "host=/tmp"
  }
  target {
    offset = "1h"
  }`), []string{"Recovery Target On A Region Drill", "no recovery target"}},
	})
}

func TestAccInvalidConfig_recoveryPoints(t *testing.T) {
	testenv.Require(t)
	ds := func(cluster, bucket, prefix string) string {
		return fmt.Sprintf(`
data "lifeboat_recovery_points" "x" {
  cluster = %q
  repository = {
    bucket = %q
    prefix = %q
  }
}`, cluster, bucket, prefix)
	}
	runInvalidConfigs(t, []invalidConfig{
		{"cluster climbs", ds("../main", "some-bucket", "pg"), []string{"Invalid Name", `cluster = "../main"`}},
		{"prefix dot-dot", ds("main", "some-bucket", "pg/.."), []string{"Invalid Key Prefix", `repository.prefix = "pg/.." has a ".." segment`}},
		{"prefix leading slash", ds("main", "some-bucket", "/pg"), []string{"Invalid Key Prefix", `repository.prefix = "/pg" starts with '/'`}},
		{"bucket name", ds("main", "Some_Bucket", "pg"), []string{"Invalid Bucket Name", `repository.bucket = "Some_Bucket"`}},
	})
}

// A second lifeboat_wal_archive on a server that already archives for
// another cluster is refused at plan, naming that cluster: applying it
// would silently take archive_command over. The same server archiving for
// this very cluster (a lost state, re-created) is not refused.
func TestAccWalArchiveResource_refusesAnotherClustersServer(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	pool, err := pg.Pool(ctx, env.Postgres.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	before, err := pg.ReadArchive(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := pg.ResetArchiveCommand(context.Background(), pool, before.Settings.ArchiveCommand); err != nil {
			t.Errorf("restoring archive_command: %v", err)
		}
	})
	// The other cluster's agent configuration, where its archive_command
	// points.
	otherCfg := filepath.Join(t.TempDir(), "other.json")
	content, err := repo.AgentConfig{Bucket: "other-bucket", Prefix: "pg", Cluster: "other"}.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(otherCfg, content, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := pg.ResetArchiveCommand(ctx, pool, pg.ArchiveCommand("/usr/local/bin/lifeboat", otherCfg)); err != nil {
		t.Fatal(err)
	}
	archive := func(cluster, bucket string) string {
		return testAccWalArchiveConfig_plan(cluster, env.Postgres.DSN("postgres"), bucket, "pg")
	}
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:      archive("main", "main-bucket"),
				PlanOnly:    true,
				ExpectError: expectPhrases("Server Archives For Another Cluster", `cluster "other" (s3://other-bucket/pg/other`, "silently stop that archiving"),
			},
			{
				// The same cluster, archiving through that very file: its own.
				Config:             archive("other", "other-bucket"),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
			},
		},
	})
}

// A check that fails shows the database's own error (what a person can
// fix), and one without a row says so, never "no rows in result set".
func TestCheckQueryShowsTheDatabaseError(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	pool, err := pg.Pool(ctx, env.Postgres.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	for sql, want := range map[string]string{
		"SELECT count(*) FROM no_such_table":                   `relation "no_such_table" does not exist`,
		"SELECT 1/0":                                           "division by zero",
		"SELECT g FROM generate_series(1, 3) g":                "more than one row returned by a subquery",
		"SELECT 1 WHERE false;":                                "the query returned no rows", // the ';' keeps it from being wrapped
		"WITH x AS (SELECT 1 AS v) SELECT v FROM x WHERE nope": `column "nope" does not exist`,
	} {
		_, err := pg.QueryValue(ctx, pool, sql)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "no rows in result set") {
			t.Errorf("QueryValue(%q) = %v, want an error with %q", sql, err, want)
		}
	}
	for sql, want := range map[string]string{
		"SELECT count(*) FROM generate_series(1, 7)": "7",
		"WITH x AS (SELECT 42 AS v) SELECT v FROM x": "42",
		"SELECT NULL": "NULL",
		"SELECT count(*) FROM generate_series(1, 7) WHERE false": "0",
	} {
		if got, err := pg.QueryValue(ctx, pool, sql); err != nil || got != want {
			t.Errorf("QueryValue(%q) = %q, %v, want %q", sql, got, err, want)
		}
	}
}

func TestAccInvalidConfig_restore(t *testing.T) {
	testenv.Require(t)
	restoreCfgIn := func(cluster, prefix, pointInTime, dataDir string) string {
		return fmt.Sprintf(`
resource "lifeboat_restore" "x" {
  kind          = "cluster"
  point_in_time = %q
  cluster       = %q
  repository {
    bucket = "some-bucket"
    prefix = %q
  }
  target {
    data_directory = %q
    port           = 5499
  }
}`, pointInTime, cluster, prefix, dataDir)
	}
	restoreCfg := func(pointInTime, dataDir string) string { return restoreCfgIn("main", "pg", pointInTime, dataDir) }
	runInvalidConfigs(t, []invalidConfig{
		{"point in time", restoreCfg("yesterday", "/srv/restore"), []string{"Invalid Point In Time", `point_in_time = "yesterday"`}},
		{"point in time without zone", restoreCfg("2026-11-25T09:41:00", "/srv/restore"), []string{"Invalid Point In Time", `point_in_time = "2026-11-25T09:41:00"`}},
		{"relative data directory", restoreCfg("latest", "restore/here"), []string{"Relative Path", "target.data_directory must be an absolute path"}},
		{"cluster climbs", restoreCfgIn("..", "pg", "latest", "/srv/restore"), []string{"Invalid Name", `cluster = ".."`}},
		{"repository prefix", restoreCfgIn("main", "pg/../x", "latest", "/srv/restore"), []string{"Invalid Key Prefix", `repository.prefix = "pg/../x" has a ".." segment`}},
	})
}

func TestAccInvalidConfig_writerProbe(t *testing.T) {
	testenv.Require(t)
	probe := func(cluster, prefix string) string {
		return fmt.Sprintf(`
resource "lifeboat_immutable_bucket" "x" {
  name = "lb-ok"
  retention {
    mode = "GOVERNANCE"
    days = 1
  }
  writer_probe {
    access_key = "writer"
    secret_key = "writer-secret"
    cluster    = %q
    prefix     = %q
  }
}`, cluster, prefix)
	}
	runInvalidConfigs(t, []invalidConfig{
		{"cluster climbs", probe("..", "pg"), []string{"Invalid Name", `writer_probe.cluster = ".."`}},
		{"prefix dot-dot", probe("main", "pg/.."), []string{"Invalid Key Prefix", `writer_probe.prefix = "pg/.." has a ".." segment`}},
	})
}
