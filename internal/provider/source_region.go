package provider

import (
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/boolplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// sourceRegionModel is a `source_region` block: read the repository from a
// recovery region's copy (a lifeboat_recovery_region's destination) rather
// than from the provider's store, which may be gone. The copy has the same
// keys, so the repository prefix and cluster stay as declared.
type sourceRegionModel struct {
	Bucket        types.String `tfsdk:"bucket"`
	Endpoint      types.String `tfsdk:"endpoint"`
	Region        types.String `tfsdk:"region"`
	AccessKey     types.String `tfsdk:"access_key"`
	SecretKey     types.String `tfsdk:"secret_key"`
	PathStyle     types.Bool   `tfsdk:"path_style"`
	SkipTLSVerify types.Bool   `tfsdk:"skip_tls_verify"`
}

func sourceRegionBlock(what string) schema.SingleNestedBlock {
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	str := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{MarkdownDescription: desc, Optional: true, PlanModifiers: replace}
	}
	return schema.SingleNestedBlock{
		MarkdownDescription: "Read the repository from a recovery region (the `destination` of a `lifeboat_recovery_region`) instead of " +
			"the provider's store: " + what + " with the primary object store unreachable. The region holds the same keys, so " +
			"`repository.prefix` and `cluster` stay as they are. Settings like the provider's own; empty ones fall back the same way. " +
			"With the agent executor (`agent`), the request is written into the region's copy of the repository and claimed by an agent " +
			"started in the region (its configuration's `bucket` is the destination), which restores from there on its host.",
		Attributes: map[string]schema.Attribute{
			"bucket": schema.StringAttribute{MarkdownDescription: "The recovery region's bucket.", Optional: true, PlanModifiers: replace,
				Validators: []validator.String{bucketNameValidator{}}},
			"endpoint":   schema.StringAttribute{MarkdownDescription: "S3 API endpoint of the region's store.", Optional: true, PlanModifiers: replace, Validators: []validator.String{endpointValidator{}}},
			"region":     str("Region of the region's store."),
			"access_key": str("Access key ID for the region's store (a restorer role's)."),
			"secret_key": schema.StringAttribute{MarkdownDescription: "Secret access key for the region's store.", Optional: true, Sensitive: true, PlanModifiers: replace},
			"path_style": schema.BoolAttribute{MarkdownDescription: "Address the region's buckets as `endpoint/bucket`.", Optional: true,
				PlanModifiers: []planmodifier.Bool{boolplanmodifier.RequiresReplace()}},
			"skip_tls_verify": schema.BoolAttribute{MarkdownDescription: "Skip TLS verification (self-signed test stores only).", Optional: true,
				PlanModifiers: []planmodifier.Bool{boolplanmodifier.RequiresReplace()}},
		},
	}
}

// set reports whether the block names a region (a block with no bucket
// is an empty block Terraform still sends).
func (s *sourceRegionModel) set() bool { return s != nil && !s.Bucket.IsNull() }

func (s *sourceRegionModel) config() objectstore.Config {
	return objectstore.Config{Endpoint: s.Endpoint.ValueString(), Region: s.Region.ValueString(), AccessKey: s.AccessKey.ValueString(),
		SecretKey: s.SecretKey.ValueString(), PathStyle: s.PathStyle.ValueBool(), Insecure: s.SkipTLSVerify.ValueBool()}
}

// agentConfig is the agent configuration restore_command reads the
// region's copy with.
func (s *sourceRegionModel) agentConfig(base repo.AgentConfig) repo.AgentConfig {
	c := s.config().FromEnv()
	base.Endpoint, base.Region, base.PathStyle, base.SkipTLSVerify = c.Endpoint, c.Region, c.PathStyle, c.Insecure
	base.AccessKey, base.SecretKey = c.AccessKey, c.SecretKey
	base.Bucket = s.Bucket.ValueString()
	return base
}

func (s *sourceRegionModel) unknown() bool {
	return s != nil && (s.Bucket.IsUnknown() || s.Endpoint.IsUnknown() || s.Region.IsUnknown() || s.AccessKey.IsUnknown() || s.SecretKey.IsUnknown())
}
