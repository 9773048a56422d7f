package provider

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access/accesstest"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/remote"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// testAccRoleUser creates a MinIO user from role's document for the
// repository, plus the extra statements (another bucket's prefixes), and
// returns its keys.
func testAccRoleUser(t *testing.T, name string, role access.Role, bucket string, l repo.Layout, extra ...access.Statement) (string, string) {
	t.Helper()
	return accesstest.User(t, testenv.Require(t).MinIO[0], name, role, bucket, l, extra...)
}

// TestAccRemoteRestore_restorerCredentials: the agent's bootstrap file
// carries a restorer identity (MinIO users made from the access documents:
// the writer's for the agent, the restorer's beside it). The restores the
// agent runs for Terraform read the repository, the WAL their
// restore_command fetches and the attachments' history with the
// restorer's keys; audit records and results are written with the
// writer's. The writer alone cannot read the tenant's attachment history
// (proven below), so the attachments come back only through the restorer.
func TestAccRemoteRestore_restorerCredentials(t *testing.T) {
	f := newRestoreFixture(t)
	env := testenv.Require(t)
	ctx := context.Background()
	admin := testAccClient(t)
	store := admin.Store(f.bucket)
	layout := repo.Layout{Prefix: "pg", Cluster: "main"}
	files := testAccStore(t, "lb-rfiles", objectstore.BucketSpec{})
	filestore := files.Bucket()

	const db = "rr_acme"
	env.Postgres.NewDatabase(t, db, db+"_restored")
	conn, err := pgx.Connect(ctx, env.Postgres.DSN(db))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE stock_picking (id serial PRIMARY KEY, name text);
CREATE TABLE ir_attachment (id serial PRIMARY KEY, name text, store_fname text);
INSERT INTO stock_picking (name) SELECT 'WH/OUT/' || g FROM generate_series(1, 12) g`); err != nil {
		t.Fatal(err)
	}
	var fnames []string
	for i := 1; i <= 3; i++ {
		fnames = append(fnames, addTestAttachment(t, conn, files, db, fmt.Sprintf("%s note %d", db, i)))
	}
	conn.Close(ctx)
	if _, err := f.pool.Exec(ctx, "DROP TABLE IF EXISTS shipments; CREATE TABLE shipments (id int); INSERT INTO shipments SELECT generate_series(1, 9)"); err != nil {
		t.Fatal(err)
	}
	switchAndWaitArchived(t, f.pool, 90*time.Second)

	// The agent's writer may write the restored copies' prefix in the
	// attachments bucket, and nothing more there; the restorer may read
	// the tenant's files and their history, and write nothing anywhere.
	src, dst := "filestore/"+db+"/", "filestore/"+db+"_restored/"
	fa := "arn:aws:s3:::" + filestore
	writerAK, writerSK := testAccRoleUser(t, f.bucket+"-w", access.RoleWriter, f.bucket, layout,
		access.Statement{Sid: "WriteRestoredCopies", Effect: "Allow", Action: []string{"s3:PutObject", "s3:DeleteObject"}, Resource: []string{fa + "/" + dst + "*"}},
		access.Statement{Sid: "ListRestoredCopies", Effect: "Allow", Action: []string{"s3:ListBucket"}, Resource: []string{fa},
			Condition: map[string]map[string][]string{"StringLike": {"s3:prefix": {dst + "*"}}}})
	restorerAK, restorerSK := testAccRoleUser(t, f.bucket+"-r", access.RoleRestorer, f.bucket, layout,
		access.Statement{Sid: "ReadTenantFiles", Effect: "Allow", Action: []string{"s3:GetObject", "s3:GetObjectVersion"}, Resource: []string{fa + "/" + src + "*"}},
		access.Statement{Sid: "ListTenantFiles", Effect: "Allow", Action: []string{"s3:ListBucket", "s3:ListBucketVersions"}, Resource: []string{fa},
			Condition: map[string]map[string][]string{"StringLike": {"s3:prefix": {src + "*"}}}})

	// The writer cannot read the history the attachments restore needs.
	cfg := (&providerData{}).agentConfig(f.bucket, "pg", "main", "")
	cfg.AccessKey, cfg.SecretKey = writerAK, writerSK
	wclient, err := objectstore.NewClient(ctx, cfg.ObjectStore())
	if err != nil {
		t.Fatal(err)
	}
	if err := wclient.Store(filestore).ListVersions(ctx, src, func(objectstore.ObjectInfo) error { return nil }); err == nil {
		t.Fatal("the writer lists the tenant's attachment history: the test proves nothing")
	}
	cfg.Restorer = &repo.RestorerEntry{AccessKey: restorerAK, SecretKey: restorerSK}
	testenv.StartAgent(t, f.agent, cfg, "db-eu-1", "agent-a", env.Postgres.DSN("postgres"))
	waitLive(t, store, "db-eu-1")

	tf := terraformCLI(t)
	ci := withoutPostgres(t, nil)
	port, _ := testenv.FreePort()
	dataDir := f.scratch + "/restorer-cluster"
	tf.Write(t, tfHeader+fmt.Sprintf(`
resource "lifeboat_restore" "cluster" {
  kind    = "cluster"
  agent   = "db-eu-1"
  cluster = "main"
  repository {
    bucket = %[1]q
    prefix = "pg"
  }
  target {
    data_directory = %[2]q
    port           = %[3]d
  }
  check {
    name     = "shipments"
    sql      = "SELECT count(*) FROM shipments"
    expected = "9"
  }
}

resource "lifeboat_restore" "tenant" {
  kind    = "tenant"
  agent   = "db-eu-1"
  cluster = "main"
  repository {
    bucket = %[1]q
    prefix = "pg"
  }
  target {
    source_database = %[4]q
    database        = "%[4]s_restored"
  }
  attachments {
    bucket        = %[5]q
    source_prefix = %[6]q
    target_prefix = %[7]q
  }
  check {
    name     = "pickings"
    sql      = "SELECT count(*) FROM stock_picking"
    expected = "12"
  }
}
`, f.bucket, dataDir, port, db, filestore, src, dst))
	tf.RunWith(t, ci, "plan", "-input=false", "-out=reviewed.tfplan")
	tf.RunWith(t, ci, "apply", "-input=false", "reviewed.tfplan")

	values := tf.State(t)
	if m, _ := values["lifeboat_restore.tenant"]["missing_attachments"].([]any); len(m) != 0 {
		t.Errorf("missing_attachments %v", m)
	}
	for _, fn := range fnames {
		if _, err := files.Head(ctx, dst+fn); err != nil {
			t.Errorf("restored attachment %s: %v", dst+fn, err)
		}
	}
	audits, err := restore.ListAudit(ctx, store, layout, signature.Trust{})
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for addr, v := range values {
		checks, _ := v["check_results"].(map[string]any)
		for name, r := range checks {
			if r != "pass" {
				t.Errorf("%s check %s: %v", addr, name, r)
			}
		}
		k, _ := layout.Parse(v["request"].(string))
		res, err := remote.ReadResult(ctx, store, layout, k.Request)
		if err != nil || res.Restore == nil || res.Restore.AuditKey == "" {
			t.Fatalf("%s: result %+v: %v", addr, res, err)
		}
		for _, e := range audits {
			if e.FinishedKey != res.Restore.AuditKey {
				continue
			}
			seen++
			r := e.Record
			if r.Result != restore.AuditSucceeded || r.ReadAccessKeyID != restorerAK || r.WriteAccessKeyID != writerAK || r.FrontEnd != restore.FrontEndAgent {
				t.Errorf("%s: audit record %+v: want read by the restorer %s, written by the writer %s, on the agent", addr, r, restorerAK, writerAK)
			}
		}
	}
	if seen != 2 {
		t.Errorf("found %d of the two restores' audit records", seen)
	}
	// restore_command of the restored server was given the restorer's
	// keys (through the server's environment), never the writer's.
	if env, err := serverEnviron(dataDir); err != nil || !strings.Contains(env, "AWS_ACCESS_KEY_ID="+restorerAK+"\x00") || strings.Contains(env, writerAK) {
		t.Errorf("restored server's environment (restore_command's credentials): %v; restorer's key present %v, writer's %v", err,
			strings.Contains(env, restorerAK), strings.Contains(env, writerAK))
	}
	tf.RunWith(t, ci, "destroy", "-auto-approve", "-input=false")
	if _, err := files.Head(ctx, dst+fnames[0]); !errors.Is(err, objectstore.ErrNotFound) {
		t.Errorf("restored attachment after destroy: %v", err)
	}
}

// serverEnviron is the environment of the PostgreSQL server running on
// dataDir (its postmaster), NUL-separated.
func serverEnviron(dataDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return "", err
	}
	pid, _, _ := strings.Cut(string(b), "\n")
	env, err := os.ReadFile(filepath.Join("/proc", strings.TrimSpace(pid), "environ"))
	return string(env) + "\x00", err
}
