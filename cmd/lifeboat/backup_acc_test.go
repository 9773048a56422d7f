package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/catalog"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/compression"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/wal"
)

// backupFixture runs the built lifeboat binary against PostgreSQL and a
// fresh bucket, and archives WAL with the wal engine.
type backupFixture struct {
	env     *testenv.Env
	bin     string
	cfgPath string
	cfg     repo.AgentConfig
	store   objectstore.Store
	pushed  uint64 // next segment number to archive
}

// TestAccBackupCommands drives backup, backups, verify and prune through
// the binary: three backups, one killed mid-stream with SIGKILL, then
// retention by count.
func TestAccBackupCommands(t *testing.T) {
	env := testenv.Require(t)
	f := setupBackups(t, env)
	pg := env.Postgres
	pgbench(t, pg, "-i", "-s", "10", "-q")

	var ids []string
	for i := 0; i < 3; i++ {
		out := f.run(t, 0, "backup", "--part-size", strconv.Itoa(4<<20))
		ids = append(ids, f.newest(t))
		t.Logf("backup %d: %s", i, strings.TrimSpace(out))
		f.archiveWAL(t)
		pgbench(t, pg, "-c", "1", "-t", "200", "-n")
		f.archiveWAL(t)
	}

	var listing struct {
		Backups []catalog.Backup `json:"backups"`
		Window  *catalog.Window  `json:"window"`
	}
	if err := json.Unmarshal([]byte(f.run(t, 0, "backups", "--json")), &listing); err != nil {
		t.Fatal(err)
	}
	if len(listing.Backups) != 3 || !listing.Window.Restorable || listing.Window.FromBackup != ids[0] {
		t.Fatalf("backups --json: %+v window %+v", listing.Backups, listing.Window)
	}
	if out := f.run(t, 0, "verify", ids[2]); !strings.HasSuffix(strings.TrimSpace(out), "OK") {
		t.Fatalf("verify: %s", out)
	}

	// kill -9 mid-stream: uncompressed, 1 MiB parts and a slow server, so
	// parts are stored well before the end.
	killed := f.killMidStream(t)
	if _, err := f.store.Head(context.Background(), f.cfg.Layout().BackupManifestKey(killed)); !errors.Is(err, objectstore.ErrNotFound) {
		t.Fatalf("killed backup %s has a manifest: %v", killed, err)
	}
	list := f.run(t, 0, "backups")
	if strings.Contains(list, killed) {
		t.Fatalf("killed backup %s listed:\n%s", killed, list)
	}
	if out, code := f.exec(t, "verify", killed); code != 2 || !strings.Contains(out, "no manifest") {
		t.Fatalf("verify of the killed backup: exit %d: %s", code, out)
	}

	// Retention: keep 2. The oldest backup, the killed one's parts and
	// the WAL before the second backup go; the rest verifies.
	out := f.run(t, 0, "prune", "--full-count", "2", "--grace", "0")
	t.Logf("prune: %s", out)
	if !strings.Contains(out, "deleted backup "+ids[0]) || !strings.Contains(out, "deleted incomplete backup "+killed) ||
		strings.Contains(out, ids[1]) || strings.Contains(out, ids[2]) {
		t.Fatalf("prune output:\n%s", out)
	}
	left := 0
	if err := f.store.List(context.Background(), f.cfg.Layout().BackupDir(killed), func(objectstore.ObjectInfo) error {
		left++
		return nil
	}); err != nil || left != 0 {
		t.Fatalf("%d objects of the killed backup left (%v)", left, err)
	}
	c, err := catalog.Load(context.Background(), f.store, f.cfg.Layout())
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Physical) != 2 || c.Physical[0].ID != ids[1] {
		t.Fatalf("after prune: %d backups, oldest %s", len(c.Physical), c.Physical[0].ID)
	}
	a, err := catalog.ListWAL(context.Background(), f.store, f.cfg.Layout(), 0)
	if err != nil {
		t.Fatal(err)
	}
	oldest, _ := wal.ParseSegment(a.Files[0].Name, a.SegmentSize)
	if a.Files[0].Name != c.Physical[0].WALStart {
		t.Fatalf("oldest WAL left %s (segment %d), want %s: the kept backup's first segment", a.Files[0].Name, oldest.No, c.Physical[0].WALStart)
	}
	for _, id := range ids[1:] {
		if out := f.run(t, 0, "verify", id); !strings.HasSuffix(strings.TrimSpace(out), "OK") {
			t.Fatalf("verify %s after prune: %s", id, out)
		}
	}
	// A later prune with the same policy has nothing to do.
	if out := f.run(t, 0, "prune", "--full-count", "2", "--grace", "0"); strings.Contains(out, "deleted backup") {
		t.Fatalf("second prune: %s", out)
	}
}

func setupBackups(t *testing.T, env *testenv.Env) *backupFixture {
	return setupAgentRepo(t, env, "backup-cmd-acc")
}

func (f *backupFixture) command(args ...string) *exec.Cmd {
	cmd := exec.Command(f.bin, args...)
	cmd.Env = append(os.Environ(), repo.EnvConfig+"="+f.cfgPath, EnvPGDSN+"="+f.env.Postgres.DSN("postgres"))
	return cmd
}

func (f *backupFixture) exec(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	cmd := f.command(args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return out.String(), 0
}

func (f *backupFixture) run(t *testing.T, want int, args ...string) string {
	t.Helper()
	out, code := f.exec(t, args...)
	if code != want {
		t.Fatalf("lifeboat %v: exit %d, want %d\n%s", args, code, want, out)
	}
	return out
}

func (f *backupFixture) newest(t *testing.T) string {
	t.Helper()
	list, err := catalog.ListBackups(context.Background(), f.store, f.cfg.Layout())
	if err != nil || len(list) == 0 {
		t.Fatalf("ListBackups: %v, %v", list, err)
	}
	return list[len(list)-1].ID
}

// archiveWAL switches WAL and pushes every complete segment not pushed
// yet, from the first backup's first segment on, as archive_command would
// have (before a checkpoint recycles them).
func (f *backupFixture) archiveWAL(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	c, err := catalog.Load(ctx, f.store, f.cfg.Layout())
	if err != nil {
		t.Fatal(err)
	}
	m := c.Physical[0]
	if f.pushed == 0 {
		first, _ := wal.ParseSegment(m.WALStart, m.WALSegmentSize)
		f.pushed = first.No
	}
	last, err := wal.ParseSegment(psql(t, f.env.Postgres, "SELECT pg_walfile_name(pg_switch_wal())"), m.WALSegmentSize)
	if err != nil {
		t.Fatal(err)
	}
	sysid, _ := strconv.ParseUint(m.SystemIdentifier, 10, 64)
	for ; f.pushed <= last.No; f.pushed++ {
		name := wal.Segment{Timeline: m.Timeline, No: f.pushed}.Name(m.WALSegmentSize)
		if _, err := wal.Push(ctx, f.store, wal.Config{Layout: f.cfg.Layout(), SystemIdentifier: sysid},
			filepath.Join(f.env.Postgres.DataDir, "pg_wal", name)); err != nil {
			t.Fatalf("archiving %s: %v", name, err)
		}
	}
}

// killMidStream starts a slow backup, SIGKILLs it once two parts are
// stored, and returns its id.
func (f *backupFixture) killMidStream(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	cmd := f.command("backup", "--compression", "none", "--part-size", strconv.Itoa(1<<20), "--max-rate", "8192")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	l := f.cfg.Layout()
	deadline := time.Now().Add(60 * time.Second)
	for {
		parts := map[string]int{}
		complete := map[string]bool{}
		if err := f.store.List(ctx, l.BaseBackupsDir(), func(o objectstore.ObjectInfo) error {
			k, _ := l.Parse(o.Key)
			id := k.ID
			if k.Kind == repo.KindBackupManifest {
				complete[id] = true
			}
			parts[id]++
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		for id, n := range parts {
			if !complete[id] && n >= 2 {
				if err := cmd.Process.Kill(); err != nil { // SIGKILL
					t.Fatal(err)
				}
				cmd.Wait()
				t.Logf("killed backup %s after %d parts", id, n)
				return id
			}
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no parts stored within 60s:\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestAccBackupTenants_policyDatabasesAndFailures: `backup tenants` with no
// names dumps the policy's tenant_databases; one of them was dropped, so
// the command exits 1 naming it, and every other tenant is dumped.
func TestAccBackupTenants_policyDatabasesAndFailures(t *testing.T) {
	env := testenv.Require(t)
	f := setupAgentRepo(t, env, "backup-tenants-acc")
	ctx := context.Background()
	for _, db := range []string{"cli_t1", "cli_t2", "cli_t3"} {
		psql(t, env.Postgres, "DROP DATABASE IF EXISTS "+db)
		psql(t, env.Postgres, "CREATE DATABASE "+db)
	}
	psql(t, env.Postgres, "DROP DATABASE cli_t2")

	// No names and no policy: nothing to dump, said plainly.
	if out, code := f.exec(t, "backup", "tenants"); code != 2 || !strings.Contains(out, "no backup policy") {
		t.Fatalf("backup tenants without names or policy: exit %d:\n%s", code, out)
	}
	if err := repo.WritePolicy(ctx, f.store, f.cfg.Layout(), repo.Policy{Cluster: f.cfg.Cluster, Schedule: "@daily",
		TenantDatabases: []string{"cli_t1", "cli_t2", "cli_t3"}, TenantDumpParallelism: 3}, nil); err != nil {
		t.Fatal(err)
	}
	out, code := f.exec(t, "backup", "tenants", "--pg-bindir", env.Postgres.BinDir)
	if code != 1 || !strings.Contains(out, "1 of 3 tenant dumps failed: cli_t2") || !strings.Contains(out, "tenant dump cli_t2: FAILED") {
		t.Fatalf("backup tenants: exit %d, want 1 naming cli_t2:\n%s", code, out)
	}
	c, err := catalog.Load(ctx, f.store, f.cfg.Layout())
	if err != nil {
		t.Fatal(err)
	}
	var dumped []string
	for _, m := range c.Tenant {
		dumped = append(dumped, m.Database)
	}
	sort.Strings(dumped) // dumped in parallel: any order
	if strings.Join(dumped, ",") != "cli_t1,cli_t3" {
		t.Fatalf("dumped %v, want cli_t1 and cli_t3", dumped)
	}
	// Named databases override the policy's; all succeed: exit 0.
	if out := f.run(t, 0, "backup", "tenants", "--pg-bindir", env.Postgres.BinDir, "--parallel", "1", "cli_t3"); !strings.Contains(out, "tenant dump cli_t3/") {
		t.Fatalf("backup tenants cli_t3:\n%s", out)
	}
	if out, code := f.exec(t, "backup", "tenants", "--parallel", "99", "cli_t3"); code != 2 || !strings.Contains(out, "--parallel 99") {
		t.Fatalf("--parallel 99: exit %d:\n%s", code, out)
	}
}

// TestAccVerify_changedWALSegment: one changed byte in an archived WAL
// segment the backup needs (the object present, its size unchanged) makes
// `verify` fail, naming the segment; before the change it passes.
func TestAccVerify_changedWALSegment(t *testing.T) {
	env := testenv.Require(t)
	f := setupAgentRepo(t, env, "verify-wal-acc")
	f.run(t, 0, "backup")
	id := f.newest(t)
	f.archiveWAL(t)
	if out := f.run(t, 0, "verify", id); !strings.HasSuffix(strings.TrimSpace(out), "OK") {
		t.Fatalf("verify before the change: %s", out)
	}

	key := f.changeWALByte(t, loadCatalog(t, f).Physical[0].WALStart)
	out, code := f.exec(t, "verify", id)
	if code != 1 || !strings.Contains(out, "FAIL "+key) || !strings.Contains(out, "checksum stored with it") {
		t.Fatalf("verify after changing one byte of %s: exit %d, want 1 naming it:\n%s", key, code, out)
	}
}

// changeWALByte changes one byte in the middle of archived WAL file
// name's content, stored again with the same codec and the same recorded
// size and checksum, as a bad disk or a tampered object would leave it,
// and returns its key.
//
// NOTE: the content, not the stored bytes: an object may end in padding
// frames the decoder skips, where a changed byte changes nothing a
// restore reads.
func (f *backupFixture) changeWALByte(t *testing.T, name string) string {
	t.Helper()
	ctx := context.Background()
	a, err := catalog.ListWAL(ctx, f.store, f.cfg.Layout(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var key string
	for _, wf := range a.Files {
		if wf.Name == name {
			key = wf.Key
		}
	}
	if key == "" {
		t.Fatalf("WAL file %s is not archived", name)
	}
	method, ok := compression.ByExt(key[strings.LastIndexByte(key, '.')+1:])
	if !ok {
		t.Fatalf("no codec for %s", key)
	}
	body, info, err := f.store.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := method.NewReader(body)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	zr.Close()
	body.Close()
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)/2] ^= 0x01
	var stored bytes.Buffer
	zw, err := method.NewWriter(&stored)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Put(ctx, key, bytes.NewReader(stored.Bytes()), objectstore.PutOptions{Size: int64(stored.Len()), Metadata: info.Metadata}); err != nil {
		t.Fatal(err)
	}
	return key
}

// TestAccPrune_writer: the agent prunes with the writer's keys (a MinIO
// user made from access.Policy(RoleWriter)), which may never delete an
// object version, in a bucket under object lock. Prune succeeds with delete
// markers: the pruned backup and a killed backup's parts leave `lifeboat
// backups` and the catalog, their versions stay, locked, for the bucket's
// lifecycle, and the output says until when. No version deletion is ever
// attempted.
func TestAccPrune_writer(t *testing.T) {
	env := testenv.Require(t)
	f, admin := setupWriterRepo(t, env, "prune-writer-acc")
	ctx := context.Background()
	cfg := f.cfg
	l := cfg.Layout()

	var ids []string
	for i := 0; i < 3; i++ {
		f.run(t, 0, "backup")
		ids = append(ids, f.newest(t))
		f.archiveWAL(t)
	}
	killed := f.killMidStream(t)
	out := f.run(t, 0, "prune", "--full-count", "2", "--grace", "0")
	t.Logf("prune: %s", out)
	for _, want := range []string{"deleted backup " + ids[0], "deleted incomplete backup " + killed,
		"held by object lock: backup " + ids[0], "held by object lock: incomplete backup " + killed, "until 20"} {
		if !strings.Contains(out, want) {
			t.Fatalf("prune output lacks %q:\n%s", want, out)
		}
	}
	var listing struct {
		Backups []catalog.Backup `json:"backups"`
	}
	if err := json.Unmarshal([]byte(f.run(t, 0, "backups", "--json")), &listing); err != nil {
		t.Fatal(err)
	}
	if len(listing.Backups) != 2 || listing.Backups[0].ID != ids[1] {
		t.Fatalf("backups after prune: %+v, want %v", listing.Backups, ids[1:])
	}
	c, err := catalog.Load(ctx, f.store, l)
	if err != nil || len(c.Physical) != 2 || len(c.Incomplete) != 0 {
		t.Fatalf("catalog after prune: %+v, %v", c, err)
	}
	// Every object of the pruned backups is still there as a version,
	// locked, behind a delete marker.
	for _, id := range []string{ids[0], killed} {
		held, markers := 0, 0
		if err := f.store.ListVersions(ctx, l.BackupDir(id), func(o objectstore.ObjectInfo) error {
			if o.DeleteMarker {
				markers++
				return nil
			}
			until, _, ok := admin.Store(cfg.Bucket).Retention(ctx, o.Key, o.VersionID)
			if !ok || !until.After(time.Now()) {
				t.Errorf("%s version %s: not locked (%v, %s)", o.Key, o.VersionID, ok, until)
			}
			held++
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if held == 0 || markers != held {
			t.Fatalf("backup %s: %d versions, %d delete markers; want every version kept behind a marker", id, held, markers)
		}
	}
	for _, id := range ids[1:] {
		if out := f.run(t, 0, "verify", id); !strings.HasSuffix(strings.TrimSpace(out), "OK") {
			t.Fatalf("verify %s after prune: %s", id, out)
		}
	}

	// The engine the agent's scheduled prune runs, with the writer's
	// store: not one version deletion is tried.
	writer, err := objectstore.NewClient(ctx, cfg.ObjectStore())
	if err != nil {
		t.Fatal(err)
	}
	g := &versionDeleteGuard{S3: writer.Store(cfg.Bucket)}
	res, err := catalog.Prune(ctx, g, l, catalog.PruneOptions{FullCount: 1, Grace: -1})
	if err != nil {
		t.Fatalf("prune with the writer's keys: %v", err)
	}
	if g.tried != 0 {
		t.Fatalf("prune tried %d version deletions", g.tried)
	}
	if fmt.Sprint(res.Deleted) != fmt.Sprint([]string{ids[1]}) || res.WALDeleted == 0 || len(res.Waiting) != 1 || res.Waiting[0].Until.IsZero() {
		t.Fatalf("second prune: %+v", res)
	}
	if list, err := catalog.ListBackups(ctx, f.store, l); err != nil || len(list) != 1 || list[0].ID != ids[2] {
		t.Fatalf("backups after the second prune: %+v, %v", list, err)
	}
}

// setupWriterRepo is setupAgentRepo in a bucket under object lock
// (GOVERNANCE, 1 day), the binary running with the keys of a MinIO user
// made from the writer's policy document; f.store and the client returned
// use the admin's keys, to inspect.
func setupWriterRepo(t *testing.T, env *testenv.Env, name string) (*backupFixture, *objectstore.Client) {
	t.Helper()
	f := setupAgentRepo(t, env, name)
	ctx := context.Background()
	admin, err := objectstore.NewClient(ctx, f.cfg.ObjectStore())
	if err != nil {
		t.Fatal(err)
	}
	cfg := f.cfg
	cfg.Bucket = name + "-locked"
	if err := admin.CreateBucket(ctx, objectstore.BucketSpec{Name: cfg.Bucket,
		Retention: &objectstore.Retention{Mode: objectstore.ModeGovernance, Days: 1}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.DestroyBucket(context.Background(), cfg.Bucket, true) })
	doc, err := access.Policy(access.RoleWriter, cfg.Bucket, cfg.Layout())
	if err != nil {
		t.Fatal(err)
	}
	cfg.AccessKey, cfg.SecretKey = name+"-writer", name+"-writer-secret"
	if err := env.MinIO[0].CreateUser(ctx, cfg.AccessKey, cfg.SecretKey, name+"-writer", doc.JSON()); err != nil {
		t.Fatal(err)
	}
	body, err := cfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.cfgPath, body, 0o600); err != nil {
		t.Fatal(err)
	}
	f.cfg, f.store = cfg, admin.Store(cfg.Bucket)
	return f, admin
}

// versionDeleteGuard counts, and refuses, version deletions.
type versionDeleteGuard struct {
	*objectstore.S3
	tried int
}

func (g *versionDeleteGuard) DeleteVersion(context.Context, string, string) error {
	g.tried++
	return errors.New("prune must never delete an object version")
}
