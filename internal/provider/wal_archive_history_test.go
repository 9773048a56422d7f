package provider

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/wal"
)

// A standby promoted while it did not archive (archive_mode off) holds
// 00000002.history, which no archive_command ever pushed; applying
// lifeboat_wal_archive to it pushes the file, so restores can follow
// timeline 2.
func TestAccWalArchiveResource_pushesMissingHistory(t *testing.T) {
	env := testenv.Require(t)
	primary := env.Postgres
	ctx := context.Background()
	resetArchiving(t, primary)
	base, err := os.MkdirTemp("", "lifeboat-history-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil { // the postgres account enters it
		t.Fatal(err)
	}
	standby, err := primary.StartStandby(ctx, base+"/standby", "archive_mode = off")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(standby.Stop)
	if out, err := standby.Psql("postgres", "SELECT pg_promote()"); err != nil {
		t.Fatalf("promoting: %v: %s", err, out)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		out, err := standby.Psql("postgres", "SELECT pg_is_in_recovery()")
		if err == nil && out == "f" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("standby still in recovery: %s %v", out, err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	store := testenv.Require(t).MinIO[0].NewStore(t, "lb-history", objectstore.BucketSpec{})
	bucket := store.Bucket()
	cfg := wal.Config{Layout: repo.Layout{Cluster: "bad"}} // testAccWalArchiveConfig_only: no prefix
	if _, err := wal.ReadArchived(ctx, store, cfg, "00000002.history"); err == nil {
		t.Fatal("00000002.history is archived before the apply")
	}
	agent, _ := buildAgent(t)
	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: testAccWalArchiveConfig_only(bucket, standby.DSN("postgres"), agent, "5m"),
			Check: func(*terraform.State) error {
				content, err := wal.ReadArchived(ctx, store, cfg, "00000002.history")
				if err != nil {
					return fmt.Errorf("00000002.history not archived by the apply: %w", err)
				}
				entries, err := wal.ParseHistory(content)
				if err != nil || len(entries) != 1 {
					return errors.Join(fmt.Errorf("archived history %q: %d entries", content, len(entries)), err)
				}
				return nil
			},
		}},
	})
}
