package provider

import (
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// agentCredentialsModel is the writer's keys an agent on a database host
// uses: never the provider's own.
type agentCredentialsModel struct {
	AccessKey types.String `tfsdk:"access_key"`
	SecretKey types.String `tfsdk:"secret_key"`
	Profile   types.String `tfsdk:"profile"`
}

func agentCredentialsBlock() schema.SingleNestedBlock {
	return schema.SingleNestedBlock{
		MarkdownDescription: "Static keys of the writer identity the agent on the database host uses (the `writer` document of " +
			"`lifeboat_access_policy`), written into `agent_config`, or the name of a `profile` in the host's AWS shared credentials " +
			"files that holds them (only the name is written). Without this block the agent config holds no keys and the agent " +
			"uses the AWS default credential chain on its host (environment, profile, instance role). The provider's own keys are " +
			"never copied into the agent config; giving them here is a plan-time warning.",
		Attributes: credentialsAttributes("writer's", "database host (`~/.aws/credentials` of the agent's account) holding the writer's keys"),
	}
}

// credentialsAttributes are the attributes of a block of static keys or a
// profile: whose keys they are ("writer's"), and where the profile is and
// what it holds.
func credentialsAttributes(whose, profileWhere string) map[string]schema.Attribute {
	return map[string]schema.Attribute{
		"access_key": schema.StringAttribute{MarkdownDescription: "The " + whose + " access key id.", Optional: true},
		"secret_key": schema.StringAttribute{MarkdownDescription: "The " + whose + " secret access key.", Optional: true, Sensitive: true},
		"profile": schema.StringAttribute{MarkdownDescription: "A profile of the AWS shared configuration and credentials files on the " +
			profileWhere + ", instead of access_key and secret_key.", Optional: true},
	}
}

// validate requires both keys in a present block.
func (c *agentCredentialsModel) validate(diags *diag.Diagnostics) {
	c.validateAt("agent_credentials", "Remove the block to let the agent use the AWS default credential chain on its host.", diags)
}

// validateAt is validate for the block named block; hint ends the error
// of a missing key.
func (c *agentCredentialsModel) validateAt(block, hint string, diags *diag.Diagnostics) {
	if c == nil {
		return
	}
	if !c.Profile.IsNull() {
		if !c.AccessKey.IsNull() || !c.SecretKey.IsNull() {
			diags.AddAttributeError(path.Root(block).AtName("profile"), "Conflicting Agent Credentials",
				block+" takes either a profile or access_key and secret_key, not both.")
		}
		return
	}
	for _, a := range []struct {
		name string
		v    types.String
	}{{"access_key", c.AccessKey}, {"secret_key", c.SecretKey}} {
		if a.v.IsNull() {
			diags.AddAttributeError(path.Root(block).AtName(a.name), "Missing Agent Credential",
				block+" needs both access_key and secret_key, or a profile. "+hint)
		}
	}
}

// restorerCredentialsBlock is lifeboat_wal_archive's `restorer_credentials`:
// the read-only identity the agent on the host restores and drills with.
func restorerCredentialsBlock() schema.SingleNestedBlock {
	return schema.SingleNestedBlock{
		MarkdownDescription: "Static keys of the restorer identity (the `restorer` document of `lifeboat_access_policy`: read-only) " +
			"that the agent on the database host reads the repository with for the restores and drills it runs (a clean-room " +
			"restore on the agent needs them), written into `agent_config` as `restorer`, or the name of a `profile` in the host's " +
			"AWS shared credentials files holding them (only the name is written). They never go into the repository; " +
			"`agent_config` is sensitive and a managed file is written mode 0600. Without this block the agent restores with its " +
			"writer keys and refuses clean-room restores.",
		Attributes: credentialsAttributes("restorer's", "database host holding the restorer's keys"),
	}
}

// restorer is the bootstrap file's restorer entry; nil without the block.
func (c *agentCredentialsModel) restorer() *repo.RestorerEntry {
	if c == nil {
		return nil
	}
	return &repo.RestorerEntry{AccessKey: c.AccessKey.ValueString(), SecretKey: c.SecretKey.ValueString(), Profile: c.Profile.ValueString()}
}

// unknown reports whether a key is not known until apply (the agent config
// then is not either).
func (c *agentCredentialsModel) unknown() bool {
	return c != nil && (c.AccessKey.IsUnknown() || c.SecretKey.IsUnknown())
}

// warnIfProviders warns when c holds the provider's own access key (from
// its provider block or, as the provider resolves it, AWS_ACCESS_KEY_ID).
func (c *agentCredentialsModel) warnIfProviders(d *providerData, diags *diag.Diagnostics) {
	if c == nil || d == nil || c.AccessKey.IsUnknown() || c.AccessKey.IsNull() {
		return
	}
	own := d.agentConfig("", "", "", "").AccessKey
	if own == "" || own != c.AccessKey.ValueString() {
		return
	}
	diags.AddAttributeWarning(path.Root("agent_credentials").AtName("access_key"), "Agent Uses The Provider's Keys",
		"agent_credentials.access_key is the provider's own access key: every database host holding the agent configuration could then "+
			"delete locked backup versions (bypassing governance retention), change the bucket's lifecycle and lock, and rewrite policies. "+
			"Create a writer identity from the lifeboat_access_policy data source (role = \"writer\") and give its keys here.")
}

// writerAgentConfig is the configuration of an agent that writes the
// repository: the provider's endpoint settings, with the writer's keys
// from creds or none (the AWS default chain on the agent's host), never
// the provider's.
func (d *providerData) writerAgentConfig(bucket, prefix, cluster, compression string, creds *agentCredentialsModel) repo.AgentConfig {
	c := d.agentConfig(bucket, prefix, cluster, compression)
	c.AccessKey, c.SecretKey = "", ""
	if creds != nil {
		c.AccessKey, c.SecretKey = creds.AccessKey.ValueString(), creds.SecretKey.ValueString()
		c.Profile = creds.Profile.ValueString()
	}
	return c
}
