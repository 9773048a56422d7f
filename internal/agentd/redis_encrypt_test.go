package agentd

import (
	"context"
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
	r := testenv.NewRedis(t)
	store := env.MinIO[0].NewStore(t, "redis-agent-enc", objectstore.BucketSpec{})
	bucket := store.Bucket()
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
		Holder: "A", DSN: "host=/nonexistent", Logger: discardLogger(),
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
