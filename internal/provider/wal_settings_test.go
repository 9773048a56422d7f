package provider

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/pg"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestAccWalArchive_settingsFromRepository: the WAL compression and
// encryption recipients wal-push uses come from the signed WAL settings
// lifeboat_wal_archive writes into the repository, not from the host's
// bootstrap file. The bootstrap (rendered with agent_host, the writer's
// keys and the restorer's, written 0600) is written once; then Terraform
// changes the compression to lz4 and adds a recipient: the host's file
// still says zstd and unencrypted, and the next segment archived after the
// local copy's max age is lz4 and encrypted, with no restart. A forged,
// unsigned document (compression none, no encryption) changes nothing
// that is pushed, the server's log carries wal-push's warning, and the
// plan signs the settings again.
func TestAccWalArchive_settingsFromRepository(t *testing.T) {
	env := testenv.Require(t)
	pgSrv := env.Postgres
	ctx := context.Background()
	agent, dir := buildAgent(t)
	store := env.MinIO[0].NewStore(t, "lb-walset", objectstore.BucketSpec{})
	bucket := store.Bucket()
	layout := repo.Layout{Prefix: "pg", Cluster: "main"}
	key, _ := signature.Generate()
	trust, _ := signature.NewTrust(key.Public().String())
	writerAK, writerSK := testAccRoleUser(t, bucket+"-w", access.RoleWriter, bucket, layout)
	restorerAK, restorerSK := testAccRoleUser(t, bucket+"-r", access.RoleRestorer, bucket, layout)
	_, recipient, err := crypt.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "bootstrap.json")
	stateDir := filepath.Join(dir, "state")
	pgUser, err := user.Lookup("postgres")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(pgUser.Uid)
	gid, _ := strconv.Atoi(pgUser.Gid)
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(stateDir, uid, gid); err != nil {
		t.Fatal(err)
	}

	// archive_mode on from the start, so the first apply verifies.
	pool, err := pg.Pool(ctx, pgSrv.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pg.ApplyArchive(ctx, pool, pg.ArchiveSettings{ArchiveMode: "on", ArchiveTimeout: 5 * time.Second, ArchiveCommand: "/bin/true"}); err != nil {
		t.Fatal(err)
	}
	if err := pgSrv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resetArchiving(t, pgSrv) })

	config := func(compression, encryption string, manage bool) string {
		return fmt.Sprintf(`
provider "lifeboat" {
  signing_key = %[1]q
}

resource "lifeboat_wal_archive" "test" {
  cluster                  = "main"
  rpo                      = "10s"
  compression              = %[2]q
  agent_path               = %[3]q
  agent_config_path        = %[4]q
  manage_agent_config_file = %[5]t
  agent_host               = "db-eu-1"
  postgres {
    dsn = %[6]q
  }
  repository {
    bucket = %[7]q
    prefix = "pg"
  }
  agent_credentials {
    access_key = %[8]q
    secret_key = %[9]q
  }
  restorer_credentials {
    access_key = %[10]q
    secret_key = %[11]q
  }
  %[12]s
}
`, key.String(), compression, agent, cfgPath, manage, pgSrv.DSN("postgres"), bucket, writerAK, writerSK, restorerAK, restorerSK, encryption)
	}
	encrypted := fmt.Sprintf("encryption {\n    recipients = [%q]\n  }", recipient)

	// archivedKey switches WAL, waits for the segment in the bucket and
	// returns its decoded key.
	archivedKey := func() repo.Key {
		t.Helper()
		seg := switchAndWaitArchived(t, pool, 90*time.Second)
		var found *repo.Key
		err := store.List(ctx, layout.WALTimelineDir(seg[:8])+seg, func(o objectstore.ObjectInfo) error {
			if k, ok := layout.Parse(o.Key); ok && k.Kind == repo.KindWAL && k.Name == seg {
				found = &k
			}
			return nil
		})
		if err != nil || found == nil {
			t.Fatalf("segment %s not in the bucket: %v", seg, err)
		}
		return *found
	}
	settings := func(compression string, encrypted bool) resource.TestCheckFunc {
		return func(*terraform.State) error {
			s, err := repo.ReadWALSettings(ctx, store, layout, trust)
			if err != nil {
				return err
			}
			if s.Compression != compression || (s.Encryption != nil) != encrypted {
				return fmt.Errorf("WAL settings %+v: want %s, encrypted %v", s, compression, encrypted)
			}
			return nil
		}
	}

	resource.Test(t, resource.TestCase{
		PreCheck:                 func() { testAccPreCheck(t) },
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				// The bootstrap, written once: the writer's keys and the
				// restorer's, mode 0600; the signed settings say zstd.
				Config: config("zstd", "", true),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(walAddr, tfjsonpath.New("signed_by"), knownvalue.StringExact(key.Public().ID())),
				},
				Check: resource.ComposeTestCheckFunc(settings("zstd", false), func(s *terraform.State) error {
					st, err := os.Stat(cfgPath)
					if err != nil || st.Mode().Perm() != 0o600 {
						return fmt.Errorf("bootstrap %s: %v, mode %v; want 0600", cfgPath, err, st.Mode().Perm())
					}
					cfg, err := repo.Load(cfgPath)
					if err != nil {
						return err
					}
					if cfg.Host != "db-eu-1" || cfg.AccessKey != writerAK || cfg.Restorer == nil ||
						cfg.Restorer.AccessKey != restorerAK || cfg.Restorer.SecretKey != restorerSK {
						return fmt.Errorf("bootstrap %s: want host db-eu-1, the writer's keys and the restorer's", cfg)
					}
					if rendered := s.RootModule().Resources[walAddr].Primary.Attributes["agent_config"]; !strings.Contains(rendered, restorerAK) {
						return fmt.Errorf("agent_config does not render the restorer:\n%s", rendered)
					}
					if k := archivedKey(); k.Ext != "zst" || k.RecipientSet != "" {
						return fmt.Errorf("segment archived as %+v, want zst, unencrypted", k)
					}
					return nil
				}),
			},
			{
				// The host's file gets its state directory, and is never
				// written again (manage_agent_config_file = false): the
				// change reaches the host through the repository alone.
				PreConfig: func() {
					cfg, err := repo.Load(cfgPath)
					if err != nil {
						t.Fatal(err)
					}
					cfg.StateDir, cfg.WALSettingsMaxAge = stateDir, "1s"
					b, err := cfg.Marshal()
					if err != nil {
						t.Fatal(err)
					}
					if err := repo.WriteConfigFile(cfgPath, "postgres", b); err != nil {
						t.Fatal(err)
					}
				},
				Config: config("lz4", encrypted, false),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(walAddr, plancheck.ResourceActionUpdate)},
				},
				Check: resource.ComposeTestCheckFunc(settings("lz4", true), func(*terraform.State) error {
					cfg, err := repo.Load(cfgPath)
					if err != nil {
						return err
					}
					if cfg.Compression != "zstd" || cfg.Encryption != nil {
						return fmt.Errorf("the host's bootstrap was rewritten: %s", cfg)
					}
					time.Sleep(1200 * time.Millisecond) // the local copy's max age
					if k := archivedKey(); k.Ext != "lz4" || k.RecipientSet == "" {
						return fmt.Errorf("segment archived as %+v after the change, want lz4, encrypted", k)
					}
					// The local verified copy: 0600, the server's account's.
					copies, _ := filepath.Glob(filepath.Join(stateDir, "wal-settings-*.json"))
					if len(copies) != 1 {
						return fmt.Errorf("local copies of the WAL settings in %s: %v, want 1", stateDir, copies)
					}
					fi, err := os.Stat(copies[0])
					if err != nil || fi.Mode().Perm() != 0o600 || fi.Sys().(*syscall.Stat_t).Uid != uint32(uid) {
						return fmt.Errorf("local copy %s: %v, mode %v; want 0600, owned by postgres", copies[0], err, fi.Mode().Perm())
					}
					return nil
				}),
			},
			{
				// A writer of the bucket forges the settings: compression
				// none, no encryption, unsigned. wal-push keeps the last
				// verified ones and says so in the server's log.
				PreConfig: func() {
					logBefore, _ := os.ReadFile(pgSrv.LogPath)
					forged := []byte(`{"format":1,"cluster":"main","compression":"none"}`)
					if _, err := store.Put(ctx, layout.WALSettingsKey(), bytes.NewReader(forged), objectstore.PutOptions{Size: int64(len(forged))}); err != nil {
						t.Fatal(err)
					}
					time.Sleep(1200 * time.Millisecond)
					if k := archivedKey(); k.Ext != "lz4" || k.RecipientSet == "" {
						t.Fatalf("segment archived as %+v under a forged document, want lz4, encrypted", k)
					}
					logAfter, _ := os.ReadFile(pgSrv.LogPath)
					if len(logAfter) >= len(logBefore) {
						logAfter = logAfter[len(logBefore):]
					}
					if !bytes.Contains(logAfter, []byte("ignoring the repository's WAL settings")) {
						t.Fatalf("no warning in the server's log about the forged settings:\n%s", logAfter)
					}
				},
				Config: config("lz4", encrypted, false),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(walAddr, plancheck.ResourceActionUpdate),
						plancheck.ExpectKnownValue(walAddr, tfjsonpath.New("signed_by"), knownvalue.StringExact(key.Public().ID())),
					},
				},
				Check: settings("lz4", true),
			},
			{
				Config:   config("lz4", encrypted, false),
				PlanOnly: true,
			},
		},
	})
}
