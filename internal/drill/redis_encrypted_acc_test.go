package drill

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/redisx"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestAccRedisDrill_encrypted: a drill of an encrypted snapshot passes
// with the agent's identity file, and without one fails with evidence
// naming the recipient fingerprint it needs.
func TestAccRedisDrill_encrypted(t *testing.T) {
	env := testenv.Require(t)
	if env.Redis == nil {
		t.Fatal("the harness started no Redis")
	}
	t.Setenv(crypt.EnvIdentityFile, "")
	t.Setenv(crypt.EnvIdentity, "")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := objectstore.NewClient(ctx, objectstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	bucket := fmt.Sprintf("drill-redis-enc-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)
	if err := c.CreateBucket(ctx, objectstore.BucketSpec{Name: bucket}); err != nil {
		t.Fatal(err)
	}
	store := c.Store(bucket)
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	rc, err := redisx.Connect(ctx, redisx.Options{Addr: env.Redis.Addr})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Close() }()
	if err := rc.Set(ctx, "drill:enc:marker", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	keys, err := rc.DBSize(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	file, recipient, err := crypt.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	idFile := filepath.Join(t.TempDir(), "identity")
	if err := os.WriteFile(idFile, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := repo.AgentConfig{Encryption: &repo.Encryption{Recipients: []string{recipient}}}
	recipients, err := cfg.Recipients()
	if err != nil {
		t.Fatal(err)
	}
	m, err := redisx.Snapshot(ctx, rc, store, redisx.SnapshotOptions{Layout: l, Instance: "enc", Recipients: recipients})
	if err != nil {
		t.Fatal(err)
	}
	if m.Encryption == nil {
		t.Fatal("snapshot with recipients is not encrypted")
	}
	run := func(name string, agent repo.AgentConfig) *Evidence {
		t.Helper()
		ev, err := Run(ctx, store, Spec{Schedule: name, Layout: l, Kind: KindRedis, ScratchDir: t.TempDir(), AgentConfig: agent,
			Redis: RedisSpec{Instance: "enc", MinKeys: keys, RPO: time.Hour}, EvidenceRetention: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	if ev := run("enc-pass", repo.AgentConfig{IdentityFile: idFile}); !ev.Passed || ev.Error != "" {
		t.Fatalf("drill with the identity: passed %v, error %q, checks %+v", ev.Passed, ev.Error, ev.Checks)
	}
	fp := crypt.Fingerprint(recipient)
	if ev := run("enc-noid", repo.AgentConfig{}); ev.Passed || !strings.Contains(ev.Error, fp) {
		t.Fatalf("drill without an identity: passed %v, error %q, want it to name %s", ev.Passed, ev.Error, fp)
	}
}
