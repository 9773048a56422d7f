package restore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access/accesstest"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/wal"
)

// TestAccRestoreCleanRoom: after an attacker holding the writer's keys
// wrecked the live table and hid the base backup behind a delete marker
// and shadowed the WAL it needs with a forged version, a plain restore
// fails, while a clean-room restore as of the declared compromise time
// reads the repository as it was, verifies the WAL before starting, brings
// the rows back with restorer credentials only, opens with a fresh
// superuser password, and its plan's forensic context names what the
// attacker wrote. A WAL segment corrupted before the compromise fails the
// clean room before anything is written. The attacker's versions are
// removed afterwards, so the shared repository is whole again.
func TestAccRestoreCleanRoom(t *testing.T) {
	f := setup(t)
	pg := f.env.Postgres
	ctx := context.Background()
	psql(t, pg, "postgres", "DROP TABLE IF EXISTS ledger; CREATE TABLE ledger (id int PRIMARY KEY, note text)")
	psql(t, pg, "postgres", "INSERT INTO ledger SELECT g, 'entry ' || g FROM generate_series(1, 100) g")
	m := f.takeBackup(t)
	psql(t, pg, "postgres", "INSERT INTO ledger SELECT g, 'entry ' || g FROM generate_series(101, 150) g")
	f.switchAndWait(t)
	notAfter := pointInTime()

	// The attack, with the writer's keys.
	attacker := accesstest.Client(t, f.env.MinIO[0], "cleanroom-writer", access.RoleWriter, f.cfg.Bucket, f.cfg.Layout()).Store(f.cfg.Bucket)
	attackStart := time.Now()
	psql(t, pg, "postgres", "UPDATE ledger SET note = 'ENCRYPTED'; DROP TABLE ledger")
	f.switchAndWait(t)
	plan, err := restore.PlanCluster(ctx, f.store, f.clusterOptions(t, "x"))
	if err != nil {
		t.Fatal(err)
	}
	walKey := plan.WALKeys()[0]
	forged := []byte("forged wal")
	if _, err := attacker.Put(ctx, walKey, strings.NewReader(string(forged)), objectstore.PutOptions{Size: int64(len(forged)),
		Metadata: map[string]string{wal.MetaSHA256: "0000"}}); err != nil {
		t.Fatalf("the writer may write WAL (it cannot remove versions): %v", err)
	}
	if err := attacker.Delete(ctx, f.cfg.Layout().BackupManifestKey(m.ID)); err != nil {
		t.Fatalf("the writer may add delete markers: %v", err)
	}
	if err := attacker.DeleteVersion(ctx, walKey, firstVersion(t, f.store, walKey)); !errors.Is(err, objectstore.ErrAccessDenied) {
		t.Fatalf("the writer deleted a WAL version: %v", err)
	}
	t.Cleanup(func() { undoSince(t, f.store, f.cfg.Layout().RootDir(), attackStart) })

	rstore, rcfg := f.restorerStore(t, "cleanroom-restorer")
	request := func(name string) restore.Request {
		opts := f.clusterOptions(t, name)
		return restore.Request{Kind: restore.KindCluster, Layout: opts.Layout, DataDir: opts.DataDir, Port: opts.Port, BinDir: opts.BinDir,
			OSUser: opts.OSUser, AgentPath: opts.AgentPath, AgentConfig: rcfg, KeepRunning: true,
			Audit: restore.AuditOptions{Store: f.store, FrontEnd: restore.FrontEndCLI}}
	}

	t.Run("a_plain_restore_sees_the_attack", func(t *testing.T) {
		req := request("plain")
		req.BackupID = m.ID
		if _, err := restore.Restore(ctx, rstore, req); err == nil {
			_ = restore.Teardown(ctx, req)
			t.Fatal("a restore of the hidden backup succeeded without the clean room")
		}
	})

	t.Run("clean_room_as_of_before_the_attack", func(t *testing.T) {
		req := request("clean")
		req.CleanRoom, req.NotAfter = true, notAfter
		p, err := restore.PlanRestore(ctx, rstore, req)
		if err != nil {
			t.Fatalf("clean-room plan: %v", err)
		}
		if p.Source.ID != m.ID {
			t.Fatalf("clean room chose %s, want the backup before the compromise %s", p.Source, m.ID)
		}
		rep, err := restore.Forensics(ctx, rstore, f.cfg.Layout(), notAfter)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Join(rep.Lines(1000), "\n")
		if rep.DeleteMarkers < 1 || rep.Overwritten < 1 || !strings.Contains(lines, "delete marker "+f.cfg.Layout().BackupManifestKey(m.ID)) ||
			!strings.Contains(lines, "overwritten "+walKey) {
			t.Fatalf("forensic context misses the attack: %s\n%s", rep.Summary(), lines)
		}
		t.Logf("forensics: %s", rep.Summary())
		out, err := restore.Execute(ctx, rstore, req, p)
		if err != nil {
			t.Fatalf("clean-room restore: %v", err)
		}
		defer func() { _ = restore.Teardown(ctx, req) }()
		res := &restore.Result{DataDir: out.DataDir, Port: out.Port, User: out.User}
		if got := queryRestored(t, res, "postgres", "SELECT count(*) || ' ' || count(*) FILTER (WHERE note LIKE 'entry %') FROM ledger"); got != "150 150" {
			t.Fatalf("clean-room copy has %q rows (all, genuine), want 150 150", got)
		}
		if out.Superuser == "" || len(out.SuperuserPassword) < 24 {
			t.Fatalf("superuser %q password %q", out.Superuser, out.SuperuserPassword)
		}
		// The fresh password opens the copy over TCP on the loopback.
		conn, err := pgx.Connect(ctx, fmt.Sprintf("host=127.0.0.1 port=%d user=%s password=%s dbname=postgres sslmode=disable",
			out.Port, out.Superuser, out.SuperuserPassword))
		if err != nil {
			t.Fatalf("connecting with the fresh password: %v", err)
		}
		conn.Close(ctx)
		// restore_command read as of the compromise too.
		cfg, err := os.ReadFile(out.DataDir + "/" + restore.ConfigFile)
		if err != nil || !strings.Contains(string(cfg), `"read_as_of"`) || strings.Contains(string(cfg), rcfg.SecretKey) {
			t.Fatalf("copy's configuration: %s %v", cfg, err)
		}
		if got := queryRestored(t, res, "postgres", "SHOW archive_mode"); got != "off" {
			t.Fatalf("archive_mode %s", got)
		}
	})

	t.Run("a_corrupt_segment_fails_before_start", func(t *testing.T) {
		// The attack undone, a segment is corrupted before the declared
		// compromise: the clean room reads it, and refuses it before
		// writing anything.
		undoSince(t, f.store, f.cfg.Layout().RootDir(), attackStart)
		body, info := original(t, f.store, walKey)
		body[len(body)/2] ^= 0xff
		if _, err := f.store.Put(ctx, walKey, strings.NewReader(string(body)), objectstore.PutOptions{Size: int64(len(body)), Metadata: info}); err != nil {
			t.Fatal(err)
		}
		req := request("corrupt")
		req.CleanRoom, req.NotAfter = true, pointInTime()
		_, err := restore.Restore(ctx, rstore, req)
		var ce *wal.ChecksumError
		if !errors.As(err, &ce) {
			t.Fatalf("clean room over a corrupt segment: %v", err)
		}
		if _, err := os.Stat(req.DataDir); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a refused clean room created %s", req.DataDir)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		req := request("refused")
		req.CleanRoom, req.NotAfter, req.Target = true, notAfter, notAfter.Add(time.Second)
		if _, err := restore.PlanRestore(ctx, rstore, req); !errors.Is(err, restore.ErrAfterCompromise) {
			t.Fatalf("point after not_after: %v", err)
		}
		req = request("refused")
		req.Kind, req.CleanRoom = restore.KindTenant, true
		if _, err := restore.PlanRestore(ctx, rstore, req); !errors.Is(err, restore.ErrCleanRoom) {
			t.Fatalf("clean-room tenant: %v", err)
		}
	})
}

func firstVersion(t *testing.T, s objectstore.Store, key string) string {
	t.Helper()
	var v string
	if err := s.ListVersions(context.Background(), key, func(o objectstore.ObjectInfo) error {
		if o.Key == key {
			v = o.VersionID // newest first: the last seen is the first
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return v
}

// undoSince removes every version and delete marker written below prefix
// since t over an older version of its key: what the attack (and the
// corruption) wrote; what the live server archived is each key's first.
func undoSince(t *testing.T, s objectstore.Store, prefix string, since time.Time) {
	ctx := context.Background()
	var doomed, key []objectstore.ObjectInfo
	flush := func() {
		for i, o := range key {
			if i < len(key)-1 && o.LastModified.After(since) { // newest first: the last is the oldest
				doomed = append(doomed, o)
			}
		}
		key = nil
	}
	_ = s.ListVersions(ctx, prefix, func(o objectstore.ObjectInfo) error {
		if len(key) > 0 && key[0].Key != o.Key {
			flush()
		}
		key = append(key, o)
		return nil
	})
	flush()
	for _, o := range doomed {
		if err := s.DeleteVersion(ctx, o.Key, o.VersionID); err != nil {
			t.Errorf("undoing %s@%s: %v", o.Key, o.VersionID, err)
		}
	}
}

// original reads the first version of key and its metadata.
func original(t *testing.T, s objectstore.Store, key string) ([]byte, map[string]string) {
	t.Helper()
	rc, info, err := s.GetVersion(context.Background(), key, firstVersion(t, s, key))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b, info.Metadata
}
