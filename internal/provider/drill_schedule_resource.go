package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/float64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/listplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/drill"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/posture"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/redisx"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/remote"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

var (
	_ resource.ResourceWithConfigure      = (*drillScheduleResource)(nil)
	_ resource.ResourceWithValidateConfig = (*drillScheduleResource)(nil)
	_ resource.ResourceWithImportState    = (*drillScheduleResource)(nil)
	_ resource.ResourceWithModifyPlan     = (*drillScheduleResource)(nil)
	_ resource.ResourceWithUpgradeState   = (*drillScheduleResource)(nil)
)

// NewDrillScheduleResource is the lifeboat_drill_schedule constructor.
func NewDrillScheduleResource() resource.Resource { return &drillScheduleResource{} }

// drillScheduleResource declares a scheduled restore test with checks and
// an RTO target; the agent runs it, and it can run once on apply.
type drillScheduleResource struct {
	data *providerData
}

type drillScheduleModel struct {
	ID                    types.String      `tfsdk:"id"`
	Name                  types.String      `tfsdk:"name"`
	Cluster               types.String      `tfsdk:"cluster"`
	Repository            *repositoryRef    `tfsdk:"repository"`
	Schedule              types.String      `tfsdk:"schedule"`
	Kind                  types.String      `tfsdk:"kind"`
	Database              types.String      `tfsdk:"database"`
	ScratchDir            types.String      `tfsdk:"scratch_dir"`
	Postgres              *postgresModel    `tfsdk:"postgres"`
	Attachments           *drillAttachModel `tfsdk:"attachments"`
	Redis                 *drillRedisModel  `tfsdk:"redis"`
	RecoveryRegion        types.String      `tfsdk:"recovery_region"`
	Target                *drillTargetModel `tfsdk:"target"`
	Checks                []drillCheckModel `tfsdk:"check"`
	RTOTarget             types.String      `tfsdk:"rto_target"`
	RunOnApply            types.Bool        `tfsdk:"run_on_apply"`
	EvidenceTrustedKeys   types.List        `tfsdk:"evidence_trusted_keys"`
	EvidenceRetentionDays types.Int64       `tfsdk:"evidence_retention_days"`
	AgentPath             types.String      `tfsdk:"agent_path"`
	// Agent is the host whose agent runs the drill of run_on_apply;
	// ClaimTimeout how long that drill's request may go unclaimed.
	Agent        types.String `tfsdk:"agent"`
	ClaimTimeout types.String `tfsdk:"claim_timeout"`

	LastDrillTime   types.String   `tfsdk:"last_drill_time"`
	LastDrillResult types.String   `tfsdk:"last_drill_result"`
	LastAchievedRTO types.Float64  `tfsdk:"last_achieved_rto_seconds"`
	LastEvidenceKey types.String   `tfsdk:"last_evidence_key"`
	LastFailures    types.List     `tfsdk:"last_failures"`
	SignedBy        types.String   `tfsdk:"signed_by"`
	Timeouts        timeouts.Value `tfsdk:"timeouts"`
}

type drillAttachModel struct {
	Bucket types.String `tfsdk:"bucket"`
	Prefix types.String `tfsdk:"prefix"`
}

// drillRedisModel is what a redis drill restores and checks.
type drillRedisModel struct {
	Instance types.String `tfsdk:"instance"`
	MinKeys  types.Int64  `tfsdk:"min_keys"`
	RPO      types.String `tfsdk:"rpo"`
}

type drillCheckModel struct {
	Name     types.String `tfsdk:"name"`
	Kind     types.String `tfsdk:"kind"`
	SQL      types.String `tfsdk:"sql"`
	Expected types.String `tfsdk:"expected"`
	Database types.String `tfsdk:"database"`
}

// Metadata implements resource.Resource.
func (r *drillScheduleResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_drill_schedule"
}

// Schema implements resource.Resource.
func (r *drillScheduleResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	keep := []planmodifier.String{stringplanmodifier.UseStateForUnknown()}
	resp.Schema = schema.Schema{
		// Version 1: `cluster` + `repository { bucket, prefix }` replaced version 0's `source` block (see UpgradeState).
		Version: 1,
		MarkdownDescription: "A restore drill on a schedule: the newest recovery point restored into an isolated scratch target " +
			"(a throw-away data directory and port, or a scratch database for a tenant), WAL replayed to the latest point, the " +
			"checks run, the achieved RTO measured from start to checks passed, the target torn down. Each drill's evidence " +
			"(what was restored, to which point, every check and its result, durations, agent version) is written under " +
			"COMPLIANCE object lock, so it can be neither altered nor deleted. `lifeboat agent` runs the schedule; " +
			"`run_on_apply` runs one drill during apply and fails the apply if it fails. Refresh reports the last drill and " +
			"warns when it failed, missed its RTO target, or is overdue. The bucket must have object lock (a `lifeboat_immutable_bucket`).",
		Attributes: map[string]schema.Attribute{
			"id":        schema.StringAttribute{MarkdownDescription: "`<cluster>/<name>`.", Computed: true, PlanModifiers: keep},
			"signed_by": signedByAttribute(),
			"name": schema.StringAttribute{
				MarkdownDescription: "Schedule name, unique per cluster. Changing it replaces the schedule.",
				Required:            true,
				PlanModifiers:       []planmodifier.String{stringplanmodifier.RequiresReplace()},
				Validators:          []validator.String{keyNameValidator{}},
			},
			"cluster": schema.StringAttribute{
				MarkdownDescription: "Name of the cluster inside the repository whose backups the drills restore. Changing it replaces the schedule.",
				Required:            true,
				PlanModifiers:       []planmodifier.String{stringplanmodifier.RequiresReplace()},
				Validators:          []validator.String{keyNameValidator{}},
			},
			"schedule": schema.StringAttribute{MarkdownDescription: "When drills run, in UTC (cron or `@weekly`).", Required: true, Validators: []validator.String{cronValidator{}}},
			"kind": schema.StringAttribute{
				MarkdownDescription: "`cluster` (PITR of the whole cluster into a scratch directory), `tenant` (one database into a scratch database) " +
					"or `redis` (a Redis instance's newest snapshot into a scratch `redis-server` on 127.0.0.1; needs the `redis` block), " +
					"or `region` (a regional activation: the `activation` groups of `recovery_region`, in order, each tenant restored into a " +
					"scratch database on the `postgres` server from the region's destination only, the checks run on each; the evidence " +
					"records each group's achieved RTO against its `rto`).",
				Required:   true,
				Validators: []validator.String{stringvalidator.OneOf("cluster", "tenant", drill.KindRedis, drill.KindRegion)},
			},
			"recovery_region": schema.StringAttribute{
				MarkdownDescription: "The recovery region a `region` drill activates (required for `kind = \"region\"`, refused otherwise): " +
					"a `lifeboat_recovery_region`'s `id`, or its destination bucket. The drill reads the region's document, the backups and the " +
					"WAL from the destination only, with the agent's credentials for it (its configuration's `stores` entry, or its own " +
					"repository when the agent runs in the region), and writes its evidence into the repository the agent serves.",
				Optional: true,
			},
			"database":    schema.StringAttribute{MarkdownDescription: "Tenant database (tenant drills).", Optional: true},
			"scratch_dir": schema.StringAttribute{MarkdownDescription: "Parent directory of cluster drills' throw-away data directories (default: the system temp dir).", Optional: true, Validators: []validator.String{absolutePathValidator{}}},
			"rto_target": schema.StringAttribute{
				MarkdownDescription: "Recovery time objective the drill must meet (a duration). A drill slower than this fails.",
				Optional:            true,
				Validators:          []validator.String{durationValidator{min: time.Second}},
			},
			"agent": schema.StringAttribute{
				MarkdownDescription: "Host whose Lifeboat agent runs the drill of `run_on_apply` (its bootstrap file's `host`, see `data.lifeboat_agents`): " +
					"the provider writes a signed request into the repository, the agent on that host claims it, runs the drill there " +
					"(scratch directory, PostgreSQL binaries and the tenant drill's server are the host's), and the apply reads its evidence. " +
					"Without it the machine running Terraform runs that drill itself. The scheduled drills always run on the agents.",
				Optional: true, Validators: []validator.String{keyNameValidator{}},
			},
			"claim_timeout": schema.StringAttribute{
				MarkdownDescription: "With `agent`: how long the drill request of `run_on_apply` may wait without a live agent claiming it (or after " +
					"its agent stopped renewing its claim) before the apply fails, naming the request and the live agents; the request is then " +
					"withdrawn, so no agent runs it later. Default `5m`.",
				Optional: true, Validators: []validator.String{durationValidator{min: time.Second}},
			},
			"run_on_apply": schema.BoolAttribute{
				MarkdownDescription: "Run one drill while applying a change to this schedule, and fail the apply if it fails; the plan then shows the `last_*` values unknown. Without it an apply keeps them as planned, and refresh shows drills the agent ran. Default `false`.",
				Optional:            true, Computed: true, Default: booldefault.StaticBool(false),
			},
			"evidence_trusted_keys": schema.ListAttribute{
				MarkdownDescription: "Public keys (`ed25519:<base64>`, as `lifeboat keygen` prints them) of the agents whose drill " +
					"evidence is trusted; the provider's own `signing_key` (drills run on apply) is always trusted. With any key " +
					"known, refresh warns when the last drill's evidence is unsigned, forged or signed by another key: a writer " +
					"of the bucket may have recorded a drill that never ran.",
				ElementType: types.StringType,
				Optional:    true,
				Validators:  []validator.List{listvalidator.ValueStringsAre(publicKeyValidator{})},
			},
			"evidence_retention_days": schema.Int64Attribute{
				MarkdownDescription: "Days each drill's evidence stays under COMPLIANCE object lock. Default 365.",
				Optional:            true, Computed: true, Default: int64default.StaticInt64(365),
				Validators: []validator.Int64{int64validator.Between(1, 36500)},
			},
			"agent_path": schema.StringAttribute{
				MarkdownDescription: "The `lifeboat` binary used as `restore_command` by drills run on apply. Default `/usr/local/bin/lifeboat`.",
				Optional:            true, Computed: true, Default: stringdefault.StaticString("/usr/local/bin/lifeboat"),
				Validators: []validator.String{absolutePathValidator{}},
			},
			"last_drill_time":   schema.StringAttribute{MarkdownDescription: "When the last drill finished (RFC 3339). Never causes a diff.", Computed: true, PlanModifiers: keep},
			"last_drill_result": schema.StringAttribute{MarkdownDescription: "`passed` or `failed`.", Computed: true, PlanModifiers: keep},
			"last_achieved_rto_seconds": schema.Float64Attribute{
				MarkdownDescription: "Achieved RTO of the last drill: seconds from start to checks passed.", Computed: true,
				PlanModifiers: []planmodifier.Float64{float64planmodifier.UseStateForUnknown()},
			},
			"last_evidence_key": schema.StringAttribute{MarkdownDescription: "Object key of the last drill's locked evidence.", Computed: true, PlanModifiers: keep},
			"last_failures": schema.ListAttribute{
				MarkdownDescription: "What failed in the last drill: each failing check with the value it observed.",
				ElementType:         types.StringType, Computed: true,
				PlanModifiers: []planmodifier.List{listplanmodifier.UseStateForUnknown()},
			},
		},
		Blocks: map[string]schema.Block{
			"repository": replacingRepositoryBlock(),
			"postgres":   postgresBlock("that receives a tenant drill's scratch database (tenant drills)"),
			"attachments": schema.SingleNestedBlock{
				MarkdownDescription: "Where a tenant's attachment objects live, for `attachments` checks.",
				Attributes: map[string]schema.Attribute{
					"bucket": schema.StringAttribute{MarkdownDescription: "Attachments bucket (versioned).", Optional: true},
					"prefix": schema.StringAttribute{MarkdownDescription: "Prefix of the tenant's objects; keys are prefix + store_fname.", Optional: true,
						Validators: []validator.String{keyPrefixValidator{trailingSlash: true, empty: true}}},
				},
			},
			"redis": schema.SingleNestedBlock{
				MarkdownDescription: "What a `redis` drill restores and checks (required for `kind = \"redis\"`, refused otherwise): the instance's newest " +
					"snapshot is loaded into a scratch `redis-server` (a throw-away directory under `scratch_dir` and a free port on 127.0.0.1), " +
					"its key count must reach `min_keys` and the snapshot's age must be within `rpo`; the instance is then torn down. " +
					"With `run_on_apply`, a newest snapshot encrypted to age recipients that the drill's runner cannot open fails the plan naming " +
					"their fingerprints: the provider's `identity_file` when the drill runs where Terraform runs, the identities the live agent on " +
					"`agent` lists in its heartbeat otherwise.",
				Attributes: map[string]schema.Attribute{
					"instance": schema.StringAttribute{MarkdownDescription: "The Redis instance's name in the repository (its `lifeboat_redis_persistence` snapshot schedule's `instance`). Required.",
						Optional: true, Validators: []validator.String{keyNameValidator{}}},
					"min_keys": schema.Int64Attribute{MarkdownDescription: "Fewest keys the restored snapshot must hold. Default 0 (the check then only proves the snapshot loads).",
						Optional: true, Validators: []validator.Int64{int64validator.AtLeast(0)}},
					"rpo": schema.StringAttribute{MarkdownDescription: "Oldest the restored snapshot may be at the drill's start (a duration such as `1h`). " +
						"Default: the longest gap of the instance's signed snapshot schedule.",
						Optional: true, Validators: []validator.String{durationValidator{min: time.Second}}},
				},
			},
			"check": schema.ListNestedBlock{
				MarkdownDescription: "What must hold on the restored copy. `kind`: `sql` (the query's value equals `expected`), `row_count_floor` (the query's number is at least `expected`), `attachments` (every `ir_attachment.store_fname` resolves; tenant drills), `rpo` (the restored point is at most `expected`, a duration, older than the drill's start).",
				NestedObject: schema.NestedBlockObject{Attributes: map[string]schema.Attribute{
					"name": schema.StringAttribute{MarkdownDescription: "Check name.", Required: true},
					"kind": schema.StringAttribute{MarkdownDescription: "`sql` (default), `row_count_floor`, `attachments` or `rpo`.", Optional: true,
						Validators: []validator.String{stringvalidator.OneOf(drill.CheckSQL, drill.CheckRowCountFloor, drill.CheckAttachments, drill.CheckRPO)}},
					"sql":      schema.StringAttribute{MarkdownDescription: "Query returning one value (`sql`, `row_count_floor`).", Optional: true},
					"expected": schema.StringAttribute{MarkdownDescription: "Expected value, floor, or duration.", Optional: true},
					"database": schema.StringAttribute{MarkdownDescription: "Database to query in a cluster drill (default `postgres`).", Optional: true},
				}},
			},
			"target":   drillTargetBlock(),
			"timeouts": timeouts.Block(ctx, timeouts.Opts{Create: true, Update: true}),
		},
	}
}

// drillScheduleType is the schema's object type, which getModel and
// putModel convert the model with in the methods a plan calls once per
// schedule (ValidateConfig, Read, ModifyPlan).
var drillScheduleType = sync.OnceValue(func() attr.Type {
	var resp resource.SchemaResponse
	(&drillScheduleResource{}).Schema(context.Background(), resource.SchemaRequest{}, &resp)
	return resp.Schema.Type()
})

// UpgradeState implements resource.ResourceWithUpgradeState: version 0's
// `source` block becomes `cluster` + `repository`.
func (r *drillScheduleResource) UpgradeState(context.Context) map[int64]resource.StateUpgrader {
	return sourceBlockUpgraders()
}

// Configure implements resource.ResourceWithConfigure.
func (r *drillScheduleResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

// ValidateConfig implements resource.ResourceWithValidateConfig.
func (r *drillScheduleResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	// A dynamic block whose for_each is not known yet (a module's input
	// while Terraform validates the module) is an unknown block: the model
	// cannot hold it, and it is validated at plan, once known.
	for _, name := range []string{"check", "attachments", "redis", "postgres", "repository"} {
		var v attr.Value
		if d := req.Config.GetAttribute(ctx, path.Root(name), &v); !d.HasError() && v != nil && v.IsUnknown() {
			return
		}
	}
	var m drillScheduleModel
	resp.Diagnostics.Append(getModel(ctx, drillScheduleType(), req.Config.Raw, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if m.Repository == nil || (m.Repository.Bucket.IsNull() && !m.Repository.Bucket.IsUnknown()) {
		resp.Diagnostics.AddAttributeError(path.Root("repository").AtName("bucket"), "Missing Repository Bucket",
			"repository.bucket is required: the repository the drills restore from and keep their evidence in (a bucket with object lock).")
	}
	validateRedisDrill(&m, &resp.Diagnostics)
	validateRegionDrill(&m, &resp.Diagnostics)
	validateDrillTarget(&m, &resp.Diagnostics)
	if m.Kind.ValueString() == "tenant" {
		if m.Database.IsNull() {
			resp.Diagnostics.AddAttributeError(path.Root("database"), "Missing Tenant Database", "A tenant drill needs database.")
		}
		if m.Postgres == nil {
			resp.Diagnostics.AddAttributeError(path.Root("postgres"), "Missing PostgreSQL Connection", "A tenant drill needs the postgres block of the server that receives its scratch database.")
		} else {
			m.Postgres.validate(path.Root("postgres"), &resp.Diagnostics)
		}
	}
	for i, c := range m.Checks {
		kind := c.Kind.ValueString()
		if !c.SQL.IsNull() && !c.SQL.IsUnknown() && strings.TrimSpace(c.SQL.ValueString()) == "" {
			p := path.Root("check").AtListIndex(i).AtName("sql")
			resp.Diagnostics.AddAttributeError(p, "Empty Check SQL",
				fmt.Sprintf("%s (check %q) is empty: write the query whose single value the check compares, e.g. \"SELECT count(*) FROM orders\".", p, c.Name.ValueString()))
			continue
		}
		switch {
		case (kind == "" || kind == drill.CheckSQL || kind == drill.CheckRowCountFloor) && (c.SQL.IsNull() || c.Expected.IsNull()):
			resp.Diagnostics.AddAttributeError(path.Root("check"), "Incomplete Check", fmt.Sprintf("check %q needs sql and expected.", c.Name.ValueString()))
		case kind == drill.CheckRPO:
			if _, err := time.ParseDuration(c.Expected.ValueString()); err != nil && !c.Expected.IsUnknown() {
				resp.Diagnostics.AddAttributeError(path.Root("check"), "Invalid RPO Check", fmt.Sprintf("check %q: expected must be a duration such as \"15m\".", c.Name.ValueString()))
			}
		case kind == drill.CheckAttachments && (m.Kind.ValueString() != "tenant" || m.Attachments == nil):
			resp.Diagnostics.AddAttributeError(path.Root("check"), "Attachment Check Needs A Tenant Drill",
				fmt.Sprintf("check %q: attachment integrity is checked on tenant drills with an attachments block.", c.Name.ValueString()))
		}
	}
}

// validateRegionDrill requires recovery_region and the postgres block of a
// region drill (its tenants land in scratch databases there), refuses
// recovery_region on any other kind, and a region drill run on apply by
// the machine running Terraform, which holds no credentials for the
// region's destination.
func validateRegionDrill(m *drillScheduleModel, diags *diag.Diagnostics) {
	if m.Kind.IsUnknown() {
		return
	}
	if m.Kind.ValueString() != drill.KindRegion {
		if !m.RecoveryRegion.IsNull() {
			diags.AddAttributeError(path.Root("recovery_region"), "Recovery Region On Another Drill Kind",
				fmt.Sprintf("recovery_region is for kind = \"region\" drills; this drill's kind is %q. Remove it, or set kind = \"region\".", m.Kind.ValueString()))
		}
		return
	}
	if m.RecoveryRegion.IsNull() {
		diags.AddAttributeError(path.Root("recovery_region"), "Missing Recovery Region",
			"A region drill needs recovery_region: the id of the lifeboat_recovery_region whose activation it drills.")
	}
	if m.Postgres == nil {
		diags.AddAttributeError(path.Root("postgres"), "Missing PostgreSQL Connection",
			"A region drill restores each tenant of the activation into a scratch database: add the postgres block of the server that receives them.")
	}
	if m.RunOnApply.ValueBool() && m.Agent.IsNull() {
		diags.AddAttributeError(path.Root("run_on_apply"), "Region Drill Runs On An Agent",
			"A region drill reads the region's destination with an agent's credentials for it: set agent to the host whose agent runs it, or run_on_apply = false.")
	}
}

// regionName is the recovery region a reference names: a
// lifeboat_recovery_region's id ("<source bucket>/<prefix> <destination>")
// or its destination bucket.
func regionName(ref string) string {
	if i := strings.LastIndex(ref, " "); i >= 0 {
		return ref[i+1:]
	}
	return ref
}

// validateRedisDrill refuses a redis drill without its redis block or with
// what only a PostgreSQL drill uses, and a redis block on any other kind.
func validateRedisDrill(m *drillScheduleModel, diags *diag.Diagnostics) {
	if m.Kind.IsUnknown() {
		return
	}
	if m.Kind.ValueString() != drill.KindRedis {
		if m.Redis != nil {
			diags.AddAttributeError(path.Root("redis"), "Redis Block On A PostgreSQL Drill",
				fmt.Sprintf("The redis block is for kind = \"redis\" drills; this drill's kind is %q. Remove the block, or set kind = \"redis\".", m.Kind.ValueString()))
		}
		return
	}
	if m.Redis == nil {
		diags.AddAttributeError(path.Root("redis"), "Missing Redis Block",
			"A redis drill needs a redis block naming the instance whose snapshot it restores: redis { instance = \"sessions\" }.")
	} else if m.Redis.Instance.IsNull() {
		diags.AddAttributeError(path.Root("redis").AtName("instance"), "Missing Redis Instance",
			"redis.instance is required: the Redis instance's name in the repository, as its snapshot schedule declares it.")
	}
	pgOnly := func(name string, set bool) {
		if set {
			diags.AddAttributeError(path.Root(name), "PostgreSQL Attribute On A Redis Drill",
				fmt.Sprintf("%s is for cluster and tenant drills; a redis drill checks its key count and age with the redis block (min_keys, rpo). Remove %s.", name, name))
		}
	}
	pgOnly("database", !m.Database.IsNull())
	pgOnly("postgres", m.Postgres != nil)
	pgOnly("attachments", m.Attachments != nil)
	pgOnly("check", len(m.Checks) > 0)
}

// ModifyPlan implements resource.ResourceWithModifyPlan. The schedule
// document is planned as signed by the provider's key. An update with
// run_on_apply runs a drill, so the last drill's values are unknown until
// it has run; any other update keeps them as the state has them (a drill
// the agent runs meanwhile shows at the next refresh). On create they are
// unknown anyway.
func (r *drillScheduleResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	resp.Diagnostics.Append(planSignedBy(ctx, r.data, req, resp)...)
	if !req.Plan.Raw.IsNull() && !resp.Diagnostics.HasError() {
		// NOTE: decoded once for both checks: the reflection is a good part
		// of a plan's CPU with hundreds of schedules.
		var m drillScheduleModel
		resp.Diagnostics.Append(getModel(ctx, drillScheduleType(), req.Plan.Raw, &m)...)
		if !resp.Diagnostics.HasError() {
			r.checkRedisDrillIdentity(ctx, &m, &resp.Diagnostics)
			r.planDrillTarget(ctx, &m, &resp.Diagnostics)
		}
	}
	// NOTE: compared after signed_by is planned: a document re-signed
	// because it was rewritten outside Terraform is an update too.
	if resp.Diagnostics.HasError() || req.Plan.Raw.IsNull() || req.State.Raw.IsNull() || resp.Plan.Raw.Equal(req.State.Raw) {
		return // destroy, create, or nothing to apply
	}
	var run types.Bool
	resp.Diagnostics.Append(resp.Plan.GetAttribute(ctx, path.Root("run_on_apply"), &run)...)
	if resp.Diagnostics.HasError() || (!run.IsUnknown() && !run.ValueBool()) {
		return
	}
	unknown := map[string]attr.Value{
		"last_drill_time": types.StringUnknown(), "last_drill_result": types.StringUnknown(),
		"last_achieved_rto_seconds": types.Float64Unknown(), "last_evidence_key": types.StringUnknown(),
		"last_failures": types.ListUnknown(types.StringType),
	}
	for name, v := range unknown {
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root(name), v)...)
	}
}

// checkRedisDrillIdentity fails the plan of a redis drill run on apply
// whose newest snapshot is encrypted to recipients no identity of the
// drill's runner opens, naming their fingerprints, as a restore's plan
// does: the provider's identities when the drill runs here, the named
// agent's (its heartbeat lists their fingerprints) when it runs there. An
// agent not live now is not judged: the request waits for it (claim_timeout).
func (r *drillScheduleResource) checkRedisDrillIdentity(ctx context.Context, m *drillScheduleModel, diags *diag.Diagnostics) {
	if r.data == nil {
		return
	}
	if m.Kind.ValueString() != drill.KindRedis || m.Redis == nil || !m.RunOnApply.ValueBool() || m.Repository == nil ||
		m.Redis.Instance.IsUnknown() || m.Repository.Bucket.IsUnknown() || m.Repository.Prefix.IsUnknown() || m.Cluster.IsUnknown() || m.Agent.IsUnknown() {
		return
	}
	client := r.data.storeClient(ctx, diags)
	if client == nil {
		return
	}
	store, l, instance := client.Store(m.Repository.Bucket.ValueString()), m.layout(), m.Redis.Instance.ValueString()
	sm, err := redisx.FindSnapshot(ctx, store, l, instance, redisx.Latest)
	if err != nil || sm.Encryption == nil {
		return // no snapshot yet (the drill fails saying so), or one in the clear
	}
	what := "redis snapshot " + sm.ID + " of " + instance
	var ids *crypt.Keyring
	runner := "Set the provider's identity_file (or LIFEBOAT_AGE_IDENTITY_FILE) to the identity of one of those recipients: the drill runs where Terraform runs."
	if !m.Agent.IsNull() {
		live, err := remote.LiveAgents(ctx, store, l, time.Now())
		if err != nil {
			return
		}
		var held []string
		found := false
		for _, h := range live {
			if h.Host == m.Agent.ValueString() {
				found = true
				held = append(held, h.Identities...)
			}
		}
		if !found {
			return
		}
		ids = crypt.Fingerprinted(held, "the agent on "+m.Agent.ValueString())
		runner = fmt.Sprintf("Give the agent on %q the identity of one of those recipients (identity_file of its bootstrap file), and restart it.", m.Agent.ValueString())
	} else if ids, err = crypt.LoadIdentities(r.data.identityFile); err != nil {
		diags.Append(errorDiag("Error Loading Age Identities", "loading the identities that decrypt encrypted snapshots", err))
		return
	}
	if err := ids.Check(what, sm.Encryption); err != nil {
		diags.AddAttributeError(path.Root("redis").AtName("instance"), "Redis Snapshot Cannot Be Decrypted", fmt.Sprintf("%v. %s", err, runner))
	}
}

// Create implements resource.Resource.
func (r *drillScheduleResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	r.apply(ctx, req.Plan, nil, &resp.State, &resp.Diagnostics, func(t timeouts.Value) (time.Duration, diag.Diagnostics) {
		return t.Create(ctx, 60*time.Minute)
	})
}

// Update implements resource.Resource.
func (r *drillScheduleResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	r.apply(ctx, req.Plan, &req.State, &resp.State, &resp.Diagnostics, func(t timeouts.Value) (time.Duration, diag.Diagnostics) {
		return t.Update(ctx, 60*time.Minute)
	})
}

// apply writes the schedule for the agent and, with run_on_apply, runs one
// drill, failing the apply when it fails. Creating and updating do the
// same: the schedule document is rewritten whole.
func (r *drillScheduleResource) apply(ctx context.Context, planned tfsdk.Plan, prior *tfsdk.State, state *tfsdk.State, diags *diag.Diagnostics,
	timeout timeoutFunc) {
	var plan drillScheduleModel
	diags.Append(planned.Get(ctx, &plan)...)
	if diags.HasError() {
		return
	}
	ctx, cancel := withTimeout(ctx, plan.Timeouts, timeout, diags)
	defer cancel()
	m := &plan
	client := r.data.storeClient(ctx, diags)
	if client == nil {
		return
	}
	bucket := m.Repository.Bucket.ValueString()
	if !requireBucket(ctx, client, bucket, path.Root("repository").AtName("bucket"), diags) {
		return
	}
	store := client.Store(bucket)
	layout := m.layout()
	if err := drill.WriteSchedule(ctx, store, layout, m.doc(), r.data.signer); err != nil {
		diags.Append(errorDiag("Error Writing Drill Schedule", fmt.Sprintf("writing s3://%s/%s", bucket, layout.DrillScheduleKey(m.Name.ValueString())), err))
		return
	}
	m.ID = types.StringValue(m.Cluster.ValueString() + "/" + m.Name.ValueString())
	m.SignedBy = types.StringValue(r.data.signerID())
	var failure string
	if m.RunOnApply.ValueBool() && !m.Agent.IsNull() {
		ev := r.drillOnAgent(ctx, m, store, diags)
		if ev == nil {
			if prior == nil {
				// A create that failed is not in state: take back the schedule
				// it wrote, so the failed apply leaves nothing for the agents
				// to run.
				if err := drill.DeleteSchedule(context.WithoutCancel(ctx), store, layout, m.Name.ValueString()); err != nil {
					tflog.Warn(ctx, "could not remove the schedule of the failed create", map[string]any{"error": err.Error()})
				}
			}
			return
		}
		if !ev.Passed {
			failure = describeFailure(ev)
		}
	} else if m.RunOnApply.ValueBool() {
		tflog.Info(ctx, "running a drill on apply", map[string]any{"schedule": m.Name.ValueString(), "kind": m.Kind.ValueString()})
		agentCfg := r.data.restoreAgentConfig(bucket, m.Repository.Prefix.ValueString(), m.Cluster.ValueString())
		targetDSN := ""
		if m.Postgres != nil {
			targetDSN = m.Postgres.dsn()
		}
		spec := m.doc().Spec(func(b string) objectstore.Store { return client.Store(b) }, layout, agentCfg, m.AgentPath.ValueString(), targetDSN)
		spec.Signer, spec.Trust = r.data.signer, r.data.trust()
		ev, err := drill.Run(ctx, store, spec)
		if err != nil {
			diags.Append(errorDiag("Error Recording Drill Evidence", fmt.Sprintf("writing the evidence of drill %q (is object lock enabled on %q?)", m.Name.ValueString(), bucket), err))
			return
		}
		if !ev.Passed {
			failure = describeFailure(ev)
		}
	}
	if m.LastDrillTime.IsUnknown() {
		// Planned unknown: a drill ran, or this is a create. Otherwise the
		// plan kept the last drill's values, and so does the apply. The
		// findings on them show at the next refresh (a failed drill run
		// here is already this apply's error).
		doc := m.doc()
		r.observe(ctx, store, m, &doc, nil, r.evidenceTrust(ctx, m))
	}
	diags.Append(state.Set(ctx, m)...)
	if failure != "" {
		diags.AddAttributeError(path.Root("run_on_apply"), "Drill Failed", failure)
	}
}

// drillOnAgent asks the agent on m.Agent to run one drill of the schedule
// now and returns its evidence (nil after a diagnostic).
func (r *drillScheduleResource) drillOnAgent(ctx context.Context, m *drillScheduleModel, store objectstore.Store, diags *diag.Diagnostics) *drill.Evidence {
	layout := m.layout()
	req, reused, err := remote.Submit(ctx, store, layout, remote.Request{Kind: remote.KindDrill, Agent: m.Agent.ValueString(), Drill: m.Name.ValueString()}, r.data.signer)
	if err != nil {
		diags.Append(errorDiag("Error Requesting Drill", fmt.Sprintf("writing the drill request for the agent into s3://%s/%s", store.Bucket(), layout.RequestsDir()), err))
		return nil
	}
	key := layout.RequestKey(req.ID)
	tflog.Info(ctx, "drill requested from the agent", map[string]any{"request": key, "agent": req.Agent, "reused": reused})
	claimTimeout, _ := time.ParseDuration(m.ClaimTimeout.ValueString()) // validated; null is the default
	res, err := remote.Wait(ctx, store, layout, req, remote.WaitOptions{ClaimTimeout: claimTimeout, OnProgress: func(p remote.Progress) {
		tflog.Info(ctx, "agent progress", map[string]any{"request": key, "host": p.Host, "holder": p.Holder, "phase": p.Phase, "detail": p.Detail})
	}})
	if err != nil {
		var nc *remote.NotClaimedError
		if errors.As(err, &nc) {
			diags.AddAttributeError(path.Root("agent"), "Drill Not Claimed By An Agent",
				fmt.Sprintf("%v.\n\nStart `lifeboat agent` on host %q (data.lifeboat_agents lists the live agents).", err, req.Agent))
			return nil
		}
		diags.Append(errorDiag("Error Running Drill On The Agent", fmt.Sprintf("waiting for request %s", key), err))
		return nil
	}
	// NOTE: read the run this request made, not the newest: the agent's own
	// schedule may have run the drill in the meantime.
	ev, err := drill.Read(ctx, store, layout, m.Name.ValueString(), res.Evidence)
	if err != nil {
		diags.Append(errorDiag("Error Reading Drill Evidence", fmt.Sprintf("reading the evidence %s the agent recorded for request %s", res.Evidence, key), err))
		return nil
	}
	if err := remote.Ack(ctx, store, layout, req.ID); err != nil {
		tflog.Warn(ctx, "could not acknowledge the request", map[string]any{"request": key, "error": err.Error()})
	}
	return ev
}

func describeFailure(ev *drill.Evidence) string {
	var parts []string
	if ev.Error != "" {
		parts = append(parts, "the restore failed: "+ev.Error)
	}
	for _, f := range ev.FailedChecks() {
		parts = append(parts, "check "+f)
	}
	if !ev.RTOMet {
		parts = append(parts, fmt.Sprintf("RTO missed: %.0fs achieved, target %.0fs", ev.RTOSeconds, ev.RTOTargetSeconds))
	}
	return fmt.Sprintf("Drill %s of %q did not pass (evidence %s):\n- %s", ev.ID, ev.Schedule, ev.Key, strings.Join(parts, "\n- "))
}

// Read implements resource.Resource.
func (r *drillScheduleResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	raw, found := r.readState(ctx, req.State.Raw, &resp.Diagnostics)
	switch {
	case resp.Diagnostics.HasError():
	case !found:
		resp.State.RemoveResource(ctx)
	default:
		resp.State.Raw = raw
	}
}

// readState is Read on the state's value: the refreshed value, or found
// false when the schedule is gone. The provider's protocol server calls it
// directly for a plan's refreshes (see NewServer).
func (r *drillScheduleResource) readState(ctx context.Context, current tftypes.Value, diags *diag.Diagnostics) (tftypes.Value, bool) {
	var state drillScheduleModel
	diags.Append(getModel(ctx, drillScheduleType(), current, &state)...)
	if diags.HasError() {
		return current, true
	}
	client := r.data.storeClient(ctx, diags)
	if client == nil {
		return current, true
	}
	store := client.Store(state.Repository.Bucket.ValueString())
	trust := r.evidenceTrust(ctx, &state)
	// The agent's index of the cluster's drills answers for this schedule
	// and its newest evidence when it agrees with the state: one request
	// for every schedule of the repository instead of two or three each.
	doc, entry := r.data.indexedDrill(ctx, store, &state, trust)
	var latest func() (*drill.Evidence, error)
	signedBy := state.SignedBy.ValueString()
	if entry != nil {
		latest = entry.Latest
	} else {
		var err error
		doc, signedBy, err = findDrillSchedule(ctx, store, state.layout(), state.Name.ValueString(), r.data.trust())
		if isNotFound(err) {
			return current, false
		}
		if err != nil {
			diags.Append(errorDiag("Error Reading Drill Schedule", "reading the schedule document", err))
			return current, true
		}
	}
	state.SignedBy = types.StringValue(signedBy)
	state.Schedule = types.StringValue(doc.Schedule)
	if state.Kind.IsNull() { // just imported
		state.adopt(doc)
	} else if state.Kind.ValueString() == drill.KindRedis || doc.Kind == drill.KindRedis {
		// What the agent drills is the document's: a kind or redis target
		// changed outside Terraform shows as an update.
		state.Kind = types.StringValue(doc.Kind)
		state.adoptRedis(doc)
	}
	obs := r.observe(ctx, store, &state, doc, latest, trust)
	warnDrill(diags, state.layout(), obs, trust)
	raw, d := putModel(ctx, drillScheduleType(), &state)
	diags.Append(d...)
	if d.HasError() {
		return current, true
	}
	return raw, true
}

// evidenceTrust is whose evidence signatures are trusted: the declared
// agents' keys and the provider's own.
func (r *drillScheduleResource) evidenceTrust(ctx context.Context, m *drillScheduleModel) signature.Trust {
	var keys []string
	if !m.EvidenceTrustedKeys.IsNull() && !m.EvidenceTrustedKeys.IsUnknown() {
		_ = m.EvidenceTrustedKeys.ElementsAs(ctx, &keys, false)
	}
	keys = append(keys, r.data.trustedKeys()...)
	t, _ := signature.NewTrust(keys...) // validated at plan
	return t
}

// observe fills the last drill's values from its evidence, and returns
// what the posture engine judges: the schedule, its newest evidence (the
// original, locked version) and who signed it, judged by trust (the
// schedule's evidenceTrust). latest reads that evidence (the drill index's
// entry); nil reads it from the store.
func (r *drillScheduleResource) observe(ctx context.Context, store objectstore.Store, m *drillScheduleModel, doc *drill.ScheduleDoc,
	latest func() (*drill.Evidence, error), trust signature.Trust) posture.DrillObservation {
	m.LastDrillTime, m.LastDrillResult, m.LastEvidenceKey = types.StringNull(), types.StringNull(), types.StringNull()
	m.LastAchievedRTO = types.Float64Null()
	m.LastFailures = types.ListValueMust(types.StringType, []attr.Value{})
	obs := posture.DrillObservation{Schedule: *doc}
	if latest == nil {
		latest = func() (*drill.Evidence, error) { return drill.Latest(ctx, store, m.layout(), m.Name.ValueString()) }
	}
	ev, err := latest()
	if errors.Is(err, objectstore.ErrNotFound) {
		return obs
	}
	if err != nil {
		obs.Err = err
		return obs
	}
	obs.Latest = ev
	if trust.Required() {
		obs.EvidenceSigner, _ = ev.SignedBy(trust)
	}
	m.LastDrillTime = types.StringValue(ev.Finished.UTC().Format(time.RFC3339))
	m.LastDrillResult = types.StringValue(map[bool]string{true: "passed", false: "failed"}[ev.Passed])
	m.LastAchievedRTO = types.Float64Value(float64(int64(ev.RTOSeconds*10)) / 10)
	m.LastEvidenceKey = types.StringValue(ev.Key)
	var fails []attr.Value
	for _, f := range ev.FailedChecks() {
		fails = append(fails, types.StringValue(f))
	}
	if ev.Error != "" {
		fails = append(fails, types.StringValue("restore: "+ev.Error))
	}
	m.LastFailures = types.ListValueMust(types.StringType, append([]attr.Value{}, fails...))
	return obs
}

// warnDrill shows the posture engine's findings on one schedule's drills:
// posture declared but not holding (the last drill failed or missed its
// RTO, a slot passed without a drill, evidence unsigned or written over).
// A schedule that never ran owes nothing but its slots: the "last drill"
// controls judge it only once there is evidence to judge.
func warnDrill(diags *diag.Diagnostics, l repo.Layout, d posture.DrillObservation, trust signature.Trust) {
	c := posture.ClusterObservation{Cluster: l.Cluster, Layout: l, Drills: []posture.DrillObservation{d}}
	ids := []string{posture.ControlDrillOnSchedule}
	if d.Latest != nil || d.Err != nil {
		ids = append(ids, posture.ControlDrill, posture.ControlRTO, posture.ControlDrillEvidence)
	}
	warnFindings(diags, &posture.Observation{Clusters: []posture.ClusterObservation{c}}, posture.Params{Trust: trust}, ids...)
}

// Delete implements resource.Resource: the schedule stops; evidence stays
// under its lock.
func (r *drillScheduleResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state drillScheduleModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	client := r.data.storeClient(ctx, &resp.Diagnostics)
	if client == nil {
		return
	}
	err := asNotFound("drill schedule", drill.DeleteSchedule(ctx, client.Store(state.Repository.Bucket.ValueString()), state.layout(), state.Name.ValueString()))
	if err != nil && !isNotFound(err) { // gone already is what destroy wants
		resp.Diagnostics.Append(errorDiag("Error Deleting Drill Schedule", "deleting the schedule document", err))
	}
}

// ImportState implements resource.ResourceWithImportState. The ID is the
// repository path and the schedule name:
// "<bucket>/[<prefix>/]<cluster>/<name>".
func (r *drillScheduleResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	rest, name, _ := cutLast(req.ID, "/")
	ref, cluster, ok := parseRepositoryPath(rest)
	if !ok || name == "" {
		resp.Diagnostics.AddError("Invalid Import ID",
			fmt.Sprintf("Expected \"<bucket>/[<prefix>/]<cluster>/<name>\" (e.g. acme-wal/pg/odoo-main/nightly), got %q.", req.ID))
		return
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), cluster+"/"+name)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("name"), name)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("cluster"), cluster)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("repository"), ref)...)
}

// adopt fills an imported state from the schedule's document, which the
// agent runs drills from. run_on_apply and agent_path only matter to
// Terraform and take their defaults; so does the postgres block, which the
// document does not hold (a tenant drill's configuration supplies it).
func (m *drillScheduleModel) adopt(d *drill.ScheduleDoc) {
	m.Kind = types.StringValue(d.Kind)
	m.Database = optionalString(d.Database)
	m.ScratchDir = optionalString(d.ScratchDir)
	m.RTOTarget = types.StringNull()
	if d.RTOTargetSeconds > 0 {
		m.RTOTarget = types.StringValue(shortDuration(time.Duration(d.RTOTargetSeconds * float64(time.Second))))
	}
	m.EvidenceRetentionDays = types.Int64Value(int64(d.EvidenceDays))
	m.RunOnApply = types.BoolValue(false)
	m.AgentPath = types.StringValue("/usr/local/bin/lifeboat")
	m.Attachments = nil
	if d.AttachmentsBucket != "" || d.AttachmentsPrefix != "" {
		m.Attachments = &drillAttachModel{Bucket: optionalString(d.AttachmentsBucket), Prefix: optionalString(d.AttachmentsPrefix)}
	}
	m.adoptRedis(d)
	m.RecoveryRegion = optionalString(d.Region)
	m.Target = drillTargetFrom(d.Target)
	m.Checks = nil
	for _, c := range d.Checks {
		kind := optionalString(c.Kind)
		if c.Kind == drill.CheckSQL {
			kind = types.StringNull() // the default, as configurations write it
		}
		m.Checks = append(m.Checks, drillCheckModel{Name: types.StringValue(c.Name), Kind: kind,
			SQL: optionalString(c.SQL), Expected: optionalString(c.Expected), Database: optionalString(c.Database)})
	}
}

// adoptRedis sets the redis block from the document, keeping the state's
// spelling of an equal RPO ("60m" stays "60m", not "1h").
func (m *drillScheduleModel) adoptRedis(d *drill.ScheduleDoc) {
	if d.Kind != drill.KindRedis && d.RedisInstance == "" {
		m.Redis = nil
		return
	}
	r := &drillRedisModel{Instance: optionalString(d.RedisInstance), MinKeys: types.Int64Null(), RPO: types.StringNull()}
	if d.RedisMinKeys != 0 || (m.Redis != nil && !m.Redis.MinKeys.IsNull()) {
		r.MinKeys = types.Int64Value(d.RedisMinKeys)
	}
	if d.RedisRPOSeconds > 0 {
		rpo := time.Duration(d.RedisRPOSeconds * float64(time.Second))
		r.RPO = types.StringValue(shortDuration(rpo))
		if m.Redis != nil {
			if was, err := time.ParseDuration(m.Redis.RPO.ValueString()); err == nil && was == rpo {
				r.RPO = m.Redis.RPO
			}
		}
	}
	m.Redis = r
}

// findDrillSchedule is the schedule document the agent runs drill name
// from, or a *notFoundError when it (or its bucket) does not exist.
func findDrillSchedule(ctx context.Context, store objectstore.Store, layout repo.Layout, name string, trust signature.Trust) (*drill.ScheduleDoc, string, error) {
	doc, signedBy, err := drill.ReadScheduleSigned(ctx, store, layout, name, trust)
	if err != nil {
		return nil, "", asNotFound(fmt.Sprintf("drill schedule %q", name), err)
	}
	return doc, signedBy, nil
}

func (m *drillScheduleModel) layout() repo.Layout {
	return repo.Layout{Prefix: m.Repository.Prefix.ValueString(), Cluster: m.Cluster.ValueString()}
}

func (m *drillScheduleModel) doc() drill.ScheduleDoc {
	d := drill.ScheduleDoc{
		Name: m.Name.ValueString(), Cluster: m.Cluster.ValueString(), Schedule: m.Schedule.ValueString(), Updated: time.Now().UTC(),
		Kind: m.Kind.ValueString(), Database: m.Database.ValueString(), ScratchDir: m.ScratchDir.ValueString(),
		EvidenceDays: int(m.EvidenceRetentionDays.ValueInt64()),
	}
	if t, err := time.ParseDuration(m.RTOTarget.ValueString()); err == nil {
		d.RTOTargetSeconds = t.Seconds()
	}
	if a := m.Attachments; a != nil {
		d.AttachmentsBucket, d.AttachmentsPrefix = a.Bucket.ValueString(), a.Prefix.ValueString()
	}
	if !m.RecoveryRegion.IsNull() {
		d.Region = regionName(m.RecoveryRegion.ValueString())
	}
	d.Target = m.Target.target()
	if r := m.Redis; r != nil {
		d.RedisInstance, d.RedisMinKeys = r.Instance.ValueString(), r.MinKeys.ValueInt64()
		if t, err := time.ParseDuration(r.RPO.ValueString()); err == nil {
			d.RedisRPOSeconds = t.Seconds()
		}
	}
	for _, c := range m.Checks {
		kind := c.Kind.ValueString()
		if kind == "" {
			kind = drill.CheckSQL
		}
		d.Checks = append(d.Checks, drill.Check{Name: c.Name.ValueString(), Kind: kind, SQL: c.SQL.ValueString(), Expected: c.Expected.ValueString(), Database: c.Database.ValueString()})
	}
	return d
}
