package backup_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/wal"
)

var bucketSeq int

// newRepo creates a fresh bucket (no object lock, so tests can overwrite
// objects) and returns its store and a layout in it.
func newRepo(t *testing.T, env *testenv.Env) (objectstore.Store, repo.Layout) {
	t.Helper()
	m := env.MinIO[0]
	cfg := repo.AgentConfig{Endpoint: m.Endpoint, PathStyle: true, AccessKey: m.AccessKey, SecretKey: m.SecretKey,
		Bucket: fmt.Sprintf("backup-acc-%d-%d", os.Getpid(), bucketSeq), Prefix: "acc", Cluster: "pg15"}
	bucketSeq++
	client, err := objectstore.NewClient(context.Background(), cfg.ObjectStore())
	if err != nil {
		t.Fatal(err)
	}
	if err := client.CreateBucket(context.Background(), objectstore.BucketSpec{Name: cfg.Bucket}); err != nil {
		t.Fatal(err)
	}
	return client.Store(cfg.Bucket), cfg.Layout()
}

func psql(t *testing.T, pg *testenv.Postgres, db, sql string) string {
	t.Helper()
	out, err := pg.Psql(db, sql)
	if err != nil {
		t.Fatalf("psql %q: %v\n%s", sql, err, out)
	}
	return out
}

func pgTool(t *testing.T, pg *testenv.Postgres, tool string, args ...string) string {
	t.Helper()
	argv := append([]string{"-h", pg.Host, "-p", strconv.Itoa(pg.Port), "-U", pg.User}, args...)
	cmd := exec.Command(filepath.Join(pg.BinDir, tool), argv...)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+pg.Password)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", tool, args, err, out)
	}
	return string(out)
}

// pushWAL archives, with the wal engine, every segment from the backup's
// first to its last still in pg_wal: what archive_command would have done.
func pushWAL(t *testing.T, pg *testenv.Postgres, store objectstore.Store, l repo.Layout, m *backup.Manifest) {
	t.Helper()
	sysid, err := strconv.ParseUint(m.SystemIdentifier, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	first, err := wal.ParseSegment(m.WALStart, m.WALSegmentSize)
	if err != nil {
		t.Fatal(err)
	}
	last, err := wal.ParseSegment(m.WALStop, m.WALSegmentSize)
	if err != nil {
		t.Fatal(err)
	}
	// The stop segment is complete only after a switch.
	psql(t, pg, "postgres", "SELECT pg_switch_wal()")
	for no := first.No; no <= last.No; no++ {
		name := wal.Segment{Timeline: m.Timeline, No: no}.Name(m.WALSegmentSize)
		if _, err := wal.Push(context.Background(), store, wal.Config{Layout: l, SystemIdentifier: sysid},
			filepath.Join(pg.DataDir, "pg_wal", name)); err != nil {
			t.Fatalf("pushing %s: %v", name, err)
		}
	}
}

func dsn(pg *testenv.Postgres) string { return pg.DSN("postgres") }

func requireEnv(t *testing.T) *testenv.Env { return testenv.Require(t) }
