package wal

import (
	"context"
	"errors"
	"sync"
	"testing"

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
	m := env.MinIO[0]
	client, err := objectstore.NewClient(ctx, objectstore.Config{Endpoint: m.Endpoint, AccessKey: m.AccessKey, SecretKey: m.SecretKey, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.CreateBucket(ctx, objectstore.BucketSpec{Name: "wal-race"}); err != nil {
		t.Fatal(err)
	}
	store := client.Store("wal-race")
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
			var ok, conflicts int
			for _, err := range errs {
				switch {
				case err == nil:
					ok++
				case errors.Is(err, ErrConflict):
					conflicts++
				default:
					t.Fatalf("unexpected error: %v", err)
				}
			}
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
