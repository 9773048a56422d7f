package restore

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestCheckTargetRetriesOnlyDeadFailedRestores: an empty or missing
// directory is fine; a failed Lifeboat restore is cleared by a retry
// (retry true), also when the process that ran it was killed mid-way; a
// restore whose process still runs, a completed restore, and a directory
// Lifeboat did not make are refused.
func TestCheckTargetRetriesOnlyDeadFailedRestores(t *testing.T) {
	base := t.TempDir()
	mk := func(name string, files map[string]string) string {
		dir := filepath.Join(base, name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		for f, body := range files {
			if err := os.WriteFile(filepath.Join(dir, f), []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	// A pid that surely ran and is gone: a finished child of ours.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := cmd.Process.Pid
	live := os.Getppid()

	cases := []struct {
		name  string
		dir   string
		retry bool
		err   error
	}{
		{"missing", filepath.Join(base, "missing"), false, nil},
		{"empty", mk("empty", nil), false, nil},
		{"failed", mk("failed", map[string]string{ConfigFile: "{}", FailedFile: "recovery failed: ...", "PG_VERSION": "15"}), true, nil},
		{"killed", mk("killed", map[string]string{ConfigFile: "{}", FailedFile: fmt.Sprintf(inProgress, "b1", "2026-11-30T07:00:00Z", dead)}), true, nil},
		{"running", mk("running", map[string]string{ConfigFile: "{}", FailedFile: fmt.Sprintf(inProgress, "b1", "2026-11-30T07:00:00Z", live)}), false, ErrRestoreInProgress},
		{"completed", mk("completed", map[string]string{ConfigFile: "{}", "PG_VERSION": "15"}), false, ErrTargetNotEmpty},
		{"foreign", mk("foreign", map[string]string{"PG_VERSION": "15"}), false, ErrTargetNotEmpty},
	}
	for _, c := range cases {
		retry, err := checkTarget(c.dir)
		if retry != c.retry || !errors.Is(err, c.err) || (c.err == nil && err != nil) {
			t.Errorf("%s: retry %v, %v; want %v, %v", c.name, retry, err, c.retry, c.err)
		}
	}
}
