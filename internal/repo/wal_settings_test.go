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

// TestResolveWALPushSettingsAhead: a copy due to be read again gives its
// settings at once, without a read; confirm then reads the repository,
// answers its current settings (here changed), and refreshes the copy, so
// the next push within the max age reads nothing. The repository's record
// that it declares none is used the same way. Without a copy, or with a
// fresh one, there is nothing to confirm.
func TestResolveWALPushSettingsAhead(t *testing.T) {
	ctx := context.Background()
	signer, _ := signature.Generate()
	cfg := AgentConfig{Bucket: "b", Prefix: "pg", Cluster: "main", Compression: "zstd",
		TrustedKeys: []string{signer.Public().String()}, StateDir: t.TempDir(), WALSettingsMaxAge: "30s"}
	l := cfg.Layout()
	store := &countingStore{Store: objectstore.NewMemory("b"), key: l.WALSettingsKey()}
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

	// No copy: read now, nothing to confirm.
	s, confirm, err := ResolveWALPushSettingsAhead(ctx, cfg, store, now)
	if err != nil || confirm != nil || s.Compression != "zstd" || store.gets.Load() != 1 {
		t.Fatalf("no copy: %+v, confirm %v, %v, %d reads; want zstd read now", s, confirm != nil, err, store.gets.Load())
	}
	// The record of no document, stale: the bootstrap's at once.
	if err := WriteWALSettings(ctx, store, l, WALSettings{Compression: "lz4"}, signer); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute)
	s, confirm, err = ResolveWALPushSettingsAhead(ctx, cfg, store, now)
	if err != nil || confirm == nil || s.Compression != "zstd" || store.gets.Load() != 1 {
		t.Fatalf("stale record of no document: %+v, confirm %v, %v, %d reads; want zstd, to confirm, no read", s, confirm != nil, err, store.gets.Load())
	}
	got, err := confirm(ctx)
	if err != nil || got.Compression != "lz4" || SameWALPushSettings(got, s) || store.gets.Load() != 2 {
		t.Fatalf("confirmed: %+v, %v, %d reads; want the repository's lz4, read once", got, err, store.gets.Load())
	}
	// The copy was refreshed: fresh now, nothing to confirm.
	s, confirm, err = ResolveWALPushSettingsAhead(ctx, cfg, store, now.Add(time.Second))
	if err != nil || confirm != nil || s.Compression != "lz4" || store.gets.Load() != 2 {
		t.Fatalf("after the confirmation: %+v, confirm %v, %v, %d reads; want lz4 from the copy", s, confirm != nil, err, store.gets.Load())
	}
	// A verified copy, stale and unchanged: confirmed the same.
	now = now.Add(time.Minute)
	s, confirm, err = ResolveWALPushSettingsAhead(ctx, cfg, store, now)
	if err != nil || confirm == nil || s.Compression != "lz4" || s.Source != "cache" {
		t.Fatalf("stale copy: %+v, confirm %v, %v; want lz4 from the copy, to confirm", s, confirm != nil, err)
	}
	if got, err := confirm(ctx); err != nil || !SameWALPushSettings(got, s) || store.gets.Load() != 3 {
		t.Fatalf("confirmed: %+v, %v, %d reads; want the same lz4, read once more", got, err, store.gets.Load())
	}
	// The copy is written unsynced: what a crash may leave (an empty or
	// cut file) is no copy, read from the repository again.
	path, _ := cfg.walSettingsCachePath()
	b, _ := os.ReadFile(path)
	for _, damaged := range [][]byte{nil, b[:len(b)/2]} {
		if err := os.WriteFile(path, damaged, 0o600); err != nil {
			t.Fatal(err)
		}
		before := store.gets.Load()
		s, confirm, err = ResolveWALPushSettingsAhead(ctx, cfg, store, now.Add(2*time.Second))
		if err != nil || confirm != nil || s.Compression != "lz4" || s.Source != "repository" || store.gets.Load() != before+1 {
			t.Fatalf("%d bytes left of the copy: %+v, confirm %v, %v; want lz4 read from the repository now", len(damaged), s, confirm != nil, err)
		}
	}
}

// TestSameWALPushSettingsComparesEveryRecipient: a push started with the
// local copy's settings goes on only when the repository's have the same
// compression and the same recipients. Two recipient sets that share their
// set id (32 bits of their fingerprints: a, and b with six more keys, found
// by search) are different settings: the push must start over with the
// repository's, not encrypt to the copy's keys.
func TestSameWALPushSettingsComparesEveryRecipient(t *testing.T) {
	a := []string{
		"age1dst28w33vy64mh647rrh8u8rpw8ughwkmeha0wvpnam09hy5vgpsrr7qae",
		"age1k2mzu5m8j0fgf66fdg378e93hesezej2jxwrqa0rc3pdrzn7u54q9n86fm",
		"age19x8nz2x38eeplfeuxp3mrx6de68d7a5qefyscfcz0xa5mjh8c5jq8kqhaj",
		"age19r4t8ndywm7q05sfxhf73n25afjfmjmpq8palxx9w0zkvvkj74yqlwr8fe",
		"age1t3hhj7r522tmrq8qt3ww8rtkuqhng0huw6tvsj9gqe8pf87n8ggs36d000",
	}
	b := append([]string{
		"age1wa83vdwdlrmdeqn0sph0yuykuzsc8z8cv05yn8r9xzncvd5hmv2s3kjqv4",
		"age1dfhe7xdgg2mewrx7n69staesxcal7cljza8qchlnwdyw5x4qhsrs6c5fkd",
		"age1rjmpcmvkl4peepdgqv3vqf24c3mg0q2q3tp0cdm92hac3pt69fvsgy5pyf",
		"age1jphu95d9mccsznmteflz2hcg5g530yc9jatuzl9xdsa94rsv49fqcja5ms",
		"age1wt7523v7wmnh3wxxhackyprx6f03u04v2jtjnyer5ucl8wttzucqnj78xt",
		"age1gjypzy0crvgazr0nglhm06l627usj0mwptfr0rdsv3utjzgtcyuqjvum5c",
	}, a...)
	parse := func(values []string) *crypt.Recipients {
		t.Helper()
		r, err := crypt.ParseRecipients(values)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	ra, rb := parse(a), parse(b)
	if ra.Info().SetID() != rb.Info().SetID() {
		t.Fatalf("the fixture's sets have ids %s and %s: not a shared id", ra.Info().SetID(), rb.Info().SetID())
	}
	reordered := append([]string{a[4], a[2]}, a[0], a[3], a[1])
	for _, c := range []struct {
		name string
		x, y WALPushSettings
		same bool
	}{
		{"unencrypted alike", WALPushSettings{Compression: "zstd"}, WALPushSettings{Compression: "zstd", Source: "repository"}, true},
		{"another compression", WALPushSettings{Compression: "zstd"}, WALPushSettings{Compression: "lz4"}, false},
		{"encrypted or not", WALPushSettings{Compression: "zstd", Recipients: ra}, WALPushSettings{Compression: "zstd"}, false},
		{"the same keys in another order", WALPushSettings{Compression: "zstd", Recipients: ra}, WALPushSettings{Compression: "zstd", Recipients: parse(reordered)}, true},
		{"keys added, same set id", WALPushSettings{Compression: "zstd", Recipients: ra}, WALPushSettings{Compression: "zstd", Recipients: rb}, false},
		{"keys removed, same set id", WALPushSettings{Compression: "zstd", Recipients: rb}, WALPushSettings{Compression: "zstd", Recipients: ra}, false},
	} {
		if got := SameWALPushSettings(c.x, c.y); got != c.same {
			t.Errorf("%s: SameWALPushSettings = %v, want %v", c.name, got, c.same)
		}
	}
}
