package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/redisx"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestAccRedisSnapshotCommands takes a snapshot of the harness' Redis with
// the binary, restores it with the binary into a new instance's directory,
// and finds the same keys and values there.
func TestAccRedisSnapshotCommands(t *testing.T) {
	env := testenv.Require(t)
	f := setupAgentRepo(t, env, "redis-cmd-acc")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src := redis.NewClient(&redis.Options{Addr: env.Redis.Addr, Protocol: 2, DisableIdentity: true})
	defer func() { _ = src.Close() }()
	if err := src.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 500; i++ {
		if err := src.HSet(ctx, fmt.Sprintf("session:%d", i), "user", i, "cart", strings.Repeat("x", i)).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// The snapshot is taken as the agent on a database host runs: with the
	// writer's keys, never the provider's.
	w := f.asWriter(t, "redis-cmd-writer")
	var m redisx.SnapshotManifest
	if err := json.Unmarshal([]byte(w.run(t, 0, "redis-snapshot", "--instance", "sessions")), &m); err != nil {
		t.Fatal(err)
	}
	if m.Instance != "sessions" || m.RDBSize == 0 {
		t.Fatalf("manifest %+v", m)
	}

	// The catalog lists it, as a table and as JSON.
	if out := f.run(t, 0, "backups"); !strings.Contains(out, "REDIS INSTANCE") || !regexp.MustCompile(`sessions +`+m.ID).MatchString(out) {
		t.Fatalf("lifeboat backups does not list snapshot %s:\n%s", m.ID, out)
	}
	var listed struct {
		RedisSnapshots []redisx.SnapshotManifest `json:"redis_snapshots"`
	}
	if err := json.Unmarshal([]byte(f.run(t, 0, "backups", "--json")), &listed); err != nil {
		t.Fatal(err)
	}
	if len(listed.RedisSnapshots) != 1 || listed.RedisSnapshots[0].ID != m.ID || listed.RedisSnapshots[0].RDBSHA256 != m.RDBSHA256 {
		t.Fatalf("lifeboat backups --json: redis_snapshots = %+v, want snapshot %s", listed.RedisSnapshots, m.ID)
	}

	dst := t.TempDir()
	data := filepath.Join(dst, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	out := f.run(t, 0, "redis-restore", "--instance", "sessions", data)
	if !strings.Contains(out, m.ID) {
		t.Fatalf("restore names no snapshot %s:\n%s", m.ID, out)
	}
	restored, err := testenv.StartRedis(ctx, dst, false)
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Stop()
	rc := redis.NewClient(&redis.Options{Addr: restored.Addr, Protocol: 2, DisableIdentity: true})
	defer func() { _ = rc.Close() }()
	if n, err := rc.DBSize(ctx).Result(); err != nil || n != 500 {
		t.Fatalf("restored DBSIZE = %d, %v; want 500", n, err)
	}
	if v, err := rc.HGet(ctx, "session:321", "cart").Result(); err != nil || v != strings.Repeat("x", 321) {
		t.Fatalf("session:321 cart = %q, %v", v, err)
	}
	// Another instance name has no snapshot: the restore fails, loudly.
	if out, code := f.exec(t, "redis-restore", "--instance", "jobs", t.TempDir()); code == 0 || !strings.Contains(out, "not found") {
		t.Fatalf("restore of an instance without snapshots: exit %d\n%s", code, out)
	}

	// With recipients in the writer's configuration the snapshot is
	// encrypted; a restore without an identity fails naming the recipient,
	// one with the identity file restores it.
	idBody, recipient, err := crypt.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	enc := *w
	enc.cfg.Encryption = &repo.Encryption{Recipients: []string{recipient}}
	enc.cfgPath = filepath.Join(filepath.Dir(f.cfgPath), "writer-enc.json")
	body, err := enc.cfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(enc.cfgPath, body, 0o600); err != nil {
		t.Fatal(err)
	}
	var em redisx.SnapshotManifest
	if err := json.Unmarshal([]byte(enc.run(t, 0, "redis-snapshot", "--instance", "sessions-enc")), &em); err != nil {
		t.Fatal(err)
	}
	fp := crypt.Fingerprint(recipient)
	if em.Encryption == nil || len(em.Encryption.Recipients) != 1 || em.Encryption.Recipients[0] != fp {
		t.Fatalf("encrypted snapshot manifest %+v", em)
	}
	t.Setenv(crypt.EnvIdentityFile, "")
	t.Setenv(crypt.EnvIdentity, "")
	if out, code := f.exec(t, "redis-restore", "--instance", "sessions-enc", t.TempDir()); code == 0 || !strings.Contains(out, fp) {
		t.Fatalf("restore of an encrypted snapshot without an identity: exit %d, want the fingerprint %s\n%s", code, fp, out)
	}
	r := *f
	r.cfg.IdentityFile = filepath.Join(filepath.Dir(f.cfgPath), "restorer.age")
	if err := os.WriteFile(r.cfg.IdentityFile, []byte(idBody), 0o600); err != nil {
		t.Fatal(err)
	}
	r.cfgPath = filepath.Join(filepath.Dir(f.cfgPath), "restorer.json")
	if body, err = r.cfg.Marshal(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(r.cfgPath, body, 0o600); err != nil {
		t.Fatal(err)
	}
	if out := r.run(t, 0, "redis-restore", "--instance", "sessions-enc", t.TempDir()); !strings.Contains(out, em.ID) {
		t.Fatalf("restore with the identity names no snapshot %s:\n%s", em.ID, out)
	}
}
