package provider

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/remote"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

var _ datasource.DataSourceWithConfigure = (*agentsDataSource)(nil)

// NewAgentsDataSource is the lifeboat_agents constructor.
func NewAgentsDataSource() datasource.DataSource { return &agentsDataSource{} }

// agentsDataSource lists the agents of a cluster by their heartbeats.
type agentsDataSource struct {
	data *providerData
}

type agentsModel struct {
	ID         types.String   `tfsdk:"id"`
	Cluster    types.String   `tfsdk:"cluster"`
	Repository *repositoryRef `tfsdk:"repository"`
	Agents     []agentModel   `tfsdk:"agents"`
	LiveHosts  types.List     `tfsdk:"live_hosts"`
}

type agentModel struct {
	Host     types.String `tfsdk:"host"`
	Holder   types.String `tfsdk:"holder"`
	Version  types.String `tfsdk:"version"`
	Started  types.String `tfsdk:"started"`
	LastSeen types.String `tfsdk:"last_seen"`
	Live     types.Bool   `tfsdk:"live"`
}

// Metadata implements datasource.DataSource.
func (d *agentsDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_agents"
}

// Schema implements datasource.DataSource.
func (d *agentsDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	str := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{MarkdownDescription: desc, Computed: true}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "The agents of a cluster, from the heartbeats they publish in the repository (`<cluster>/agents/<host>.json`): " +
			"which hosts can execute the host-side work (`agent = \"<host>\"` on `lifeboat_restore`, `lifeboat_drill_schedule`), and whether they are alive. " +
			"An agent is live while its last heartbeat is younger than three of its heartbeat intervals.",
		Attributes: map[string]schema.Attribute{
			"id":      schema.StringAttribute{MarkdownDescription: "`<bucket>/<prefix>/<cluster>`.", Computed: true},
			"cluster": schema.StringAttribute{MarkdownDescription: "Cluster name in the repository.", Required: true, Validators: []validator.String{keyNameValidator{}}},
			"repository": schema.SingleNestedAttribute{
				MarkdownDescription: "Where the repository lives.",
				Required:            true,
				Attributes: map[string]schema.Attribute{
					"bucket": schema.StringAttribute{MarkdownDescription: "Repository bucket.", Required: true, Validators: []validator.String{bucketNameValidator{}}},
					"prefix": schema.StringAttribute{MarkdownDescription: "Key prefix inside the bucket (no leading or trailing `/`).", Optional: true, Validators: []validator.String{keyPrefixValidator{}}},
				},
			},
			"agents": schema.ListNestedAttribute{
				MarkdownDescription: "Every agent that ever published a heartbeat for the cluster, by host name.",
				Computed:            true,
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"host":      str("Host name the agent claims requests for (its bootstrap file's `host`, `--host`, or the machine's name)."),
					"holder":    str("The agent process's id in leases and run records."),
					"version":   str("The agent's version."),
					"started":   str("When the agent process started (RFC 3339)."),
					"last_seen": str("Its last heartbeat (RFC 3339)."),
					"live":      schema.BoolAttribute{MarkdownDescription: "Whether the last heartbeat is younger than three heartbeat intervals.", Computed: true},
				}},
			},
			"live_hosts": schema.ListAttribute{MarkdownDescription: "Host names of the live agents, sorted.", ElementType: types.StringType, Computed: true},
		},
	}
}

// Configure implements datasource.DataSourceWithConfigure.
func (d *agentsDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

// Read implements datasource.DataSource.
func (d *agentsDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m agentsModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	client := d.data.storeClient(ctx, &resp.Diagnostics)
	if client == nil {
		return
	}
	bucket := m.Repository.Bucket.ValueString()
	layout := repo.Layout{Prefix: m.Repository.Prefix.ValueString(), Cluster: m.Cluster.ValueString()}
	all, err := remote.ListAgents(ctx, client.Store(bucket), layout)
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("repository"), "Error Listing Agents",
			detail(fmt.Sprintf("reading the heartbeats of %q in s3://%s/%s", m.Cluster.ValueString(), bucket, layout.AgentsDir()), err))
		return
	}
	now := time.Now()
	m.Agents = []agentModel{}
	live := []attr.Value{}
	for _, h := range all {
		m.Agents = append(m.Agents, agentModel{Host: types.StringValue(h.Host), Holder: types.StringValue(h.Holder), Version: types.StringValue(h.Version),
			Started: optionalTime(h.Started), LastSeen: types.StringValue(h.LastSeen.UTC().Format(time.RFC3339)), Live: types.BoolValue(h.LiveAt(now))})
		if h.LiveAt(now) {
			live = append(live, types.StringValue(h.Host))
		}
	}
	m.LiveHosts = types.ListValueMust(types.StringType, live)
	m.ID = types.StringValue(bucket + "/" + layout.Root())
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
