package provider

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/boolplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/listplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/catalog"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/pg"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
)

var (
	_ resource.ResourceWithConfigure      = (*restoreResource)(nil)
	_ resource.ResourceWithValidateConfig = (*restoreResource)(nil)
	_ resource.ResourceWithModifyPlan     = (*restoreResource)(nil)
	_ resource.ResourceWithUpgradeState   = (*restoreResource)(nil)
)

// NewRestoreResource is the lifeboat_restore constructor.
func NewRestoreResource() resource.Resource { return &restoreResource{} }

// restoreResource performs a restore when it is created or replaced: a
// cluster point-in-time recovery into a new data directory, or one tenant
// database into a new database beside the live one, with its attachments.
type restoreResource struct {
	data *providerData
}

type restoreModel struct {
	ID          types.String   `tfsdk:"id"`
	Kind        types.String   `tfsdk:"kind"`
	Cluster     types.String   `tfsdk:"cluster"`
	Repository  *repositoryRef `tfsdk:"repository"`
	PointInTime types.String   `tfsdk:"point_in_time"`
	BackupID    types.String   `tfsdk:"backup_id"`
	// TargetTimeline is recovery_target_timeline; null means latest.
	TargetTimeline types.String `tfsdk:"recovery_target_timeline"`
	// LSN, XID, RestorePoint: recovery targets other than a time;
	// Inclusive is recovery_target_inclusive.
	LSN          types.String        `tfsdk:"lsn"`
	XID          types.String        `tfsdk:"xid"`
	RestorePoint types.String        `tfsdk:"restore_point"`
	Inclusive    types.Bool          `tfsdk:"inclusive"`
	Target       *restoreTargetModel `tfsdk:"target"`
	Postgres     *postgresModel      `tfsdk:"postgres"`
	Attachments  *restoreAttachModel `tfsdk:"attachments"`
	Checks       []restoreCheckModel `tfsdk:"check"`
	AgentPath    types.String        `tfsdk:"agent_path"`
	// Agent, Executor, ClaimTimeout and Request: where the restore runs
	// (see restore_remote.go).
	Agent        types.String `tfsdk:"agent"`
	Executor     types.String `tfsdk:"executor"`
	ClaimTimeout types.String `tfsdk:"claim_timeout"`
	Request      types.String `tfsdk:"request"`
	// SourceRegion reads the repository from a recovery region's copy.
	SourceRegion *sourceRegionModel `tfsdk:"source_region"`
	// The clean-room arguments and results, and the restorer's credentials.
	cleanRoomModel

	RecoverySource     types.String `tfsdk:"recovery_source"`
	WALRange           types.String `tfsdk:"wal_range"`
	Timeline           types.Int64  `tfsdk:"timeline"`
	TargetLSN          types.String `tfsdk:"target_lsn"`
	DataLossWindow     types.String `tfsdk:"data_loss_window"`
	RestoredToTime     types.String `tfsdk:"restored_to_time"`
	RestoredToLSN      types.String `tfsdk:"restored_to_lsn"`
	DurationSeconds    types.Int64  `tfsdk:"duration_seconds"`
	CheckResults       types.Map    `tfsdk:"check_results"`
	MissingAttachments types.List   `tfsdk:"missing_attachments"`
	// CompatibilityReview: see restore_review.go.
	CompatibilityReview types.Object   `tfsdk:"compatibility_review"`
	Timeouts            timeouts.Value `tfsdk:"timeouts"`
}

type restoreTargetModel struct {
	DataDirectory  types.String `tfsdk:"data_directory"`
	Port           types.Int64  `tfsdk:"port"`
	BinDir         types.String `tfsdk:"bin_dir"`
	Database       types.String `tfsdk:"database"`
	SourceDatabase types.String `tfsdk:"source_database"`
}

type restoreAttachModel struct {
	Bucket       types.String `tfsdk:"bucket"`
	SourcePrefix types.String `tfsdk:"source_prefix"`
	TargetPrefix types.String `tfsdk:"target_prefix"`
}

type restoreCheckModel struct {
	Name     types.String `tfsdk:"name"`
	SQL      types.String `tfsdk:"sql"`
	Expected types.String `tfsdk:"expected"`
}

// Metadata implements resource.Resource.
func (r *restoreResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_restore"
}

// Schema implements resource.Resource.
func (r *restoreResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	replaceStr := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	replaceInt := []planmodifier.Int64{int64planmodifier.RequiresReplace()}
	optStr := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{MarkdownDescription: desc, Optional: true, PlanModifiers: replaceStr}
	}
	computed := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{MarkdownDescription: desc, Computed: true}
	}
	resp.Schema = schema.Schema{
		// Version 1: the repository is `cluster` + `repository { bucket, prefix }`, as in every other resource
		// (version 0 had `source { cluster, bucket, prefix }`; UpgradeState moves it).
		Version: 1,
		MarkdownDescription: "A restore, performed when the resource is created or replaced, so it is reviewed in `terraform plan` " +
			"like any change: the plan names the recovery point it will use (`recovery_source`, `wal_range`) and, for `latest`, " +
			"the data-loss window. Every argument that defines the restore forces replacement: moving `point_in_time` plans a " +
			"new restore. A point in time outside the restorable window fails at plan, stating the window.\n\n" +
			"`kind = \"cluster\"`: point-in-time recovery of the whole cluster into a new data directory, started on its own port " +
			"(never archiving into the source's repository). `kind = \"tenant\"`: one database restored into a new database " +
			"beside the live one, every other database untouched, with its attachments as they were at that time.\n\n" +
			"Destroy removes the restored copy (stops its server and deletes its directory, or drops the restored database and " +
			"its attachment copies); it never touches the source.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{MarkdownDescription: "The restored copy: its data directory, or `<database>`.", Computed: true,
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}},
			"kind": schema.StringAttribute{
				MarkdownDescription: "`cluster` (whole-cluster PITR into a new data directory) or `tenant` (one database into a new database).",
				Required:            true,
				PlanModifiers:       replaceStr,
				Validators:          []validator.String{stringvalidator.OneOf("cluster", "tenant")},
			},
			"point_in_time": schema.StringAttribute{
				MarkdownDescription: "Recovery target: an RFC 3339 time (`2026-11-25T09:41:00Z`), `latest` (all archived WAL) or `immediate` " +
					"(the end of the base backup: no WAL replayed after it is consistent). Default `latest`; leave it unset with `lsn`, `xid` or `restore_point`.",
				Optional:      true,
				Computed:      true,
				Default:       stringdefault.StaticString("latest"),
				PlanModifiers: replaceStr,
				Validators:    []validator.String{pointInTimeValidator{}},
			},
			"cluster": schema.StringAttribute{
				MarkdownDescription: "Name of the cluster inside the repository to restore from.",
				Required:            true,
				PlanModifiers:       replaceStr,
				Validators:          []validator.String{keyNameValidator{}},
			},
			"backup_id": optStr("Restore from this backup (a `lifeboat_recovery_points` id) instead of the newest one that reaches the target."),
			"recovery_target_timeline": schema.StringAttribute{
				MarkdownDescription: "PostgreSQL timeline to recover along (cluster restores and tenant restores through PITR): `latest` (default: " +
					"the newest timeline in the archive, e.g. the promoted standby's after a failover), `current` (the chosen backup's own " +
					"timeline) or a timeline number (e.g. `1` for an old primary that went on after its standby was promoted). The plan " +
					"chooses a backup on that timeline's history (read from the archived `.history` files) and names the timeline in " +
					"`timeline`; a backup or timeline off that history fails at plan.",
				Optional:      true,
				PlanModifiers: replaceStr,
				Validators: []validator.String{stringvalidator.RegexMatches(regexp.MustCompile(`^(latest|current|[1-9][0-9]{0,9})$`),
					"must be latest, current or a timeline number (1 or more)")},
			},
			"lsn": optStr("Recovery target: a WAL location (`0/5000060`, `recovery_target_lsn`). At plan it must lie in the archived WAL " +
				"a backup can replay (from the backup's end to the end of the unbroken run), else the plan fails naming the archived range."),
			"xid": schema.StringAttribute{
				MarkdownDescription: "Recovery target: a transaction id (`recovery_target_xid`), e.g. one `lifeboat incident find` named. With " +
					"`inclusive = false` the restore stops just before that transaction commits (\"just before the delete\"). At plan its " +
					"commit (or abort) record must be in the archived WAL, else the plan fails.",
				Optional: true, PlanModifiers: replaceStr,
				Validators: []validator.String{stringvalidator.RegexMatches(regexp.MustCompile(`^[0-9]{1,10}$`), "must be a transaction id")},
			},
			"restore_point": schema.StringAttribute{
				MarkdownDescription: "Recovery target: a named restore point (`recovery_target_name`), e.g. `lifeboat_restore_point.x.name`. " +
					"At plan the archived WAL must contain a restore point of that name after a usable backup, else the plan fails.",
				Optional: true, PlanModifiers: replaceStr,
				Validators: []validator.String{stringvalidator.LengthBetween(1, 63)},
			},
			"inclusive": schema.BoolAttribute{
				MarkdownDescription: "`recovery_target_inclusive`: stop just after the target (`true`, default) or just before it (`false`: " +
					"the target transaction's changes, or the record at `lsn`, are not applied). Applies to `lsn` and `xid`.",
				Optional: true, PlanModifiers: []planmodifier.Bool{boolplanmodifier.RequiresReplace()},
			},
			"agent_path": schema.StringAttribute{
				MarkdownDescription: "Path of the `lifeboat` agent binary that PostgreSQL runs as `restore_command` (on the machine running Terraform). Default `/usr/local/bin/lifeboat`.",
				Optional:            true,
				Computed:            true,
				Default:             stringdefault.StaticString("/usr/local/bin/lifeboat"),
				PlanModifiers:       replaceStr,
				Validators:          []validator.String{absolutePathValidator{}},
			},
			"agent": schema.StringAttribute{
				MarkdownDescription: "Host whose Lifeboat agent performs the restore (its bootstrap file's `host`, see `data.lifeboat_agents`). " +
					"The provider writes the restore as a signed request into the repository; the agent on that host claims it, restores " +
					"there (data directory, server, scratch cluster, PostgreSQL binaries all on that host), reports progress into Terraform's " +
					"log, and records the result that is read into state. Terraform can then run anywhere that reaches the bucket (a CI runner). " +
					"Destroy is a request too. A tenant restore then goes into the agent's own server (its `--pg-dsn`); the `postgres` block is not needed.",
				Optional: true, PlanModifiers: replaceStr, Validators: []validator.String{keyNameValidator{}},
			},
			"executor": schema.StringAttribute{
				MarkdownDescription: "`agent` (the cluster's agent performs the restore: the one on `agent`, or any agent of the cluster when `agent` is unset) " +
					"or `local` (the machine running Terraform does, as in a single-host setup). Default: `agent` when `agent` is set, else `local`.",
				Optional: true, PlanModifiers: replaceStr, Validators: []validator.String{stringvalidator.OneOf("agent", "local")},
			},
			"claim_timeout": schema.StringAttribute{
				MarkdownDescription: "With the agent executor: how long the request may wait without a live agent claiming it (or after its agent stopped " +
					"renewing its claim) before the apply fails, naming the request and the live agents; the request is then withdrawn, so no agent " +
					"starts it later. Default `5m`.",
				Optional: true, Computed: true, Default: stringdefault.StaticString("5m"), Validators: []validator.String{durationValidator{min: time.Second}},
			},
			"request": schema.StringAttribute{
				MarkdownDescription: "With the agent executor: the repository key of the request the agent executed (its progress and result lie beside it).",
				Computed:            true, PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"recovery_source": computed("The recovery point the restore uses: `backup:<id>+wal` or `dump:<id>`. Known at plan, and the apply " +
				"uses exactly it, even when a newer backup finished in between (for `latest`, WAL is still replayed to the newest segment " +
				"archived when the restore runs). For `latest` the planned backup is kept in the repository (`restores/`) so that a saved " +
				"plan applied later names the same one; it is released once the restore is done, and a plan of the same restore within 7 days reuses it."),
			"wal_range": computed("WAL segments replayed (`<first>..<last>`), known at plan for cluster restores."),
			"timeline": schema.Int64Attribute{MarkdownDescription: "Timeline the restore recovers along (`recovery_target_timeline` resolved), known at plan; " +
				"the restored server is told this number, so a timeline archived between plan and apply does not change it. Null for a dump.", Computed: true},
			"target_lsn": computed("Where replay stops for `lsn`, `xid`, `restore_point` or `immediate`: the LSN asked for, the LSN of the " +
				"restore point's or the transaction's record found in the archive, or the backup's end. Known at plan."),
			"data_loss_window": computed("For `latest`: how far the recovered point lagged behind the start of the restore (the changes it could not bring back). The plan shows the current lag as a warning."),
			"restored_to_time": computed("Commit time of the last transaction recovered (RFC 3339)."),
			"restored_to_lsn":  computed("WAL location recovered to (cluster restores)."),
			"duration_seconds": schema.Int64Attribute{MarkdownDescription: "How long the restore took, checks included.", Computed: true},
			"check_results": schema.MapAttribute{
				MarkdownDescription: "Each check's outcome: `pass`, or `fail: got <value>`.",
				ElementType:         types.StringType,
				Computed:            true,
			},
			"compatibility_review": compatibilityReviewAttribute(),
			"missing_attachments": schema.ListAttribute{
				MarkdownDescription: "`store_fname` values of the restored database that resolve to no object as of the restore point.",
				ElementType:         types.StringType,
				Computed:            true,
			},
		},
		Blocks: map[string]schema.Block{
			"repository": replacingRepositoryBlock(),
			"target": schema.SingleNestedBlock{
				MarkdownDescription: "Where the restored copy goes. Cluster: `data_directory` (absent or empty), `port`, `bin_dir`. Tenant: `source_database` and the new `database` on the server of the `postgres` block.",
				Attributes: map[string]schema.Attribute{
					"data_directory": optStr("New data directory (cluster restores); must not exist or be empty."),
					"port": schema.Int64Attribute{MarkdownDescription: "Port the restored server listens on (cluster restores).", Optional: true, PlanModifiers: replaceInt,
						Validators: []validator.Int64{int64validator.Between(1024, 65535)}},
					"bin_dir":         optStr("PostgreSQL binaries (default Debian's PostgreSQL 15)."),
					"database":        optStr("Name of the new database (tenant restores); must not exist."),
					"source_database": optStr("The tenant database to restore (tenant restores)."),
				},
			},
			"postgres": postgresBlock("that receives a tenant restore (tenant restores)"),
			"attachments": schema.SingleNestedBlock{
				MarkdownDescription: "Odoo attachments of a tenant restore: every `ir_attachment.store_fname` of the restored database is copied, as it was at the restore point (S3 versions), from `source_prefix` to `target_prefix` in `bucket`, then checked to resolve.",
				Attributes: map[string]schema.Attribute{
					"bucket":        optStr("Attachments bucket (versioned)."),
					"source_prefix": optStr("Prefix of the live tenant's attachments, e.g. `attachments/acme/`."),
					"target_prefix": optStr("Prefix for the restored copies; must differ from source_prefix."),
				},
			},
			"check": schema.ListNestedBlock{
				MarkdownDescription: "SQL assertions that must hold on the restored copy: the query's single value, as text, must equal `expected`. A failing check fails the apply (the copy is kept for inspection and replaced on the next apply).",
				NestedObject: schema.NestedBlockObject{Attributes: map[string]schema.Attribute{
					"name":     schema.StringAttribute{MarkdownDescription: "Check name.", Required: true, PlanModifiers: replaceStr},
					"sql":      schema.StringAttribute{MarkdownDescription: "Query returning one value.", Required: true, PlanModifiers: replaceStr},
					"expected": schema.StringAttribute{MarkdownDescription: "Expected value, as PostgreSQL prints it (`t`, `42`, `abc`).", Required: true, PlanModifiers: replaceStr},
				}},
				PlanModifiers: []planmodifier.List{listplanmodifier.RequiresReplace()},
			},
			"timeouts":      timeouts.Block(ctx, timeouts.Opts{Create: true, Read: true, Delete: true}),
			"source_region": sourceRegionBlock("plan and apply work"),
		},
	}
	for k, a := range cleanRoomAttributes() {
		resp.Schema.Attributes[k] = a
	}
	for k, b := range cleanRoomBlocks() {
		resp.Schema.Blocks[k] = b
	}
}

// UpgradeState implements resource.ResourceWithUpgradeState: version 0's
// `source` block becomes `cluster` + `repository`.
func (r *restoreResource) UpgradeState(context.Context) map[int64]resource.StateUpgrader {
	return sourceBlockUpgraders()
}

// Configure implements resource.ResourceWithConfigure.
func (r *restoreResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

// ValidateConfig implements resource.ResourceWithValidateConfig.
func (r *restoreResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m restoreModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	need := func(p path.Path, v attr.Value, what string) {
		if v.IsNull() {
			resp.Diagnostics.AddAttributeError(p, "Missing Restore Argument", what)
		}
	}
	m.Repository.validate("the repository to restore from", &resp.Diagnostics)
	if m.Executor.ValueString() == "local" && !m.Agent.IsNull() && !m.Agent.IsUnknown() {
		resp.Diagnostics.AddAttributeError(path.Root("executor"), "Conflicting Restore Executor",
			fmt.Sprintf("executor = \"local\" runs the restore on the machine running Terraform, but agent = %q names a host whose agent would. Remove one of them.",
				m.Agent.ValueString()))
	}
	var targets []string
	for _, t := range []struct {
		name string
		v    types.String
	}{{"point_in_time", m.PointInTime}, {"lsn", m.LSN}, {"xid", m.XID}, {"restore_point", m.RestorePoint}} {
		if !t.v.IsNull() && (t.name != "point_in_time" || t.v.ValueString() != "latest") {
			targets = append(targets, t.name)
		}
	}
	if len(targets) > 1 {
		resp.Diagnostics.AddAttributeError(path.Root(targets[1]), "Conflicting Recovery Targets",
			fmt.Sprintf("%s are set together: a restore has one recovery target. Keep one of them.", strings.Join(targets, " and ")))
	}
	if !m.LSN.IsNull() && !m.LSN.IsUnknown() {
		if err := (restore.Point{LSN: m.LSN.ValueString()}).Validate(); err != nil {
			resp.Diagnostics.AddAttributeError(path.Root("lsn"), "Invalid LSN", fmt.Sprintf("lsn = %q is not a WAL location such as 0/5000060.", m.LSN.ValueString()))
		}
	}
	if !m.Inclusive.IsNull() && m.LSN.IsNull() && m.XID.IsNull() {
		resp.Diagnostics.AddAttributeError(path.Root("inclusive"), "Inclusive Without Target",
			"inclusive applies to an lsn or xid target; set one of them, or remove inclusive.")
	}
	m.validateCleanRoom(m.Kind, m.PointInTime, m.remote(), &resp.Diagnostics)
	if m.Target == nil {
		resp.Diagnostics.AddAttributeError(path.Root("target"), "Missing Restore Target", "A target block is required.")
		return
	}
	switch m.Kind.ValueString() {
	case "cluster":
		need(path.Root("target").AtName("data_directory"), m.Target.DataDirectory, "target.data_directory is required for a cluster restore.")
		need(path.Root("target").AtName("port"), m.Target.Port, "target.port is required for a cluster restore.")
		if !m.Target.DataDirectory.IsNull() && !m.Target.DataDirectory.IsUnknown() && !filepath.IsAbs(m.Target.DataDirectory.ValueString()) {
			resp.Diagnostics.AddAttributeError(path.Root("target").AtName("data_directory"), "Relative Path", "target.data_directory must be an absolute path.")
		}
	case "tenant":
		need(path.Root("target").AtName("database"), m.Target.Database, "target.database (the new database) is required for a tenant restore.")
		need(path.Root("target").AtName("source_database"), m.Target.SourceDatabase, "target.source_database is required for a tenant restore.")
		// NOTE: an agent or executor not known yet (a variable, when
		// Terraform validates before it has values) may make this an
		// agent's restore: judged again once they are known.
		undecided := m.Agent.IsUnknown() || m.Executor.IsUnknown()
		if m.Postgres == nil && !m.remote() && !undecided {
			resp.Diagnostics.AddAttributeError(path.Root("postgres"), "Missing PostgreSQL Connection",
				"A tenant restore run by Terraform (executor = \"local\") needs the postgres block of the server that receives the new database; "+
					"or set agent to the host whose agent restores into its own server.")
		} else if m.Postgres != nil {
			m.Postgres.validate(path.Root("postgres"), &resp.Diagnostics)
		}
		if !m.Target.Database.IsUnknown() && !m.Target.SourceDatabase.IsUnknown() && m.Target.Database.ValueString() == m.Target.SourceDatabase.ValueString() && !m.Target.Database.IsNull() {
			resp.Diagnostics.AddAttributeError(path.Root("target").AtName("database"), "Restore Target Is The Live Source",
				fmt.Sprintf("target.database %q is the live tenant database itself. A tenant restore goes into a new database beside the live one: choose another name (e.g. %q).",
					m.Target.Database.ValueString(), m.Target.Database.ValueString()+"_restored"))
		}
		if a := m.Attachments; a != nil && !a.SourcePrefix.IsUnknown() && !a.TargetPrefix.IsUnknown() {
			if a.SourcePrefix.ValueString() == a.TargetPrefix.ValueString() || a.TargetPrefix.IsNull() {
				resp.Diagnostics.AddAttributeError(path.Root("attachments").AtName("target_prefix"), "Restore Target Is The Live Source",
					"attachments.target_prefix must be set and differ from source_prefix: restored attachments never overwrite the live ones.")
			}
		}
	}
}

// ModifyPlan implements resource.ResourceWithModifyPlan. On create or
// replace it resolves the recovery point, so the plan shows it, and fails
// when the point is outside the restorable window or the target is taken.
func (r *restoreResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() || r.data == nil {
		return
	}
	var plan restoreModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	var state *restoreModel
	if !req.State.Raw.IsNull() {
		state = &restoreModel{}
		resp.Diagnostics.Append(req.State.Get(ctx, state)...)
		if !resp.Diagnostics.HasError() && !plan.definitionChanged(state) {
			return // the same restore: nothing to resolve again
		}
	}
	if plan.Repository == nil || plan.Target == nil || plan.anyUnknown() || plan.SourceRegion.unknown() {
		return
	}
	cfg, bucket := r.source(&plan)
	client, err := r.data.StoreFor(ctx, cfg)
	if err != nil {
		return
	}
	// Plans read with the restore's own credentials (the restorer's, with
	// a credentials block); kept plans go through the provider's.
	admin := client.Store(bucket)
	store := r.readStore(ctx, &plan, cfg, bucket, admin, &resp.Diagnostics)
	if store == nil {
		return
	}
	if plan.Kind.ValueString() == string(restore.KindCluster) && !plan.remote() {
		dir := plan.Target.DataDirectory.ValueString()
		// A copy being replaced is removed before the new one is made, so
		// its directory and port do not count as taken. NOTE: Terraform
		// plans the create half of a replacement without the prior state,
		// so a previous Lifeboat restore is recognised on disk; the live
		// cluster never has a lifeboat-restore.json.
		ownDir := restore.IsRestore(dir)
		ownPort := ownDir && restore.RunningPort(dir) == int(plan.Target.Port.ValueInt64())
		if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 && !ownDir {
			resp.Diagnostics.AddAttributeError(path.Root("target").AtName("data_directory"), "Restore Target Not Empty",
				fmt.Sprintf("target.data_directory %q exists and is not empty: a restore never writes over an existing directory (it may be the live cluster). Choose a new directory.", dir))
			return
		}
		if !ownPort && errors.Is(restore.CheckPort(int(plan.Target.Port.ValueInt64())), restore.ErrPortInUse) {
			resp.Diagnostics.AddAttributeError(path.Root("target").AtName("port"), "Restore Port In Use",
				fmt.Sprintf("target.port %d is in use on this machine (it may be the live cluster). Choose a free port.", plan.Target.Port.ValueInt64()))
			return
		}
	}
	// Kept: when this plan is saved and applied later, Terraform plans it
	// again, and that plan must name the same recovery point.
	kreq := r.request(&plan, nil)
	kreq.Audit.Store = admin
	p, err := restore.PlanKept(ctx, store, kreq)
	if err != nil {
		r.planError(&resp.Diagnostics, err)
		return
	}
	if p.NotKept != nil {
		resp.Diagnostics.AddWarning("Recovery Point Not Kept For A Saved Plan",
			fmt.Sprintf("This plan names %s, but could not record it in the repository for the apply: %v. Applied at once this does not matter; "+
				"a saved plan applied after a newer backup finished fails with \"Provider produced inconsistent final plan\" (plan again then).",
				p.Source, p.NotKept))
	}
	plan.RecoverySource = types.StringValue(p.Source.String())
	plan.WALRange, plan.Timeline, plan.TargetLSN = types.StringNull(), types.Int64Null(), types.StringNull()
	if p.Cluster != nil {
		plan.WALRange = types.StringValue(p.WALRange())
		plan.Timeline = types.Int64Value(int64(p.Cluster.Timeline))
		plan.TargetLSN = optionalString(p.Cluster.TargetLSN)
		if p.Cluster.IsLatest() {
			r.warnLatest(&resp.Diagnostics, p.Cluster.Target, p.Cluster.Latest)
		}
	}
	planCleanRoom(ctx, store, kreq, &plan, &resp.Diagnostics)
	r.planReview(ctx, admin, store, &plan, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
}

func (r *restoreResource) planError(diags *diag.Diagnostics, err error) {
	var outside *restore.OutsideWindowError
	if errors.As(err, &outside) {
		diags.AddAttributeError(path.Root("point_in_time"), "Point In Time Outside Restorable Window",
			fmt.Sprintf("The restore cannot reach point_in_time: %v. Choose a point inside the window (see the lifeboat_recovery_points data source).", err))
		return
	}
	var te *restore.TargetError
	if errors.As(err, &te) {
		attr := map[string]string{"recovery_target_lsn": "lsn", "recovery_target_xid": "xid", "recovery_target_name": "restore_point"}[te.Attribute]
		if attr == "" {
			attr = "point_in_time"
		}
		diags.AddAttributeError(path.Root(attr), "Recovery Target Not In The Archive",
			fmt.Sprintf("The restore cannot reach %s: %v. Choose a target the archive holds (`lifeboat incident find` lists transactions, "+
				"lifeboat_recovery_points the window), or wait until its WAL is archived.", attr, err))
		return
	}
	var tl *catalog.TimelineError
	if errors.As(err, &tl) {
		diags.AddAttributeError(path.Root("recovery_target_timeline"), "Timeline Not Reachable",
			fmt.Sprintf("The restore cannot recover along the requested timeline: %v. Set recovery_target_timeline to a timeline the backup lies on "+
				"(see `lifeboat backups`, or the window's timeline and forks in the lifeboat_recovery_points data source), or choose another backup_id.", err))
		return
	}
	if errors.Is(err, restore.ErrCannotDecrypt) {
		diags.AddError("No Identity Decrypts The Backup",
			fmt.Sprintf("The restore reads client-side encrypted data that none of the provider's age identities decrypts: %v. "+
				"Set the provider's identity_file (or %s) to a file holding the identity of one of those recipients.", err, crypt.EnvIdentityFile))
		return
	}
	diags.AddAttributeError(path.Root("repository"), "Error Planning Restore", detail("choosing the recovery point", err))
}

// warnLatest shows, in the plan, what a restore to latest would lose now.
// NOTE: a warning, not an attribute: the lag changes by the second between
// plan and apply, and planned values must not.
func (r *restoreResource) warnLatest(diags *diag.Diagnostics, target, latest time.Time) {
	if !target.IsZero() || latest.IsZero() {
		return
	}
	diags.AddWarning("Restore To Latest",
		fmt.Sprintf("The newest restorable point is %s, %s before this plan: changes after it are not in the archive and would not be restored "+
			"(the data-loss window). data_loss_window records the window the restore actually had.",
			latest.UTC().Format(time.RFC3339), time.Since(latest).Truncate(time.Second)))
}

// Create implements resource.Resource: the restore runs here.
func (r *restoreResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan restoreModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, diags := plan.Timeouts.Create(ctx, 60*time.Minute)
	resp.Diagnostics.Append(diags...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cfg, bucket := r.source(&plan)
	client := r.data.storeClientFor(ctx, cfg, &resp.Diagnostics)
	if client == nil {
		return
	}
	if plan.remote() {
		// With source_region the request goes into the region's copy of
		// the repository, where an agent started in the region (its
		// repository the destination) claims it and restores from there:
		// the primary store is not needed. The copy never carries the
		// primary's requests, so no agent acts on one twice.
		r.createRemote(ctx, &plan, client.Store(bucket), resp)
		return
	}
	plan.Request = types.StringNull()
	rreq := r.request(&plan, client)
	rreq.KeepRunning = true
	rreq.Progress = func(p restore.Progress) {
		tflog.Info(ctx, "restore in progress", map[string]any{"phase": p.Phase, "downloaded_mb": p.Downloaded / 1e6, "extracted_mb": p.Extracted / 1e6})
	}
	// The restore uses the recovery point the reviewed plan named, even if
	// a newer backup finished since.
	if !plan.RecoverySource.IsUnknown() && !plan.RecoverySource.IsNull() {
		src, err := restore.ParseSource(plan.RecoverySource.ValueString())
		if err != nil {
			resp.Diagnostics.AddAttributeError(path.Root("recovery_source"), "Invalid Recovery Source",
				fmt.Sprintf("The planned recovery_source cannot be read back: %v. Plan again.", err))
			return
		}
		rreq.Source = src
	}
	admin := client.Store(bucket)
	store := r.readStore(ctx, &plan, cfg, bucket, admin, &resp.Diagnostics)
	if store == nil {
		return
	}
	// ... and the timeline it named (rreq keeps the configured value: it
	// identifies the kept recovery point released below).
	ereq := rreq
	if !plan.Timeline.IsUnknown() && !plan.Timeline.IsNull() {
		ereq.TargetTimeline = strconv.FormatInt(plan.Timeline.ValueInt64(), 10)
	}
	// Every restore is recorded, signed with the provider's key, under
	// object lock, with the provider's own credentials.
	ereq.Audit = restore.AuditOptions{Store: admin, Signer: r.data.signer, FrontEnd: restore.FrontEndProvider, Trust: r.data.trust()}
	rreq.Audit.Store = admin
	out, err := restore.Restore(ctx, store, ereq)
	if err != nil {
		if rreq.Kind == restore.KindCluster {
			resp.Diagnostics.Append(errorDiag("Error Restoring Cluster",
				fmt.Sprintf("restoring cluster %q to %s into %s (the directory is marked failed and no server is left running)",
					plan.Cluster.ValueString(), plan.PointInTime.ValueString(), plan.Target.DataDirectory.ValueString()), err))
		} else {
			resp.Diagnostics.Append(errorDiag("Error Restoring Tenant",
				fmt.Sprintf("restoring database %q to %s into new database %q (nothing half-restored is left)",
					plan.Target.SourceDatabase.ValueString(), plan.PointInTime.ValueString(), plan.Target.Database.ValueString()), err))
		}
		return
	}
	if out.AuditError != nil {
		resp.Diagnostics.AddWarning("Restore Audit Record Not Written",
			fmt.Sprintf("The restore succeeded, and its start was recorded, but its finished audit record was not written: %v. "+
				"`lifeboat restore audit` shows this restore as still running.", out.AuditError))
	}
	// Done: the next plan of this restore chooses the newest backup again.
	if err := restore.ReleaseKept(ctx, store, rreq); err != nil {
		tflog.Warn(ctx, "could not forget the kept recovery point", map[string]any{"error": err.Error()})
	}
	if err := restore.ReleaseKeptReview(ctx, store, rreq); err != nil {
		tflog.Warn(ctx, "could not forget the kept compatibility review", map[string]any{"error": err.Error()})
	}
	if plan.CompatibilityReview.IsUnknown() {
		plan.CompatibilityReview = types.ObjectNull(reviewType.AttrTypes)
	}
	plan.RecoverySource = types.StringValue(out.Source.String())
	if plan.Timeline.IsUnknown() {
		plan.Timeline = types.Int64Null()
		if out.Plan != nil {
			plan.Timeline = types.Int64Value(int64(out.Plan.Timeline))
		}
	}
	if plan.TargetLSN.IsUnknown() {
		plan.TargetLSN = types.StringNull()
		if out.Plan != nil {
			plan.TargetLSN = optionalString(out.Plan.TargetLSN)
		}
	}
	if plan.WALRange.IsUnknown() {
		plan.WALRange = types.StringNull()
		if out.Plan != nil {
			plan.WALRange = types.StringValue((&restore.RecoveryPlan{Kind: out.Kind, Source: out.Source, Cluster: out.Plan}).WALRange())
		}
	}
	plan.Superuser, plan.SuperuserPassword = types.StringNull(), types.StringNull()
	if out.SuperuserPassword != "" {
		plan.Superuser, plan.SuperuserPassword = types.StringValue(out.Superuser), types.StringValue(out.SuperuserPassword)
	}
	applyForensics(ctx, store, &plan, &resp.Diagnostics)
	plan.DataLossWindow = types.StringNull()
	if rreq.Point.IsZero() {
		plan.DataLossWindow = lossWindow(rreq.Target, out.Started, out.RestoredToTime)
	}
	plan.RestoredToTime = types.StringValue(out.RestoredToTime.UTC().Format(time.RFC3339Nano))
	plan.RestoredToLSN = optionalString(out.RestoredToLSN)
	plan.MissingAttachments = types.ListNull(types.StringType)
	if rreq.Kind == restore.KindCluster {
		plan.ID = types.StringValue(out.DataDir)
	} else {
		plan.ID = plan.Target.Database
		missing := []attr.Value{}
		if out.Attachments != nil {
			for _, m := range out.Attachments.Missing {
				missing = append(missing, types.StringValue(m))
			}
		}
		plan.MissingAttachments = types.ListValueMust(types.StringType, missing)
		if len(missing) > 0 {
			resp.Diagnostics.AddWarning("Attachments Do Not Resolve",
				fmt.Sprintf("%d attachment reference(s) of the restored database have no object as of the restore point (first: %s). See missing_attachments.",
					len(missing), out.Attachments.Missing[0]))
		}
	}
	results := map[string]attr.Value{}
	for _, c := range out.Checks {
		results[c.Name] = types.StringValue(c.String())
	}
	plan.CheckResults = types.MapValueMust(types.StringType, results)
	plan.DurationSeconds = types.Int64Value(int64(out.Duration.Round(time.Second) / time.Second))
	// The copy exists either way: keep it in state so destroy can remove
	// it; a failed check marks the resource tainted, to be replaced.
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	for _, c := range out.Checks {
		if !c.Passed {
			resp.Diagnostics.AddAttributeError(path.Root("check"), "Restore Check Failed", c.Failure()+".")
		}
	}
}

// Read implements resource.Resource: a copy removed out of band leaves state.
func (r *restoreResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state restoreModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() || state.Target == nil {
		return
	}
	// NOTE: the copy of a restore the agent made lives on its host, which
	// the machine running Terraform need not reach: it stays in state.
	switch kind := state.Kind.ValueString(); {
	case state.remote():
		// The agent's heartbeat lists the copies still on its host.
		if r.remoteCopyGone(ctx, &state, &resp.Diagnostics) {
			resp.State.RemoveResource(ctx)
			return
		}
	case kind == "cluster":
		dir := state.Target.DataDirectory.ValueString()
		if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
			resp.State.RemoveResource(ctx)
			return
		}
		if _, err := os.Stat(filepath.Join(dir, "LIFEBOAT_RESTORE_FAILED")); err == nil {
			resp.State.RemoveResource(ctx)
			return
		}
	case kind == "tenant":
		if state.Postgres == nil {
			return
		}
		exists, err := pg.DatabaseExists(ctx, state.Postgres.dsn(), state.Target.Database.ValueString())
		if err != nil {
			resp.Diagnostics.Append(errorDiag("Error Reading Restored Database", fmt.Sprintf("looking for database %q on %s", state.Target.Database.ValueString(), state.Postgres.describe()), err))
			return
		}
		if !exists {
			resp.State.RemoveResource(ctx)
			return
		}
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

// Update implements resource.Resource. Every argument forces replacement,
// so only computed values could change: there is nothing to do.
func (r *restoreResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state restoreModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	// The copy is the same: what it reached stays (a credentials change,
	// say, plans these unknown).
	plan.Superuser, plan.SuperuserPassword = state.Superuser, state.SuperuserPassword
	plan.ForensicSummary, plan.ForensicChanges = state.ForensicSummary, state.ForensicChanges
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// Delete implements resource.Resource: the copy goes, the source is never touched.
func (r *restoreResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state restoreModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() || state.Target == nil {
		return
	}
	timeout, diags := state.Timeouts.Delete(ctx, 10*time.Minute)
	resp.Diagnostics.Append(diags...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if state.remote() {
		r.deleteRemote(ctx, &state, resp)
		return
	}
	var client *objectstore.Client
	if a := state.Attachments; state.Kind.ValueString() == string(restore.KindTenant) && a != nil && !a.Bucket.IsNull() {
		var err error
		if client, err = r.data.Store(ctx); err != nil {
			resp.Diagnostics.Append(errorDiag("Error Configuring Object Store", "configuring the object store client", err))
			return
		}
	}
	if err := restore.Teardown(ctx, r.request(&state, client)); err != nil {
		if state.Kind.ValueString() == string(restore.KindCluster) {
			resp.Diagnostics.Append(errorDiag("Error Removing Restored Cluster", fmt.Sprintf("stopping and deleting %s", state.Target.DataDirectory.ValueString()), err))
		} else {
			resp.Diagnostics.Append(errorDiag("Error Dropping Restored Database", fmt.Sprintf("dropping %q and its attachment copies", state.Target.Database.ValueString()), err))
		}
	}
}

func (m *restoreModel) layout() repo.Layout {
	return repo.Layout{Prefix: m.Repository.Prefix.ValueString(), Cluster: m.Cluster.ValueString()}
}

// target is the recovery target time; zero for latest.
func (m *restoreModel) target() (time.Time, error) {
	v := m.PointInTime.ValueString()
	if v == "" || v == "latest" || v == "immediate" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339Nano, v)
}

func (m *restoreModel) anyUnknown() bool {
	vals := []attr.Value{m.Kind, m.PointInTime, m.LSN, m.XID, m.RestorePoint, m.Inclusive, m.BackupID, m.TargetTimeline, m.Cluster, m.Repository.Bucket, m.Repository.Prefix,
		m.Target.DataDirectory, m.Target.Port, m.Target.Database, m.Target.SourceDatabase}
	vals = append(vals, m.cleanRoomValues()...)
	if c := m.Credentials; c != nil {
		vals = append(vals, c.AccessKey, c.SecretKey, c.Profile)
	}
	for _, v := range vals {
		if v.IsUnknown() {
			return true
		}
	}
	return false
}

// definitionChanged reports whether an argument that defines the restore
// differs (then the plan replaces the resource).
func (m *restoreModel) definitionChanged(s *restoreModel) bool {
	if s.Repository == nil || s.Target == nil || m.Repository == nil || m.Target == nil {
		return true
	}
	pairs := [][2]attr.Value{
		{m.Kind, s.Kind}, {m.PointInTime, s.PointInTime}, {m.BackupID, s.BackupID}, {m.TargetTimeline, s.TargetTimeline},
		{m.LSN, s.LSN}, {m.XID, s.XID}, {m.RestorePoint, s.RestorePoint}, {m.Inclusive, s.Inclusive},
		{m.Cluster, s.Cluster}, {m.Repository.Bucket, s.Repository.Bucket}, {m.Repository.Prefix, s.Repository.Prefix},
		{m.Target.DataDirectory, s.Target.DataDirectory}, {m.Target.Port, s.Target.Port}, {m.Target.Database, s.Target.Database},
		{m.Target.SourceDatabase, s.Target.SourceDatabase}, {m.Agent, s.Agent}, {m.Executor, s.Executor},
	}
	for i, v := range m.cleanRoomValues() {
		pairs = append(pairs, [2]attr.Value{v, s.cleanRoomValues()[i]})
	}
	for _, p := range pairs {
		if !p[0].Equal(p[1]) {
			return true
		}
	}
	return false
}

// request is the engine's restore request for m. client (nil at plan and
// when there are no attachments) reaches the attachments bucket.
func (r *restoreResource) request(m *restoreModel, client *objectstore.Client) restore.Request {
	target, _ := m.target()
	req := restore.Request{
		Kind: restore.Kind(m.Kind.ValueString()), Layout: m.layout(), Target: target, BackupID: m.BackupID.ValueString(),
		TargetTimeline: m.TargetTimeline.ValueString(), Point: m.point(),
		BinDir: m.Target.BinDir.ValueString(), AgentPath: m.AgentPath.ValueString(), AgentConfig: r.agentConfig(m),
	}
	if req.Kind == restore.KindCluster {
		req.DataDir, req.Port = m.Target.DataDirectory.ValueString(), int(m.Target.Port.ValueInt64())
	} else {
		req.Database, req.NewDatabase = m.Target.SourceDatabase.ValueString(), m.Target.Database.ValueString()
		if m.Postgres != nil {
			req.TargetDSN = m.Postgres.dsn()
		}
		if a := m.Attachments; a != nil && !a.Bucket.IsNull() && client != nil {
			req.Attachments = &restore.AttachmentOptions{Store: client.Store(a.Bucket.ValueString()),
				SourcePrefix: a.SourcePrefix.ValueString(), TargetPrefix: a.TargetPrefix.ValueString()}
		}
	}
	m.applyCleanRoom(&req)
	for _, c := range m.Checks {
		req.Checks = append(req.Checks, restore.Check{Name: c.Name.ValueString(), Kind: restore.CheckSQL, SQL: c.SQL.ValueString(),
			Expected: c.Expected.ValueString()})
	}
	return req
}

// agentConfig is what restore_command's agent needs to read the repository
// (the recovery region's copy with source_region).
func (r *restoreResource) agentConfig(m *restoreModel) repo.AgentConfig {
	c := r.data.restoreAgentConfig(m.Repository.Bucket.ValueString(), m.Repository.Prefix.ValueString(), m.Cluster.ValueString())
	if m.SourceRegion.set() {
		c = m.SourceRegion.agentConfig(c)
	}
	return c
}

// source is the store and bucket the repository is read from: the
// provider's, or the recovery region's with source_region.
func (r *restoreResource) source(m *restoreModel) (objectstore.Config, string) {
	if m.SourceRegion.set() {
		return m.SourceRegion.config(), m.SourceRegion.Bucket.ValueString()
	}
	return r.data.storeConfig, m.Repository.Bucket.ValueString()
}

// point is the recovery target other than a time the model names.
func (m *restoreModel) point() restore.Point {
	return restore.Point{LSN: m.LSN.ValueString(), XID: m.XID.ValueString(), Name: m.RestorePoint.ValueString(),
		Immediate: m.PointInTime.ValueString() == "immediate", Exclusive: !m.Inclusive.IsNull() && !m.Inclusive.ValueBool()}
}

// pointInTimeValidator accepts "latest", "immediate" or an RFC 3339 time.
type pointInTimeValidator struct{}

func (pointInTimeValidator) Description(context.Context) string {
	return `must be "latest", "immediate" or an RFC 3339 time such as 2026-11-25T09:41:00Z`
}
func (v pointInTimeValidator) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}
func (pointInTimeValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() || req.ConfigValue.ValueString() == "latest" || req.ConfigValue.ValueString() == "immediate" {
		return
	}
	t, err := time.Parse(time.RFC3339Nano, req.ConfigValue.ValueString())
	if err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid Point In Time",
			fmt.Sprintf("point_in_time = %q is neither \"latest\", \"immediate\" nor an RFC 3339 time such as 2026-11-25T09:41:00Z (with a zone).", req.ConfigValue.ValueString()))
		return
	}
	if t.After(time.Now().Add(time.Minute)) {
		resp.Diagnostics.AddAttributeError(req.Path, "Point In Time In The Future",
			fmt.Sprintf("point_in_time = %q is in the future; use \"latest\" for the newest recoverable point.", req.ConfigValue.ValueString()))
	}
}

// lossWindow is, for a restore to latest, how far the recovered point
// lagged behind the start of the restore.
func lossWindow(target, started, restoredTo time.Time) types.String {
	if !target.IsZero() || restoredTo.IsZero() {
		return types.StringNull()
	}
	return types.StringValue(started.Sub(restoredTo).Truncate(time.Second).String())
}
