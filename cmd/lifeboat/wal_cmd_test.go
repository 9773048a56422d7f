package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := newRootCmd()
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	if err != nil {
		out.WriteString(err.Error())
	}
	return out.String(), err
}

func TestWalPushRefusesReadableConfigWithSecret(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "lifeboat.json")
	body := `{"endpoint":"http://127.0.0.1:1","path_style":true,"access_key":"AK","secret_key":"TOPSECRET","bucket":"b","cluster":"c"}`
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(cfg, 0o644)
	out, err := runCLI(t, "wal-push", "--config", cfg, "pg_wal/000000010000000000000001")
	if !errors.Is(err, repo.ErrInsecureConfig) || exitCode(err) == 0 {
		t.Fatalf("err = %v, want ErrInsecureConfig", err)
	}
	if strings.Contains(out, "TOPSECRET") || !strings.Contains(out, "chmod 600") {
		t.Fatalf("output %q: must name the fix and never the secret", out)
	}
	// wal-fetch: a configuration error is not "no such segment".
	_, err = runCLI(t, "wal-fetch", "--config", cfg, "000000010000000000000001", filepath.Join(t.TempDir(), "x"))
	if exitCode(err) != exitFetchFailed {
		t.Fatalf("wal-fetch exit code %d for a bad config, want %d", exitCode(err), exitFetchFailed)
	}
}

func TestWalFetchMissingConfigIsNotEndOfArchive(t *testing.T) {
	t.Setenv(repo.EnvConfig, "")
	_, err := runCLI(t, "wal-fetch", "000000010000000000000001", "x")
	if err == nil || exitCode(err) != exitFetchFailed {
		t.Fatalf("err = %v (exit %d), want exit %d", err, exitCode(err), exitFetchFailed)
	}
}

// An unreachable store during recovery must abort it (exit > 125), never
// look like the end of the archive (exit 1), after retrying.
func TestWalFetchUnreachableStoreAbortsRecovery(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "lifeboat.json")
	body := `{"endpoint":"http://127.0.0.1:1","path_style":true,"access_key":"AK","secret_key":"SK","bucket":"b","cluster":"c"}`
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := runCLI(t, "wal-fetch", "--config", cfg, "--retries", "1", "000000010000000000000001", filepath.Join(t.TempDir(), "x"))
	if code := exitCode(err); code <= 125 {
		t.Fatalf("exit code %d (%v): PostgreSQL would read it as end of archive; want > 125", code, err)
	}
	if time.Since(start) < time.Second {
		t.Fatalf("gave up after %s: the retry did not wait", time.Since(start))
	}
}
