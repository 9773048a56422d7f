package provider

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/pg"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/wal"
)

// With archiving configured by the resource: pgbench load lands every
// segment with a valid checksum; an object-store outage makes refresh warn
// that archiving fails while PostgreSQL keeps the WAL; after the outage the
// archive has no gap and wal-fetch returns byte-identical segments.
func TestAccWalArchiveResource_loadOutageAndRecovery(t *testing.T) {
	env := testenv.Require(t)
	pgSrv := env.Postgres
	agent, dir := buildAgent(t)
	bucket := randomName("lb-walfault")
	cfgPath := filepath.Join(dir, "agent.json")
	ak, sk := testAccUser(t, access.RoleWriter, bucket, repo.Layout{Prefix: "pg", Cluster: "main"})
	config := testAccWalArchiveConfig_basic(bucket, pgSrv.DSN("postgres"), agent, cfgPath, "10s", ak, sk)
	resetArchiving(t, pgSrv) // start from a fresh cluster's settings, whatever ran before
	t.Cleanup(func() { resetArchiving(t, pgSrv) })
	ctx := context.Background()
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             testAccCheckBucketDestroyed(t, bucket),
		Steps: []resource.TestStep{
			{Config: config},
			{
				PreConfig: func() {
					if err := pgSrv.Restart(ctx); err != nil {
						t.Fatal(err)
					}
				},
				Config: config,
				Check: func(*terraform.State) error {
					pool, err := pg.Pool(ctx, pgSrv.DSN("postgres"))
					if err != nil {
						return err
					}
					model := &walArchiveModel{RPO: types.StringValue("10s"), Postgres: &postgresModel{DSN: types.StringValue(pgSrv.DSN("postgres")), Host: types.StringNull()}}
					r := &walArchiveResource{}

					// Load, archived normally.
					pgbench(t, pgSrv, "-i", "-s", "3", "-q")
					last := switchAndWaitArchived(t, pool, 90*time.Second)

					// Outage: the archiver fails and refresh says so.
					env.MinIO[0].Stop()
					restarted := false
					defer func() {
						if !restarted {
							_ = env.MinIO[0].Start(ctx)
						}
					}()
					pgbench(t, pgSrv, "-c", "2", "-T", "3")
					if _, err := pool.Exec(ctx, "select pg_switch_wal()"); err != nil {
						return err
					}
					var st pg.ArchiveState
					deadline := time.Now().Add(60 * time.Second)
					for {
						st, err = pg.ReadArchive(ctx, pool)
						if err != nil {
							return err
						}
						if st.Archiver.Failing() {
							break
						}
						if time.Now().After(deadline) {
							return fmt.Errorf("archiver never reported a failure with the object store down: %+v", st.Archiver)
						}
						time.Sleep(500 * time.Millisecond)
					}
					var diags diag.Diagnostics
					r.warnPosture(ctx, pool, model, st, &diags)
					if !hasWarning(diags, "WAL Archiving Failing") || diags.HasError() {
						return fmt.Errorf("refresh during the outage: want a 'WAL Archiving Failing' warning and no error, got %v", diags)
					}

					// Recovery: archiving catches up, with no gap.
					if err := env.MinIO[0].Start(ctx); err != nil {
						return err
					}
					restarted = true
					end := switchAndWaitArchived(t, pool, 120*time.Second)
					if end <= last {
						return fmt.Errorf("no progress after the outage: %s then %s", last, end)
					}
					return checkArchiveComplete(t, bucket, pgSrv.DataDir, end)
				},
			},
		},
	})
}

func hasWarning(diags diag.Diagnostics, summary string) bool {
	for _, d := range diags.Warnings() {
		if d.Summary() == summary {
			return true
		}
	}
	return false
}

func pgbench(t *testing.T, pgSrv *testenv.Postgres, args ...string) {
	t.Helper()
	argv := append([]string{"-h", pgSrv.Host, "-p", strconv.Itoa(pgSrv.Port), "-U", pgSrv.User}, args...)
	argv = append(argv, "postgres")
	cmd := execCommand(filepath.Join(pgSrv.BinDir, "pgbench"), argv...)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+pgSrv.Password)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pgbench %v: %v\n%s", args, err, out)
	}
}

// switchAndWaitArchived switches WAL and waits until PostgreSQL reports the
// completed segment archived; it returns that segment's name.
func switchAndWaitArchived(t *testing.T, pool pgPool, limit time.Duration) string {
	t.Helper()
	ctx := context.Background()
	seg, err := pg.SwitchWAL(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(limit)
	for {
		st, err := pg.ReadArchive(ctx, pool)
		if err != nil {
			t.Fatal(err)
		}
		if st.Archiver.LastArchivedWAL >= seg {
			return seg
		}
		if time.Now().After(deadline) {
			t.Fatalf("segment %s not archived within %s: %+v", seg, limit, st.Archiver)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// checkArchiveComplete asserts every segment from the first archived to end
// is in the bucket, each fetched back with a valid checksum, and identical
// to the file still in pg_wal where PostgreSQL has not recycled it yet.
func checkArchiveComplete(t *testing.T, bucket, dataDir, end string) error {
	ctx := context.Background()
	store := testAccClient(t).Store(bucket)
	layout := repo.Layout{Prefix: "pg", Cluster: "main"}
	var segs []string
	err := store.List(ctx, layout.WALDir(), func(o objectstore.ObjectInfo) error {
		name := strings.TrimSuffix(filepath.Base(o.Key), filepath.Ext(o.Key))
		if wal.IsSegment(name) {
			segs = append(segs, name)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(segs)
	if len(segs) < 3 || segs[len(segs)-1] < end {
		return fmt.Errorf("archive holds %v, want at least up to %s", segs, end)
	}
	for i := 1; i < len(segs); i++ {
		if segNo(segs[i]) != segNo(segs[i-1])+1 {
			return fmt.Errorf("gap in the archive between %s and %s", segs[i-1], segs[i])
		}
	}
	cfg := wal.Config{Layout: layout}
	tmp := t.TempDir()
	compared := 0
	for _, s := range segs {
		dest := filepath.Join(tmp, s)
		if _, err := wal.Fetch(ctx, store, cfg, s, dest); err != nil {
			return fmt.Errorf("fetching %s: %w", s, err)
		}
		local, err := os.ReadFile(filepath.Join(dataDir, "pg_wal", s))
		if err != nil {
			continue // recycled by a checkpoint: nothing to compare with
		}
		fetched, err := os.ReadFile(dest)
		if err != nil {
			return err
		}
		if !bytes.Equal(local, fetched) {
			return fmt.Errorf("fetched %s differs from pg_wal's copy", s)
		}
		compared++
	}
	if compared == 0 {
		return fmt.Errorf("no archived segment left in pg_wal to compare with")
	}
	t.Logf("archive complete: %d segments %s..%s, %d compared byte for byte with pg_wal", len(segs), segs[0], segs[len(segs)-1], compared)
	return nil
}

// segNo is a segment's position in the WAL stream (16 MiB segments).
func segNo(name string) uint64 {
	log, _ := strconv.ParseUint(name[8:16], 16, 64)
	seg, _ := strconv.ParseUint(name[16:24], 16, 64)
	return log*0x100 + seg
}
