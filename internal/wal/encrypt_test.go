package wal

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
)

// ageKey is one age key pair for tests.
type ageKey struct {
	identity, recipient string
}

func newAgeKey(t testing.TB) ageKey {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return ageKey{identity: id.String(), recipient: id.Recipient().String()}
}

func recipients(t testing.TB, keys ...ageKey) *crypt.Recipients {
	t.Helper()
	var list []string
	for _, k := range keys {
		list = append(list, k.recipient)
	}
	r, err := crypt.ParseRecipients(list)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func keyring(t testing.TB, keys ...ageKey) *crypt.Keyring {
	t.Helper()
	var ids []string
	for _, k := range keys {
		ids = append(ids, k.identity)
	}
	k, err := crypt.ParseIdentities("test identities", strings.NewReader(strings.Join(ids, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestEncryptedPushStreamsOrFallsBack: an encrypted push keeps the pipeline
// of the unencrypted one (upload started while frames are still being
// compressed, length announced up front, exact fallback on a misprediction)
// and stores exactly the announced length, ciphertext only.
func TestEncryptedPushStreamsOrFallsBack(t *testing.T) {
	ctx := context.Background()
	key := newAgeKey(t)
	mixed := make([]byte, 16<<20)
	rand.New(rand.NewSource(5)).Read(mixed[encodeChunk:])
	for _, c := range []struct {
		name     string
		data     func(t *testing.T, dir string) (string, []byte)
		wantPuts int
	}{
		{"alike", func(t *testing.T, dir string) (string, []byte) { return walFile(t, dir, seg1, 16<<20, 6) }, 1},
		{"misleading", func(t *testing.T, dir string) (string, []byte) {
			path := filepath.Join(dir, seg1)
			if err := os.WriteFile(path, mixed, 0o600); err != nil {
				t.Fatal(err)
			}
			return path, mixed
		}, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			holdLaterChunks = make(chan struct{})
			defer func() { holdLaterChunks = nil }()
			store := &releasingStore{Store: objectstore.NewMemory("b"), release: holdLaterChunks}
			path, data := c.data(t, t.TempDir())
			cfg := testConfig("")
			cfg.Recipients = recipients(t, key)
			res, err := Push(ctx, store, cfg, path)
			if err != nil {
				t.Fatal(err)
			}
			if store.walPuts != c.wantPuts {
				t.Fatalf("%d WAL puts, want %d", store.walPuts, c.wantPuts)
			}
			info, err := store.Head(ctx, res.Key)
			if err != nil || info.Size != res.StoredSize {
				t.Fatalf("stored %d bytes, StoredSize %d (%v)", info.Size, res.StoredSize, err)
			}
			body, _, _ := store.Get(ctx, res.Key)
			raw, _ := io.ReadAll(body)
			body.Close()
			if !bytes.HasPrefix(raw, []byte("age-encryption.org/v1\n")) {
				t.Fatalf("stored object is not an age file: %q", raw[:min(40, len(raw))])
			}
			cfg.Identities = keyring(t, key)
			got, err := fetchBytes(t, store, cfg, seg1)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("fetched %d bytes (err %v), want the %d pushed", len(got), err, len(data))
			}
		})
	}
}

// TestEncryptedWALIsNamedAndRotates: the key and metadata say which
// recipients a segment needs; a host with recipients only cannot fetch; a
// new recipient set applies to new segments, old identities still read old
// ones, a rotated push of an archived file writes nothing, and history
// files stay plain (every plan reads them).
func TestEncryptedWALIsNamedAndRotates(t *testing.T) {
	ctx := context.Background()
	store := objectstore.NewMemory("b")
	a, b := newAgeKey(t), newAgeKey(t)
	dir := t.TempDir()
	seg2 := "000000010000000000000002"
	p1, d1 := walFile(t, dir, seg1, 1<<20, 1)
	p2, d2 := walFile(t, dir, seg2, 1<<20, 2)

	cfgA := testConfig("lz4")
	cfgA.Recipients = recipients(t, a)
	res, err := Push(ctx, store, cfgA, p1)
	if err != nil {
		t.Fatal(err)
	}
	setA := cfgA.Recipients.Info().SetID()
	if want := cfgA.Layout.WALKeyEncrypted("00000001", seg1, "lz4", setA); res.Key != want {
		t.Fatalf("key %s, want %s", res.Key, want)
	}
	info, _ := store.Head(ctx, res.Key)
	if got := crypt.InfoFromMetadata(info.Metadata); got.String() != cfgA.Recipients.Info().String() {
		t.Fatalf("metadata records %v, want %v", got, cfgA.Recipients.Info())
	}

	// Rotation: B for new segments. The archived seg1 is not written again.
	cfgB := testConfig("zstd")
	cfgB.Recipients = recipients(t, b)
	if res, err := Push(ctx, store, cfgB, p1); err != nil || !res.AlreadyArchived {
		t.Fatalf("rotated re-push of an archived segment: %+v %v", res, err)
	}
	if _, err := Push(ctx, store, cfgB, p2); err != nil {
		t.Fatal(err)
	}

	// The writer's host: recipients only.
	_, err = fetchBytes(t, store, cfgB, seg2)
	var missing *crypt.MissingIdentityError
	if !errors.As(err, &missing) || !strings.Contains(err.Error(), crypt.Fingerprint(b.recipient)) {
		t.Fatalf("fetch without identity: %v, want *MissingIdentityError naming B", err)
	}
	// Identity A reads A's segment, not B's.
	cfgB.Identities = keyring(t, a)
	if got, err := fetchBytes(t, store, cfgB, seg1); err != nil || !bytes.Equal(got, d1) {
		t.Fatalf("seg1 with A: %v", err)
	}
	if _, err := fetchBytes(t, store, cfgB, seg2); !errors.As(err, &missing) {
		t.Fatalf("seg2 with A only: %v, want *MissingIdentityError", err)
	}
	cfgB.Identities = keyring(t, a, b)
	for name, want := range map[string][]byte{seg1: d1, seg2: d2} {
		if got, err := fetchBytes(t, store, cfgB, name); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s with A and B: %v", name, err)
		}
	}

	hist := filepath.Join(dir, "00000002.history")
	if err := os.WriteFile(hist, []byte("1\t0/3000000\tno recovery target specified\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err = Push(ctx, store, cfgB, hist)
	if err != nil || strings.HasSuffix(res.Key, ".age") {
		t.Fatalf("history file: %s %v, want stored plain", res.Key, err)
	}
}

// TestEncryptedWALCorruptionIsDetected: a changed byte of an encrypted
// segment fails its fetch and Verify as a *ChecksumError, never as a
// missing file.
func TestEncryptedWALCorruptionIsDetected(t *testing.T) {
	ctx := context.Background()
	store := objectstore.NewMemory("b")
	k := newAgeKey(t)
	cfg := testConfig("zstd")
	cfg.Recipients, cfg.Identities = recipients(t, k), keyring(t, k)
	p, _ := walFile(t, t.TempDir(), seg1, 1<<20, 3)
	res, err := Push(ctx, store, cfg, p)
	if err != nil {
		t.Fatal(err)
	}
	body, info, _ := store.Get(ctx, res.Key)
	raw, _ := io.ReadAll(body)
	body.Close()
	for _, at := range []int{len(raw) / 2, 40} { // a data chunk, the header
		bad := bytes.Clone(raw)
		bad[at] ^= 0x10
		if _, err := store.Put(ctx, res.Key, bytes.NewReader(bad), objectstore.PutOptions{Size: int64(len(bad)), Metadata: info.Metadata}); err != nil {
			t.Fatal(err)
		}
		_, err := VerifyWith(ctx, store, res.Key, cfg.Identities)
		var ce *ChecksumError
		if !errors.As(err, &ce) {
			t.Fatalf("byte %d changed: Verify says %v, want *ChecksumError", at, err)
		}
		if _, err := fetchBytes(t, store, cfg, seg1); !errors.As(err, &ce) {
			t.Fatalf("byte %d changed: Fetch says %v, want *ChecksumError", at, err)
		}
	}
}

// TestEncryptedLargeFileStreams: a file above the one-pass limit (a WAL
// segment size of 128 MiB or more) takes the two-pass streaming upload,
// encrypted the same way, and reads back.
func TestEncryptedLargeFileStreams(t *testing.T) {
	ctx := context.Background()
	store := objectstore.NewMemory("b")
	k := newAgeKey(t)
	cfg := testConfig("lz4")
	cfg.Recipients, cfg.Identities = recipients(t, k), keyring(t, k)
	path, data := walFile(t, t.TempDir(), seg1, onePassLimit+1<<20, 4)
	res, err := Push(ctx, store, cfg, path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(res.Key, ".age") {
		t.Fatalf("stored as %s", res.Key)
	}
	got, err := fetchBytes(t, store, cfg, seg1)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("fetched %d bytes (%v), want the %d pushed", len(got), err, len(data))
	}
}
