package provider

import (
	"context"
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

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/drill"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/pg"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// The tests in this file hold every resource to one rule: a value a plan
// shows is the value the apply records, and a value that can change
// between plan and apply is unknown in the plan. terraform-plugin-testing
// saves each step's plan and applies that saved plan, so a PreApply plan
// check that moves the world (archives WAL, takes a backup, runs a drill)
// makes every step a reviewed plan applied after the world moved.

// moveWorld is a plan check that changes the world after the plan was made
// and before the saved plan is applied.
type moveWorld func() error

func (f moveWorld) CheckPlan(_ context.Context, _ plancheck.CheckPlanRequest, resp *plancheck.CheckPlanResponse) {
	resp.Error = f()
}

// sameAs is a knownvalue check against a value captured by an earlier
// step, read when the check runs.
type sameAs struct{ want *string }

func (c sameAs) CheckValue(v any) error {
	got, ok := v.(string)
	if !ok {
		return fmt.Errorf("expected string value for sameAs check, got: %T", v)
	}
	if *c.want == "" || got != *c.want {
		return fmt.Errorf("expected value %q (captured earlier), got %q", *c.want, got)
	}
	return nil
}

func (c sameAs) String() string { return *c.want }

// notSameAs is a knownvalue check that a value is set and differs from a
// captured one.
type notSameAs struct{ old *string }

func (c notSameAs) CheckValue(v any) error {
	got, ok := v.(string)
	if !ok {
		return fmt.Errorf("expected string value for notSameAs check, got: %T", v)
	}
	if got == "" || got == *c.old {
		return fmt.Errorf("expected a new value, got %q (earlier %q)", got, *c.old)
	}
	return nil
}

func (c notSameAs) String() string { return "not " + *c.old }

// capture records a state attribute for later steps' checks.
func capture(addr, attr string, into *string) resource.TestCheckFunc {
	return resource.TestCheckResourceAttrWith(addr, attr, func(v string) error { *into = v; return nil })
}

// archiveSomeWAL switches WAL on the test server and waits until the
// segment is archived: the repository's WAL moved on.
func archiveSomeWAL(t *testing.T, dsn string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pool, err := pg.Pool(ctx, dsn) // the process-wide pool: never closed here
	if err != nil {
		return err
	}
	if err := pg.Ping(ctx, pool); err != nil {
		return err
	}
	seg, err := pg.SwitchWAL(ctx, pool)
	if err != nil {
		return err
	}
	for {
		st, err := pg.ReadArchive(ctx, pool)
		if err != nil {
			return err
		}
		if st.Archiver.LastArchivedWAL >= seg {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("segment %s not archived: %+v", seg, st.Archiver)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestAccWalArchiveResource_updatesAfterWALMoved updates each updatable
// attribute of lifeboat_wal_archive on its own while WAL keeps being
// archived, before the plan and between plan and apply. Attributes that
// cannot affect archiving keep the last proof (verified_segment and
// verified_at as planned); the others plan a new proof as unknown.
func TestAccWalArchiveResource_updatesAfterWALMoved(t *testing.T) {
	env := testenv.Require(t)
	pgSrv := env.Postgres
	dsn := pgSrv.DSN("postgres")
	agent, dir := buildAgent(t)
	// A second copy of the agent, for an agent_path update.
	agent2 := filepath.Join(dir, "lifeboat2")
	if b, err := os.ReadFile(agent); err != nil {
		t.Fatal(err)
	} else if err := os.WriteFile(agent2, b, 0o755); err != nil {
		t.Fatal(err)
	}
	bucket := randomName("lb-walmove")
	// The agent archives as the writer, never with the provider's keys.
	ak, sk := testAccUser(t, access.RoleWriter, bucket, repo.Layout{Prefix: "pg", Cluster: "main"})
	type settings struct {
		rpo, compression, agentPath, cfgPath, verifyTimeout, onDestroy string
		manage, verify                                                 bool
	}
	base := settings{rpo: "10s", compression: "zstd", agentPath: agent, cfgPath: filepath.Join(dir, "agent.json"),
		verifyTimeout: "90s", onDestroy: "pause", manage: true, verify: true}
	config := func(s settings) string {
		return fmt.Sprintf(`
resource "lifeboat_immutable_bucket" "repo" {
  name          = %[1]q
  force_destroy = true
  retention {
    mode = "GOVERNANCE"
    days = 1
  }
}

resource "lifeboat_wal_archive" "test" {
  cluster = "main"
  rpo     = %[3]q
  postgres {
    dsn = %[2]q
  }
  repository {
    bucket = lifeboat_immutable_bucket.repo.name
    prefix = "pg"
  }
  compression              = %[4]q
  agent_path               = %[5]q
  agent_config_path        = %[6]q
  manage_agent_config_file = %[7]t
  verify                   = %[8]t
  verify_timeout           = %[9]q
  on_destroy               = %[10]q

  agent_credentials {
    access_key = %[11]q
    secret_key = %[12]q
  }
}
`, bucket, dsn, s.rpo, s.compression, s.agentPath, s.cfgPath, s.manage, s.verify, s.verifyTimeout, s.onDestroy, ak, sk)
	}
	resetArchiving(t, pgSrv)
	t.Cleanup(func() { resetArchiving(t, pgSrv) })

	var segment, at string
	moved := func() { // before the plan: refresh sees it
		if err := archiveSomeWAL(t, dsn); err != nil {
			t.Fatal(err)
		}
	}
	between := moveWorld(func() error { return archiveSomeWAL(t, dsn) })
	segmentRE := knownvalue.StringRegexp(regexp.MustCompile(`^[0-9A-F]{24}$`))
	// keeps: an update that cannot affect archiving keeps the last proof.
	keeps := func(s settings) resource.TestStep {
		return resource.TestStep{
			PreConfig: moved,
			Config:    config(s),
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction(walAddr, plancheck.ResourceActionUpdate),
				plancheck.ExpectKnownValue(walAddr, tfjsonpath.New("verified_segment"), sameAs{&segment}),
				plancheck.ExpectKnownValue(walAddr, tfjsonpath.New("verified_at"), sameAs{&at}),
				plancheck.ExpectKnownValue(walAddr, tfjsonpath.New("wal_level"), knownvalue.StringExact("replica")),
				between,
			}},
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue(walAddr, tfjsonpath.New("verified_segment"), sameAs{&segment}),
				statecheck.ExpectKnownValue(walAddr, tfjsonpath.New("verified_at"), sameAs{&at}),
			},
		}
	}
	// proves: an update that can affect archiving proves it again.
	proves := func(s settings) resource.TestStep {
		old := ""
		return resource.TestStep{
			PreConfig: func() { moved(); old = segment },
			Config:    config(s),
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction(walAddr, plancheck.ResourceActionUpdate),
				plancheck.ExpectUnknownValue(walAddr, tfjsonpath.New("verified_segment")),
				plancheck.ExpectUnknownValue(walAddr, tfjsonpath.New("verified_at")),
				between,
			}},
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue(walAddr, tfjsonpath.New("verified_segment"), notSameAs{&old}),
				statecheck.ExpectKnownValue(walAddr, tfjsonpath.New("verified_segment"), segmentRE),
			},
			Check: resource.ComposeTestCheckFunc(capture(walAddr, "verified_segment", &segment), capture(walAddr, "verified_at", &at),
				resource.TestCheckResourceAttrWith(walAddr, "verified_segment", func(seg string) error {
					return testAccCheckSegmentArchived(t, bucket, seg)
				})),
		}
	}
	with := func(f func(*settings)) settings { s := base; f(&s); base = s; return s }
	steps := []resource.TestStep{
		{Config: config(base)}, // archive_mode waits for a restart
		{
			PreConfig: func() {
				if err := pgSrv.Restart(context.Background()); err != nil {
					t.Fatal(err)
				}
			},
			Config: config(base),
			Check:  resource.ComposeTestCheckFunc(capture(walAddr, "verified_segment", &segment), capture(walAddr, "verified_at", &at)),
		},
	}
	steps = append(steps,
		keeps(with(func(s *settings) { s.verifyTimeout = "100s" })),
		keeps(with(func(s *settings) { s.onDestroy = "keep" })),
		keeps(with(func(s *settings) { s.manage = false })),
		proves(with(func(s *settings) { s.manage = true; s.cfgPath = filepath.Join(dir, "agent2.json") })),
		proves(with(func(s *settings) { s.rpo = "20s" })),
		proves(with(func(s *settings) { s.compression = "lz4" })),
		proves(with(func(s *settings) { s.agentPath = agent2 })),
		resource.TestStep{
			PreConfig: moved,
			Config:    config(with(func(s *settings) { s.verify = false })),
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectUnknownValue(walAddr, tfjsonpath.New("verified_segment")), between,
			}},
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue(walAddr, tfjsonpath.New("verified_segment"), knownvalue.Null()),
			},
			Check: func(*terraform.State) error { segment = ""; return nil },
		},
		proves(with(func(s *settings) { s.verify = true })),
	)
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             testAccCheckBucketDestroyed(t, bucket),
		Steps:                    steps,
	})
}

// TestAccWalArchiveResource_logicalServer creates lifeboat_wal_archive on a
// server that already runs wal_level = logical: the plan cannot know the
// level before apply reads it, and logical is kept (never lowered).
func TestAccWalArchiveResource_logicalServer(t *testing.T) {
	env := testenv.Require(t)
	pgSrv := env.Postgres
	agent, dir := buildAgent(t)
	bucket := randomName("lb-logical")
	setLevel := func(level string) {
		stmt := "ALTER SYSTEM RESET wal_level"
		if level != "" {
			stmt = "ALTER SYSTEM SET wal_level = " + level
		}
		if out, err := pgSrv.Psql("postgres", stmt); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	resetArchiving(t, pgSrv)
	setLevel("logical")
	if err := pgSrv.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { setLevel(""); resetArchiving(t, pgSrv) })
	ak, sk := testAccUser(t, access.RoleWriter, bucket, repo.Layout{Prefix: "pg", Cluster: "main"})
	config := testAccWalArchiveConfig_basic(bucket, pgSrv.DSN("postgres"), agent, filepath.Join(dir, "agent.json"), "10s", ak, sk)
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             testAccCheckBucketDestroyed(t, bucket),
		Steps: []resource.TestStep{
			{
				Config: config,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectUnknownValue(walAddr, tfjsonpath.New("wal_level")),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(walAddr, tfjsonpath.New("wal_level"), knownvalue.StringExact("logical")),
				},
			},
			{
				PreConfig: func() {
					if err := pgSrv.Restart(context.Background()); err != nil {
						t.Fatal(err)
					}
				},
				Config: config,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectKnownValue(walAddr, tfjsonpath.New("wal_level"), knownvalue.StringExact("logical")),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(walAddr, tfjsonpath.New("wal_level"), knownvalue.StringExact("logical")),
					statecheck.ExpectKnownValue(walAddr, tfjsonpath.New("verified_segment"), knownvalue.StringRegexp(regexp.MustCompile(`^[0-9A-F]{24}$`))),
				},
				Check: func(*terraform.State) error {
					if v, _ := pgSrv.Psql("postgres", "show wal_level"); v != "logical" {
						return fmt.Errorf("wal_level = %q after apply, want logical (never lowered)", v)
					}
					return nil
				},
			},
		},
	})
}

// TestAccDrillScheduleResource_lastDrillHonest: an update without
// run_on_apply keeps the last drill's values as planned even when a drill
// runs between plan and apply; an update with run_on_apply plans them
// unknown and records the drill it ran.
func TestAccDrillScheduleResource_lastDrillHonest(t *testing.T) {
	f := newRestoreFixture(t)
	ctx := context.Background()
	if _, err := f.pool.Exec(ctx, "DROP TABLE IF EXISTS ir_attachment; CREATE TABLE ir_attachment (id int PRIMARY KEY, store_fname text); INSERT INTO ir_attachment SELECT g, 'x/'||g FROM generate_series(1, 30) g"); err != nil {
		t.Fatal(err)
	}
	switchAndWaitArchived(t, f.pool, 90*time.Second)
	client := testAccClient(t)
	store := client.Store(f.bucket)
	layout := repo.Layout{Prefix: "pg", Cluster: "main"}
	// config derives from the drill test's configuration, so both follow
	// the schema together.
	config := func(runOnApply bool, schedule, rto string) string {
		cfg := testAccDrillConfig(f, "30", rto)
		for old, repl := range map[string]string{
			"run_on_apply            = true":     fmt.Sprintf("run_on_apply            = %t", runOnApply),
			`schedule                = "@daily"`: fmt.Sprintf("schedule                = %q", schedule),
		} {
			if !strings.Contains(cfg, old) {
				t.Fatalf("drill configuration has no %q:\n%s", old, cfg)
			}
			cfg = strings.Replace(cfg, old, repl, 1)
		}
		return cfg
	}
	// agentDrill runs a drill of the schedule as the agent would.
	var agentKey string
	agentDrill := moveWorld(func() error {
		doc, err := drill.ReadSchedule(ctx, store, layout, "nightly", signature.Trust{}) // the test provider signs nothing
		if err != nil {
			return err
		}
		agentCfg := (&providerData{}).agentConfig(f.bucket, "pg", "main", "")
		ev, err := drill.Run(ctx, store, doc.Spec(func(b string) objectstore.Store { return client.Store(b) }, layout, agentCfg, f.agent, ""))
		if err != nil {
			return err
		}
		agentKey = ev.Key
		return nil
	})
	lastDrill := []string{"last_drill_time", "last_drill_result", "last_achieved_rto_seconds", "last_evidence_key", "last_failures"}
	var applyKey string
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: config(true, "@daily", "10m"),
				Check:  capture(drillAddr, "last_evidence_key", &applyKey),
			},
			{
				// No drill on this apply: the plan keeps the last drill, a
				// drill the agent runs meanwhile does not change the apply.
				PreConfig: func() { switchAndWaitArchived(t, f.pool, 90*time.Second) },
				Config:    config(false, "@weekly", "10m"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(drillAddr, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(drillAddr, tfjsonpath.New("last_evidence_key"), sameAs{&applyKey}),
					plancheck.ExpectKnownValue(drillAddr, tfjsonpath.New("last_drill_result"), knownvalue.StringExact("passed")),
					agentDrill,
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(drillAddr, tfjsonpath.New("last_evidence_key"), sameAs{&applyKey}),
				},
			},
			{
				// The refresh sees the agent's drill.
				RefreshState: true,
				Check:        resource.TestCheckResourceAttrWith(drillAddr, "last_evidence_key", func(k string) error { return sameAs{&agentKey}.CheckValue(k) }),
			},
			{
				// A drill on this apply: unknown until it has run.
				Config: config(true, "@weekly", "20m"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: func() []plancheck.PlanCheck {
					checks := []plancheck.PlanCheck{plancheck.ExpectResourceAction(drillAddr, plancheck.ResourceActionUpdate)}
					for _, a := range lastDrill {
						checks = append(checks, plancheck.ExpectUnknownValue(drillAddr, tfjsonpath.New(a)))
					}
					return checks
				}()},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(drillAddr, tfjsonpath.New("last_evidence_key"), notSameAs{&agentKey}),
					statecheck.ExpectKnownValue(drillAddr, tfjsonpath.New("last_drill_result"), knownvalue.StringExact("passed")),
				},
			},
		},
	})
}

// TestAccBackupPolicyResource_updatesAfterWorldMoved updates each updatable
// attribute of lifeboat_backup_policy on its own while WAL is archived and
// backups are taken, before the plan and between plan and apply: the last
// backup and the restorable window stay as planned (they are the refresh's
// news, not the apply's), and tier prefixes follow the configuration.
func TestAccBackupPolicyResource_updatesAfterWorldMoved(t *testing.T) {
	f := newRestoreFixture(t)
	env := testenv.Require(t)
	dsn := env.Postgres.DSN("postgres")
	client := testAccClient(t)
	layout := repo.Layout{Prefix: "pg", Cluster: "main"}
	type settings struct {
		schedule, tenants, extra, tierPrefix string
		days, fullCount, tierDays            int
	}
	config := func(s settings) string {
		prefix := ""
		if s.tierPrefix != "" {
			prefix = fmt.Sprintf("prefix = %q", s.tierPrefix)
		}
		return fmt.Sprintf(`
resource "lifeboat_backup_policy" "test" {
  cluster          = "main"
  schedule         = %[2]q
  tenant_databases = %[4]s
  %[5]s
  postgres {
    dsn = %[3]q
  }
  repository {
    bucket = %[1]q
    prefix = "pg"
  }
  retention {
    full_count = %[6]d
    days       = %[7]d
  }
  tier {
    name           = "attachments"
    retention_days = %[8]d
    %[9]s
  }
}
`, f.bucket, s.schedule, dsn, s.tenants, s.extra, s.fullCount, s.days, s.tierDays, prefix)
	}
	base := settings{schedule: "0 2 * * *", tenants: "null", days: 30, fullCount: 7, tierDays: 90}
	with := func(g func(*settings)) settings { s := base; g(&s); base = s; return s }

	var planned, pending string // the newest backup refresh saw; one taken after the plan
	takeBackup := func() (string, error) {
		m, err := backup.Take(context.Background(), client.Store(f.bucket), backup.Options{Layout: layout, DSN: dsn})
		if err != nil {
			return "", err
		}
		return m.ID, nil
	}
	between := moveWorld(func() error {
		id, err := takeBackup()
		if err != nil {
			return err
		}
		pending = id
		return archiveSomeWAL(t, dsn)
	})
	update := func(s settings, more ...statecheck.StateCheck) resource.TestStep {
		return resource.TestStep{
			PreConfig: func() {
				if pending != "" { // the refresh sees the backup taken after the last plan
					planned = pending
				}
				if err := archiveSomeWAL(t, dsn); err != nil {
					t.Fatal(err)
				}
			},
			Config: config(s),
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction(policyAddr, plancheck.ResourceActionUpdate),
				plancheck.ExpectKnownValue(policyAddr, tfjsonpath.New("last_backup_id"), sameAs{&planned}),
				plancheck.ExpectKnownValue(policyAddr, tfjsonpath.New("recovery_window_end"), knownvalue.NotNull()),
				plancheck.ExpectKnownValue(policyAddr, tfjsonpath.New("recovery_window_start"), knownvalue.NotNull()),
				between,
			}},
			ConfigStateChecks: append([]statecheck.StateCheck{
				statecheck.ExpectKnownValue(policyAddr, tfjsonpath.New("last_backup_id"), sameAs{&planned}),
			}, more...),
		}
	}
	tierPrefix := func(p string) statecheck.StateCheck {
		return statecheck.ExpectKnownValue(policyAddr, tfjsonpath.New("tier"), knownvalue.SetExact([]knownvalue.Check{
			knownvalue.ObjectPartial(map[string]knownvalue.Check{"prefix": knownvalue.StringExact(p)}),
		}))
	}
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: config(base),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectUnknownValue(policyAddr, tfjsonpath.New("last_backup_id")),
				}},
				Check: capture(policyAddr, "last_backup_id", &planned),
			},
			update(with(func(s *settings) { s.schedule = "0 3 * * *" })),
			update(with(func(s *settings) { s.days = 31 })),
			update(with(func(s *settings) { s.fullCount = 8 })),
			update(with(func(s *settings) { s.tierDays = 91 })),
			update(with(func(s *settings) { s.tierPrefix = "files/" }), tierPrefix("files/")),
			// A prefix removed from the configuration goes back to its default.
			update(with(func(s *settings) { s.tierPrefix = "" }), tierPrefix("attachments/")),
			update(with(func(s *settings) { s.tenants = `["tenant_a"]` })),
			update(with(func(s *settings) { s.extra = "wal_archiving = false" })),
			update(with(func(s *settings) { s.extra = "" })),
			update(with(func(s *settings) { s.extra = `rpo = "1h"` })),
			update(with(func(s *settings) { s.extra += "\n  rto = \"4h\"" })),
			update(with(func(s *settings) { s.extra += "\n  backup_on_create = true" })),
			update(with(func(s *settings) { s.extra += "\n  tenant_dump_parallelism = 3" })),
			update(with(func(s *settings) { s.extra += "\n  verify_schedule = \"0 4 * * *\"" })),
		},
	})
}

// TestAccImmutableBucketResource_updatesAfterWorldMoved updates each
// updatable attribute of lifeboat_immutable_bucket on its own while backups
// land in it and someone changes its tags and encryption by hand between
// plan and apply: the apply converges the bucket to the plan and records
// the plan, and encryption left undeclared stays the store's business.
func TestAccImmutableBucketResource_updatesAfterWorldMoved(t *testing.T) {
	name := randomName("lb-bktmove")
	client := testAccClient(t)
	ctx := context.Background()
	type settings struct {
		days, txDays int
		tags, extra  string
		force        bool
	}
	config := func(s settings) string {
		return fmt.Sprintf(`
resource "lifeboat_immutable_bucket" "test" {
  name          = %[1]q
  force_destroy = %[2]t
  retention {
    mode = "GOVERNANCE"
    days = %[3]d
  }
  lifecycle_tier {
    name            = "transactional"
    prefix          = "pg/"
    expiration_days = %[4]d
  }
  %[6]s
  tags = { %[5]s }
}
`, name, s.force, s.days, s.txDays, s.tags, s.extra)
	}
	base := settings{days: 1, txDays: 30, tags: `env = "test"`, force: true}
	const attachments = `
  lifecycle_tier {
    name                               = "attachments"
    prefix                             = "attachments/"
    noncurrent_version_expiration_days = 90
  }`
	const encryption = `
  encryption {
    algorithm = "AES256"
  }`
	with := func(g func(*settings)) settings { s := base; g(&s); base = s; return s }
	n := 0
	putObject := func() error {
		n++
		_, err := client.Store(name).Put(ctx, fmt.Sprintf("pg/main/base/%03d", n), strings.NewReader("backup data"), objectstore.PutOptions{Size: -1})
		return err
	}
	// byHand changes tags and encryption outside Terraform after the plan.
	byHand := moveWorld(func() error {
		if err := putObject(); err != nil {
			return err
		}
		st, err := client.ReadBucket(ctx, name)
		if err != nil {
			return err
		}
		changed := st.Spec
		changed.Tags = map[string]string{"owner": "someone-else"}
		changed.Encryption = &objectstore.Encryption{Algorithm: objectstore.SSEAES256}
		if st.Spec.Encryption != nil {
			changed.Encryption = nil
		}
		return client.UpdateBucket(ctx, st.Spec, changed)
	})
	update := func(s settings) resource.TestStep {
		return resource.TestStep{
			PreConfig: func() {
				if err := putObject(); err != nil {
					t.Fatal(err)
				}
			},
			Config: config(s),
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction(bucketAddr, plancheck.ResourceActionUpdate), byHand,
			}},
			Check: testAccCheckBucketPosture(t, name, func(st *objectstore.BucketState) error {
				if st.Spec.Retention == nil || int(st.Spec.Retention.Days) != s.days {
					return fmt.Errorf("retention = %+v, want %d days", st.Spec.Retention, s.days)
				}
				if fmt.Sprint(st.Spec.Tags) == "map[owner:someone-else]" {
					return fmt.Errorf("tags changed by hand after the plan were not put back: %v", st.Spec.Tags)
				}
				return nil
			}),
		}
	}
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             testAccCheckBucketDestroyed(t, name),
		Steps: []resource.TestStep{
			{Config: config(base)},
			update(with(func(s *settings) { s.days = 2 })),
			update(with(func(s *settings) { s.txDays = 31 })),
			update(with(func(s *settings) { s.tags = `env = "prod"` })),
			update(with(func(s *settings) { s.force = false })),
			update(with(func(s *settings) { s.force = true })),
			update(with(func(s *settings) { s.extra = attachments })),
			update(with(func(s *settings) { s.extra = attachments + encryption })),
			update(with(func(s *settings) { s.extra = attachments })),
		},
	})
}
