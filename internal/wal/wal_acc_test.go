package wal

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestAccConcurrentPushersS3 races pushers of the same 16 MiB segment, with
// two different contents and no compression (so the body fills a whole
// upload part), against real S3 conditional puts: exactly one object
// version may be written, and only pushers of the winning content succeed.
func TestAccConcurrentPushersS3(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	store := env.MinIO[0].NewStore(t, "wal-race", objectstore.BucketSpec{})
	paths := []string{}
	for seed := int64(1); seed <= 2; seed++ {
		p, _ := walFile(t, t.TempDir(), seg1, 16<<20, seed)
		paths = append(paths, p)
	}
	for _, compression := range []string{"none", "zstd"} {
		t.Run(compression, func(t *testing.T) {
			cfg := testConfig(compression)
			cfg.Layout.Prefix = compression
			errs := make([]error, 6)
			var wg sync.WaitGroup
			for i := range errs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[i] = Push(ctx, store, cfg, paths[i%2])
				}()
			}
			wg.Wait()
			if v := versions(t, store, cfg.Layout.WALDir()); len(v) != 1 {
				t.Fatalf("%d object versions written, want 1: %+v", len(v), v)
			}
			ok, conflicts := pushOutcomes(t, errs)
			if ok != 3 || conflicts != 3 {
				t.Fatalf("%d succeeded and %d conflicted, want 3 and 3", ok, conflicts)
			}
			got, err := fetchBytes(t, store, cfg, seg1)
			if err != nil || len(got) != 16<<20 {
				t.Fatalf("fetch after the race: %d bytes, %v", len(got), err)
			}
		})
	}
}

// TestAccEncryptedWALS3 pushes a 16 MiB segment encrypted to an age
// recipient into MinIO (streamed upload of a length announced before the
// last frame is compressed), then fetches it: without an identity the
// fetch fails naming the recipient, with it the bytes come back.
func TestAccEncryptedWALS3(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	store := env.MinIO[0].NewStore(t, "wal-encrypted", objectstore.BucketSpec{})
	k := newAgeKey(t)
	cfg := testConfig("zstd")
	cfg.Recipients = recipients(t, k)
	path, data := walFile(t, t.TempDir(), seg1, 16<<20, 9)
	res, err := Push(ctx, store, cfg, path)
	if err != nil {
		t.Fatal(err)
	}
	info, err := store.Head(ctx, res.Key)
	if err != nil || info.Size != res.StoredSize || info.Metadata[crypt.MetaRecipients] != crypt.Fingerprint(k.recipient) {
		t.Fatalf("stored %s: %d bytes (StoredSize %d), metadata %v, %v", res.Key, info.Size, res.StoredSize, info.Metadata, err)
	}
	var missing *crypt.MissingIdentityError
	if _, err := fetchBytes(t, store, cfg, seg1); !errors.As(err, &missing) {
		t.Fatalf("fetch with recipients only: %v, want *MissingIdentityError", err)
	}
	cfg.Identities = keyring(t, k)
	got, err := fetchBytes(t, store, cfg, seg1)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("fetched %d bytes (%v), want the %d pushed", len(got), err, len(data))
	}
}
