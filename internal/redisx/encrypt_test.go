package redisx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// A snapshot taken with recipients is compressed then encrypted: the
// manifest and the object's metadata name the recipients' fingerprints,
// the stored bytes are age's and hold no key or value in clear; a restore
// without an identity, or with another recipient's, fails before anything
// is downloaded, naming the fingerprint needed; with the identity the RDB
// restores into a new instance with every key.
func TestSnapshot_encryptedToRecipients(t *testing.T) {
	testenv.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src := testenv.NewRedis(t)
	c := connect(t, src.Addr)
	pipe := c.Pipeline()
	for i := 0; i < 300; i++ {
		pipe.Set(ctx, fmt.Sprintf("session:plaintext-marker:%d", i), "secret-session-value", 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	fileA, recA, err := crypt.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	fileB, _, err := crypt.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	recipients, err := crypt.ParseRecipients([]string{recA})
	if err != nil {
		t.Fatal(err)
	}
	store := testStore(t)
	layout := repo.Layout{Prefix: "acc", Cluster: "odoo"}
	m, err := Snapshot(ctx, c, store, SnapshotOptions{Layout: layout, Instance: "sessions", Recipients: recipients})
	if err != nil {
		t.Fatal(err)
	}
	fp := crypt.Fingerprint(recA)
	if m.Encryption == nil || m.Encryption.Scheme != crypt.Scheme || !slices.Equal(m.Encryption.Recipients, []string{fp}) {
		t.Fatalf("manifest encryption = %+v, want age to %s", m.Encryption, fp)
	}
	stored, err := Snapshots(ctx, store, layout, "sessions")
	if err != nil || len(stored) != 1 || stored[0].Encryption == nil || stored[0].Encryption.Recipients[0] != fp {
		t.Fatalf("stored manifests = %+v, %v", stored, err)
	}
	body, info, err := store.Get(ctx, m.Key)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(body)
	_ = body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if got := crypt.InfoFromMetadata(info.Metadata); got == nil || !slices.Equal(got.Recipients, []string{fp}) {
		t.Errorf("object metadata %v: want recipients %s", info.Metadata, fp)
	}
	if !bytes.HasPrefix(raw, []byte("age-encryption.org/v1")) || bytes.Contains(raw, []byte("plaintext-marker")) || int64(len(raw)) != m.StoredSize {
		t.Errorf("stored object (%d bytes, manifest %d) is not age ciphertext or shows a key in clear: %.40q", len(raw), m.StoredSize, raw)
	}

	dir := t.TempDir()
	_, err = RestoreSnapshot(ctx, store, layout, "sessions", "", dir, nil)
	var missing *crypt.MissingIdentityError
	if !errors.As(err, &missing) || !strings.Contains(err.Error(), fp) {
		t.Fatalf("restore without identities: want a MissingIdentityError naming %s, got %v", fp, err)
	}
	other, err := crypt.ParseIdentities("identity B", strings.NewReader(fileB))
	if err != nil {
		t.Fatal(err)
	}
	if _, err = RestoreSnapshot(ctx, store, layout, "sessions", "", dir, other); !errors.Is(err, crypt.ErrNoIdentity) || !strings.Contains(err.Error(), fp) {
		t.Fatalf("restore with another recipient's identity: want ErrNoIdentity naming %s, got %v", fp, err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("a refused restore left %v", left)
	}

	ids, err := crypt.ParseIdentities("identity A", strings.NewReader(fileA))
	if err != nil {
		t.Fatal(err)
	}
	server, err := testenv.Tool("redis-server")
	if err != nil {
		t.Fatal(err)
	}
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	target := RestoreTarget{Dir: filepath.Join(t.TempDir(), "new"), Port: port, RedisServer: server, Identities: ids}
	defer func() { _ = Teardown(context.WithoutCancel(ctx), target.Dir, target.Port, "") }()
	res, err := RestoreInto(ctx, store, layout, "sessions", m.ID, target, RestoreChecks{MinKeys: 300, Keys: []string{"session:plaintext-marker:299"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Keys != 300 {
		t.Fatalf("restored %d keys, want 300", res.Keys)
	}
}
