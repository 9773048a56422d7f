package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/agentd"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/catalog"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/drill"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/posture"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

const policyAddr = "lifeboat_backup_policy.test"

func TestAccBackupPolicyResource_basic(t *testing.T) {
	env := testenv.Require(t)
	bucket := randomName("lb-policy")
	for _, db := range []string{"tenant_a", "tenant_b"} {
		for _, sql := range []string{"DROP DATABASE IF EXISTS " + db, "CREATE DATABASE " + db} {
			if out, err := env.Postgres.Psql("postgres", sql); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
		}
		if out, err := env.Postgres.Psql(db, "CREATE TABLE ir_attachment(id serial primary key, store_fname text); INSERT INTO ir_attachment(store_fname) SELECT 'ab/'||g FROM generate_series(1,50) g"); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	client := testAccClient(t)
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy: resource.ComposeTestCheckFunc(
			testAccCheckBackupPolicyDestroyed(t, bucket, repo.Layout{Prefix: "pg", Cluster: "main"}),
			testAccCheckBucketDestroyed(t, bucket),
		),
		Steps: []resource.TestStep{
			{
				Config: testAccBackupPolicyConfig_basic(bucket, env.Postgres.DSN("postgres"), 40),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(policyAddr, tfjsonpath.New("last_backup_id"), knownvalue.StringRegexp(regexp.MustCompile(`^\d{8}T\d{6}Z`))),
					statecheck.ExpectKnownValue(policyAddr, tfjsonpath.New("tier"), knownvalue.SetPartial([]knownvalue.Check{
						knownvalue.ObjectExact(map[string]knownvalue.Check{
							"name": knownvalue.StringExact("transactional"), "prefix": knownvalue.StringExact("pg/main/"), "retention_days": knownvalue.Int64Exact(40),
						}),
					})),
					statecheck.ExpectKnownValue("data.lifeboat_recovery_points.test", tfjsonpath.New("backups"), knownvalue.ListSizeExact(3)),
					statecheck.ExpectKnownValue("data.lifeboat_recovery_points.test", tfjsonpath.New("backups").AtSliceIndex(0).AtMapKey("kind"), knownvalue.StringExact("physical")),
					statecheck.ExpectKnownValue("data.lifeboat_recovery_points.test", tfjsonpath.New("backups").AtSliceIndex(0).AtMapKey("timeline"), knownvalue.Int64Exact(1)),
					statecheck.ExpectKnownValue("data.lifeboat_recovery_points.test", tfjsonpath.New("window").AtMapKey("timeline"), knownvalue.Int64Exact(1)),
					statecheck.ExpectKnownValue("data.lifeboat_recovery_points.test", tfjsonpath.New("window").AtMapKey("forks"), knownvalue.ListSizeExact(0)),
				},
				Check: func(*terraform.State) error {
					p, err := repo.ReadPolicy(context.Background(), client.Store(bucket), repo.Layout{Prefix: "pg", Cluster: "main"}, signature.Trust{})
					if err != nil {
						return err
					}
					if p.Schedule != "0 2 * * *" || p.Retention.FullCount != 7 || len(p.TenantDatabases) != 2 || p.Postgres.Port != env.Postgres.Port {
						return fmt.Errorf("stored policy = %+v", p)
					}
					// transactional: one rule per data folder; attachments: one;
					// the agent's leases, job records, heartbeats and request
					// progress: one each; what prune hid: one per data folder.
					tiers, err := client.PolicyTiers(context.Background(), bucket, "pg/main")
					if err != nil {
						return fmt.Errorf("reading the policy lifecycle rules: %w", err)
					}
					if len(tiers) != 13 {
						return fmt.Errorf("policy lifecycle rules = %+v", tiers)
					}
					return nil
				},
			},
			{
				// Lifecycle rules changed outside Terraform: planned update.
				PreConfig: func() {
					if err := client.SetPolicyTiers(context.Background(), bucket, "pg/main", []objectstore.LifecycleTier{{Name: "transactional", Prefix: "pg/main/", ExpirationDays: 3, NoncurrentVersionExpirationDays: 3}}); err != nil {
						t.Fatal(err)
					}
				},
				Config: testAccBackupPolicyConfig_basic(bucket, env.Postgres.DSN("postgres"), 40),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(policyAddr, plancheck.ResourceActionUpdate)},
				},
				Check: func(*terraform.State) error {
					tiers, err := client.PolicyTiers(context.Background(), bucket, "pg/main")
					if err != nil {
						return fmt.Errorf("reading the policy lifecycle rules: %w", err)
					}
					if len(tiers) != 13 || tiers[9].Name != "transactional.basebackups" || tiers[9].ExpirationDays != 40 || tiers[5].Name != "pruned.basebackups" {
						return fmt.Errorf("tiers not converged back: %+v", tiers)
					}
					return nil
				},
			},
			{
				ResourceName:            policyAddr,
				ImportState:             true,
				ImportStateId:           bucket + "/pg/main",
				ImportStateVerify:       true,
				ImportStateVerifyIgnore: []string{"postgres", "backup_on_create", "rpo", "rto"},
			},
			{
				// A new retention is an in-place update; no new backup is taken.
				Config: testAccBackupPolicyConfig_basic(bucket, env.Postgres.DSN("postgres"), 60),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(policyAddr, plancheck.ResourceActionUpdate)},
				},
			},
		},
	})
}

func TestAccBackupPolicyResource_planTimeChecks(t *testing.T) {
	env := testenv.Require(t)
	dsn := env.Postgres.DSN("postgres")
	locked := testAccStore(t, "lb-lock30", objectstore.BucketSpec{Retention: &objectstore.Retention{Mode: "GOVERNANCE", Days: 30}}).Bucket()
	cfg := func(schedule, retention, tiers, extra string) string {
		return fmt.Sprintf(`
resource "lifeboat_backup_policy" "test" {
  cluster  = "main"
  schedule = %[2]q
  postgres {
    dsn = %[3]q
  }
  repository {
    bucket = %[1]q
  }
  retention {
    %[4]s
  }
  %[5]s
  %[6]s
}
`, locked, schedule, dsn, retention, tiers, extra)
	}
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{Config: cfg("every night", "full_count = 7", "", ""), ExpectError: regexp.MustCompile(`(?s)Invalid Schedule.*schedule`)},
			{Config: cfg("0 2 * * *", "", "", ""), ExpectError: regexp.MustCompile(`Empty Retention`)},
			{
				Config: cfg("0 2 * * *", "full_count = 7\n days = 14", `tier {
    name           = "transactional"
    retention_days = 10
  }`, ""),
				ExpectError: regexp.MustCompile(`(?s)Tier Expires Backups Retention Still Needs.*retention_days = 10.*full_count = 7,\s+days = 14.*at least\s+15`),
			},
			{Config: cfg("0 2 * * *", "days = 40", "", `rpo = "1h"
  wal_archiving = false`), ExpectError: regexp.MustCompile(`(?s)Schedule Cannot Meet RPO.*24h0m0s\s+between\s+backups`)},
			{Config: cfg("0 2 * * 0", "days = 40", "", `rto = "1h"`), ExpectError: regexp.MustCompile(`(?s)Schedule Cannot Meet RTO.*168h0m0s`)},
			{Config: cfg("0 2 * * *", "full_count = 3", "", ""), ExpectError: regexp.MustCompile(`(?s)Retention Shorter Than Bucket Lock.*locks\s+every\s+object\s+for\s+30\s+days`)},
		},
	})
}

// testAccCheckBackupPolicyDestroyed asks the resource's own finder, as Read
// does.
func testAccCheckBackupPolicyDestroyed(t *testing.T, bucket string, layout repo.Layout) resource.TestCheckFunc {
	return func(*terraform.State) error {
		_, _, err := findBackupPolicy(context.Background(), testAccClient(t).Store(bucket), layout, signature.Trust{})
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		return fmt.Errorf("backup policy %s still exists in %s", layout.PolicyKey(), bucket)
	}
}

// TestBackupPolicyOverdueWarning: the policy warns with the engine's
// finding when the newest base backup misses a slot of the schedule.
func TestBackupPolicyOverdueWarning(t *testing.T) {
	ctx := context.Background()
	r := &backupPolicyResource{}
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	store := objectstore.NewMemory("b")
	p := &repo.Policy{Cluster: "main", Schedule: "@hourly"}
	cat := &catalog.Catalog{Layout: l, Physical: []*backup.Manifest{{ID: "old", StopTime: time.Now().Add(-5 * time.Hour)}}}
	var diags diag.Diagnostics
	r.warnPosture(ctx, store, l, p, cat, &diags)
	if !hasWarning(diags, "Backup Overdue") || !strings.Contains(diags[0].Detail(), l.BackupManifestKey("old")) {
		t.Fatalf("a backup 5h old on an hourly schedule must warn naming its manifest, got %v", diags)
	}
	cat.Physical[0].StopTime = time.Now().Add(-20 * time.Minute)
	diags = nil
	r.warnPosture(ctx, store, l, p, cat, &diags)
	if len(diags) != 0 {
		t.Fatalf("a backup 20m old on an hourly schedule must not warn, got %v", diags)
	}
	cat.Physical = nil
	diags = nil
	r.warnPosture(ctx, store, l, p, cat, &diags)
	if !hasWarning(diags, "Backup Overdue") {
		t.Fatalf("no backup at all must warn, got %v", diags)
	}
}

func testAccBackupPolicyConfig_basic(bucket, dsn string, txDays int) string {
	return fmt.Sprintf(`
resource "lifeboat_immutable_bucket" "repo" {
  name          = %[1]q
  force_destroy = true
  retention {
    mode = "GOVERNANCE"
    days = 1
  }
}

resource "lifeboat_backup_policy" "test" {
  cluster          = "main"
  schedule         = "0 2 * * *"
  tenant_databases = ["tenant_a", "tenant_b"]
  backup_on_create = true

  postgres {
    dsn = %[2]q
  }
  repository {
    bucket = lifeboat_immutable_bucket.repo.name
    prefix = "pg"
  }
  retention {
    full_count = 7
    days       = 30
  }
  tier {
    name           = "transactional"
    retention_days = %[3]d
  }
  tier {
    name           = "attachments"
    retention_days = 90
  }
}

data "lifeboat_recovery_points" "test" {
  cluster = lifeboat_backup_policy.test.cluster
  repository = {
    bucket = lifeboat_immutable_bucket.repo.name
    prefix = "pg"
  }
}
`, bucket, dsn, txDays)
}

// With WAL archiving (the default, not written in the configuration), the
// schedule is not held to the RPO: WAL is.
func TestAccBackupPolicyResource_rpoWithArchivingByDefault(t *testing.T) {
	env := testenv.Require(t)
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: fmt.Sprintf(`
resource "lifeboat_backup_policy" "test" {
  cluster  = "main"
  schedule = "0 2 * * *"
  rpo      = "1m"
  postgres {
    dsn = %q
  }
  repository {
    bucket = "lb-plan-only"
  }
  retention {
    full_count = 3
  }
}`, env.Postgres.DSN("postgres")),
			PlanOnly:           true,
			ExpectNonEmptyPlan: true,
		}},
	})
}

// TestAccBackupPolicyTenantDumpWarning: refresh warns, naming them, about
// the tenants whose dump failed in the agent's last scheduled backup (its
// job record in the repository), and says nothing once a run succeeded.
func TestAccBackupPolicyTenantDumpWarning(t *testing.T) {
	testAccPreCheck(t)
	ctx := context.Background()
	store := testAccStore(t, "lb-tenantwarn", objectstore.BucketSpec{})
	bucket := store.Bucket()
	m := &backupPolicyModel{Cluster: types.StringValue("main"),
		Repository: &repositoryRef{Bucket: types.StringValue(bucket), Prefix: types.StringValue("pg")}}
	r := &backupPolicyResource{}
	p := &repo.Policy{Cluster: "main", Schedule: "@hourly", TenantDatabases: []string{"acme", "acme_gone"}}
	var diags diag.Diagnostics
	r.warnPosture(ctx, store, m.layout(), p, nil, &diags)
	if len(diags) != 0 {
		t.Fatalf("no job record yet: want no diagnostics, got %v", diags)
	}
	now := time.Now().UTC()
	if err := agentd.WriteRun(ctx, store, m.layout(), agentd.Run{Job: agentd.BackupJob, Slot: now, Result: agentd.ResultFailure,
		Attempts: 1, Holder: "db1", Started: now, Finished: now, Error: "tenant dumps: ...",
		TenantFailures: map[string]string{"acme_gone": `database "acme_gone" does not exist`}}); err != nil {
		t.Fatal(err)
	}
	r.warnPosture(ctx, store, m.layout(), p, nil, &diags)
	if !hasWarning(diags, "Tenant Dumps Failing") || diags.HasError() || !strings.Contains(diags[0].Detail(), "acme_gone") {
		t.Fatalf("want a 'Tenant Dumps Failing' warning naming acme_gone, got %v", diags)
	}
	if err := agentd.WriteRun(ctx, store, m.layout(), agentd.Run{Job: agentd.BackupJob, Slot: now, Result: agentd.ResultSuccess,
		Attempts: 2, Holder: "db1", Started: now, Finished: now}); err != nil {
		t.Fatal(err)
	}
	diags = nil
	r.warnPosture(ctx, store, m.layout(), p, nil, &diags)
	if len(diags) != 0 {
		t.Fatalf("after a successful run: want no diagnostics, got %v", diags)
	}
}

// TestAccNewSchedulesAreNotOverdue: a backup policy and a drill schedule
// written just now have never run, yet owe nothing before their first slot
// after creation: refresh does not warn. Their creation time survives
// updates; once a slot after it passes with no run, refresh warns.
func TestAccNewSchedulesAreNotOverdue(t *testing.T) {
	testAccPreCheck(t)
	ctx := context.Background()
	store := testAccStore(t, "lb-overdue", objectstore.BucketSpec{})
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	// Hourly and daily: both have fired (several times) before now.
	for _, sched := range []string{"@hourly", "0 2 * * *"} {
		if err := repo.WritePolicy(ctx, store, l, repo.Policy{Cluster: "main", Schedule: sched}, nil); err != nil {
			t.Fatal(err)
		}
		p, err := repo.ReadPolicy(ctx, store, l, signature.Trust{})
		if err != nil {
			t.Fatal(err)
		}
		if time.Since(p.Created) > time.Minute || time.Since(p.Created) < 0 {
			t.Fatalf("policy created %s, want now", p.Created)
		}
		cat := &catalog.Catalog{Layout: l}
		var diags diag.Diagnostics
		(&backupPolicyResource{}).warnPosture(ctx, store, l, p, cat, &diags)
		if len(diags) != 0 {
			t.Fatalf("policy %q created just now, never run: want no warning, got %v", sched, diags)
		}
		// Created long ago (before its last slot), never run: overdue.
		p.Created = p.Created.Add(-72 * time.Hour)
		(&backupPolicyResource{}).warnPosture(ctx, store, l, p, cat, &diags)
		if !hasWarning(diags, "Backup Overdue") {
			t.Fatalf("policy %q created 3 days ago, never run: want a warning, got %v", sched, diags)
		}
	}
	// An update keeps the creation time.
	first, _ := repo.ReadPolicy(ctx, store, l, signature.Trust{})
	time.Sleep(1100 * time.Millisecond)
	if err := repo.WritePolicy(ctx, store, l, repo.Policy{Cluster: "main", Schedule: "@daily"}, nil); err != nil {
		t.Fatal(err)
	}
	if again, _ := repo.ReadPolicy(ctx, store, l, signature.Trust{}); !again.Created.Equal(first.Created) {
		t.Fatalf("update moved the policy's creation time from %s to %s", first.Created, again.Created)
	}

	for _, name := range []string{"hourly", "nightly"} {
		sched := map[string]string{"hourly": "@hourly", "nightly": "0 2 * * *"}[name]
		if err := drill.WriteSchedule(ctx, store, l, drill.ScheduleDoc{Name: name, Cluster: "main", Schedule: sched, Kind: "cluster"}, nil); err != nil {
			t.Fatal(err)
		}
		doc, err := drill.ReadSchedule(ctx, store, l, name, signature.Trust{})
		if err != nil {
			t.Fatal(err)
		}
		var diags diag.Diagnostics
		warnDrill(&diags, l, posture.DrillObservation{Schedule: *doc}, signature.Trust{})
		if len(diags) != 0 {
			t.Fatalf("drill %q created just now, never run: want no warning, got %v", sched, diags)
		}
		old := *doc
		old.Created = doc.Created.Add(-72 * time.Hour)
		warnDrill(&diags, l, posture.DrillObservation{Schedule: old}, signature.Trust{})
		if !hasWarning(diags, "Drill Overdue") {
			t.Fatalf("drill %q created 3 days ago, never run: want a warning, got %v", sched, diags)
		}
		if err := drill.WriteSchedule(ctx, store, l, drill.ScheduleDoc{Name: name, Cluster: "main", Schedule: "@daily", Kind: "cluster"}, nil); err != nil {
			t.Fatal(err)
		}
		if again, _ := drill.ReadSchedule(ctx, store, l, name, signature.Trust{}); !again.Created.Equal(doc.Created) {
			t.Fatalf("drill update moved its creation time from %s to %s", doc.Created, again.Created)
		}
	}
}

// TestAccBackupPolicyVerifyWarning: with verify_schedule set, refresh warns
// when the agent's last scheduled verification failed, and says nothing
// once one passed.
func TestAccBackupPolicyVerifyWarning(t *testing.T) {
	testAccPreCheck(t)
	ctx := context.Background()
	store := testAccStore(t, "lb-verifywarn", objectstore.BucketSpec{})
	bucket := store.Bucket()
	m := &backupPolicyModel{Cluster: types.StringValue("main"), VerifySchedule: types.StringValue("@daily"),
		Repository: &repositoryRef{Bucket: types.StringValue(bucket), Prefix: types.StringValue("pg")}}
	now := time.Now().UTC()
	if err := agentd.WriteRun(ctx, store, m.layout(), agentd.Run{Job: agentd.VerifyJob, Slot: now, Result: agentd.ResultFailure, Final: true,
		Attempts: 1, Holder: "db1", Started: now, Finished: now, Error: "backup verification failed: physical x: pg/main/wal/00000001/000000010000000000000003.zst: WAL segment content does not match"}); err != nil {
		t.Fatal(err)
	}
	p := &repo.Policy{Cluster: "main", Schedule: "@daily", VerifySchedule: "@daily"}
	var diags diag.Diagnostics
	(&backupPolicyResource{}).warnPosture(ctx, store, m.layout(), p, nil, &diags)
	if !hasWarning(diags, "Backup Verification Failed") || !strings.Contains(diags[0].Detail(), "000000010000000000000003") {
		t.Fatalf("want a 'Backup Verification Failed' warning naming the segment, got %v", diags)
	}
	if err := agentd.WriteRun(ctx, store, m.layout(), agentd.Run{Job: agentd.VerifyJob, Slot: now, Result: agentd.ResultSuccess,
		Attempts: 1, Holder: "db1", Started: now, Finished: now}); err != nil {
		t.Fatal(err)
	}
	diags = nil
	(&backupPolicyResource{}).warnPosture(ctx, store, m.layout(), p, nil, &diags)
	if len(diags) != 0 {
		t.Fatalf("after a passing verification: want no diagnostics, got %v", diags)
	}
}

// countingStore counts the objects read under a prefix.
type countingStore struct {
	objectstore.Store
	prefix string
	gets   int
}

func (c *countingStore) Get(ctx context.Context, key string) (io.ReadCloser, objectstore.ObjectInfo, error) {
	if strings.HasPrefix(key, c.prefix) {
		c.gets++
	}
	return c.Store.Get(ctx, key)
}

// TestAccBackupPolicyRefreshReadsNoTenantManifest: the policy shows the
// newest base backup and the window, so its refresh reads no tenant dump
// manifest, however many tenants the repository holds.
func TestAccBackupPolicyRefreshReadsNoTenantManifest(t *testing.T) {
	testAccPreCheck(t)
	ctx := context.Background()
	store := testAccStore(t, "lb-refreshreads", objectstore.BucketSpec{})
	m := &backupPolicyModel{Cluster: types.StringValue("main"),
		Repository: &repositoryRef{Bucket: types.StringValue(store.Bucket()), Prefix: types.StringValue("pg")}}
	l := m.layout()
	for i := 0; i < 30; i++ {
		tm := backup.TenantManifest{Format: 1, Kind: backup.KindTenant, ID: backup.NewID(time.Now()), Database: fmt.Sprintf("t%02d", i), StartTime: time.Now()}
		raw, _ := json.Marshal(tm)
		if _, err := store.Put(ctx, l.TenantManifestKey(tm.Database, tm.ID), bytes.NewReader(raw), objectstore.PutOptions{Size: int64(len(raw))}); err != nil {
			t.Fatal(err)
		}
	}
	cs := &countingStore{Store: store, prefix: l.TenantsDir()}
	var diags diag.Diagnostics
	(&backupPolicyResource{}).observe(ctx, cs, m, &diags)
	if diags.HasError() || cs.gets != 0 {
		t.Fatalf("refresh read %d tenant manifests (diagnostics %v), want none", cs.gets, diags)
	}
}
