package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

var _ datasource.DataSource = (*accessPolicyDataSource)(nil)

// NewAccessPolicyDataSource is the lifeboat_access_policy constructor.
func NewAccessPolicyDataSource() datasource.DataSource { return &accessPolicyDataSource{} }

// accessPolicyDataSource renders one role's S3/IAM policy document. It
// needs no store: the document is a function of its arguments.
type accessPolicyDataSource struct{}

type accessPolicyModel struct {
	ID      types.String `tfsdk:"id"`
	Role    types.String `tfsdk:"role"`
	Bucket  types.String `tfsdk:"bucket"`
	Prefix  types.String `tfsdk:"prefix"`
	Cluster types.String `tfsdk:"cluster"`
	JSON    types.String `tfsdk:"json"`
}

// Metadata implements datasource.DataSource.
func (d *accessPolicyDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_access_policy"
}

// Schema implements datasource.DataSource.
func (d *accessPolicyDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "The S3/IAM policy document (the JSON both AWS IAM and MinIO accept) of one role of a repository, " +
			"to attach where the identities live (an IAM user or role, `mc admin policy create`).\n\n" +
			"| role | may | may never |\n|---|---|---|\n" +
			"| `admin` | everything on the bucket (the provider's own keys) | |\n" +
			"| `writer` | the agent on a database host: list and read its own cluster root; write WAL, base backups, tenant dumps, leases, job records, drill evidence and `cluster.json` there, with their object-lock retention; delete (a delete marker) WAL, base backups and tenant dumps; read the bucket's lifecycle, object lock, versioning and encryption | delete any object version, bypass governance retention, change the bucket's lifecycle, lock, versioning, encryption, policy or tags, delete the bucket, write `policy.json` or a drill schedule, read or write another cluster (all denied explicitly) |\n" +
			"| `restorer` | restores and drills: list and read every object and version of the cluster (of every cluster below `prefix` without `cluster`) | write or delete anything |\n" +
			"| `auditor` | read drill evidence (of every cluster below `prefix` without `cluster`) and the bucket's posture | read backups, policies or schedules; write anything |\n" +
			"| `copy` | a recovery region's copy, rendered for the **destination** bucket (`lifeboat_recovery_region`): list and read the cluster root (every cluster below `prefix` without `cluster`), write copies and the copy index there under the bucket's default lock; read the bucket's posture | delete anything (no delete marker, no version), bypass governance retention, name an object's own retention or legal hold, change the bucket's lifecycle, lock, versioning, encryption, policy or tags, write leases, job records, heartbeats or requests (all denied explicitly) |\n\n" +
			"`lifeboat_immutable_bucket`'s `writer_probe` proves, with the writer's credentials, that the forbidden actions are denied; " +
			"`lifeboat_recovery_region`'s `copy_policy` is the `copy` document of its destination.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{MarkdownDescription: "`<role>:<bucket>/<prefix>/<cluster>`.", Computed: true},
			"role": schema.StringAttribute{
				MarkdownDescription: "`admin`, `writer`, `restorer`, `auditor` or `copy`.",
				Required:            true,
				Validators:          []validator.String{stringvalidator.OneOf("admin", "writer", "restorer", "auditor", "copy")},
			},
			"bucket": schema.StringAttribute{MarkdownDescription: "Repository bucket.", Required: true},
			"prefix": schema.StringAttribute{MarkdownDescription: "Key prefix of the repository inside the bucket, as in the resources' `repository` block.", Optional: true},
			"cluster": schema.StringAttribute{
				MarkdownDescription: "Cluster name in the repository. Required for `writer`; without it `restorer` and `auditor` cover every cluster below `prefix`; `admin` ignores it.",
				Optional:            true,
				Validators:          []validator.String{stringvalidator.RegexMatches(clusterNameRE, "must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit")},
			},
			"json": schema.StringAttribute{MarkdownDescription: "The policy document (JSON).", Computed: true},
		},
	}
}

// Read implements datasource.DataSource.
func (d *accessPolicyDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m accessPolicyModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	role := access.Role(m.Role.ValueString())
	l := repo.Layout{Prefix: m.Prefix.ValueString(), Cluster: m.Cluster.ValueString()}
	doc, err := access.Policy(role, m.Bucket.ValueString(), l)
	if err != nil {
		at := path.Root("bucket")
		if role == access.RoleWriter && l.Cluster == "" {
			at = path.Root("cluster")
		}
		resp.Diagnostics.AddAttributeError(at, "Invalid Access Policy Scope",
			fmt.Sprintf("The %s document cannot be rendered: %v. Give a bucket and prefix without '*', '?' or '$', and a cluster for the writer.", role, err))
		return
	}
	m.JSON = types.StringValue(doc.JSON())
	m.ID = types.StringValue(string(role) + ":" + m.Bucket.ValueString() + "/" + l.Root())
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
