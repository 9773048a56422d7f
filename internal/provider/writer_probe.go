package provider

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// writerProbeModel is the writer whose credentials the bucket's apply
// probes.
type writerProbeModel struct {
	AccessKey types.String `tfsdk:"access_key"`
	SecretKey types.String `tfsdk:"secret_key"`
	Cluster   types.String `tfsdk:"cluster"`
	Prefix    types.String `tfsdk:"prefix"`
}

func writerProbeBlock() schema.SingleNestedBlock {
	return schema.SingleNestedBlock{
		MarkdownDescription: "Prove on every apply that a writer's credentials (the agent's, made from the `writer` document of " +
			"`lifeboat_access_policy`) cannot do what a writer must never do: on objects of its own it tries to delete a " +
			"GOVERNANCE-locked version (with and without bypassing governance retention), to write back the bucket's lifecycle " +
			"and object-lock configuration, to write into another cluster's root and to rewrite the cluster's `policy.json`. " +
			"Each attempt is harmless even when wrongly allowed (configurations are written back identical, puts are conditional). " +
			"The outcome is `writer_probe_results`; any allowed action is a warning.",
		Attributes: map[string]schema.Attribute{
			"access_key": schema.StringAttribute{MarkdownDescription: "The writer's access key id.", Optional: true},
			"secret_key": schema.StringAttribute{MarkdownDescription: "The writer's secret access key.", Optional: true, Sensitive: true},
			"cluster": schema.StringAttribute{MarkdownDescription: "The cluster the writer writes (its repository root).", Optional: true,
				Validators: []validator.String{keyNameValidator{}}},
			"prefix": schema.StringAttribute{MarkdownDescription: "The repository's key prefix, as in the resources' `repository` block.", Optional: true,
				Validators: []validator.String{keyPrefixValidator{}}},
		},
	}
}

var probeResultType = types.ObjectType{AttrTypes: map[string]attr.Type{
	"check": types.StringType, "outcome": types.StringType, "denied_by": types.StringType, "detail": types.StringType,
}}

func writerProbeResultsAttribute() schema.ListNestedAttribute {
	return schema.ListNestedAttribute{
		MarkdownDescription: "What the last apply's `writer_probe` found, one entry per forbidden action; null without `writer_probe`.",
		Computed:            true,
		NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
			"check": schema.StringAttribute{MarkdownDescription: "`delete_locked_version`, `bypass_governance_retention`, `put_lifecycle`, " +
				"`put_default_retention`, `write_other_cluster` or `rewrite_policy`.", Computed: true},
			"outcome":   schema.StringAttribute{MarkdownDescription: "`denied` (as it must be), `allowed` (a hole in the writer's policy) or `unknown` (the check could not be made; see `detail`).", Computed: true},
			"denied_by": schema.StringAttribute{MarkdownDescription: "`policy` or `lock` for a denied action.", Computed: true},
			"detail":    schema.StringAttribute{MarkdownDescription: "What was tried and what the store answered.", Computed: true},
		}},
	}
}

// validate requires the keys and the cluster in a present block.
func (w *writerProbeModel) validate(diags *diag.Diagnostics) {
	if w == nil {
		return
	}
	for name, v := range map[string]types.String{"access_key": w.AccessKey, "secret_key": w.SecretKey, "cluster": w.Cluster} {
		if v.IsNull() {
			diags.AddAttributeError(path.Root("writer_probe").AtName(name), "Incomplete Writer Probe",
				"writer_probe needs access_key, secret_key and cluster: the writer's keys and the cluster whose root it writes.")
		}
	}
}

// runWriterProbe runs the probe with w's keys against bucket, warns about
// every allowed action, and returns the results attribute.
func (d *providerData) runWriterProbe(ctx context.Context, bucket string, w *writerProbeModel, diags *diag.Diagnostics) types.List {
	if w == nil {
		return types.ListNull(probeResultType)
	}
	cfg := d.storeConfig
	cfg.AccessKey, cfg.SecretKey, cfg.SessionToken = w.AccessKey.ValueString(), w.SecretKey.ValueString(), ""
	// The writer's keys are a store configuration of their own: one client
	// per provider instance, however many buckets probe with them.
	client, err := d.StoreFor(ctx, cfg)
	if err != nil {
		diags.Append(errorDiag("Error Configuring Writer Probe", "configuring an object store client with writer_probe's keys", err))
		return types.ListUnknown(probeResultType)
	}
	l := repo.Layout{Prefix: w.Prefix.ValueString(), Cluster: w.Cluster.ValueString()}
	report := access.Probe(ctx, client, bucket, l)
	var elems []attr.Value
	var allowed []string
	for _, r := range report.Results {
		elems = append(elems, types.ObjectValueMust(probeResultType.AttrTypes, map[string]attr.Value{
			"check": types.StringValue(string(r.Check)), "outcome": types.StringValue(string(r.Outcome)),
			"denied_by": optionalString(r.By), "detail": types.StringValue(r.Detail),
		}))
		if r.Outcome == access.Allowed {
			allowed = append(allowed, fmt.Sprintf("  - %s: %s", r.Check, r.Detail))
		}
	}
	if len(allowed) > 0 {
		diags.AddAttributeWarning(path.Root("writer_probe"), "Writer Can Do Forbidden Actions",
			fmt.Sprintf("With writer_probe's keys, the store allowed %d action(s) a writer must never be able to do in s3://%s/%s:\n%s\n\n"+
				"Anyone holding these keys (every database host running the agent) can destroy or weaken backups. Attach only the "+
				"writer document of the lifeboat_access_policy data source to this identity, and remove broader policies.",
				len(allowed), bucket, l.Root(), strings.Join(allowed, "\n")))
	}
	return types.ListValueMust(probeResultType, elems)
}
