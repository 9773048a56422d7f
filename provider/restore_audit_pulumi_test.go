package provider

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/pg"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/provider/pulumitest"
)

// TestPulumiRestoreIsAudited: a lifeboat:Restore applied by the Pulumi CLI
// (YAML program) against MinIO and PostgreSQL restores the cluster and
// leaves a signed audit record under object lock naming the copy, as a
// Terraform apply does; pulumi destroy removes the copy.
func TestPulumiRestoreIsAudited(t *testing.T) {
	opts := pulumitest.Workspace(t)
	env := testenv.Require(t)
	ctx := context.Background()
	server := env.Postgres
	m := env.MinIO[0]
	agent, dir := pulumitest.BuildAgent(t)
	bucket := pulumitest.RandomName("lb-pulumi-restore")
	layout := repo.Layout{Prefix: "pg", Cluster: "main"}
	cfg := repo.AgentConfig{Endpoint: m.Endpoint, PathStyle: true, AccessKey: m.AccessKey, SecretKey: m.SecretKey,
		Bucket: bucket, Prefix: layout.Prefix, Cluster: layout.Cluster}
	client, err := objectstore.NewClient(ctx, cfg.ObjectStore())
	require.NoError(t, err)
	require.NoError(t, client.CreateBucket(ctx, objectstore.BucketSpec{Name: bucket, Retention: &objectstore.Retention{Mode: objectstore.ModeGovernance, Days: 1}}))
	t.Cleanup(func() { _ = client.DestroyBucket(context.Background(), bucket, true) })
	store := client.Store(bucket)

	// Archive into the bucket and take a base backup.
	cfgPath := filepath.Join(dir, "agent.json")
	body, err := cfg.Marshal()
	require.NoError(t, err)
	require.NoError(t, repo.WriteConfigFile(cfgPath, "postgres", body))
	pulumitest.ResetArchiving(t, server)
	t.Cleanup(func() { pulumitest.ResetArchiving(t, server) })
	pool, err := pg.Pool(ctx, server.DSN("postgres"))
	require.NoError(t, err)
	_, err = pg.ApplyArchive(ctx, pool, pg.ArchiveSettings{ArchiveMode: "on", ArchiveTimeout: 5 * time.Second,
		ArchiveCommand: fmt.Sprintf("%s wal-push --config %s %%p", agent, cfgPath)})
	require.NoError(t, err)
	require.NoError(t, server.Restart(ctx))
	require.NoError(t, pg.Ping(ctx, pool))
	out, err := server.Psql("postgres", "DROP TABLE IF EXISTS pulumi_audited; CREATE TABLE pulumi_audited AS SELECT generate_series(1, 17) AS id")
	require.NoError(t, err, out)
	man, err := backup.Take(ctx, store, backup.Options{Layout: layout, DSN: server.DSN("postgres")})
	require.NoError(t, err)

	signer, _ := signature.Generate()
	t.Setenv("LIFEBOAT_SIGNING_KEY", signer.String())
	trust, _ := signature.NewTrust(signer.Public().String())
	port, err := testenv.FreePort()
	require.NoError(t, err)
	target := filepath.Join(dir, "restored")
	project := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(project, "Pulumi.yaml"), []byte(fmt.Sprintf(`name: lifeboat-restore-audit
runtime: yaml
resources:
  restored:
    type: lifeboat:Restore
    properties:
      kind: cluster
      cluster: main
      agentPath: %[1]q
      repository:
        bucket: %[2]q
        prefix: pg
      target:
        dataDirectory: %[3]q
        port: %[4]d
      check:
        - name: rows
          sql: SELECT count(*) FROM pulumi_audited
          expected: "17"
outputs:
  source: ${restored.recoverySource}
  checks: ${restored.checkResults}
`, agent, bucket, target, port)), 0o644))
	stack, err := auto.UpsertStackLocalSource(ctx, "dev", project, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = stack.Destroy(context.Background()) })

	var log cliLog
	res, err := stack.Up(ctx, optup.ProgressStreams(&log), optup.ErrorProgressStreams(&log))
	require.NoError(t, err, "pulumi up:\n%s", log.String())
	require.Equal(t, "backup:"+man.ID+"+wal", res.Outputs["source"].Value)
	require.Equal(t, map[string]any{"rows": "pass"}, res.Outputs["checks"].Value)

	all, err := restore.ListAudit(ctx, store, layout, trust)
	require.NoError(t, err)
	require.Len(t, all, 1, "one restore, one audit record")
	e := all[0]
	require.Equal(t, restore.AuditSucceeded, e.Record.Result)
	require.Equal(t, restore.FrontEndProvider, e.Record.FrontEnd)
	require.Equal(t, target, e.Record.DataDirectory)
	require.Equal(t, "backup:"+man.ID+"+wal", e.Record.Source)
	require.NoError(t, e.SignatureError)
	require.Equal(t, signer.Public().ID(), e.SignedBy)
	require.True(t, e.Locked, "the record is under object lock")

	_, err = stack.Destroy(ctx, optdestroy.ProgressStreams(&log))
	require.NoError(t, err, "pulumi destroy:\n%s", log.String())
	_, err = os.Stat(target)
	require.True(t, os.IsNotExist(err), "the restored copy %s is still there after destroy: %v", target, err)
}

// cliLog collects what the CLI prints, from several goroutines.
type cliLog struct {
	mu sync.Mutex
	b  []byte
}

func (w *cliLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b = append(w.b, p...)
	return len(p), nil
}

func (w *cliLog) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.b)
}
