package restore_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/catalog"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
)

type ageKey struct{ identity, recipient string }

func newAgeKey(t *testing.T) ageKey {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return ageKey{identity: id.String(), recipient: id.Recipient().String()}
}

// identityFile writes keys' identities to a 0600 file the postgres account
// owns (restore_command reads it as that account).
func (f *fixture) identityFile(t *testing.T, name string, keys ...ageKey) string {
	t.Helper()
	var lines []string
	for _, k := range keys {
		lines = append(lines, k.identity)
	}
	p := filepath.Join(f.dir, name)
	if err := writePostgresFile(p, []byte(strings.Join(lines, "\n")+"\n")); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAccEncryptedRestore archives WAL, takes base backups and a tenant
// dump encrypted to age recipients on the "database host" (the agent
// configuration holds recipients only), rotates from key A to key B, and
// restores:
//   - every key in the repository says encrypted, and the manifests and
//     metadata name the recipients;
//   - without an identity, and with the wrong one, every restore fails at
//     plan, naming the missing recipient's fingerprint;
//   - with A and B, the backup taken under A restores (its WAL crosses the
//     rotation) and so does the one under B, to the same data;
//   - the tenant dump restores with B, and refuses at plan without it;
//   - verify checks stored checksums without an identity, content with it.
func TestAccEncryptedRestore(t *testing.T) {
	f := setup(t)
	pg := f.env.Postgres
	ctx := context.Background()
	t.Setenv(crypt.EnvIdentityFile, "")
	t.Setenv(crypt.EnvIdentity, "")
	a, b := newAgeKey(t), newAgeKey(t)
	fpA, fpB := crypt.Fingerprint(a.recipient), crypt.Fingerprint(b.recipient)

	// The database host's configuration: a cluster of its own in the
	// repository, recipients, no identity.
	host := f.cfg
	host.Cluster = "pg15-encrypted"
	l := host.Layout()
	cfgPath := filepath.Join(f.dir, "lifeboat-encrypted.json")
	writeHost := func(rec string) {
		t.Helper()
		host.Encryption = &repo.Encryption{Recipients: []string{rec}}
		if err := writeAgentConfig(cfgPath, host); err != nil {
			t.Fatal(err)
		}
	}
	writeHost(a.recipient)
	setArchive := func(cfg string) {
		t.Helper()
		psql(t, pg, "postgres", fmt.Sprintf("ALTER SYSTEM SET archive_command = '%s wal-push --config %s %%p'", f.bin, cfg))
		psql(t, pg, "postgres", "SELECT pg_reload_conf()")
	}
	setArchive(cfgPath)
	t.Cleanup(func() {
		_, _ = pg.Psql("postgres", fmt.Sprintf("ALTER SYSTEM SET archive_command = '%s wal-push --config %s %%p'", f.bin, filepath.Join(f.dir, "lifeboat.json")))
		_, _ = pg.Psql("postgres", "SELECT pg_reload_conf()")
	})
	f.switchAndWait(t)

	psql(t, pg, "postgres", "DROP DATABASE IF EXISTS crypt_tenant")
	psql(t, pg, "postgres", "CREATE DATABASE crypt_tenant")
	psql(t, pg, "crypt_tenant", "CREATE TABLE notes (era text)")
	psql(t, pg, "crypt_tenant", "INSERT INTO notes VALUES ('under A')")

	take := func() *backup.Manifest {
		t.Helper()
		r, err := host.Recipients()
		if err != nil {
			t.Fatal(err)
		}
		m, err := backup.Take(ctx, f.store, backup.Options{Layout: l, DSN: pg.DSN("postgres"), Recipients: r})
		if err != nil {
			t.Fatal(err)
		}
		f.switchAndWait(t)
		return m
	}
	mA := take()
	if mA.Encryption.String() != "age to "+fpA || !strings.HasSuffix(mA.Archives[0].Name, ".age") {
		t.Fatalf("backup under A: encryption %v, archive %s", mA.Encryption, mA.Archives[0].Name)
	}

	// Rotation: B for everything new.
	writeHost(b.recipient)
	psql(t, pg, "crypt_tenant", "INSERT INTO notes VALUES ('under B')")
	f.switchAndWait(t)
	mB := take()
	rB, _ := host.Recipients()
	dumps, err := backup.DumpTenants(ctx, f.store, backup.TenantOptions{Layout: l, DSN: pg.DSN("postgres"),
		PGDump: filepath.Join(pg.BinDir, "pg_dump"), Recipients: rB}, []string{"crypt_tenant"})
	if err != nil {
		t.Fatal(err)
	}
	dump := dumps[0].Manifest
	psql(t, pg, "crypt_tenant", "INSERT INTO notes VALUES ('after the dump')")
	f.switchAndWait(t)

	// What the repository says: WAL names its recipient sets (A's, then B's).
	wa, err := catalog.ListWAL(ctx, f.store, l, 0)
	if err != nil {
		t.Fatal(err)
	}
	sets := map[string]bool{}
	for _, w := range wa.Files {
		if !w.IsSegment {
			continue
		}
		if w.RecipientSet == "" {
			t.Fatalf("WAL segment %s stored unencrypted", w.Key)
		}
		sets[w.RecipientSet] = true
	}
	if len(sets) != 2 {
		t.Fatalf("WAL recipient sets %v, want A's and B's", sets)
	}
	if dump.Encryption.String() != "age to "+fpB {
		t.Fatalf("dump encryption %v", dump.Encryption)
	}

	// Without an identity (the writer's host) and with the wrong one, plans
	// fail naming the recipient.
	noID := host
	noID.Encryption = nil
	onlyB := noID
	onlyB.IdentityFile = f.identityFile(t, "id-b.txt", b)
	both := noID
	both.IdentityFile = f.identityFile(t, "id-ab.txt", a, b)
	for _, tc := range []struct {
		name string
		cfg  repo.AgentConfig
		req  restore.Request
		fp   string
	}{
		{"cluster latest, no identity", noID, restore.Request{Kind: restore.KindCluster, Layout: l}, fpB},
		{"backup under A, identity B only", onlyB, restore.Request{Kind: restore.KindCluster, Layout: l, BackupID: mA.ID}, fpA},
		{"tenant dump, no identity", noID, restore.Request{Kind: restore.KindTenant, Layout: l, Database: "crypt_tenant", BackupID: dump.ID}, fpB},
	} {
		t.Run("plan refused: "+tc.name, func(t *testing.T) {
			tc.req.AgentConfig = tc.cfg
			_, err := restore.PlanRestore(ctx, f.store, tc.req)
			var missing *crypt.MissingIdentityError
			if !errors.Is(err, restore.ErrCannotDecrypt) || !errors.As(err, &missing) || !strings.Contains(err.Error(), tc.fp) {
				t.Fatalf("got %v, want a refusal naming %s", err, tc.fp)
			}
		})
	}

	// With A and B: both backups restore, through the rotation.
	want := psql(t, pg, "crypt_tenant", "SELECT string_agg(era, ',' ORDER BY era) FROM notes")
	for _, m := range []*backup.Manifest{mA, mB} {
		t.Run("restore "+m.ID, func(t *testing.T) {
			opts := f.clusterOptions(t, "encrypted-"+m.ID)
			opts.Layout, opts.AgentConfig, opts.BackupID, opts.KeepRunning = l, both, m.ID, true
			res, err := restore.RestoreCluster(ctx, f.store, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = restore.RemoveCluster(ctx, res.DataDir, pg.BinDir, pg.OSUser) }()
			if got := queryRestored(t, res, "crypt_tenant", "SELECT string_agg(era, ',' ORDER BY era) FROM notes"); got != want {
				t.Fatalf("restored %q, want %q", got, want)
			}
		})
	}

	t.Run("tenant dump with B", func(t *testing.T) {
		psql(t, pg, "postgres", "DROP DATABASE IF EXISTS crypt_tenant_restored")
		res, err := restore.RestoreTenant(ctx, f.store, restore.TenantOptions{Layout: l, Database: "crypt_tenant", DumpID: dump.ID,
			TargetDSN: pg.DSN("postgres"), NewDatabase: "crypt_tenant_restored", BinDir: pg.BinDir, AgentConfig: onlyB})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = restore.DropTenant(ctx, pg.DSN("postgres"), "crypt_tenant_restored", nil) }()
		if got := psql(t, pg, "crypt_tenant_restored", "SELECT string_agg(era, ',' ORDER BY era) FROM notes"); got != "under A,under B" || res.Source.ID != dump.ID {
			t.Fatalf("restored %q from %v", got, res.Source)
		}
	})

	t.Run("verify", func(t *testing.T) {
		rep, err := catalog.VerifyWith(ctx, f.store, l, mB.ID, nil)
		if err != nil || !rep.OK() || rep.NotDecrypted == 0 || rep.Files != 0 {
			t.Fatalf("without identity: %+v %v (want stored checksums only)", rep, err)
		}
		ids, err := crypt.LoadIdentities(onlyB.IdentityFile)
		if err != nil {
			t.Fatal(err)
		}
		rep, err = catalog.VerifyWith(ctx, f.store, l, mB.ID, ids)
		if err != nil || !rep.OK() || rep.NotDecrypted != 0 || rep.Files == 0 || rep.WALSegments == 0 {
			t.Fatalf("with B: %+v %v (want every data file and segment checked)", rep, err)
		}
	})
}
