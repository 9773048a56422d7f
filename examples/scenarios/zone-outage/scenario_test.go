package zoneoutage_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/config"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/catalog"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/pg"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/posture"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/provider"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.Spec{MinIO: 1}))
}

// TestScenarioZoneOutage runs the scenario as its README tells it: a
// primary archives through the agent and streams to a standby made with
// pg_basebackup -R, which archives too (archive_mode = always); the
// posture flags the pair as HA without DR. The primary's archiver is cut
// off, it writes more, then it is killed (SIGKILL). The standby is
// promoted (timeline 2) and goes on archiving into the same cluster: the
// repository's window follows timeline 2 with no gap, the segment the old
// primary never archived included. This folder's main.tf restores to a
// point after the promotion, and its checks find both the rows only the
// standby archived and the rows written after the promotion.
func TestScenarioZoneOutage(t *testing.T) {
	env := testenv.Require(t)
	m := env.MinIO[0]
	ctx := context.Background()
	bin, dir := testenv.Lifeboat(t), testenv.Dir(t)
	cfgPath := filepath.Join(dir, "lifeboat.json") // NewRepository's bootstrap file, written below
	// The primary's zone (a) and the standby's zone (b).
	archive := func(mode string) []string {
		return []string{"archive_mode = " + mode, "archive_command = '" + testenv.WALPushCommand(bin, cfgPath) + "'"}
	}
	primary, err := testenv.StartPostgres(ctx, filepath.Join(dir, "zone-a"), false, archive("on")...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(primary.Stop)
	r := m.NewRepository(t, dir, objectstore.BucketSpec{Name: "scenario-zone-repo"}, "pg", "odoo-main", primary.OSUser)
	cfg, store, l := r.Config, r.Store, r.Layout()
	psql := func(srv *testenv.Postgres, sql string) string {
		t.Helper()
		return srv.MustPsql(t, "postgres", sql)
	}
	waitArchived := func(srv *testenv.Postgres, seg string) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
			a, err := catalog.ListWAL(ctx, store, l, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range a.Files {
				if f.IsSegment && f.Name == seg {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never reached the repository (archiver: %s)", seg,
					psql(srv, "SELECT last_archived_wal || ' / failed ' || coalesce(last_failed_wal, '-') FROM pg_stat_archiver"))
			}
		}
	}

	psql(primary, "CREATE TABLE orders (id serial PRIMARY KEY, note text, at timestamptz DEFAULT clock_timestamp())")
	psql(primary, "INSERT INTO orders (note) SELECT 'first' FROM generate_series(1, 10)")
	if _, err := backup.Take(ctx, store, backup.Options{Layout: l, DSN: primary.DSN("postgres")}); err != nil {
		t.Fatal(err)
	}
	standby, err := primary.StartStandby(ctx, filepath.Join(dir, "zone-b"), archive("always")...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(standby.Stop)
	waitStreaming := func() {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
			if psql(primary, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") == "1" {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("the standby never streams")
			}
		}
	}
	waitStreaming()

	// The posture: a standby, an archive, no tested restore: HA, not DR.
	pool, err := pg.Pool(ctx, primary.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	o, err := posture.Gather(ctx, posture.Target{Store: store, Prefix: cfg.Prefix, Clusters: []string{cfg.Cluster},
		Postgres: map[string]posture.Server{cfg.Cluster: {Name: "zone-a primary", Pool: pool}}})
	if err != nil {
		t.Fatal(err)
	}
	f, _ := posture.Evaluate(o, posture.Params{}).Find(posture.ControlHAIsNotDR, cfg.Cluster)
	if f.Status != posture.Fail || !strings.Contains(f.Observed, "1 streaming standby(s), but no passed restore drill") {
		t.Fatalf("ha.not_dr before the outage: %s %q", f.Status, f.Observed)
	}
	t.Logf("posture before the outage: %s %s: %s", f.Control, f.Status, f.Observed)

	// The outage begins: the primary's path to the object store goes
	// first, it goes on writing, a full segment stays unarchived on it.
	psql(primary, "ALTER SYSTEM SET archive_command = 'false'")
	psql(primary, "SELECT pg_reload_conf()")
	psql(primary, "INSERT INTO orders (note) SELECT 'before-outage' FROM generate_series(1, 5)")
	unarchived := psql(primary, "SELECT pg_walfile_name(pg_switch_wal())")
	sent := psql(primary, "SELECT pg_current_wal_lsn()")
	for deadline := time.Now().Add(time.Minute); psql(standby, fmt.Sprintf("SELECT pg_last_wal_replay_lsn() >= '%s'", sent)) != "t"; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the standby never replayed the primary's last writes")
		}
	}
	if got := psql(primary, "SELECT coalesce(last_archived_wal, '') >= '"+unarchived+"' FROM pg_stat_archiver"); got != "f" {
		t.Fatalf("the primary archived %s: the outage must leave it unarchived there", unarchived)
	}
	primary.Kill()

	// Failover: the standby becomes the primary of timeline 2.
	psql(standby, "SELECT pg_promote()")
	for deadline := time.Now().Add(time.Minute); psql(standby, "SELECT pg_is_in_recovery()") != "f"; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the standby never left recovery")
		}
	}
	psql(standby, "INSERT INTO orders (note) SELECT 'after-promotion' FROM generate_series(1, 3)")
	time.Sleep(1100 * time.Millisecond)
	point := time.Now().UTC()
	time.Sleep(1100 * time.Millisecond)
	psql(standby, "INSERT INTO orders (note) SELECT 'later' FROM generate_series(1, 4)")
	last := psql(standby, "SELECT pg_walfile_name(pg_switch_wal())")
	if !strings.HasPrefix(last, "00000002") {
		t.Fatalf("the promoted standby writes %s, want timeline 2", last)
	}
	waitArchived(standby, unarchived)
	waitArchived(standby, last)

	// The repository: one window along timeline 2, no gap.
	c, err := catalog.Load(ctx, store, l)
	if err != nil {
		t.Fatal(err)
	}
	w, err := c.RestorableWindow(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	if w.Timeline != 2 || !w.Restorable || len(w.Gaps) != 0 || w.LatestSegment != last || len(w.Timelines) != 2 {
		t.Fatalf("window after the failover: %+v", w)
	}
	t.Logf("window: timeline %d from backup %s to %s, no gap; %s", w.Timeline, w.FromBackup, w.LatestSegment, w.Timelines[1].Describe())

	// The restore across the switch, from this folder's main.tf.
	hcl, err := os.ReadFile("main.tf")
	if err != nil {
		t.Fatal(err)
	}
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "lifeboat_restore.after_failover"
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: map[string]func() (tfprotov6.ProviderServer, error){
			"lifeboat": providerserver.NewProtocol6WithError(provider.New("test")()),
		},
		Steps: []resource.TestStep{{
			Config: string(hcl),
			ConfigVariables: config.Variables{
				"repository_bucket": config.StringVariable(cfg.Bucket), "agent_path": config.StringVariable(bin),
				"point_in_time":  config.StringVariable(point.Format(time.RFC3339Nano)),
				"data_directory": config.StringVariable(filepath.Join(dir, "restored")), "port": config.IntegerVariable(port),
			},
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectKnownValue(addr, tfjsonpath.New("timeline"), knownvalue.Int64Exact(2)),
			}},
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue(addr, tfjsonpath.New("check_results"), knownvalue.MapExact(map[string]knownvalue.Check{
					"written_before_the_outage": knownvalue.StringExact("pass"), "written_after_the_promotion": knownvalue.StringExact("pass"),
				})),
				statecheck.ExpectKnownValue(addr, tfjsonpath.New("timeline"), knownvalue.Int64Exact(2)),
			},
		}},
	})
}
