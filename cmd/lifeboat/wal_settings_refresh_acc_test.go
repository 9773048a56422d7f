package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestAccAgentRefreshesWALSettingsCopy: a running agent (the real binary,
// refreshing every two seconds) keeps the local verified copy of the
// repository's signed WAL settings in its state_dir, which wal-push
// reads, in step with the repository: the first document (lz4) and then a
// change (no compression, encrypted to a recipient) reach the copy with no
// wal-push at all; the copy is mode 0600. A forged, unsigned document is
// refused by the agent (its log says so) and the copy keeps the last
// verified settings. With the agent stopped and the repository changed
// once more (zstd, unencrypted), a wal-push within wal_settings_max_age
// archives with the agent's copy, uncompressed and encrypted: it did not
// read the repository.
func TestAccAgentRefreshesWALSettingsCopy(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	f := setupAgentRepo(t, env, fmt.Sprintf("walset-refresh-%08x", rand.Uint32()))
	signer, _ := signature.Generate()
	cfg := f.cfg
	cfg.TrustedKeys = []string{signer.Public().String()}
	cfg.StateDir = filepath.Join(testenv.Dir(t), "state")
	// wal-push reads the repository only when the copy is older than this.
	cfg.WALSettingsMaxAge = "1h"
	l := cfg.Layout()
	write := func(s repo.WALSettings, by *signature.Signer) {
		t.Helper()
		if err := repo.WriteWALSettings(ctx, f.store, l, s, by); err != nil {
			t.Fatal(err)
		}
	}
	// copyNow is the local copy's settings and when it was last checked.
	copyNow := func() (repo.WALSettings, time.Time, string) {
		t.Helper()
		m, _ := filepath.Glob(filepath.Join(cfg.StateDir, "wal-settings-*.json"))
		if len(m) != 1 {
			return repo.WALSettings{}, time.Time{}, ""
		}
		var c struct {
			Body    []byte    `json:"body"`
			Checked time.Time `json:"checked"`
		}
		b, err := os.ReadFile(m[0])
		if err != nil {
			t.Fatal(err)
		}
		var s repo.WALSettings
		if json.Unmarshal(b, &c) != nil || json.Unmarshal(c.Body, &s) != nil {
			return repo.WALSettings{}, time.Time{}, m[0]
		}
		return s, c.Checked, m[0]
	}

	write(repo.WALSettings{Compression: "lz4"}, signer)
	a := testenv.StartAgent(t, f.bin, cfg, "db-1", "walset-1", "")
	waitFor(t, 30*time.Second, "the agent's copy of the lz4 settings", func() bool {
		s, _, _ := copyNow()
		return s.Compression == "lz4"
	})
	if _, _, path := copyNow(); path != "" {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("local copy %s: %v, %v; want mode 0600", path, fi, err)
		}
	}

	_, recipient, err := crypt.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	write(repo.WALSettings{Compression: "none", Encryption: &repo.Encryption{Recipients: []string{recipient}}}, signer)
	waitFor(t, 30*time.Second, "the agent's copy following the change", func() bool {
		s, _, _ := copyNow()
		return s.Compression == "none" && s.Encryption != nil && len(s.Encryption.Recipients) == 1
	})

	// Forged: the copy keeps the last verified settings.
	write(repo.WALSettings{Compression: "zstd"}, nil)
	waitFor(t, 30*time.Second, "the agent refusing the unsigned settings", func() bool {
		b, _ := os.ReadFile(a.Log)
		return strings.Contains(string(b), "WAL settings refused")
	})
	if s, _, _ := copyNow(); s.Compression != "none" || s.Encryption == nil {
		t.Fatalf("local copy after a forged document: %+v, want the last verified (none, encrypted)", s)
	}
	_, checked, _ := copyNow()

	// The agent stops; the repository moves on to zstd, unencrypted: a
	// wal-push reading it would archive .zst in the clear.
	a.Stop()
	write(repo.WALSettings{Compression: "zstd"}, signer)
	seg := filepath.Join(t.TempDir(), "000000010000000A00000001")
	if err := os.WriteFile(seg, make([]byte, 16<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(f.bin, "wal-push", "--config", writeBootstrap(t, cfg), "--pgdata", env.Postgres.DataDir, "--parallel", "1", seg)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("wal-push: %v\n%s", err, out)
	}
	var keys []repo.Key
	err = f.store.List(ctx, l.WALDir(), func(o objectstore.ObjectInfo) error {
		if k, ok := l.Parse(o.Key); ok && k.Kind == repo.KindWAL {
			keys = append(keys, k)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].Ext != "raw" || keys[0].RecipientSet == "" {
		t.Fatalf("archived %+v; want one segment uncompressed (raw) and encrypted, as the agent's copy says", keys)
	}
	if _, after, _ := copyNow(); !after.Equal(checked) {
		t.Fatalf("wal-push rewrote the copy (checked %s, the agent's %s): it read the repository", after, checked)
	}
}

// TestAccWalPushConfirmsAStaleSettingsCopy: with the local copy of the WAL
// settings older than wal_settings_max_age, wal-push (the real binary)
// starts with the copy's settings and reads the repository beside the
// compression; the segment is archived with the repository's current
// settings whether they changed since the copy (lz4, then zstd encrypted
// to a recipient: the push starts over with them) or not, and the copy
// follows the repository.
func TestAccWalPushConfirmsAStaleSettingsCopy(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	f := setupAgentRepo(t, env, fmt.Sprintf("walset-stale-%08x", rand.Uint32()))
	signer, _ := signature.Generate()
	_, recipient, err := crypt.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	cfg := f.cfg
	cfg.TrustedKeys = []string{signer.Public().String()}
	cfg.StateDir = filepath.Join(testenv.Dir(t), "state")
	cfg.WALSettingsMaxAge = "1ms" // every push finds its copy stale
	cfgPath := writeBootstrap(t, cfg)
	l := cfg.Layout()
	segDir := t.TempDir()
	push := func(name string, want func(repo.Key) bool, what string) {
		t.Helper()
		seg := filepath.Join(segDir, name)
		b := make([]byte, 16<<20)
		for i := 0; i < len(b); i += 8192 {
			binary.LittleEndian.PutUint64(b[i:], rand.Uint64())
		}
		if err := os.WriteFile(seg, b, 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(f.bin, "wal-push", "--config", cfgPath, "--pgdata", env.Postgres.DataDir, "--parallel", "1", seg)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("wal-push %s: %v\n%s", name, err, out)
		}
		var keys []repo.Key
		err := f.store.List(ctx, l.WALTimelineDir(name[:8])+name+".", func(o objectstore.ObjectInfo) error {
			if k, ok := l.Parse(o.Key); ok && k.Kind == repo.KindWAL && k.Name == name {
				keys = append(keys, k)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != 1 || !want(keys[0]) {
			t.Fatalf("%s archived as %+v; want one object, %s", name, keys, what)
		}
	}
	write := func(s repo.WALSettings) {
		t.Helper()
		if err := repo.WriteWALSettings(ctx, f.store, l, s, signer); err != nil {
			t.Fatal(err)
		}
	}
	write(repo.WALSettings{Compression: "lz4"})
	lz4 := func(k repo.Key) bool { return k.Ext == "lz4" && k.RecipientSet == "" }
	push("000000010000000B00000001", lz4, "lz4 in the clear (no copy yet: read first)")
	time.Sleep(5 * time.Millisecond)
	push("000000010000000B00000002", lz4, "lz4 in the clear (stale copy, unchanged)")
	write(repo.WALSettings{Compression: "zstd", Encryption: &repo.Encryption{Recipients: []string{recipient}}})
	time.Sleep(5 * time.Millisecond)
	push("000000010000000B00000003", func(k repo.Key) bool { return k.Ext == "zst" && k.RecipientSet != "" },
		"zstd, encrypted: the repository's new settings, not the stale copy's lz4")
}

// writeBootstrap writes cfg as a bootstrap file (0600) of its own and
// returns its path.
func writeBootstrap(t *testing.T, cfg repo.AgentConfig) string {
	t.Helper()
	b, err := cfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "bootstrap.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
