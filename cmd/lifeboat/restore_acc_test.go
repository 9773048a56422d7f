package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestAccRestoreCommand archives through the binary, takes a backup with
// it, and restores with it: --plan, a point outside the window, and a
// restore to latest that keeps its server running.
func TestAccRestoreCommand(t *testing.T) {
	env := testenv.Require(t)
	pg, m := env.Postgres, env.MinIO[0]
	bin, dir := testenv.Lifeboat(t), testenv.Dir(t)
	r := m.NewRepository(t, dir, objectstore.BucketSpec{Name: "restore-cmd-acc"}, "acc", "pg15", pg.OSUser)
	cfgPath := r.ConfigPath
	pg.ArchiveWith(t, testenv.WALPushCommand(bin, cfgPath))
	run := func(want int, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), repo.EnvConfig+"="+cfgPath, EnvPGDSN+"="+pg.DSN("postgres"), "LIFEBOAT_PG_BINDIR="+pg.BinDir)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != want {
			t.Fatalf("lifeboat %v: exit %d, want %d\n%s", args, code, want, out.String())
		}
		return out.String()
	}
	waitArchived := func() {
		t.Helper()
		_ = psql(t, pg, "SELECT txid_current()")
		// NOTE: a commit first, so the switch always completes a segment
		// (right after another switch it would not).
		seg := psql(t, pg, "SELECT pg_walfile_name(pg_switch_wal() - 1)")
		deadline := time.Now().Add(time.Minute)
		for {
			if last := psql(t, pg, "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver"); len(last) >= 24 && (last[8:24] > seg[8:] || last == seg) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not archived: archive_mode %s, archiver %s", seg, psql(t, pg, "SHOW archive_mode"),
					psql(t, pg, "SELECT row(s.*)::text FROM pg_stat_archiver s"))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	psql(t, pg, "DROP TABLE IF EXISTS restore_cmd; CREATE TABLE restore_cmd AS SELECT g AS id FROM generate_series(1, 1000) g")
	run(0, "backup")
	waitArchived()
	psql(t, pg, "INSERT INTO restore_cmd SELECT g FROM generate_series(1001, 1500) g")
	waitArchived()

	if out := run(0, "restore", "--plan"); !strings.Contains(out, "plan: to latest from backup ") || !strings.Contains(out, " along timeline 1 (1)") {
		t.Fatalf("restore --plan:\n%s", out)
	}
	// A timeline the archive does not hold is refused at plan, naming the
	// ones it does.
	if out := run(2, "restore", "--plan", "--timeline", "7"); !strings.Contains(out, "timeline 7: timeline not in the archive") {
		t.Fatalf("restore --plan --timeline 7:\n%s", out)
	}
	if out := run(2, "restore", "--plan", "--to", "2000-01-01T00:00:00Z"); !strings.Contains(out, "outside the restorable window") {
		t.Fatalf("restore --plan before the window:\n%s", out)
	}
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(dir, "copy")
	out := run(0, "restore", "--data-dir", dataDir, "--port", strconv.Itoa(port), "--keep-running")
	t.Log(out)
	t.Cleanup(func() { restore.RemoveCluster(context.Background(), dataDir, pg.BinDir, pg.OSUser) })
	if !strings.Contains(out, "restored to ") || !strings.Contains(out, fmt.Sprintf("running on port %d (socket in %s)", port, restore.SocketDir(dataDir))) {
		t.Fatalf("restore output:\n%s", out)
	}
	cmd := exec.Command(filepath.Join(pg.BinDir, "psql"), "-h", restore.SocketDir(dataDir), "-p", strconv.Itoa(port), "-U", "postgres", "-XAtc", "SELECT count(*) FROM restore_cmd")
	got, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(got)) != "1500" {
		t.Fatalf("restored copy: %s %v", got, err)
	}
	// The directory is taken now.
	if out := run(2, "restore", "--data-dir", dataDir, "--port", strconv.Itoa(port)); !strings.Contains(out, "not empty") {
		t.Fatalf("second restore into the same directory:\n%s", out)
	}
}
