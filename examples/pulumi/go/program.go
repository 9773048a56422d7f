package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/sdk/go/lifeboat"
)

// Program declares one object-locked bucket for backups, with a lifecycle
// tier per data class, and continuous WAL archiving of one PostgreSQL cluster
// into it. Its configuration matches examples/pulumi/yaml; pgDsn is required
// and, since it holds a password, a secret.
func Program(ctx *pulumi.Context) error {
	cfg := config.New(ctx, "")
	name := stringOr(cfg.Get("bucketName"), "lifeboat-pulumi-go")
	mode := stringOr(cfg.Get("retentionMode"), "GOVERNANCE")
	days := intOr(cfg, "retentionDays", 1)
	walExpiration := intOr(cfg, "walExpirationDays", 30)
	environment := stringOr(cfg.Get("environment"), "demo")
	pgDSN := cfg.RequireSecret("pgDsn")
	cluster := stringOr(cfg.Get("cluster"), "main")
	rpo := stringOr(cfg.Get("rpo"), "5m")
	agentPath := stringOr(cfg.Get("agentPath"), "/usr/local/bin/lifeboat")
	agentConfigPath := stringOr(cfg.Get("agentConfigPath"), "/etc/lifeboat/main.json")
	manageAgentConfigFile := cfg.GetBool("manageAgentConfigFile")
	onDestroy := stringOr(cfg.Get("onDestroy"), "keep")
	// The writer identity the agent archives with; without it the agent
	// uses the AWS default credential chain on its host. The provider never
	// hands the agent its own keys.
	var agentCredentials *lifeboat.WalArchiveAgentCredentialsArgs
	if key := cfg.Get("agentAccessKey"); key != "" {
		agentCredentials = &lifeboat.WalArchiveAgentCredentialsArgs{AccessKey: pulumi.String(key), SecretKey: cfg.RequireSecret("agentSecretKey")}
	}

	bucket, err := lifeboat.NewImmutableBucket(ctx, "backups", &lifeboat.ImmutableBucketArgs{
		Name: pulumi.String(name),
		Retention: &lifeboat.ImmutableBucketRetentionArgs{
			Mode: pulumi.String(mode),
			Days: pulumi.Int(days),
		},
		LifecycleTier: lifeboat.ImmutableBucketLifecycleTierArray{
			&lifeboat.ImmutableBucketLifecycleTierArgs{
				Name:                            pulumi.String("wal"),
				Prefix:                          pulumi.String("wal/"),
				NoncurrentVersionExpirationDays: pulumi.Int(walExpiration),
			},
			&lifeboat.ImmutableBucketLifecycleTierArgs{
				Name:                            pulumi.String("attachments"),
				Prefix:                          pulumi.String("attachments/"),
				NoncurrentVersionExpirationDays: pulumi.Int(90),
			},
		},
		Tags: pulumi.StringMap{
			"environment": pulumi.String(environment),
			"managed-by":  pulumi.String("pulumi"),
		},
		ForceDestroy: pulumi.Bool(true),
	})
	if err != nil {
		return err
	}
	archive, err := lifeboat.NewWalArchive(ctx, "walArchive", &lifeboat.WalArchiveArgs{
		Cluster:  pulumi.String(cluster),
		Rpo:      pulumi.String(rpo),
		Postgres: &lifeboat.WalArchivePostgresArgs{Dsn: pgDSN},
		Repository: &lifeboat.WalArchiveRepositoryArgs{
			Bucket: bucket.Name,
			Prefix: pulumi.String("pg"),
		},
		AgentPath:             pulumi.String(agentPath),
		AgentConfigPath:       pulumi.String(agentConfigPath),
		ManageAgentConfigFile: pulumi.Bool(manageAgentConfigFile),
		OnDestroy:             pulumi.String(onDestroy),
		AgentCredentials:      agentCredentials,
	},
		// NOTE: a PostgreSQL server has one archive_command. Pulumi replaces
		// by creating the new resource first, so the old one's destroy
		// (onDestroy "pause") would stop the new one's archiving; delete
		// first, as Terraform does.
		pulumi.DeleteBeforeReplace(true))
	if err != nil {
		return err
	}
	ctx.Export("bucket", bucket.ID())
	ctx.Export("versioning", bucket.Versioning)
	ctx.Export("archiveCommand", archive.ArchiveCommand)
	ctx.Export("archiveTimeout", archive.ArchiveTimeout)
	ctx.Export("pendingRestart", archive.PendingRestart)
	ctx.Export("verifiedSegment", archive.VerifiedSegment)
	return nil
}

func stringOr(v, fallback string) string {
	if v == "" {
		return fallback
	}
	return v
}

func intOr(cfg *config.Config, key string, fallback int) int {
	if cfg.Get(key) == "" {
		return fallback
	}
	return cfg.GetInt(key)
}
