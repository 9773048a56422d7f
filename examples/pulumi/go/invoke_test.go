package main

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/posture"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/provider/pulumitest"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/sdk/go/lifeboat"
)

// TestInvokes calls the data sources as Pulumi invokes from a Go program
// (lifeboat.GetPosture, GetRecoveryPoints, GetAccessPolicy), through the
// real Pulumi CLI and the plugin, on a repository holding a real tenant
// dump, and checks the results against what the engine reads directly.
func TestInvokes(t *testing.T) {
	ctx := context.Background()
	env := testenv.Require(t)
	opts := pulumitest.Workspace(t)
	opts = append(opts, auto.Project(workspace.Project{
		Name:    tokens.PackageName("lifeboat-go-invokes"),
		Runtime: workspace.NewProjectRuntimeInfo("go", nil),
	}))
	client, err := objectstore.NewClient(ctx, objectstore.Config{})
	require.NoError(t, err)
	bucket := pulumitest.RandomName("lb-invoke")
	require.NoError(t, client.CreateBucket(ctx, objectstore.BucketSpec{Name: bucket, Retention: &objectstore.Retention{Mode: objectstore.ModeGovernance, Days: 1}}))
	store := client.Store(bucket)
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	require.NoError(t, repo.WritePolicy(ctx, store, l, repo.Policy{Format: 1, Cluster: "main", Schedule: "@daily", TenantDatabases: []string{"postgres"}}, nil))
	dump, err := backup.DumpTenant(ctx, store, backup.TenantOptions{Layout: l, DSN: env.Postgres.DSN("postgres")}, "postgres")
	require.NoError(t, err)

	program := func(ctx *pulumi.Context) error {
		p, err := lifeboat.GetPosture(ctx, &lifeboat.GetPostureArgs{
			Repository:  lifeboat.GetPostureRepository{Bucket: bucket, Prefix: pulumi.StringRef("pg")},
			Clusters:    []string{"main"},
			MinLockDays: pulumi.IntRef(1),
		})
		if err != nil {
			return err
		}
		ctx.Export("worst", pulumi.String(p.Worst))
		ctx.Export("failing", pulumi.ToStringArray(p.Failing))
		ctx.Export("postureJson", pulumi.String(p.Json))
		rp, err := lifeboat.GetRecoveryPoints(ctx, &lifeboat.GetRecoveryPointsArgs{
			Repository: lifeboat.GetRecoveryPointsRepository{Bucket: bucket, Prefix: pulumi.StringRef("pg")},
			Cluster:    "main",
		})
		if err != nil {
			return err
		}
		var ids []string
		for _, b := range rp.Backups {
			ids = append(ids, deref(b.Id)+" "+deref(b.Kind))
		}
		ctx.Export("recoveryPoints", pulumi.ToStringArray(ids))
		ap, err := lifeboat.GetAccessPolicy(ctx, &lifeboat.GetAccessPolicyArgs{Role: "writer", Bucket: bucket, Prefix: pulumi.StringRef("pg"), Cluster: pulumi.StringRef("main")})
		if err != nil {
			return err
		}
		ctx.Export("writerPolicy", pulumi.String(ap.Json))
		return nil
	}
	stack, err := auto.UpsertStackInlineSource(ctx, "invokes", "lifeboat-go-invokes", program, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = stack.Destroy(ctx) })
	res, err := stack.Up(ctx)
	require.NoError(t, err)

	// The engine's own verdict on the same repository.
	o, err := posture.Gather(ctx, posture.Target{Buckets: client, Store: store, Prefix: "pg", Clusters: []string{"main"}})
	require.NoError(t, err)
	want := posture.Evaluate(o, posture.Params{MinLockDays: 1})
	assert.Equal(t, string(want.Worst()), res.Outputs["worst"].Value)
	var failing []any
	for _, f := range want.Findings {
		if f.Status == posture.Fail {
			scope := f.Cluster
			if scope == "" {
				scope = "bucket"
			}
			failing = append(failing, scope+"/"+f.Control)
		}
	}
	assert.ElementsMatch(t, failing, res.Outputs["failing"].Value, "failing controls of the invoke and of the engine")
	var got posture.Report
	require.NoError(t, json.Unmarshal([]byte(res.Outputs["postureJson"].Value.(string)), &got))
	f, ok := got.Find(posture.ControlTenantDumps, "main")
	require.True(t, ok)
	assert.Equal(t, posture.Pass, f.Status, "the tenant was dumped: %+v", f)
	assert.Contains(t, f.Evidence[0].Key, dump.ID)
	f, _ = got.Find(posture.ControlObjectLock, "")
	assert.Equal(t, posture.Warn, f.Status, "GOVERNANCE, 1 day, with min_lock_days 1: %+v", f)

	assert.Equal(t, []any{dump.ID + " tenant"}, res.Outputs["recoveryPoints"].Value)
	assert.Contains(t, res.Outputs["writerPolicy"].Value, "s3:PutObject")
	assert.Contains(t, res.Outputs["writerPolicy"].Value, "arn:aws:s3:::"+bucket+"/pg/main/")
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
