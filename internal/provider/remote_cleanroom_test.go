package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/remote"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestAccRemoteRestore_cleanRoom: a clean-room restore on the agent, from
// a pipeline (plan -out, apply of the saved plan, no PostgreSQL on the
// runner). First sent to an agent whose bootstrap file has no restorer:
// it refuses, the request's result says why, and the apply fails with
// that reason, not after a timeout. The agent reads with the restorer credentials of its bootstrap
// file only, as the repository was at not_after; the copy listens on the
// loopback and does not archive; its superuser's password is made by the
// provider and kept in state, while the request in the repository carries
// only its SCRAM-SHA-256 verifier, which the agent set. The verifier
// function agrees with PostgreSQL's own. Then the copy is deleted on the
// host: the agent's heartbeat drops it and refresh plans it again.
func TestAccRemoteRestore_cleanRoom(t *testing.T) {
	f := newRestoreFixture(t)
	env := testenv.Require(t)
	ctx := context.Background()
	store := testAccClient(t).Store(f.bucket)
	layout := repo.Layout{Prefix: "pg", Cluster: "main"}

	// ScramVerifier and VerifierMatches agree with PostgreSQL.
	if out, err := env.Postgres.Psql("postgres", "SET password_encryption = 'scram-sha-256'; DROP ROLE IF EXISTS lb_scram_probe; CREATE ROLE lb_scram_probe PASSWORD 'correct horse'"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var pgVerifier string
	if err := f.pool.QueryRow(ctx, "SELECT rolpassword FROM pg_authid WHERE rolname = 'lb_scram_probe'").Scan(&pgVerifier); err != nil {
		t.Fatal(err)
	}
	_, _ = env.Postgres.Psql("postgres", "DROP ROLE lb_scram_probe")
	if !restore.VerifierMatches(pgVerifier, "correct horse") || restore.VerifierMatches(pgVerifier, "wrong horse") {
		t.Fatalf("VerifierMatches disagrees with PostgreSQL's verifier %s", pgVerifier)
	}

	if _, err := f.pool.Exec(ctx, "DROP TABLE IF EXISTS shipments; CREATE TABLE shipments (id int); INSERT INTO shipments SELECT generate_series(1, 11)"); err != nil {
		t.Fatal(err)
	}
	switchAndWaitArchived(t, f.pool, 90*time.Second)
	time.Sleep(1100 * time.Millisecond)
	notAfter := time.Now().UTC().Truncate(time.Second)
	time.Sleep(1100 * time.Millisecond)

	writerAK, writerSK := testAccRoleUser(t, f.bucket+"-w", access.RoleWriter, f.bucket, layout)
	restorerAK, restorerSK := testAccRoleUser(t, f.bucket+"-r", access.RoleRestorer, f.bucket, layout)
	cfg := (&providerData{}).agentConfig(f.bucket, "pg", "main", "")
	cfg.AccessKey, cfg.SecretKey = writerAK, writerSK
	cfg.Restorer = &repo.RestorerEntry{AccessKey: restorerAK, SecretKey: restorerSK}
	testenv.StartAgent(t, f.agent, cfg, "db-eu-1", "agent-a", env.Postgres.DSN("postgres"))
	// db-eu-2's bootstrap file has the writer's keys only.
	writerOnly := cfg
	writerOnly.Restorer = nil
	testenv.StartAgent(t, f.agent, writerOnly, "db-eu-2", "agent-b", env.Postgres.DSN("postgres"))
	waitLive(t, store, "db-eu-1")
	waitLive(t, store, "db-eu-2")

	tf := terraformCLI(t)
	ci := withoutPostgres(t, nil)
	port, _ := testenv.FreePort()
	dataDir := f.scratch + "/clean-room-agent"
	config := func(agent string) string {
		return tfHeader + fmt.Sprintf(`
resource "lifeboat_restore" "clean" {
  kind       = "cluster"
  agent      = %[5]q
  clean_room = true
  not_after  = %[4]q
  cluster    = "main"
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
    expected = "11"
  }
}

output "password" {
  value     = lifeboat_restore.clean.superuser_password
  sensitive = true
}
`, f.bucket, dataDir, port, notAfter.Format(time.RFC3339), agent)
	}

	// An agent without restorer credentials refuses the clean room: the
	// apply fails with its reason, read from the request's result, long
	// before the claim timeout, and nothing is left on the host.
	tf.Write(t, config("db-eu-2"))
	began := time.Now()
	out, aerr := tf.TryWith(ci, "apply", "-auto-approve", "-input=false")
	flat := strings.Join(strings.Fields(out), " ")
	if aerr == nil || !strings.Contains(flat, remote.ErrNoRestorer.Error()) {
		t.Fatalf("clean room on an agent without a restorer: %v, want the agent's refusal (%q):\n%s", aerr, remote.ErrNoRestorer, out)
	}
	if took := time.Since(began); took > 90*time.Second || strings.Contains(flat, "not claimed") || strings.Contains(flat, "deadline") {
		t.Fatalf("the refusal took %s or reads as a timeout:\n%s", took, out)
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Fatalf("the refused clean room left %s on the host: %v", dataDir, err)
	}
	refused := 0
	lerr := store.List(ctx, layout.RequestsDir(), func(o objectstore.ObjectInfo) error {
		if k, ok := layout.Parse(o.Key); ok && k.Kind == repo.KindRequestResult {
			if res, err := remote.ReadResult(ctx, store, layout, k.Request); err == nil && strings.Contains(res.Error, remote.ErrNoRestorer.Error()) {
				refused++
			}
		}
		return nil
	})
	if lerr != nil || refused != 1 {
		t.Fatalf("%d request results carry the refusal (%v), want 1", refused, lerr)
	}

	tf.Write(t, config("db-eu-1"))
	tf.RunWith(t, ci, "plan", "-input=false", "-out=reviewed.tfplan")
	tf.RunWith(t, ci, "apply", "-input=false", "reviewed.tfplan")

	v := tf.State(t)["lifeboat_restore.clean"]
	password, _ := v["superuser_password"].(string)
	user, _ := v["superuser"].(string)
	if len(password) < 24 || user == "" {
		t.Fatalf("superuser %q, password of %d characters: want both from the apply", user, len(password))
	}
	if c, _ := v["check_results"].(map[string]any); c["shipments"] != "pass" {
		t.Errorf("check_results %v", c)
	}
	k, _ := layout.Parse(v["request"].(string))
	// The password is nowhere in the request's objects; its verifier is in
	// the request, and it is the password's.
	var verifier string
	err := store.List(ctx, layout.RequestDir(k.Request), func(o objectstore.ObjectInfo) error {
		rc, _, err := store.Get(ctx, o.Key)
		if err != nil {
			return err
		}
		defer rc.Close()
		body, err := io.ReadAll(rc)
		if err != nil {
			return err
		}
		if strings.Contains(string(body), password) {
			t.Errorf("%s holds the superuser's password", o.Key)
		}
		if o.Key == layout.RequestKey(k.Request) {
			var req remote.Request
			if err := json.Unmarshal(body, &req); err != nil {
				return err
			}
			if !req.Restore.CleanRoom || !req.Restore.NotAfter.Equal(notAfter) {
				t.Errorf("request %+v: want a clean room as of %s", req.Restore, notAfter)
			}
			verifier = req.Restore.SuperuserVerifier
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !restore.VerifierMatches(verifier, password) {
		t.Fatalf("the request's verifier %q is not the state's password's", verifier)
	}
	// The copy: the agent set exactly that verifier; loopback, no
	// archiving; the password opens it.
	conn, err := pgx.Connect(ctx, fmt.Sprintf("host=127.0.0.1 port=%d user=%s password=%s dbname=postgres sslmode=disable", port, user, password))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var stored, listen, archive string
	if err := conn.QueryRow(ctx, "SELECT rolpassword, current_setting('listen_addresses'), current_setting('archive_mode') FROM pg_authid WHERE rolname = $1", user).
		Scan(&stored, &listen, &archive); err != nil {
		t.Fatal(err)
	}
	if stored != verifier || listen != "127.0.0.1" || archive != "off" {
		t.Errorf("copy: rolpassword %q (want the request's verifier), listen_addresses %q, archive_mode %q", stored, listen, archive)
	}
	// Read with the restorer's keys only, audited as a clean room.
	res, err := remote.ReadResult(ctx, store, layout, k.Request)
	if err != nil || res.Restore == nil {
		t.Fatalf("result %+v: %v", res, err)
	}
	audits, err := restore.ListAudit(ctx, store, layout, signature.Trust{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range audits {
		if e.FinishedKey == res.Restore.AuditKey {
			found = true
			if r := e.Record; !r.CleanRoom || r.NotAfter == "" || r.ReadAccessKeyID != restorerAK || r.WriteAccessKeyID != writerAK || r.Result != restore.AuditSucceeded {
				t.Errorf("audit record %+v: want a clean room read by %s, written by %s", r, restorerAK, writerAK)
			}
		}
	}
	if !found {
		t.Errorf("no audit record %s", res.Restore.AuditKey)
	}
	if env, err := serverEnviron(dataDir); err != nil || strings.Contains(env, writerAK) || !strings.Contains(env, restorerAK) {
		t.Errorf("the copy's restore_command credentials: %v (writer's present %v)", err, strings.Contains(env, writerAK))
	}
	if out := tf.RunWith(t, ci, "plan", "-input=false", "-detailed-exitcode"); !strings.Contains(out, "No changes") {
		t.Fatalf("plan after apply:\n%s", out)
	}
	conn.Close(ctx)

	// Drift on the host: the copy is stopped and deleted behind
	// Terraform's back. The agent's next heartbeat no longer holds it, and
	// refresh (on the runner, which cannot see the host's disk) plans the
	// restore again.
	if err := restore.StopCluster(ctx, dataDir, "", ""); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dataDir); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := tf.TryWith(ci, "plan", "-input=false", "-detailed-exitcode")
		flat := strings.Join(strings.Fields(out), " ")
		if err != nil && strings.Contains(flat, "Restored Copy Gone From The Agent's Host") && strings.Contains(flat, "lifeboat_restore.clean will be created") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("plan after the copy was deleted on the host: %v\n%s", err, out)
		}
		time.Sleep(time.Second)
	}
	tf.RunWith(t, ci, "destroy", "-auto-approve", "-input=false")
}
