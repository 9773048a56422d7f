package agentd

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/redisx"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestAccAgentRedisSnapshotPolicyRecipients: the signed policy's
// recipients encrypt the agent's Redis snapshots, ahead of the agent
// configuration's own (as they do base backups).
func TestAccAgentRedisSnapshotPolicyRecipients(t *testing.T) {
	env := testenv.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := testenv.StartRedis(ctx, t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	c, err := objectstore.NewClient(ctx, objectstore.Config{
		Endpoint: env.MinIO[0].Endpoint, AccessKey: env.MinIO[0].AccessKey, SecretKey: env.MinIO[0].SecretKey, PathStyle: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	bucket := fmt.Sprintf("redis-agent-enc-%08x", rand.Uint32())
	if err := c.CreateBucket(ctx, objectstore.BucketSpec{Name: bucket}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.DestroyBucket(context.Background(), bucket, true) })
	store := c.Store(bucket)
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	provider, _ := signature.Generate()
	_, policyRecipient, err := crypt.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	_, agentRecipient, err := crypt.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.WritePolicy(ctx, store, l, repo.Policy{Cluster: "main", Schedule: "0 0 1 1 *",
		Encryption: &repo.Encryption{Recipients: []string{policyRecipient}}}, provider); err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{
		Store: store, Agent: repo.AgentConfig{Bucket: bucket, Prefix: l.Prefix, Cluster: l.Cluster,
			TrustedKeys: []string{provider.Public().String()}, Encryption: &repo.Encryption{Recipients: []string{agentRecipient}},
			Redis: map[string]repo.RedisEntry{"sessions": {Address: r.Addr}}},
		Holder: "A", DSN: "host=/nonexistent", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.redisSnapshot(ctx, redisx.ScheduleDoc{Instance: "sessions", Cluster: "main", Class: "session", Schedule: "@hourly"}); err != nil {
		t.Fatal(err)
	}
	all, err := redisx.Snapshots(ctx, store, l, "sessions")
	if err != nil || len(all) != 1 {
		t.Fatalf("snapshots %+v, %v", all, err)
	}
	if e := all[0].Encryption; e == nil || len(e.Recipients) != 1 || e.Recipients[0] != crypt.Fingerprint(policyRecipient) {
		t.Fatalf("snapshot encryption %+v, want the policy's recipient %s (the agent's is %s)", e,
			crypt.Fingerprint(policyRecipient), crypt.Fingerprint(agentRecipient))
	}
}
