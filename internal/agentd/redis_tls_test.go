package agentd

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/redisx"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestAccRedisTLSTargetFromRepository: a Redis serving TLS only
// (redis-server --tls-port, the plain port off) with a certificate from a
// private CA that names redis.test, not the address it listens on. The
// agent reaches it with the TLS settings of the signed schedule's target
// (tls, tls_ca_cert, tls_server_name) and the password of its own
// configuration. Each setting matters: without the server name the
// certificate does not match the address, without the CA it is signed by
// an unknown authority, without TLS the server drops the connection; each
// run fails and takes no snapshot. With all three the snapshot is taken.
func TestAccRedisTLSTargetFromRepository(t *testing.T) {
	env := testenv.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := testenv.NewRedisTLS(t, "redis.test")
	const password = "tls-s3cret"
	requirePassword(t, redisx.Options{Addr: r.Addr, TLS: true, TLSServerName: r.TLS.ServerName, TLSCACert: r.TLS.CACert}, password)
	store := env.MinIO[0].NewStore(t, "redis-tls", objectstore.BucketSpec{})
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	provider, _ := signature.Generate()
	schedule := func(tg redisx.Target) {
		t.Helper()
		tg.Agent, tg.Address = "db-a", r.Addr
		if err := redisx.WriteSchedule(ctx, store, l, redisx.ScheduleDoc{Instance: "sessions", Cluster: "main", Class: "session",
			Schedule: "@every 1s", KeepCount: 5, Target: &tg}, provider); err != nil {
			t.Fatal(err)
		}
	}
	runRedisAgent(ctx, t, store, repo.AgentConfig{Bucket: store.Bucket(), Prefix: l.Prefix, Cluster: l.Cluster, Host: "db-a",
		TrustedKeys: []string{provider.Public().String()}, Redis: map[string]repo.RedisEntry{"sessions": {Password: password}}})

	for _, c := range []struct {
		name string
		tg   redisx.Target
		want string // in the run's error
	}{
		{"no server name", redisx.Target{TLS: true, TLSCACert: r.TLS.CACert}, "cannot validate certificate for 127.0.0.1"},
		{"no CA", redisx.Target{TLS: true, TLSServerName: r.TLS.ServerName}, "certificate signed by unknown authority"},
		{"no TLS", redisx.Target{}, ""},
	} {
		since := time.Now()
		schedule(c.tg)
		var last *Run
		waitUntil(t, 30*time.Second, c.name+": a failed snapshot run", func() bool {
			last, _ = ReadRun(ctx, store, l, RedisJobPrefix+"sessions")
			return last != nil && last.Result != ResultSuccess && last.Started.After(since)
		})
		if !strings.Contains(last.Error, c.want) {
			t.Fatalf("%s: run failed with %q, want %q in it", c.name, last.Error, c.want)
		}
		if snaps, err := redisx.Snapshots(ctx, store, l, "sessions"); err != nil || len(snaps) != 0 {
			t.Fatalf("%s: snapshots %+v, %v; want none", c.name, snaps, err)
		}
		t.Logf("%s: %s", c.name, last.Error)
	}

	since := time.Now()
	schedule(redisx.Target{TLS: true, TLSServerName: r.TLS.ServerName, TLSCACert: r.TLS.CACert})
	waitRedisRun(ctx, t, store, l, "sessions", "db-a", since)
	snaps, err := redisx.Snapshots(ctx, store, l, "sessions")
	if err != nil || len(snaps) == 0 {
		t.Fatalf("snapshots over TLS %+v, %v", snaps, err)
	}
	if snaps[0].RDBSize == 0 {
		t.Fatalf("snapshot %+v holds no RDB", snaps[0])
	}
}
