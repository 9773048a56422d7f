package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/sdk/go/lifeboat"
)

// Program declares one object-locked bucket for backups, with a lifecycle
// tier per data class. Its configuration matches examples/pulumi/yaml.
func Program(ctx *pulumi.Context) error {
	cfg := config.New(ctx, "")
	name := stringOr(cfg.Get("bucketName"), "lifeboat-pulumi-go")
	mode := stringOr(cfg.Get("retentionMode"), "GOVERNANCE")
	days := intOr(cfg, "retentionDays", 1)
	walExpiration := intOr(cfg, "walExpirationDays", 30)
	environment := stringOr(cfg.Get("environment"), "demo")

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
	ctx.Export("bucket", bucket.ID())
	ctx.Export("versioning", bucket.Versioning)
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
