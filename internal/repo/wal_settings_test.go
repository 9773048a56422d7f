package repo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

// countingStore counts the reads of the WAL settings.
type countingStore struct {
	objectstore.Store
	key  string
	gets atomic.Int64
}

func (c *countingStore) Get(ctx context.Context, key string) (io.ReadCloser, objectstore.ObjectInfo, error) {
	if key == c.key {
		c.gets.Add(1)
	}
	return c.Store.Get(ctx, key)
}

// TestResolveWALPushSettings: wal-push archives with the repository's
// signed WAL settings, read once and then from the local verified copy
// until it is older than wal_settings_max_age; a copy edited on the host
// fails its signature check and is read again; a forged document is never
// used (the last verified settings stay, and Refused says why); without a
// document the bootstrap file's settings apply, without a read per push.
func TestResolveWALPushSettings(t *testing.T) {
	ctx := context.Background()
	signer, _ := signature.Generate()
	_, recipient, err := crypt.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	cfg := AgentConfig{Bucket: "b", Prefix: "pg", Cluster: "main", Compression: "zstd",
		TrustedKeys: []string{signer.Public().String()}, StateDir: t.TempDir(), WALSettingsMaxAge: "30s"}
	l := cfg.Layout()
	store := &countingStore{Store: objectstore.NewMemory("b"), key: l.WALSettingsKey()}
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

	// No document: the bootstrap's settings, read once.
	for range 3 {
		s, err := ResolveWALPushSettings(ctx, cfg, store, now)
		if err != nil || s.Compression != "zstd" || s.Recipients != nil {
			t.Fatalf("no document: %+v, %v; want the bootstrap's zstd, unencrypted", s, err)
		}
	}
	if n := store.gets.Load(); n != 1 {
		t.Fatalf("%d reads of the settings for 3 pushes without a document, want 1", n)
	}

	// The provider declares lz4 and a recipient: after the max age, the
	// next push uses them; then the copy serves.
	if err := WriteWALSettings(ctx, store, l, WALSettings{Compression: "lz4", Encryption: &Encryption{Recipients: []string{recipient}}}, signer); err != nil {
		t.Fatal(err)
	}
	if s, _ := ResolveWALPushSettings(ctx, cfg, store, now.Add(10*time.Second)); s.Compression != "zstd" {
		t.Fatalf("within the max age: %+v, want the copy's zstd still", s)
	}
	now = now.Add(31 * time.Second)
	for i := range 3 {
		s, err := ResolveWALPushSettings(ctx, cfg, store, now)
		if err != nil || s.Compression != "lz4" || s.Recipients == nil {
			t.Fatalf("push %d after the change: %+v, %v; want lz4, encrypted", i, s, err)
		}
	}
	if n := store.gets.Load(); n != 2 {
		t.Fatalf("%d reads after 3 more pushes, want 2", n)
	}
	path, _ := cfg.walSettingsCachePath()
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("local copy %s: %v, mode %v; want 0600", path, err, st.Mode().Perm())
	}

	// A local edit of the copy (compression none, no encryption) fails
	// its signature check: the repository is read again.
	var d cachedDoc
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	d.Body = bytes.Replace(d.Body, []byte(`"lz4"`), []byte(`"none"`), 1)
	d.Body = bytes.Replace(d.Body, []byte(recipient), []byte("x"), 1)
	b, _ = json.Marshal(d)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := ResolveWALPushSettings(ctx, cfg, store, now); err != nil || s.Compression != "lz4" || s.Recipients == nil || s.Source != "repository" {
		t.Fatalf("after a local edit: %+v, %v; want lz4, encrypted, read from the repository", s, err)
	}

	// A forged document (unsigned: compression none, no encryption) is
	// refused: the last verified settings stay, read again only after the
	// max age.
	forged := []byte(`{"format":1,"cluster":"main","compression":"none"}`)
	if _, err := store.Put(ctx, l.WALSettingsKey(), bytes.NewReader(forged), objectstore.PutOptions{Size: int64(len(forged))}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(31 * time.Second)
	s, err := ResolveWALPushSettings(ctx, cfg, store, now)
	var se *signature.Error
	if err != nil || s.Compression != "lz4" || s.Recipients == nil || !errors.As(s.Refused, &se) {
		t.Fatalf("forged document: %+v, %v; want the last verified lz4, encrypted, and the refusal", s, err)
	}
	before := store.gets.Load()
	if s, _ := ResolveWALPushSettings(ctx, cfg, store, now.Add(time.Second)); s.Compression != "lz4" || s.Refused != nil {
		t.Fatalf("next push: %+v", s)
	}
	if store.gets.Load() != before {
		t.Fatal("a forged document was read again within the max age")
	}

	// A host that never verified settings keeps the bootstrap's.
	fresh := cfg
	fresh.StateDir = t.TempDir()
	if s, err := ResolveWALPushSettings(ctx, fresh, store, now); err != nil || s.Compression != "zstd" || s.Refused == nil {
		t.Fatalf("forged document, no verified copy: %+v, %v; want the bootstrap's zstd and the refusal", s, err)
	}

	// The agent daemon's refresh replaces the copy: the push reads nothing.
	if err := WriteWALSettings(ctx, store, l, WALSettings{Compression: "none"}, signer); err != nil {
		t.Fatal(err)
	}
	if err := RefreshWALSettingsCache(ctx, cfg, store, now.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	before = store.gets.Load()
	if s, _ := ResolveWALPushSettings(ctx, cfg, store, now.Add(3*time.Second)); s.Compression != "none" || s.Recipients != nil || store.gets.Load() != before {
		t.Fatalf("after the agent's refresh: %+v, %d reads; want none from the copy", s, store.gets.Load()-before)
	}
}
