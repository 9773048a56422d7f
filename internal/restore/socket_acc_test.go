package restore_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
)

// TestAccRestoreCluster_deepDataDirectory restores into a data directory
// whose path alone exceeds what a Unix socket path may hold (about 100
// bytes): the server runs with its socket in a short private directory,
// is reachable there, and RemoveCluster removes that directory too.
func TestAccRestoreCluster_deepDataDirectory(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	f.backupAfter(t, "DROP TABLE IF EXISTS deep_rows; CREATE TABLE deep_rows AS SELECT generate_series(1, 42) AS x")

	deep := f.dir
	for i := 0; i < 4; i++ {
		deep = filepath.Join(deep, "a-checkout-folder-with-a-rather-long-name-"+strings.Repeat("y", 10))
		if err := os.Mkdir(deep, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	opts := f.clusterOptions(t, "unused")
	opts.DataDir = filepath.Join(deep, "data")
	opts.KeepRunning = true
	if len(opts.DataDir) < 150 {
		t.Fatalf("data directory %s is only %d bytes", opts.DataDir, len(opts.DataDir))
	}
	res, err := restore.RestoreCluster(ctx, f.store, opts)
	if err != nil {
		t.Fatalf("restore into a %d-byte data directory: %v", len(opts.DataDir), err)
	}
	sock := restore.SocketDir(res.DataDir)
	if len(sock) > 60 || strings.HasPrefix(sock, res.DataDir) {
		t.Fatalf("socket directory %s: want a short one outside the data directory", sock)
	}
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("socket directory %s: %v, mode %v; want private (0700)", sock, err, fi)
	}
	if got := queryRestored(t, res, "postgres", "SELECT count(*)::text FROM deep_rows"); got != "42" {
		t.Fatalf("restored server has %s rows, want 42", got)
	}
	if err := restore.RemoveCluster(ctx, res.DataDir, opts.BinDir, opts.OSUser); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Fatalf("socket directory %s left after RemoveCluster: %v", sock, err)
	}
}
