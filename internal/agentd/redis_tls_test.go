package agentd

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/redisx"
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
	testenv.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := testenv.NewRedisTLS(t, "redis.test")
	f := newRedisRepo(t, r, "redis-tls")
	store, l := f.store, f.l
	schedule := func(tg redisx.Target) {
		t.Helper()
		tg.Agent = "db-a"
		f.schedule(ctx, t, 5, tg)
	}
	f.agent(ctx, t, "db-a")

	for _, c := range []struct {
		name  string
		tg    redisx.Target
		error func(string) bool // what the run's error says
	}{
		{"no server name", redisx.Target{TLS: true, TLSCACert: r.TLS.CACert},
			func(e string) bool { return strings.Contains(e, "cannot validate certificate for 127.0.0.1") }},
		{"no CA", redisx.Target{TLS: true, TLSServerName: r.TLS.ServerName},
			func(e string) bool { return strings.Contains(e, "certificate signed by unknown authority") }},
		{"no TLS", redisx.Target{},
			func(e string) bool { return strings.Contains(e, "connecting to redis") && !strings.Contains(e, "tls:") }},
	} {
		since := time.Now()
		schedule(c.tg)
		// NOTE: runs of the previous schedule may still fail after since,
		// until the agent's next refresh: wait for this one's error.
		var last *Run
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			last, _ = ReadRun(ctx, store, l, RedisJobPrefix+"sessions")
			if last != nil && last.Result != ResultSuccess && last.Started.After(since) && c.error(last.Error) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: no run failing as expected within 30s; last run %+v", c.name, last)
			}
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
