package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/redisx"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestAccRedisPersistenceResource_tlsTargetMovesAfterSnapshots: a Redis
// serving TLS only, with a private CA's certificate naming redis.test
// (not its address), and a password. The resource converges it over TLS
// (tls, tls_server_name, tls_ca_certificate) and its signed schedule
// carries those TLS settings in the target, never the password.
//
// Then the world moves on: snapshots are taken (a BGSAVE each, as an
// agent takes them). A saved plan moves the snapshots to another agent at
// another address; more snapshots are taken between the plan and the
// apply of the plan file; the apply updates in place, the state is the
// plan's, the target is the new one with its TLS settings, the snapshots
// stay, and a new plan is empty. A plain apply moving them back after
// another snapshot does the same. A tls_server_name the certificate does
// not hold fails the apply, naming the certificate.
func TestAccRedisPersistenceResource_tlsTargetMovesAfterSnapshots(t *testing.T) {
	env := testenv.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	r := testenv.NewRedisTLS(t, "redis.test")
	const password = "tls-s3cret"
	conn := redisx.Options{Addr: r.Addr, TLS: true, TLSServerName: r.TLS.ServerName, TLSCACert: r.TLS.CACert}
	rc, err := redisx.Connect(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.ConfigSet(ctx, "requirepass", password).Err(); err != nil {
		t.Fatal(err)
	}
	_ = rc.Close()
	conn.Password = password
	store := env.MinIO[0].NewStore(t, "lb-redis-tls", objectstore.BucketSpec{})
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	key, _ := signature.Generate()
	trust, _ := signature.NewTrust(key.Public().String())
	// localhost: the same server at another address, as an agent on the
	// Redis host reaches it (the certificate names neither).
	otherAddr := "localhost:" + strconv.Itoa(r.Port)

	tf := terraformCLI(t)
	config := func(agent, snapshotAddr, serverName string) string {
		addrLine := ""
		if snapshotAddr != "" {
			addrLine = fmt.Sprintf("address = %q", snapshotAddr)
		}
		return fmt.Sprintf(`
terraform {
  required_providers {
    lifeboat = { source = "lifeboat-dr/lifeboat" }
  }
}

provider "lifeboat" {
  signing_key = %q
}

resource "lifeboat_redis_persistence" "test" {
  class   = "session"
  cluster = "main"
  redis {
    address            = %q
    password           = %q
    tls                = true
    tls_server_name    = %q
    tls_ca_certificate = %q
  }
  repository {
    bucket = %q
    prefix = "pg"
  }
  snapshot {
    instance   = "sessions"
    schedule   = "@hourly"
    keep_count = 24
    agent      = %q
    %s
  }
}
`, key.String(), r.Addr, password, serverName, r.TLS.CACert, store.Bucket(), agent, addrLine)
	}
	// target checks the signed schedule's target: agent, address and the
	// TLS settings; the password stays out.
	target := func(agent, addr string) {
		t.Helper()
		d, signer, err := redisx.ReadScheduleSigned(ctx, store, l, "sessions", trust)
		if err != nil {
			t.Fatal(err)
		}
		want := redisx.Target{Agent: agent, Address: addr, TLS: true, TLSServerName: "redis.test", TLSCACert: r.TLS.CACert}
		if d.Target == nil || *d.Target != want {
			t.Fatalf("schedule target %+v, want %+v", d.Target, want)
		}
		if signer != key.Public().ID() {
			t.Fatalf("schedule signed by %q, want the provider's key %s", signer, key.Public().ID())
		}
		raw, err := json.Marshal(d)
		if err != nil || strings.Contains(string(raw), password) {
			t.Fatalf("the schedule holds the password: %s", raw)
		}
	}
	// snapshot takes a snapshot as an agent does, over TLS: the world
	// moving on (a BGSAVE moves last_save_at; a second apart, so it shows).
	taken := 0
	snapshot := func() {
		t.Helper()
		time.Sleep(1100 * time.Millisecond)
		c, err := redisx.Connect(ctx, conn)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = c.Close() }()
		if err := c.Set(ctx, fmt.Sprintf("session:%d", taken), "alice", 0).Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := redisx.Snapshot(ctx, c, store, redisx.SnapshotOptions{Layout: l, Instance: "sessions"}); err != nil {
			t.Fatal(err)
		}
		taken++
	}
	snapshotsKept := func() {
		t.Helper()
		snaps, err := redisx.Snapshots(ctx, store, l, "sessions")
		if err != nil || len(snaps) != taken {
			t.Fatalf("%d snapshots (%v), want the %d taken", len(snaps), err, taken)
		}
	}
	noChanges := func() {
		t.Helper()
		if out, errOut, err := tf.Try("plan", "-detailed-exitcode"); err != nil {
			t.Fatalf("plan after the apply is not empty (%v):\n%s\n%s", err, out, errOut)
		}
	}

	tf.Write(t, config("db-a", "", "redis.test"))
	tf.Run(t, "apply", "-auto-approve")
	target("db-a", r.Addr)
	c, err := redisx.Connect(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	aof, err := c.ConfigGet(ctx, "appendonly").Result()
	_ = c.Close()
	if err != nil || aof["appendonly"] != "yes" {
		t.Fatalf("appendonly %v (%v): the session class's settings were not converged over TLS", aof, err)
	}
	snapshot()
	snapshot()

	// Saved plan: db-b at another address; more snapshots before the apply.
	tf.Write(t, config("db-b", otherAddr, "redis.test"))
	tf.Run(t, "plan", "-out=tfplan")
	change := tf.Planned(t, "tfplan")[redisAddr]
	if len(change.Actions) != 1 || change.Actions[0] != "update" {
		t.Fatalf("plan actions %v, want an update in place", change.Actions)
	}
	snapshot()
	snapshot()
	tf.Run(t, "apply", "tfplan")
	target("db-b", otherAddr)
	if got, want := tf.Resource(t, redisAddr)["snapshot"], change.After["snapshot"]; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("state's snapshot block %v, the plan's %v", got, want)
	}
	snapshotsKept()
	noChanges()

	// A plain apply after another snapshot: back to db-a at the default.
	snapshot()
	tf.Write(t, config("db-a", "", "redis.test"))
	tf.Run(t, "apply", "-auto-approve")
	target("db-a", r.Addr)
	snapshotsKept()
	noChanges()

	// A server name the certificate does not hold: the apply, which
	// connects with it, fails naming the certificate; nothing is signed.
	tf.Write(t, config("db-a", "", "other.test"))
	out, errOut, err := tf.Try("apply", "-auto-approve")
	if err == nil || !strings.Contains(errOut, "certificate is valid for redis.test, not other.test") {
		t.Fatalf("apply with tls_server_name other.test: %v, want the certificate's name error\n%s\n%s", err, out, errOut)
	}
	target("db-a", r.Addr)
	tf.Write(t, config("db-a", "", "redis.test"))
	tf.Run(t, "destroy", "-auto-approve")
}
