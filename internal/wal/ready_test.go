package wal

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestReadySegmentsAndMarkDone(t *testing.T) {
	walDir := t.TempDir()
	status := filepath.Join(walDir, "archive_status")
	if err := os.Mkdir(status, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{
		"000000010000000000000003.ready", "000000010000000000000001.ready", "000000010000000000000002.done",
		"000000010000000000000004.ready", "00000002.history.ready", "000000010000000000000005.ready",
	} {
		if err := os.WriteFile(filepath.Join(status, f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	got := ReadySegments(walDir, "000000010000000000000001", 2)
	want := []string{"000000010000000000000003", "000000010000000000000004"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ReadySegments = %v, want %v (oldest first, skipping the asked-for file, history files and .done)", got, want)
	}
	if err := MarkDone(walDir, "000000010000000000000003"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(status, "000000010000000000000003.done")); err != nil {
		t.Fatalf("no .done after MarkDone: %v", err)
	}
	if got := ReadySegments(walDir, "", 10); !reflect.DeepEqual(got, []string{"000000010000000000000001", "000000010000000000000004", "000000010000000000000005"}) {
		t.Fatalf("after MarkDone: %v", got)
	}
	if got := ReadySegments(walDir, "", 0); got != nil {
		t.Fatalf("max 0 must list nothing, got %v", got)
	}
}
