package provider

import (
	"context"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/boolplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/listplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/mapplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
)

var (
	_ resource.ResourceWithConfigure      = (*restorePointResource)(nil)
	_ resource.ResourceWithValidateConfig = (*restorePointResource)(nil)
)

// NewRestorePointResource is the lifeboat_restore_point constructor.
func NewRestorePointResource() resource.Resource { return &restorePointResource{} }

// restorePointResource marks the present as a named recovery target
// before a risky change (restore.CreateRestorePoint).
type restorePointResource struct {
	data *providerData
}

type restorePointModel struct {
	ID         types.String   `tfsdk:"id"`
	Name       types.String   `tfsdk:"name"`
	Cluster    types.String   `tfsdk:"cluster"`
	Repository *repositoryRef `tfsdk:"repository"`
	Postgres   *postgresModel `tfsdk:"postgres"`
	Tenants    types.List     `tfsdk:"tenant_databases"`
	BaseBackup types.Bool     `tfsdk:"base_backup"`

	LSN       types.String   `tfsdk:"lsn"`
	CreatedAt types.String   `tfsdk:"created_at"`
	Timeline  types.Int64    `tfsdk:"timeline"`
	Segment   types.String   `tfsdk:"wal_segment"`
	BackupID  types.String   `tfsdk:"backup_id"`
	DumpIDs   types.Map      `tfsdk:"dump_ids"`
	Schemas   types.Map      `tfsdk:"schema_records"`
	Timeouts  timeouts.Value `tfsdk:"timeouts"`
}

// Metadata implements resource.Resource.
func (r *restorePointResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_restore_point"
}

// Schema implements resource.Resource.
func (r *restorePointResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	replaceStr := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	computed := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{MarkdownDescription: desc, Computed: true, PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "A named restore point, made in a release pipeline before a risky change (a module upgrade, a migration): " +
			"optionally a fresh base backup and fresh dumps of the declared tenants, then `pg_create_restore_point(name)`, then a WAL " +
			"switch and a wait until the segment holding the point is archived, so a `lifeboat_restore` with `restore_point = " +
			"lifeboat_restore_point.<x>.name` can plan against it at once. Changing `name` makes a new point.\n\n" +
			"PostgreSQL does not keep restore point names unique, and recovery stops at the first one of a name after the backup it " +
			"starts from: use a name per release (`before-release-2026-11-30`). Destroy forgets the point; its WAL record, backup " +
			"and dumps stay in the repository under its retention.",
		Attributes: map[string]schema.Attribute{
			"id": computed("`<cluster>/<name>`."),
			"name": schema.StringAttribute{MarkdownDescription: "Restore point name (1 to 63 bytes), unique per cluster.", Required: true,
				PlanModifiers: replaceStr, Validators: []validator.String{stringvalidator.LengthBetween(1, 63)}},
			"cluster": schema.StringAttribute{MarkdownDescription: "Cluster name inside the repository (as in `lifeboat_wal_archive`).", Required: true,
				PlanModifiers: replaceStr, Validators: []validator.String{keyNameValidator{}}},
			"tenant_databases": schema.ListAttribute{
				MarkdownDescription: "Databases to dump (`pg_dump -Fc`, into the repository's tenant dumps) just before the point: a rollback of one " +
					"tenant can then restore from a dump instead of a PITR. Each one's schema (every user table's columns) and Odoo module versions " +
					"(`ir_module_module`: name, latest_version, state) are recorded too, signed with the provider's `signing_key` and written once " +
					"(`schema_records`), so the plan of a `lifeboat_restore` back to this point shows its `compatibility_review`. With tenants, " +
					"`name` must be key-safe (letters, digits, '.', '_', '-').",
				ElementType: types.StringType, Optional: true, PlanModifiers: []planmodifier.List{listplanmodifier.RequiresReplace()},
			},
			"base_backup": schema.BoolAttribute{MarkdownDescription: "Take a fresh base backup just before the point, so a restore to it replays " +
				"little WAL. Default `false`.", Optional: true, PlanModifiers: []planmodifier.Bool{boolplanmodifier.RequiresReplace()}},
			"lsn":         computed("WAL location of the restore point record."),
			"created_at":  computed("When the point was made (RFC 3339, the server's clock)."),
			"timeline":    schema.Int64Attribute{MarkdownDescription: "The server's timeline when the point was made.", Computed: true},
			"wal_segment": computed("The archived WAL segment holding the point."),
			"backup_id":   computed("The fresh base backup (with `base_backup`)."),
			"dump_ids": schema.MapAttribute{MarkdownDescription: "The fresh tenant dumps' ids by database.", ElementType: types.StringType,
				Computed: true},
			"schema_records": schema.MapAttribute{MarkdownDescription: "Repository key of each tenant's recorded schema and module versions, by database.",
				ElementType: types.StringType, Computed: true, PlanModifiers: []planmodifier.Map{mapplanmodifier.UseStateForUnknown()}},
		},
		Blocks: map[string]schema.Block{
			"repository": replacingRepositoryBlock(),
			"postgres":   postgresBlock("to mark (the live primary)"),
			"timeouts":   timeouts.Block(ctx, timeouts.Opts{Create: true}),
		},
	}
}

// Configure implements resource.ResourceWithConfigure.
func (r *restorePointResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

// ValidateConfig implements resource.ResourceWithValidateConfig.
func (r *restorePointResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m restorePointModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	m.Repository.validate("the repository the point's WAL is archived into", &resp.Diagnostics)
	if m.Postgres == nil {
		resp.Diagnostics.AddAttributeError(path.Root("postgres"), "Missing PostgreSQL Connection", "A restore point is made on the live primary: add its postgres block.")
		return
	}
	m.Postgres.validate(path.Root("postgres"), &resp.Diagnostics)
}

// Create implements resource.Resource.
func (r *restorePointResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan restorePointModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, diags := plan.Timeouts.Create(ctx, 60*time.Minute)
	resp.Diagnostics.Append(diags...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := r.data.storeClient(ctx, &resp.Diagnostics)
	if client == nil {
		return
	}
	var tenants []string
	resp.Diagnostics.Append(plan.Tenants.ElementsAs(ctx, &tenants, false)...)
	if resp.Diagnostics.HasError() {
		return
	}
	layout := repo.Layout{Prefix: plan.Repository.Prefix.ValueString(), Cluster: plan.Cluster.ValueString()}
	res, err := restore.CreateRestorePoint(ctx, client.Store(plan.Repository.Bucket.ValueString()), restore.RestorePointOptions{
		Layout: layout, DSN: plan.Postgres.dsn(), Name: plan.Name.ValueString(), BaseBackup: plan.BaseBackup.ValueBool(), Tenants: tenants,
		Signer: r.data.signer,
	})
	if err != nil {
		resp.Diagnostics.Append(errorDiag("Error Creating Restore Point",
			"creating restore point "+plan.Name.ValueString()+" on "+plan.Postgres.describe(), err))
		return
	}
	plan.ID = types.StringValue(plan.Cluster.ValueString() + "/" + res.Name)
	plan.LSN = types.StringValue(res.LSN)
	plan.CreatedAt = types.StringValue(res.Time.Format(time.RFC3339Nano))
	plan.Timeline = types.Int64Value(int64(res.Timeline))
	plan.Segment = types.StringValue(res.Segment)
	plan.BackupID = optionalString(res.BackupID)
	dumps := map[string]attr.Value{}
	for db, id := range res.Dumps {
		dumps[db] = types.StringValue(id)
	}
	plan.DumpIDs = types.MapValueMust(types.StringType, dumps)
	schemas := map[string]attr.Value{}
	for db, key := range res.Schemas {
		schemas[db] = types.StringValue(key)
	}
	plan.Schemas = types.MapValueMust(types.StringType, schemas)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// Read implements resource.Resource: a restore point is a WAL record; it
// cannot change or vanish short of the WAL being pruned.
func (r *restorePointResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state restorePointModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

// Update implements resource.Resource: only the connection can change in
// place (everything that defines the point forces a new one).
func (r *restorePointResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state restorePointModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	plan.ID, plan.LSN, plan.CreatedAt, plan.Timeline, plan.Segment, plan.BackupID, plan.DumpIDs, plan.Schemas =
		state.ID, state.LSN, state.CreatedAt, state.Timeline, state.Segment, state.BackupID, state.DumpIDs, state.Schemas
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// Delete implements resource.Resource: the point is forgotten; its WAL,
// backup and dumps stay under the repository's retention.
func (r *restorePointResource) Delete(context.Context, resource.DeleteRequest, *resource.DeleteResponse) {
}
