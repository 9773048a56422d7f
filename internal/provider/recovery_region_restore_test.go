package provider

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/jackc/pgx/v5"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/catalog"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/region"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/wal"
)

// Copy under pgbench load into a second MinIO server: once the load stops
// and the last segment is archived, a pass later the region holds every
// segment (consecutive, byte-identical) and every base backup. Then the
// primary MinIO server is stopped, and a cluster restore and a tenant
// restore are planned and applied from the region alone.
func TestAccRecoveryRegion_restoreWithPrimaryDown(t *testing.T) {
	f := newRestoreFixture(t)
	env := testenv.Require(t)
	ctx := context.Background()
	dr, drClient := secondRegion(t)
	dst := randomName("lb-rr-dr")
	if err := drClient.CreateBucket(ctx, objectstore.BucketSpec{Name: dst, Retention: &objectstore.Retention{Mode: objectstore.ModeGovernance, Days: 1}}); err != nil {
		t.Fatal(err)
	}
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	src, dest := testAccClient(t).Store(f.bucket), drClient.Store(dst)
	opts := region.Options{Name: dst, Layout: l, Source: src, Dest: dest}
	doc := region.ConfigDoc{Name: dst, Cluster: "main", Destination: region.Destination{Bucket: dst, Endpoint: dr.Endpoint},
		IntervalSeconds: 60, MaxLagSeconds: 900, Activation: []region.Group{{Name: "warehouse", Tenants: []string{"rr_acme"}, RTOSeconds: 1800}}}
	if err := region.WriteConfig(ctx, src, l, doc, nil); err != nil {
		t.Fatal(err)
	}

	exec := func(db, sql string) { t.Helper(); env.Postgres.MustPsql(t, db, sql) }
	exec("postgres", "DROP DATABASE IF EXISTS rr_acme")
	exec("postgres", "CREATE DATABASE rr_acme")
	exec("rr_acme", "CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders SELECT generate_series(1, 40)")
	exec("postgres", "DROP TABLE IF EXISTS rr_marker; CREATE TABLE rr_marker (x int)")
	pgbench(t, env.Postgres, "-i", "-s", "2", "-q")

	// Copy passes run while pgbench writes and WAL switches.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var passes int
	var copyErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := region.Copy(ctx, opts); err != nil && copyErr == nil {
				copyErr = err
			}
			passes++
		}
	}()
	for i := 0; i < 4; i++ {
		pgbench(t, env.Postgres, "-c", "2", "-T", "3", "-n")
		switchAndWaitArchived(t, f.pool, 90*time.Second)
	}
	close(stop)
	wg.Wait()
	if copyErr != nil {
		t.Fatalf("a copy pass under load failed: %v", copyErr)
	}
	exec("rr_acme", "INSERT INTO orders VALUES (41)")
	exec("postgres", "INSERT INTO rr_marker VALUES (41)") // the last write before the primary goes
	last := switchAndWaitArchived(t, f.pool, 90*time.Second)
	st, err := region.Copy(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if st.PendingObjects != 0 {
		t.Fatalf("after the load: %+v", st)
	}
	t.Logf("%d passes under load; final pass copied %d objects, lag %s", passes, st.Copied, st.Lag(time.Now()))

	// Every segment of the source, byte-identical and consecutive; every
	// backup.
	var segs []string
	err = src.List(ctx, l.WALDir(), func(o objectstore.ObjectInfo) error {
		k, ok := l.Parse(o.Key)
		if ok && k.Kind == repo.KindWAL && wal.IsSegment(k.Name) {
			segs = append(segs, k.Name)
			sameStoreBytes(t, src, dest, o.Key)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) < 5 || segs[len(segs)-1] < last {
		t.Fatalf("segments %v, want at least up to %s", segs, last)
	}
	arch, err := catalog.ListWAL(ctx, dest, l, 0)
	if err != nil {
		t.Fatal(err)
	}
	if gaps := arch.AllGaps(); len(gaps) != 0 {
		t.Fatalf("WAL in the region has gaps: %+v", gaps)
	}
	srcCat, _ := catalog.LoadPhysical(ctx, src, l)
	dstCat, err := catalog.LoadPhysical(ctx, dest, l)
	if err != nil || len(dstCat.Physical) != len(srcCat.Physical) || len(dstCat.Physical) == 0 {
		t.Fatalf("backups in the region %d, in the source %d (%v)", len(dstCat.Physical), len(srcCat.Physical), err)
	}

	// The runbook, from the region alone: the region's own document came
	// along, the cluster's latest point is the last segment's.
	copied, err := region.ReadConfig(ctx, dest, l, dst, signature.Trust{})
	if err != nil || len(copied.Activation) != 1 {
		t.Fatalf("region document at the destination: %+v, %v", copied, err)
	}
	plan, err := region.PlanActivation(ctx, dest, *copied, "pg", []string{"main"}, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	book := plan.Markdown()
	if plan.Clusters[0].Err != nil || plan.Clusters[0].BackupID != dstCat.Physical[len(dstCat.Physical)-1].ID ||
		!strings.Contains(book, "### 1. warehouse (RTO 30m0s)") || !strings.Contains(book, "restore tenant `rr_acme` of cluster `main` to latest") {
		t.Fatalf("runbook:\n%s", book)
	}

	// The primary store is gone.
	primary := env.MinIO[0]
	primary.Stop()
	t.Cleanup(func() {
		if err := primary.Start(context.Background()); err != nil {
			t.Errorf("restarting the primary MinIO: %v", err)
		}
	})
	if _, err := src.Head(ctx, l.PolicyKey()); !errors.Is(err, objectstore.ErrUnreachable) && !strings.Contains(fmt.Sprint(err), "connection refused") {
		t.Fatalf("the primary still answers: %v", err)
	}

	dir := filepath.Join(f.scratch, "restored-from-region")
	port, _ := testenv.FreePort()
	regionBlock := fmt.Sprintf(`
  source_region {
    bucket     = %q
    endpoint   = %q
    region     = "eu-central-2"
    access_key = %q
    secret_key = %q
    path_style = true
  }`, dst, dr.Endpoint, dr.AccessKey, dr.SecretKey)
	config := fmt.Sprintf(`
resource "lifeboat_restore" "cluster" {
  kind          = "cluster"
  point_in_time = "latest"
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
    name     = "last_write"
    sql      = "SELECT max(x) FROM rr_marker"
    expected = "41"
  }
  %[5]s
}

resource "lifeboat_restore" "tenant" {
  kind          = "tenant"
  point_in_time = "latest"
  agent_path    = %[1]q
  cluster       = "main"
  repository {
    bucket = %[2]q
    prefix = "pg"
  }
  target {
    source_database = "rr_acme"
    database        = "rr_acme_dr"
  }
  postgres {
    dsn = %[6]q
  }
  %[5]s
}
`, f.agent, f.bucket, dir, port, regionBlock, env.Postgres.DSN("postgres"))
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: config,
			Check: resource.ComposeTestCheckFunc(
				resource.TestCheckResourceAttr("lifeboat_restore.cluster", "check_results.last_write", "pass"),
				resource.TestMatchResourceAttr("lifeboat_restore.cluster", "recovery_source", regexpMust(`^backup:`)),
				func(*terraform.State) error {
					conn, err := pgx.Connect(ctx, env.Postgres.DSN("rr_acme_dr"))
					if err != nil {
						return err
					}
					defer conn.Close(ctx)
					var n int
					if err := conn.QueryRow(ctx, "SELECT count(*) FROM orders").Scan(&n); err != nil || n != 41 {
						return fmt.Errorf("tenant restored from the region has %d orders (%v), want 41", n, err)
					}
					return nil
				},
			),
		}},
	})
}

func sameStoreBytes(t *testing.T, a, b objectstore.Store, key string) {
	t.Helper()
	read := func(s objectstore.Store) string {
		rc, _, err := s.Get(context.Background(), key)
		if err != nil {
			t.Fatalf("%s in %s: %v", key, s.Bucket(), err)
		}
		defer rc.Close()
		var sb strings.Builder
		buf := make([]byte, 1<<16)
		for {
			n, err := rc.Read(buf)
			sb.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return sb.String()
	}
	if read(a) != read(b) {
		t.Fatalf("%s differs between the source and the region", key)
	}
}
