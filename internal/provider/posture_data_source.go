package provider

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/pg"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/posture"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

var _ datasource.DataSourceWithConfigure = (*postureDataSource)(nil)

// NewPostureDataSource is the lifeboat_posture constructor.
func NewPostureDataSource() datasource.DataSource { return &postureDataSource{} }

// postureDataSource judges a repository's recovery posture with every
// control of the posture engine.
type postureDataSource struct {
	data *providerData
}

type postureModel struct {
	ID               types.String   `tfsdk:"id"`
	Repository       *repositoryRef `tfsdk:"repository"`
	Clusters         []types.String `tfsdk:"clusters"`
	PostgresDSN      types.Map      `tfsdk:"postgres_dsn"`
	MinLockDays      types.Int64    `tfsdk:"min_lock_days"`
	RPO              types.String   `tfsdk:"rpo"`
	WindowDays       types.Int64    `tfsdk:"window_days"`
	VerifyWithinDays types.Int64    `tfsdk:"verify_within_days"`
	DrillWithinDays  types.Int64    `tfsdk:"drill_within_days"`
	RTOTarget        types.String   `tfsdk:"rto_target"`
	TrustedKeys      []types.String `tfsdk:"trusted_keys"`

	Worst    types.String          `tfsdk:"worst"`
	Failing  types.List            `tfsdk:"failing"`
	Controls []postureControlModel `tfsdk:"controls"`
	JSON     types.String          `tfsdk:"json"`
	Markdown types.String          `tfsdk:"markdown"`
}

type postureControlModel struct {
	ID        types.String `tfsdk:"id"`
	Title     types.String `tfsdk:"title"`
	Cluster   types.String `tfsdk:"cluster"`
	Status    types.String `tfsdk:"status"`
	Observed  types.String `tfsdk:"observed"`
	Threshold types.String `tfsdk:"threshold"`
	Remedy    types.String `tfsdk:"remedy"`
	Standards types.List   `tfsdk:"standards"`
	Evidence  types.List   `tfsdk:"evidence"`
}

// Metadata implements datasource.DataSource.
func (d *postureDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_posture"
}

// Schema implements datasource.DataSource.
func (d *postureDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	str := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{MarkdownDescription: desc, Computed: true}
	}
	days := func(desc string) schema.Int64Attribute {
		return schema.Int64Attribute{MarkdownDescription: desc, Optional: true, Validators: []validator.Int64{int64validator.AtLeast(1)}}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "The recovery posture of a repository, judged by every control of Lifeboat's posture engine: the bucket's object lock, " +
			"versioning and encryption, and for each cluster WAL archiving (when a server is given), the newest base backup and tenant dumps against " +
			"the policy's schedule, the restorable window, the agent's last verification, the last drill and its RTO, and whether policy.json and the " +
			"drill schedules are present (and signed, when `trusted_keys` is set). Each control is mapped to ISO/IEC 27001:2022, SOC 2, DORA, " +
			"NIST SP 800-53 and NIS2. Use it in a `check` block (failing controls show as warnings) or in a `precondition` (a failing control stops the plan).",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{MarkdownDescription: "`<bucket>/<prefix>`.", Computed: true},
			"repository": schema.SingleNestedAttribute{
				MarkdownDescription: "Where the repository lives.",
				Required:            true,
				Attributes: map[string]schema.Attribute{
					"bucket": schema.StringAttribute{MarkdownDescription: "Repository bucket.", Required: true, Validators: []validator.String{bucketNameValidator{}}},
					"prefix": schema.StringAttribute{MarkdownDescription: "Key prefix inside the bucket (no leading or trailing `/`).", Optional: true, Validators: []validator.String{keyPrefixValidator{}}},
				},
			},
			"clusters": schema.ListAttribute{MarkdownDescription: "Clusters to judge, by name in the repository.", Required: true, ElementType: types.StringType,
				Validators: []validator.List{listvalidator.SizeAtLeast(1), listvalidator.ValueStringsAre(keyNameValidator{})}},
			"postgres_dsn": schema.MapAttribute{MarkdownDescription: "PostgreSQL connection string per cluster (a role with `pg_monitor` suffices), " +
				"to judge WAL archiving from `pg_stat_archiver` and the archive status directory. Clusters without one show those controls as `unknown`.",
				Optional: true, Sensitive: true, ElementType: types.StringType},
			"min_lock_days":      days("Shortest default object-lock retention accepted (default 7)."),
			"rpo":                schema.StringAttribute{MarkdownDescription: "Longest a WAL segment may wait to be archived (default `5m`).", Optional: true, Validators: []validator.String{durationValidator{}}},
			"window_days":        days("How far back the restorable window must reach (default 7)."),
			"verify_within_days": days("How recent the agent's last passed verification must be (default 7)."),
			"drill_within_days":  days("How recent the last passed drill must be (default 30)."),
			"rto_target":         schema.StringAttribute{MarkdownDescription: "RTO a drill must meet; default: the drill's own `rto_target`.", Optional: true, Validators: []validator.String{durationValidator{}}},
			"trusted_keys": schema.ListAttribute{MarkdownDescription: "Public keys (`lifeboat keygen`) whose signature policy.json, drill schedules and drill evidence must carry.",
				Optional: true, ElementType: types.StringType, Validators: []validator.List{listvalidator.ValueStringsAre(publicKeyValidator{})}},
			"worst":   str("Worst status: `fail`, `warn`, `unknown` or `pass` (unknown ranks below warn but is never a pass)."),
			"failing": schema.ListAttribute{MarkdownDescription: "`<scope>/<control id>` of every failing control; scope is `bucket` or the cluster.", Computed: true, ElementType: types.StringType},
			"controls": schema.ListNestedAttribute{
				MarkdownDescription: "Every control's finding: bucket controls first, then each cluster's.",
				Computed:            true,
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"id":        str("Control id, e.g. `bucket.object_lock`, `backup.newest_base_backup`."),
					"title":     str("What the control asks."),
					"cluster":   str("Cluster judged; empty for bucket controls."),
					"status":    str("`pass`, `warn`, `fail` or `unknown` (could not be observed)."),
					"observed":  str("What was observed."),
					"threshold": str("What the control requires."),
					"remedy":    str("What to do, in one sentence (empty on pass)."),
					"standards": schema.ListAttribute{MarkdownDescription: "Clauses the control evidences.", Computed: true, ElementType: types.StringType},
					"evidence":  schema.ListAttribute{MarkdownDescription: "Objects (key, version, time) and server values it was judged on.", Computed: true, ElementType: types.StringType},
				}},
			},
			"json":     str("The whole report as JSON (findings with parameters, standards and structured evidence)."),
			"markdown": str("The whole report as Markdown, for a pull request comment or a ticket."),
		},
	}
}

// Configure implements datasource.DataSourceWithConfigure.
func (d *postureDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

// Read implements datasource.DataSource.
func (d *postureDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m postureModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	client, store := d.data.openRepository(ctx, m.Repository, &resp.Diagnostics)
	if client == nil {
		return
	}
	params, err := m.params()
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("trusted_keys"), "Invalid Trusted Key", detail("parsing trusted_keys (give public keys printed by `lifeboat keygen`)", err))
		return
	}
	bucket, prefix := m.Repository.Bucket.ValueString(), m.Repository.Prefix.ValueString()
	target := posture.Target{Buckets: client, Store: store, Prefix: prefix, Trust: params.Trust, Postgres: map[string]posture.Server{}}
	for _, c := range m.Clusters {
		target.Clusters = append(target.Clusters, c.ValueString())
	}
	dsns := map[string]string{}
	resp.Diagnostics.Append(m.PostgresDSN.ElementsAs(ctx, &dsns, false)...)
	for cluster, dsn := range dsns {
		pool, err := pg.Pool(ctx, dsn)
		if err != nil {
			resp.Diagnostics.AddAttributeError(path.Root("postgres_dsn").AtMapKey(cluster), "Invalid PostgreSQL Connection",
				detail(fmt.Sprintf("opening the connection of cluster %q", cluster), err))
			return
		}
		target.Postgres[cluster] = posture.Server{Name: "the server of " + cluster, Pool: pool}
	}
	o, err := posture.Gather(ctx, target)
	if err != nil {
		resp.Diagnostics.Append(errorDiag("Error Reading Posture", fmt.Sprintf("reading s3://%s/%s", bucket, prefix), err))
		return
	}
	r := posture.Evaluate(o, params)
	js, err := r.JSON()
	if err != nil {
		resp.Diagnostics.Append(errorDiag("Error Rendering Posture", "rendering the report as JSON", err))
		return
	}
	m.ID = types.StringValue(bucket + "/" + prefix)
	m.JSON, m.Markdown, m.Worst = types.StringValue(string(js)), types.StringValue(r.Markdown()), types.StringValue(string(r.Worst()))
	failing := []attr.Value{}
	m.Controls = []postureControlModel{}
	for _, f := range r.Findings {
		scope := f.Cluster
		if scope == "" {
			scope = "bucket"
		}
		if f.Status == posture.Fail {
			failing = append(failing, types.StringValue(scope+"/"+f.Control))
		}
		std := []attr.Value{}
		for _, s := range f.Standards {
			std = append(std, types.StringValue(s.String()))
		}
		ev := []attr.Value{}
		for _, e := range f.Evidence {
			ev = append(ev, types.StringValue(evidenceString(e)))
		}
		m.Controls = append(m.Controls, postureControlModel{
			ID: types.StringValue(f.Control), Title: types.StringValue(f.Title), Cluster: types.StringValue(f.Cluster),
			Status: types.StringValue(string(f.Status)), Observed: types.StringValue(f.Observed), Threshold: types.StringValue(f.Threshold),
			Remedy: types.StringValue(f.Remedy), Standards: types.ListValueMust(types.StringType, std), Evidence: types.ListValueMust(types.StringType, ev),
		})
	}
	m.Failing = types.ListValueMust(types.StringType, failing)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// params turns the configured thresholds into the engine's (validators
// have already checked the durations).
func (m *postureModel) params() (posture.Params, error) {
	p := posture.Params{
		MinLockDays: int(m.MinLockDays.ValueInt64()), WindowDays: int(m.WindowDays.ValueInt64()),
		VerifyWithinDays: int(m.VerifyWithinDays.ValueInt64()), DrillWithinDays: int(m.DrillWithinDays.ValueInt64()),
	}
	p.RPO, _ = time.ParseDuration(m.RPO.ValueString())
	p.RTOTarget, _ = time.ParseDuration(m.RTOTarget.ValueString())
	keys := make([]string, 0, len(m.TrustedKeys))
	for _, k := range m.TrustedKeys {
		keys = append(keys, k.ValueString())
	}
	sort.Strings(keys)
	var err error
	p.Trust, err = signature.NewTrust(keys...)
	return p, err
}

// evidenceString is one evidence as a line: key (version) · time · note.
func evidenceString(e posture.Evidence) string {
	s := e.Key
	if e.Version != "" {
		s += " (version " + e.Version + ")"
	}
	if !e.Time.IsZero() {
		s += " · " + e.Time.UTC().Format(time.RFC3339)
	}
	if e.Note != "" {
		s += " · " + e.Note
	}
	return s
}
