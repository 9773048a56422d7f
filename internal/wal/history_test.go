package wal

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
)

// TestPushUnarchivedHistory: a server promoted while it did not archive
// has history files in pg_wal with no archive status. Before its first
// segment on the new timeline is pushed they are archived and marked done;
// a file PostgreSQL will archive itself (.ready) is left to it; a later
// push costs a stat; a history file of that number with other content in
// the archive (another server's timeline) is refused.
func TestPushUnarchivedHistory(t *testing.T) {
	ctx := context.Background()
	store := objectstore.NewMemory("b")
	cfg := testConfig("zstd")
	pgdata := t.TempDir()
	walDir := filepath.Join(pgdata, "pg_wal")
	if err := os.MkdirAll(filepath.Join(walDir, "archive_status"), 0o700); err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(walDir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("00000002.history", "1\t0/5000028\tno recovery target specified\n")
	write("00000003.history", "1\t0/5000028\tno recovery target specified\n2\t0/9000000\tno recovery target specified\n")
	write("00000004.history", "1\t0/5000028\tx\n2\t0/9000000\tx\n3\t0/A000000\tx\n")
	write("archive_status/00000004.history.ready", "")

	if pushed, err := PushUnarchivedHistory(ctx, store, cfg, walDir, 1); err != nil || pushed != nil {
		t.Fatalf("timeline 1: %v, %v", pushed, err)
	}
	pushed, err := PushUnarchivedHistory(ctx, store, cfg, walDir, 3)
	if err != nil || len(pushed) != 2 || pushed[0] != "00000002.history" || pushed[1] != "00000003.history" {
		t.Fatalf("pushed %v, %v; want 00000002.history and 00000003.history", pushed, err)
	}
	for _, name := range []string{"00000002.history", "00000003.history"} {
		if _, err := os.Stat(filepath.Join(walDir, "archive_status", name+".done")); err != nil {
			t.Fatalf("%s not marked done: %v", name, err)
		}
		if _, err := ReadArchived(ctx, store, cfg, name); err != nil {
			t.Fatalf("%s not archived: %v", name, err)
		}
	}
	if _, err := ReadArchived(ctx, store, cfg, "00000004.history"); !errors.Is(err, ErrSegmentNotFound) {
		t.Fatalf("00000004.history is PostgreSQL's to archive (.ready): %v", err)
	}
	if pushed, err := PushUnarchivedHistory(ctx, store, cfg, walDir, 3); err != nil || len(pushed) != 0 {
		t.Fatalf("second call: %v, %v", pushed, err)
	}

	// Another server took timeline 5 with another history.
	if _, err := PushContent(ctx, store, cfg, "00000005.history", []byte("1\t0/6000000\tother\n")); err != nil {
		t.Fatal(err)
	}
	write("00000005.history", "1\t0/5000028\tx\n2\t0/9000000\tx\n3\t0/A000000\tx\n4\t0/B000000\tx\n")
	var conflict *ConflictError
	if _, err := PushUnarchivedHistory(ctx, store, cfg, walDir, 5); !errors.As(err, &conflict) {
		t.Fatalf("a different archived 00000005.history: %v, want *ConflictError", err)
	}
}
