package testenv

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// The fixtures acceptance tests build on the services: a repository with
// the bootstrap file of the agent on the database host, the cluster
// archiving into it, MinIO users made from the access documents, the agent
// as a separate process (agent.go).

// MustPsql is Psql failing t with the statement and psql's output.
func (pg *Postgres) MustPsql(t testing.TB, db, sql string) string {
	t.Helper()
	out, err := pg.Psql(db, sql)
	if err != nil {
		t.Fatalf("%s: %v: %s", sql, err, out)
	}
	return out
}

// NewDatabase creates database name afresh (dropped first, as are the
// databases in also: the copies a test restores from it), and drops them
// all when the test ends.
func (pg *Postgres) NewDatabase(t testing.TB, name string, also ...string) {
	t.Helper()
	all := append([]string{name}, also...)
	for _, db := range all {
		pg.MustPsql(t, "postgres", "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
	}
	pg.MustPsql(t, "postgres", "CREATE DATABASE "+name)
	t.Cleanup(func() {
		for _, db := range all {
			_, _ = pg.Psql("postgres", "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
		}
	})
}

// WALPushCommand is the archive_command that pushes through the agent bin
// with the bootstrap file cfgPath, as lifeboat_wal_archive renders it.
func WALPushCommand(bin, cfgPath string) string {
	return fmt.Sprintf("%s wal-push --config %s %%p", bin, cfgPath)
}

// ArchiveWith turns archiving on with command (archive_command, %p for the
// segment's path) and restarts the server; when the test ends it resets
// both and restarts again, so the next test starts from the defaults.
func (pg *Postgres) ArchiveWith(t testing.TB, command string) {
	t.Helper()
	pg.MustPsql(t, "postgres", "ALTER SYSTEM SET archive_mode = on")
	pg.MustPsql(t, "postgres", "ALTER SYSTEM SET archive_command = '"+strings.ReplaceAll(command, "'", "''")+"'")
	t.Cleanup(func() {
		_, _ = pg.Psql("postgres", "ALTER SYSTEM RESET archive_mode")
		_, _ = pg.Psql("postgres", "ALTER SYSTEM RESET archive_command")
		_ = pg.Restart(context.Background())
	})
	if err := pg.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// SwitchWALArchived commits a transaction (so the switch always completes
// a segment, even right after another switch), switches to a new WAL
// segment and waits, two minutes at most, until the archiver reports that
// segment or a later one (on any timeline: the archiver goes in order)
// archived. It returns the segment's name.
func (pg *Postgres) SwitchWALArchived(t testing.TB) string {
	t.Helper()
	pg.MustPsql(t, "postgres", "SELECT txid_current()")
	seg := pg.MustPsql(t, "postgres", "SELECT pg_walfile_name(pg_switch_wal() - 1)")
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		// NOTE: not a string comparison alone: a backup history file
		// (<segment>.<offset>.backup) sorts after its segment.
		last := pg.MustPsql(t, "postgres", "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")
		if last == seg || (len(last) >= 24 && last[8:24] > seg[8:]) {
			return seg
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not archived within two minutes (last archived %q, last failed %q)", seg, last,
				pg.MustPsql(t, "postgres", "SELECT coalesce(last_failed_wal, '') FROM pg_stat_archiver"))
		}
	}
}

// Admin is a client of the server with its root user's keys.
func (m *MinIO) Admin(t testing.TB) *objectstore.Client {
	t.Helper()
	return m.Client(t, m.AccessKey, m.SecretKey)
}

// Client is a client of the server with the keys accessKey, secretKey.
func (m *MinIO) Client(t testing.TB, accessKey, secretKey string) *objectstore.Client {
	t.Helper()
	c, err := objectstore.NewClient(context.Background(), m.Config(accessKey, secretKey))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Config is the object-store configuration of the server with the keys
// accessKey, secretKey.
func (m *MinIO) Config(accessKey, secretKey string) objectstore.Config {
	return objectstore.Config{Endpoint: m.Endpoint, PathStyle: true, AccessKey: accessKey, SecretKey: secretKey}
}

// User creates the MinIO user name (secret key "secret-" + name) whose only
// policy, also called name, is document: a role's document from
// internal/access, as an operator would make it (CreateUser). It returns
// the keys.
func (m *MinIO) User(t testing.TB, name, document string) (accessKey, secretKey string) {
	t.Helper()
	accessKey, secretKey = name, "secret-"+name
	if err := m.CreateUser(context.Background(), accessKey, secretKey, name, document); err != nil {
		t.Fatal(err)
	}
	return accessKey, secretKey
}

// UserClient is User's client: the user's keys at work.
func (m *MinIO) UserClient(t testing.TB, name, document string) *objectstore.Client {
	t.Helper()
	ak, sk := m.User(t, name, document)
	return m.Client(t, ak, sk)
}

// NewBucket creates a bucket named prefix-<8 random hex digits> as spec
// says (its Name is set) and returns the name. When the test ends the
// bucket is destroyed as far as its locks allow: objects still locked
// stay, which is why the name is random.
func (m *MinIO) NewBucket(t testing.TB, prefix string, spec objectstore.BucketSpec) string {
	t.Helper()
	name := fmt.Sprintf("%s-%08x", prefix, rand.Uint32())
	m.StoreNamed(t, name, spec)
	return name
}

// NewStore is a NewBucket's store, reached with the root user's keys.
func (m *MinIO) NewStore(t testing.TB, prefix string, spec objectstore.BucketSpec) *objectstore.S3 {
	t.Helper()
	return m.Admin(t).Store(m.NewBucket(t, prefix, spec))
}

// StoreNamed is NewStore for the bucket named name exactly: the same name
// on two servers, say, which only their endpoints tell apart.
func (m *MinIO) StoreNamed(t testing.TB, name string, spec objectstore.BucketSpec) *objectstore.S3 {
	t.Helper()
	admin := m.Admin(t)
	spec.Name = name
	if err := admin.CreateBucket(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.DestroyBucket(context.Background(), name, true) })
	return admin.Store(name)
}

// Repository is a bucket of a MinIO server holding one cluster's
// repository, with the bootstrap file of the agent on the database host.
type Repository struct {
	// Config is the bootstrap file's content: the server, the bucket, the
	// layout and the keys (the root user's unless the caller set others).
	Config repo.AgentConfig
	// ConfigPath is the bootstrap file, readable by the PostgreSQL account
	// only, as on a database host.
	ConfigPath string
	// Admin is a client with the root user's keys.
	Admin *objectstore.Client
	Store objectstore.Store
}

// Layout is the repository's key layout.
func (r *Repository) Layout() repo.Layout { return r.Config.Layout() }

// NewRepository creates bucket (spec's other fields as given) and writes
// the bootstrap file dir/lifeboat.json for cluster below prefix, with the
// root user's keys unless cfg (when given) names others. The bucket stays:
// buckets with locked versions cannot be removed, so tests name theirs.
func (m *MinIO) NewRepository(t testing.TB, dir string, spec objectstore.BucketSpec, prefix, cluster string, pgAccount string) *Repository {
	t.Helper()
	r := &Repository{Admin: m.Admin(t), ConfigPath: filepath.Join(dir, "lifeboat.json"),
		Config: repo.AgentConfig{Endpoint: m.Endpoint, PathStyle: true, AccessKey: m.AccessKey, SecretKey: m.SecretKey,
			Bucket: spec.Name, Prefix: prefix, Cluster: cluster}}
	if err := r.Admin.CreateBucket(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	r.Store = r.Admin.Store(spec.Name)
	r.WriteConfig(t, pgAccount)
	return r
}

// WriteConfig writes Config to ConfigPath, owned by account (the
// PostgreSQL server's, which runs wal-push; empty: this process's).
func (r *Repository) WriteConfig(t testing.TB, account string) {
	t.Helper()
	body, err := r.Config.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if account == "" {
		err = os.WriteFile(r.ConfigPath, body, 0o600)
	} else {
		err = repo.WriteConfigFile(r.ConfigPath, account, body)
	}
	if err != nil {
		t.Fatal(err)
	}
}
