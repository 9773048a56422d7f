package provider

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/config"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/drill"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/pg"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// platformFixture applies examples/modules/odoo-platform, as it is in the
// repository, from a test working directory.
type platformFixture struct {
	bucket, dsn, workDir, config, module string
}

func newPlatformFixture(t *testing.T) *platformFixture {
	env := testenv.Require(t)
	// The example names the provider by its registry address, which the
	// harness serves the in-process provider under only when told.
	t.Setenv("TF_ACC_PROVIDER_NAMESPACE", "lifeboat-dr")
	f := &platformFixture{bucket: randomName("lb-platform"), dsn: env.Postgres.DSN("postgres"), workDir: t.TempDir()}
	body, err := os.ReadFile("../../examples/modules/odoo-platform/main.tf")
	if err != nil {
		t.Fatal(err)
	}
	// The harness writes the configuration into <workDir>/work<random>/:
	// the module is reached from there, where it lies in the repository.
	module, err := filepath.Abs("../../examples/modules/odoo-tenant")
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(filepath.Join(f.workDir, "work0"), module)
	if err != nil {
		t.Fatal(err)
	}
	f.module = rel
	f.config = strings.Replace(string(body), `source   = "../odoo-tenant"`, fmt.Sprintf("source   = %q", rel), 1)
	if f.config == string(body) {
		t.Fatal("the example's module source was not found to rewrite")
	}
	t.Cleanup(func() { _ = testAccClient(t).DestroyBucket(context.Background(), f.bucket, true) })
	return f
}

// installModule does what `terraform init` does for the local module: the
// harness runs init once, on a configuration of the provider alone, which
// installs no module. Call it from the first step's PreConfig.
func (f *platformFixture) installModule(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join(f.workDir, "work*"))
	if err != nil || len(dirs) != 1 {
		t.Fatalf("the harness' working directory under %s: %v %v", f.workDir, dirs, err)
	}
	modules := filepath.Join(dirs[0], ".terraform", "modules")
	if err := os.MkdirAll(modules, 0o755); err != nil {
		t.Fatal(err)
	}
	manifest := fmt.Sprintf(`{"Modules":[{"Key":"","Source":"","Dir":"."},{"Key":"tenant","Source":%q,"Dir":%q}]}`, f.module, f.module)
	if err := os.WriteFile(filepath.Join(modules, "modules.json"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
}

// vars are the platform's variables for tenants (name => priority group).
func (f *platformFixture) vars(tenants map[string]string) config.Variables {
	m := map[string]config.Variable{}
	for name, group := range tenants {
		m[name] = config.ObjectVariable(map[string]config.Variable{"priority_group": config.StringVariable(group), "rpo": config.StringVariable("30m")})
	}
	return config.Variables{
		"bucket":         config.StringVariable(f.bucket),
		"lock_mode":      config.StringVariable("GOVERNANCE"),
		"retention_days": config.IntegerVariable(1),
		"cluster":        config.StringVariable("main"),
		"pg_dsn":         config.StringVariable(f.dsn),
		"tenants":        config.MapVariable(m),
	}
}

func tenantNames(n int) map[string]string {
	out := map[string]string{}
	for i := range n {
		out[fmt.Sprintf("tenant%03d", i)] = []string{"warehouse", "transport", "finance"}[i%3]
	}
	return out
}

// The module applied for a few tenants: each tenant's drill schedule is in
// the repository, signed, with its objectives and attachments prefix; the
// one policy dumps every tenant's database (the policy's tenant list is
// built from the modules' outputs), and the platform's outputs group them.
// Invalid inputs are refused at plan by the module's validation, naming
// the variable. The tenants' databases are then dumped, in parallel, from
// the policy as the agent would, and every dump is in the repository.
func TestAccOdooTenantModule(t *testing.T) {
	f := newPlatformFixture(t)
	ctx := context.Background()
	tenants := map[string]string{"acme": "finance", "globex": "warehouse", "initech": "finance"}
	pool, err := pg.Pool(ctx, f.dsn)
	if err != nil {
		t.Fatal(err)
	}
	for name := range tenants {
		_, _ = pool.Exec(ctx, "DROP DATABASE IF EXISTS "+name)
		if _, err := pool.Exec(ctx, "CREATE DATABASE "+name); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = pool.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
	}
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		WorkingDir:               f.workDir,
		Steps: []resource.TestStep{
			{
				PreConfig:       func() { f.installModule(t) },
				Config:          f.config,
				ConfigVariables: f.vars(tenants),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownOutputValue("priority_groups", knownvalue.MapExact(map[string]knownvalue.Check{
						"finance":   knownvalue.ListExact([]knownvalue.Check{knownvalue.StringExact("acme"), knownvalue.StringExact("initech")}),
						"warehouse": knownvalue.ListExact([]knownvalue.Check{knownvalue.StringExact("globex")}),
					})),
					statecheck.ExpectKnownOutputValueAtPath("tenants", tfjsonpath.New("acme"),
						knownvalue.StringExact("acme: database acme, RPO 30m, RTO 1h, group finance, drill @weekly")),
					statecheck.ExpectKnownOutputValue("failing_drills", knownvalue.ListSizeExact(0)),
					statecheck.ExpectKnownValue("lifeboat_backup_policy.cluster", tfjsonpath.New("tenant_databases"), knownvalue.SetSizeExact(3)),
					checkFunc(func() error {
						store := testAccClient(t).Store(f.bucket)
						p, err := repo.ReadPolicy(ctx, store, l, (&providerData{}).trust())
						if err != nil {
							return err
						}
						if !slices.Equal(p.TenantDatabases, []string{"acme", "globex", "initech"}) || p.TenantDumpParallelism != 8 {
							return fmt.Errorf("policy tenants %v, parallelism %d", p.TenantDatabases, p.TenantDumpParallelism)
						}
						for name := range tenants {
							doc, err := drill.ReadSchedule(ctx, store, l, "tenant-"+name, (&providerData{}).trust())
							if err != nil {
								return err
							}
							if doc.Kind != "tenant" || doc.Database != name || doc.RTOTargetSeconds != 3600 || len(doc.Checks) != 1 || doc.Checks[0].Expected != "30m" {
								return fmt.Errorf("schedule of %s: %+v", name, doc)
							}
						}
						// What the agent does with the policy: every tenant dumped.
						res, err := backup.DumpTenants(ctx, store, backup.TenantOptions{Layout: l, DSN: f.dsn, PGDump: pg.Program("pg_dump"),
							Parallelism: p.TenantDumpParallelism}, p.TenantDatabases)
						if err != nil {
							return err
						}
						for _, r := range res {
							if _, err := store.Head(ctx, l.TenantManifestKey(r.Database, r.Manifest.ID)); err != nil {
								return fmt.Errorf("dump of %s: %w", r.Database, err)
							}
						}
						return nil
					}),
				},
			},
			{
				Config:          f.config,
				ConfigVariables: f.vars(map[string]string{"Bad-Name": "finance"}),
				ExpectError:     regexp.MustCompile(`name must start with a lowercase letter`),
			},
			{
				Config:          f.config,
				ConfigVariables: f.vars(map[string]string{"acme": "Finance Team"}),
				ExpectError:     regexp.MustCompile(`priority_group must be a lowercase name`),
			},
			{
				// No tenants left: the harness' destroy cannot read a state
				// with module instances.
				Config:          f.config,
				ConfigVariables: f.vars(map[string]string{}),
			},
		},
	})
}

// A refresh of the whole platform costs the same number of S3 requests for
// 10 tenants as for 20, at most 50, once the agent keeps the drill index;
// without the index it grows with every tenant (which shows the count
// measures what it claims). The apply of 20 drill schedules checks the
// bucket once, not once per schedule.
func TestAccOdooTenantModule_refreshRequests(t *testing.T) {
	counts := map[int]int64{}
	var unindexed int64
	for _, n := range []int{10, 20} {
		f := newPlatformFixture(t)
		l := repo.Layout{Prefix: "pg", Cluster: "main"}
		var before int64
		mark := func() { before = objectstore.Requests() }
		resource.Test(t, resource.TestCase{
			PreCheck:                 func() { testAccPreCheck(t) },
			ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
			WorkingDir:               f.workDir,
			Steps: []resource.TestStep{
				{
					PreConfig:       func() { f.installModule(t); mark() },
					Config:          f.config,
					ConfigVariables: f.vars(tenantNames(n)),
					ConfigStateChecks: []statecheck.StateCheck{checkFunc(func() error {
						// Per schedule: the previous document's GET, the PUT and
						// the evidence listing of the new state, then the
						// harness' own refresh and plan after the apply (two
						// each, no index yet); the bucket is checked once.
						applied := objectstore.Requests() - before
						t.Logf("%d tenants: apply (with its refresh and plan) sent %d S3 requests", n, applied)
						if limit := int64(8*n + 60); applied > limit {
							return fmt.Errorf("apply of %d tenants sent %d S3 requests, more than %d: something is read per tenant", n, applied, limit)
						}
						return nil
					})},
				},
				{
					// No index yet: each schedule is read on its own.
					PreConfig:       mark,
					Config:          f.config,
					ConfigVariables: f.vars(tenantNames(n)),
					PlanOnly:        true,
				},
				{
					PreConfig: func() {
						// The plan-only step ran a plan with refresh and one
						// without: every request of both is counted.
						if n == 20 {
							unindexed = objectstore.Requests() - before
						}
						// What the agent does after a refresh of its schedules.
						ctx := context.Background()
						store := testAccClient(t).Store(f.bucket)
						x, err := drill.BuildIndex(ctx, store, l, time.Now())
						if err != nil {
							t.Fatal(err)
						}
						if len(x.Schedules) != n {
							t.Fatalf("index of %d schedules, want %d", len(x.Schedules), n)
						}
						if err := drill.WriteIndex(ctx, store, l, x, nil); err != nil {
							t.Fatal(err)
						}
						mark()
					},
					Config:          f.config,
					ConfigVariables: f.vars(tenantNames(n)),
					PlanOnly:        true,
				},
				{
					PreConfig:       func() { counts[n] = objectstore.Requests() - before },
					Config:          f.config,
					ConfigVariables: f.vars(map[string]string{}),
				},
			},
		})
	}
	t.Logf("S3 requests of a plan with refresh and one without: 10 tenants %d, 20 tenants %d; 20 tenants without the index %d", counts[10], counts[20], unindexed)
	if counts[10] == 0 || counts[10] != counts[20] {
		t.Errorf("S3 requests of a refresh grow with tenants: 10 tenants %d, 20 tenants %d", counts[10], counts[20])
	}
	if counts[20] > 50 {
		t.Errorf("a refresh of 20 tenants sent %d S3 requests, more than 50", counts[20])
	}
	if unindexed < counts[20]+2*20 {
		t.Errorf("without the index a refresh of 20 tenants sent %d S3 requests, with it %d: the index saved less than 2 per schedule", unindexed, counts[20])
	}
}

// The tenant module declares one output, an object. While planning,
// Terraform 1.5 looks each module instance's output up among every output
// recorded so far for the module call, so the outputs of a for_each module
// cost the plan (instances × outputs)²: at 500 tenants six outputs cost
// several CPU seconds of every plan, one costs a thirty-sixth of that
// (tools/scripts/bench-plan.sh). A field a reviewer wants is a field of
// posture, not another output; TestAccOdooTenantModule applies the
// platform, whose outputs read posture.
func TestOdooTenantModuleHasOneOutput(t *testing.T) {
	files, err := filepath.Glob("../../examples/modules/odoo-tenant/*.tf")
	if err != nil || len(files) == 0 {
		t.Fatalf("the module's files: %v %v", files, err)
	}
	outputs := regexp.MustCompile(`(?m)^\s*output\s+"([^"]+)"`)
	var names []string
	for _, file := range files {
		body, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range outputs.FindAllStringSubmatch(string(body), -1) {
			names = append(names, m[1])
		}
	}
	if !slices.Equal(names, []string{"posture"}) {
		t.Errorf("odoo-tenant declares the outputs %q; want only \"posture\" (fields of one object cost Terraform far less than outputs)", names)
	}
}

// checkFunc is a state check of what the state cannot show (the
// repository's objects, request counts). NOTE: the harness' legacy Check
// functions refuse states with child modules.
type checkFunc func() error

func (f checkFunc) CheckState(_ context.Context, _ statecheck.CheckStateRequest, resp *statecheck.CheckStateResponse) {
	if err := f(); err != nil {
		resp.Error = err
	}
}
