package provider

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"
	"github.com/redis/go-redis/v9"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/redisx"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

var (
	_ resource.ResourceWithConfigure      = (*redisPersistenceResource)(nil)
	_ resource.ResourceWithImportState    = (*redisPersistenceResource)(nil)
	_ resource.ResourceWithValidateConfig = (*redisPersistenceResource)(nil)
	_ resource.ResourceWithModifyPlan     = (*redisPersistenceResource)(nil)
)

// NewRedisPersistenceResource is the lifeboat_redis_persistence constructor.
func NewRedisPersistenceResource() resource.Resource { return &redisPersistenceResource{} }

// redisPersistenceResource declares one Redis instance's workload class and
// converges the persistence settings that class implies (redisx).
type redisPersistenceResource struct {
	data *providerData
}

type redisPersistenceModel struct {
	ID              types.String    `tfsdk:"id"`
	Class           types.String    `tfsdk:"class"`
	Redis           *redisConnModel `tfsdk:"redis"`
	Save            types.String    `tfsdk:"save"`
	AppendFsync     types.String    `tfsdk:"appendfsync"`
	MaxmemoryPolicy types.String    `tfsdk:"maxmemory_policy"`

	AppendOnly        types.Bool   `tfsdk:"appendonly"`
	AOFUseRDBPreamble types.Bool   `tfsdk:"aof_use_rdb_preamble"`
	Decision          types.String `tfsdk:"decision"`
	ConfigFile        types.String `tfsdk:"config_file"`
	LastSaveAt        types.String `tfsdk:"last_save_at"`
	LastBgsaveStatus  types.String `tfsdk:"last_bgsave_status"`

	// Snapshots taken by the agent: where (cluster, repository) and when.
	Cluster    types.String        `tfsdk:"cluster"`
	Repository *repositoryRef      `tfsdk:"repository"`
	Snapshot   *redisSnapshotModel `tfsdk:"snapshot"`
	SignedBy   types.String        `tfsdk:"signed_by"`
}

// redisSnapshotModel is the `snapshot` block: the schedule the agent
// takes RDB snapshots on, and their retention.
type redisSnapshotModel struct {
	Instance  types.String `tfsdk:"instance"`
	Schedule  types.String `tfsdk:"schedule"`
	KeepCount types.Int64  `tfsdk:"keep_count"`
	KeepDays  types.Int64  `tfsdk:"keep_days"`
	// Agent and Address are the signed schedule's target: which agent
	// takes the snapshots, and where it reaches the instance.
	Agent   types.String `tfsdk:"agent"`
	Address types.String `tfsdk:"address"`
}

// redisConnModel is the `redis` block: how to reach the instance.
type redisConnModel struct {
	Address          types.String `tfsdk:"address"`
	Username         types.String `tfsdk:"username"`
	Password         types.String `tfsdk:"password"`
	TLS              types.Bool   `tfsdk:"tls"`
	TLSServerName    types.String `tfsdk:"tls_server_name"`
	TLSCACertificate types.String `tfsdk:"tls_ca_certificate"`
}

// Metadata implements resource.Resource.
func (r *redisPersistenceResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_redis_persistence"
}

// Schema implements resource.Resource.
func (r *redisPersistenceResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Declares what one Redis instance is for (its workload `class`) and converges the persistence settings that follow, " +
			"with `CONFIG SET` persisted by `CONFIG REWRITE`:\n\n" +
			"| class | RDB `save` | `appendonly` / `appendfsync` | `maxmemory-policy` | `decision` |\n" +
			"|---|---|---|---|---|\n" +
			"| `cache` | none | `no` | any (default `allkeys-lru`) | `rebuild` |\n" +
			"| `session` | `" + redisx.DefaultSave + "` | `yes` / `everysec`, RDB preamble | `noeviction` or `volatile-*` (default `volatile-lru`) | `restore` |\n" +
			"| `queue` | `" + redisx.DefaultSave + "` | `yes` / `everysec` or `always` | `noeviction` only | `restore` |\n\n" +
			"Refresh reads the settings back and `INFO persistence`: settings changed outside Terraform (say `appendonly` turned off) plan as an update, " +
			"and a failing BGSAVE or AOF write is a warning (with `stop-writes-on-bgsave-error` Redis refuses writes until a save succeeds).\n\n" +
			"The server must run from a config file that its account can write, or `CONFIG REWRITE` fails and a restart would undo the settings: " +
			"that is an error, at plan when the server is reachable then. Destroy leaves the server's settings as they are.\n\n" +
			"With a `snapshot` block (not on a cache: it is rebuilt), the resource writes a signed snapshot schedule into the " +
			"repository (`redis-schedules/<instance>.json`, signed with the provider's `signing_key`), and `lifeboat agent` on the Redis host " +
			"takes the RDB snapshots on it: BGSAVE, the RDB streamed compressed with its sha256 into `redis/<instance>/`, the manifest last, " +
			"older snapshots pruned with delete markers. The schedule carries the target too (`snapshot.agent`, the address, username " +
			"and TLS settings): the agent it names reaches Redis there with the password from its own configuration " +
			"(`\"redis\": {\"<instance>\": {\"password\": ...}}`), which is never in the repository. " +
			"Destroy removes the schedule; the snapshots stay.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				MarkdownDescription: "The instance's address (`host:port`).",
				Computed:            true,
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"class": schema.StringAttribute{
				MarkdownDescription: "Workload class: `cache` (derived data, rebuilt after a loss), `session` (sessions, restored) or `queue` (jobs, restored; never evicted).",
				Required:            true,
				Validators:          []validator.String{stringvalidator.OneOf(redisx.Classes...)},
			},
			"save": schema.StringAttribute{
				MarkdownDescription: "RDB schedule, `\"<seconds> <changes>\"` pairs as in redis.conf (`\"\"` for none). Default from the class; a cache takes none.",
				Optional:            true,
				Computed:            true,
			},
			"appendfsync": schema.StringAttribute{
				MarkdownDescription: "AOF fsync policy: `always` (every write on disk before it is acknowledged), `everysec` (default) or `no`. Not allowed on a cache.",
				Optional:            true,
				Computed:            true,
				Validators:          []validator.String{stringvalidator.OneOf(redisx.FsyncPolicies...)},
			},
			"maxmemory_policy": schema.StringAttribute{
				MarkdownDescription: "Eviction policy. Default from the class; a queue must use `noeviction`, a session `noeviction` or a `volatile-*` policy.",
				Optional:            true,
				Computed:            true,
				Validators:          []validator.String{stringvalidator.OneOf(redisx.EvictionPolicies...)},
			},
			"appendonly":           schema.BoolAttribute{MarkdownDescription: "Whether the AOF is on (from the class).", Computed: true},
			"aof_use_rdb_preamble": schema.BoolAttribute{MarkdownDescription: "Whether AOF rewrites start with an RDB preamble (faster reload).", Computed: true},
			"decision": schema.StringAttribute{
				MarkdownDescription: "What recovery does for this instance: `rebuild` (start empty; the application refills it) for a cache, `restore` (load the last snapshot) otherwise.",
				Computed:            true,
			},
			"config_file":        schema.StringAttribute{MarkdownDescription: "The config file `CONFIG REWRITE` persists the settings into.", Computed: true},
			"last_save_at":       schema.StringAttribute{MarkdownDescription: "When the last successful RDB save finished (RFC 3339), as of the last refresh.", Computed: true},
			"last_bgsave_status": schema.StringAttribute{MarkdownDescription: "`ok` or `err`: the outcome of the last BGSAVE, as of the last refresh.", Computed: true},
			"cluster": schema.StringAttribute{
				MarkdownDescription: "Name of the cluster repository the snapshots go into (the `cluster` of the agent on the Redis host). Required with `snapshot`.",
				Optional:            true,
				Validators:          []validator.String{keyNameValidator{}},
			},
			"signed_by": signedByAttribute(),
		},
		Blocks: map[string]schema.Block{
			"redis":      redisConnBlock(),
			"repository": repositoryBlock(),
			"snapshot": schema.SingleNestedBlock{
				MarkdownDescription: "RDB snapshots the agent takes into the repository on a schedule (session and queue classes). Needs `cluster` and `repository`.",
				Attributes: map[string]schema.Attribute{
					"instance": schema.StringAttribute{
						MarkdownDescription: "The instance's name in the repository (snapshots under `redis/<instance>/`) and in the agent configuration's `redis` map.",
						Optional:            true,
						Validators:          []validator.String{keyNameValidator{}},
					},
					"schedule": schema.StringAttribute{MarkdownDescription: "When the agent takes a snapshot, in UTC (cron, `@hourly`, `@every 15m`).", Optional: true, Validators: []validator.String{cronValidator{}}},
					"keep_count": schema.Int64Attribute{
						MarkdownDescription: "Keep this many newest snapshots. With `keep_days`, a snapshot either keeps is kept; the newest is always kept; with neither, all are.",
						Optional:            true, Validators: []validator.Int64{int64validator.AtLeast(1)},
					},
					"keep_days": schema.Int64Attribute{
						MarkdownDescription: "Keep every snapshot taken within this many days.",
						Optional:            true, Validators: []validator.Int64{int64validator.AtLeast(1)},
					},
					"agent": schema.StringAttribute{
						MarkdownDescription: "Host name of the agent that takes the snapshots (the `host` of its bootstrap file, as " +
							"`lifeboat_wal_archive.agent_host` renders it). The signed schedule carries it with the instance's address, " +
							"username and TLS settings, so that host needs no Redis entry in its configuration, only the password " +
							"(`\"redis\": {\"<instance>\": {\"password\": ...}}`) when the instance requires one; a running agent picks " +
							"a change up at its next refresh. Unset: the agents whose configuration names the instance take them.",
						Optional:   true,
						Validators: []validator.String{keyNameValidator{}},
					},
					"address": schema.StringAttribute{
						MarkdownDescription: "`host:port` the agent reaches the instance at, when it differs from `redis.address` " +
							"(which this provider connects to), e.g. `127.0.0.1:6379` on the Redis host. Default `redis.address`.",
						Optional: true,
					},
				},
			},
		},
	}
}

// redisConnBlock is the `redis` block: how to reach one instance.
func redisConnBlock() schema.SingleNestedBlock {
	return schema.SingleNestedBlock{
		MarkdownDescription: "How to reach the Redis instance. The user needs `CONFIG`, `INFO` and `BGSAVE` (for example the ACL `+@admin` category, or `+config +info +bgsave +ping`).",
		Attributes: map[string]schema.Attribute{
			"address": schema.StringAttribute{
				MarkdownDescription: "`host:port`. Changing it replaces the resource: it is another instance.",
				Optional:            true,
				PlanModifiers:       []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"username":           schema.StringAttribute{MarkdownDescription: "ACL user (default: the `default` user).", Optional: true},
			"password":           schema.StringAttribute{MarkdownDescription: "Password of the user (`requirepass` for the default user).", Optional: true, Sensitive: true},
			"tls":                schema.BoolAttribute{MarkdownDescription: "Connect with TLS.", Optional: true},
			"tls_server_name":    schema.StringAttribute{MarkdownDescription: "Name to verify in the server certificate, when it differs from the address' host.", Optional: true},
			"tls_ca_certificate": schema.StringAttribute{MarkdownDescription: "PEM CA bundle to trust instead of the system's.", Optional: true},
		},
	}
}

// Configure implements resource.ResourceWithConfigure.
func (r *redisPersistenceResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

// ValidateConfig implements resource.ResourceWithValidateConfig: a class and
// overrides that contradict each other fail at plan, naming the attribute.
func (r *redisPersistenceResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m redisPersistenceModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if m.Redis == nil || (m.Redis.Address.IsNull() && !m.Redis.Address.IsUnknown()) {
		resp.Diagnostics.AddAttributeError(path.Root("redis").AtName("address"), "Missing Redis Address",
			"A `redis` block with `address = \"host:port\"` is required.")
	}
	if _, err := desiredRedis(&m); err != nil && !errors.Is(err, errUnknownYet) {
		attr := path.Root("class")
		var se *redisx.SettingError
		if errors.As(err, &se) {
			attr = path.Root(strings.ReplaceAll(se.Setting, "-", "_"))
		}
		resp.Diagnostics.AddAttributeError(attr, "Invalid Redis Persistence Setting",
			fmt.Sprintf("%s (class %q). Change the attribute or the class; see the resource documentation for what each class allows.",
				err, m.Class.ValueString()))
	}
	if m.Snapshot != nil {
		m.validateSnapshot(&resp.Diagnostics)
	}
}

// validateSnapshot checks the snapshot block and what it needs.
func (m *redisPersistenceModel) validateSnapshot(diags *diag.Diagnostics) {
	if m.Class.ValueString() == string(redisx.ClassCache) {
		diags.AddAttributeError(path.Root("snapshot"), "Snapshots Of A Cache",
			fmt.Sprintf("The snapshot block asks the agent to snapshot a cache, but %v. Remove the snapshot block, or declare the class the data really has (session or queue).", redisx.ErrCacheSnapshots))
	}
	for name, v := range map[string]types.String{"instance": m.Snapshot.Instance, "schedule": m.Snapshot.Schedule} {
		if v.IsNull() {
			diags.AddAttributeError(path.Root("snapshot").AtName(name), "Missing Snapshot "+strings.ToUpper(name[:1])+name[1:],
				fmt.Sprintf("snapshot.%s is required in a snapshot block.", name))
		}
	}
	if m.Cluster.IsNull() {
		diags.AddAttributeError(path.Root("cluster"), "Missing Cluster",
			"cluster is required with a snapshot block: the repository of the agent on the Redis host, which takes the snapshots.")
	}
	m.Repository.validate("the repository the agent takes the snapshots into", diags)
}

var errUnknownYet = errors.New("known only at apply")

// desiredRedis is the settings m's class and declared overrides imply.
// Overrides must come from the configuration: in a plan, an unset
// optional-computed attribute holds the prior state (maybe drifted).
func desiredRedis(m *redisPersistenceModel) (redisx.Settings, error) {
	if m.Class.IsUnknown() || m.Save.IsUnknown() || m.AppendFsync.IsUnknown() || m.MaxmemoryPolicy.IsUnknown() {
		return redisx.Settings{}, errUnknownYet
	}
	o := redisx.Overrides{AppendFsync: m.AppendFsync.ValueString(), MaxmemoryPolicy: m.MaxmemoryPolicy.ValueString()}
	if !m.Save.IsNull() {
		s := m.Save.ValueString()
		o.Save = &s
	}
	return redisx.Desired(redisx.Class(m.Class.ValueString()), o)
}

// ModifyPlan implements resource.ResourceWithModifyPlan: the planned
// settings are the class' ones, so drift found by refresh shows as an
// update; a server without a config file is refused here when reachable.
func (r *redisPersistenceResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return // destroy leaves the settings as they are
	}
	var plan, config redisPersistenceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	if resp.Diagnostics.HasError() {
		return
	}
	want, err := desiredRedis(&config)
	if err != nil {
		return // ValidateConfig reported it, or it is known only at apply
	}
	plan.Save = types.StringValue(want.Save)
	plan.AppendOnly = types.BoolValue(want.AppendOnly)
	plan.AppendFsync = types.StringValue(want.AppendFsync)
	plan.AOFUseRDBPreamble = types.BoolValue(want.AOFUseRDBPreamble)
	plan.MaxmemoryPolicy = types.StringValue(want.MaxmemoryPolicy)
	plan.Decision = types.StringValue(redisx.Class(plan.Class.ValueString()).Decision())
	if plan.Redis != nil && !plan.Redis.Address.IsUnknown() {
		plan.ID = plan.Redis.Address
	}
	plan.SignedBy = types.StringNull()
	if plan.Snapshot != nil {
		plan.SignedBy = types.StringUnknown()
		if r.data != nil {
			plan.SignedBy = types.StringValue(r.data.signerID())
		}
	}
	if req.State.Raw.IsNull() {
		plan.ConfigFile, plan.LastSaveAt, plan.LastBgsaveStatus = types.StringUnknown(), types.StringUnknown(), types.StringUnknown()
		r.refuseWithoutConfigFile(ctx, &plan, &resp.Diagnostics)
		resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
		return
	}
	var state redisPersistenceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	// What the server reports is kept as it is when nothing is to change;
	// any update reads it again, so the plan cannot promise its value (a
	// BGSAVE between plan and apply moves last_save_at).
	plan.ConfigFile, plan.LastSaveAt, plan.LastBgsaveStatus = state.ConfigFile, state.LastSaveAt, state.LastBgsaveStatus
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
	if resp.Diagnostics.HasError() || resp.Plan.Raw.Equal(req.State.Raw) {
		return
	}
	plan.ConfigFile, plan.LastSaveAt, plan.LastBgsaveStatus = types.StringUnknown(), types.StringUnknown(), types.StringUnknown()
	settingsChanged := !state.Save.Equal(plan.Save) || !state.AppendOnly.Equal(plan.AppendOnly) ||
		!state.AppendFsync.Equal(plan.AppendFsync) || !state.AOFUseRDBPreamble.Equal(plan.AOFUseRDBPreamble) ||
		!state.MaxmemoryPolicy.Equal(plan.MaxmemoryPolicy) || !state.Class.Equal(plan.Class)
	if settingsChanged {
		r.refuseWithoutConfigFile(ctx, &plan, &resp.Diagnostics)
	}
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
}

// refuseWithoutConfigFile fails the plan when the server is reachable and
// runs without a config file: the apply could set the settings but never
// persist them. Unreachable servers are left to apply.
func (r *redisPersistenceResource) refuseWithoutConfigFile(ctx context.Context, m *redisPersistenceModel, diags *diag.Diagnostics) {
	if m.Redis == nil || m.Redis.anyUnknown() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	c, err := redisx.Connect(ctx, m.Redis.options())
	if err != nil {
		tflog.Debug(ctx, "redis not reachable at plan; the config file check waits for apply", map[string]any{"error": err.Error()})
		return
	}
	defer func() { _ = c.Close() }()
	st, err := redisx.Read(ctx, c)
	if err == nil && st.ConfigFile == "" {
		diags.AddAttributeError(path.Root("redis").AtName("address"), "Redis Runs Without A Config File",
			fmt.Sprintf("%s runs without a config file, so CONFIG REWRITE cannot persist the %s settings and a restart would silently undo them. "+
				"Start redis-server with a config file its account can write (redis-server /etc/redis/redis.conf), then plan again.",
				m.Redis.Address.ValueString(), m.Class.ValueString()))
	}
}

// Create implements resource.Resource.
func (r *redisPersistenceResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	r.apply(ctx, req.Plan, nil, &resp.State, &resp.Diagnostics)
}

// Update implements resource.Resource.
func (r *redisPersistenceResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	r.apply(ctx, req.Plan, &req.State, &resp.State, &resp.Diagnostics)
}

// apply converges the server to the plan and records what it reads back,
// then writes (or moves, or removes) the snapshot schedule: create and
// update do the same.
func (r *redisPersistenceResource) apply(ctx context.Context, planned tfsdk.Plan, prior *tfsdk.State, state *tfsdk.State, diags *diag.Diagnostics) {
	var m redisPersistenceModel
	diags.Append(planned.Get(ctx, &m)...)
	if diags.HasError() {
		return
	}
	var old *redisPersistenceModel
	if prior != nil {
		old = &redisPersistenceModel{}
		diags.Append(prior.Get(ctx, old)...)
		if diags.HasError() {
			return
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	addr := m.Redis.Address.ValueString()
	// NOTE: ModifyPlan put the class' settings into the plan: they are the
	// target as they stand (a cache's appendfsync there is not an override).
	want := redisx.Settings{Save: m.Save.ValueString(), AppendOnly: m.AppendOnly.ValueBool(), AppendFsync: m.AppendFsync.ValueString(),
		AOFUseRDBPreamble: m.AOFUseRDBPreamble.ValueBool(), MaxmemoryPolicy: m.MaxmemoryPolicy.ValueString()}
	c, err := redisx.Connect(ctx, m.Redis.options())
	if err != nil {
		diags.Append(errorDiag("Error Connecting To Redis", fmt.Sprintf("connecting to %s (redis block)", addr), err))
		return
	}
	defer func() { _ = c.Close() }()
	tflog.Info(ctx, "converging redis persistence", map[string]any{"address": addr, "class": m.Class.ValueString()})
	st, err := redisx.Apply(ctx, c, want)
	var rw *redisx.RewriteError
	if errors.As(err, &rw) {
		diags.AddAttributeError(path.Root("redis").AtName("address"), "Error Persisting Redis Settings",
			fmt.Sprintf("The %s settings are live on %s, but %v. Until then a restart of Redis undoes them.", m.Class.ValueString(), addr, err))
		return
	}
	if err != nil {
		diags.Append(errorDiag("Error Converging Redis Persistence", fmt.Sprintf("setting the %s persistence settings on %s with CONFIG SET", m.Class.ValueString(), addr), err))
		return
	}
	m.ID = m.Redis.Address
	m.observe(st)
	warnRedisPersistence(addr, st.Persistence, diags)
	if !r.applySchedule(ctx, &m, old, diags) {
		return
	}
	diags.Append(state.Set(ctx, &m)...)
}

// applySchedule writes m's snapshot schedule for the agent, signed, and
// removes the one old had elsewhere (another instance name, cluster or
// repository, or no snapshot block any more).
func (r *redisPersistenceResource) applySchedule(ctx context.Context, m, old *redisPersistenceModel, diags *diag.Diagnostics) bool {
	if m.Snapshot == nil && (old == nil || old.Snapshot == nil) {
		return true
	}
	client := r.data.storeClient(ctx, diags)
	if client == nil {
		return false
	}
	if m.Snapshot != nil {
		bucket := m.Repository.Bucket.ValueString()
		if !requireBucket(ctx, client, bucket, path.Root("repository").AtName("bucket"), diags) {
			return false
		}
		l, doc := m.scheduleDoc()
		if err := redisx.WriteSchedule(ctx, client.Store(bucket), l, doc, r.data.signer); err != nil {
			diags.Append(errorDiag("Error Writing Redis Snapshot Schedule", fmt.Sprintf("writing s3://%s/%s", bucket, l.RedisScheduleKey(doc.Instance)), err))
			return false
		}
		m.SignedBy = types.StringValue(r.data.signerID())
	}
	if old != nil && old.Snapshot != nil {
		ol, od := old.scheduleDoc()
		if m.Snapshot != nil {
			if nl, nd := m.scheduleDoc(); nl == ol && nd.Instance == od.Instance && m.Repository.Bucket.Equal(old.Repository.Bucket) {
				return true
			}
		}
		if err := redisx.DeleteSchedule(ctx, client.Store(old.Repository.Bucket.ValueString()), ol, od.Instance); err != nil {
			diags.Append(errorDiag("Error Removing Redis Snapshot Schedule", "removing the previous schedule "+ol.RedisScheduleKey(od.Instance), err))
			return false
		}
	}
	return true
}

// scheduleDoc is the schedule document m declares, and where it goes.
func (m *redisPersistenceModel) scheduleDoc() (repo.Layout, redisx.ScheduleDoc) {
	l := repo.Layout{Prefix: m.Repository.Prefix.ValueString(), Cluster: m.Cluster.ValueString()}
	return l, redisx.ScheduleDoc{
		Instance: m.Snapshot.Instance.ValueString(), Cluster: m.Cluster.ValueString(), Class: m.Class.ValueString(),
		Schedule: m.Snapshot.Schedule.ValueString(), Updated: time.Now().UTC(),
		KeepCount: int(m.Snapshot.KeepCount.ValueInt64()), KeepDays: int(m.Snapshot.KeepDays.ValueInt64()),
		Target: m.target(),
	}
}

// target is where the agent reaches the instance: never its password,
// which stays in the agent's own configuration.
func (m *redisPersistenceModel) target() *redisx.Target {
	if m.Redis == nil {
		return nil
	}
	addr := m.Redis.Address.ValueString()
	if !m.Snapshot.Address.IsNull() {
		addr = m.Snapshot.Address.ValueString()
	}
	if addr == "" {
		return nil
	}
	return &redisx.Target{Agent: m.Snapshot.Agent.ValueString(), Address: addr, Username: m.Redis.Username.ValueString(),
		TLS: m.Redis.TLS.ValueBool(), TLSServerName: m.Redis.TLSServerName.ValueString(), TLSCACert: m.Redis.TLSCACertificate.ValueString()}
}

// readTarget reads a stored target back into snap: an agent or address
// changed outside Terraform shows as an update. An address equal to the
// connection's is the default, left as configured.
func readTarget(snap *redisSnapshotModel, t *redisx.Target, connAddr string) {
	if t == nil {
		snap.Agent = types.StringNull()
		return
	}
	snap.Agent = optionalString(t.Agent)
	if t.Address != connAddr || !snap.Address.IsNull() {
		snap.Address = types.StringValue(t.Address)
	}
}

// Read implements resource.Resource.
func (r *redisPersistenceResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m redisPersistenceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if m.Redis == nil {
		resp.Diagnostics.AddError("Missing Redis Connection", "The state has no redis block: import with the address as the ID (see the resource's Import section).")
		return
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	addr := m.Redis.Address.ValueString()
	c, err := redisx.Connect(ctx, m.Redis.options())
	if err != nil {
		resp.Diagnostics.Append(errorDiag("Error Connecting To Redis", fmt.Sprintf("reading the persistence settings of %s", addr), err))
		return
	}
	defer func() { _ = c.Close() }()
	st, err := findRedisPersistence(ctx, c)
	if err != nil {
		resp.Diagnostics.Append(errorDiag("Error Reading Redis Persistence", fmt.Sprintf("reading the persistence settings of %s", addr), err))
		return
	}
	if m.Class.IsNull() { // just imported: adopt the class the settings serve
		m.Class = types.StringValue(string(redisx.Infer(st.Settings)))
	}
	m.ID = m.Redis.Address
	m.observe(*st)
	warnRedisPersistence(addr, st.Persistence, &resp.Diagnostics)
	if m.Snapshot != nil && !r.readSchedule(ctx, &m, &resp.Diagnostics) {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// readSchedule reads the stored snapshot schedule back into m: changed
// outside Terraform, it shows as an update; gone, the snapshot block
// drops from the state, so the plan writes it again.
func (r *redisPersistenceResource) readSchedule(ctx context.Context, m *redisPersistenceModel, diags *diag.Diagnostics) bool {
	client := r.data.storeClient(ctx, diags)
	if client == nil {
		return false
	}
	l, want := m.scheduleDoc()
	doc, signedBy, err := redisx.ReadScheduleSigned(ctx, client.Store(m.Repository.Bucket.ValueString()), l, want.Instance, r.data.trust())
	if errors.Is(err, objectstore.ErrNotFound) || errors.Is(err, objectstore.ErrBucketNotFound) {
		m.Snapshot, m.SignedBy = nil, types.StringNull()
		return true
	}
	if err != nil {
		diags.Append(errorDiag("Error Reading Redis Snapshot Schedule", "reading "+l.RedisScheduleKey(want.Instance), err))
		return false
	}
	m.Snapshot.Schedule = types.StringValue(doc.Schedule)
	m.Snapshot.KeepCount, m.Snapshot.KeepDays = optionalInt(int32(doc.KeepCount)), optionalInt(int32(doc.KeepDays))
	readTarget(m.Snapshot, doc.Target, m.Redis.Address.ValueString())
	m.SignedBy = types.StringValue(signedBy)
	return true
}

// warnRedisPersistence turns failing saves into warnings: persistence
// declared but not holding.
func warnRedisPersistence(addr string, p redisx.Persistence, diags *diag.Diagnostics) {
	if problems := p.Problems(); len(problems) > 0 {
		diags.AddWarning("Redis Persistence Failing",
			fmt.Sprintf("On %s %s. With stop-writes-on-bgsave-error (the default) Redis refuses writes until a save succeeds, "+
				"and a restart now would lose the unsaved changes. Check the Redis log: usually the data directory is full, missing or not writable.",
				addr, strings.Join(problems, "; ")))
	}
}

// observe copies what the server does into the model.
func (m *redisPersistenceModel) observe(st redisx.State) {
	s := st.Settings
	m.Save = types.StringValue(s.Save)
	m.AppendOnly = types.BoolValue(s.AppendOnly)
	m.AppendFsync = types.StringValue(s.AppendFsync)
	m.AOFUseRDBPreamble = types.BoolValue(s.AOFUseRDBPreamble)
	m.MaxmemoryPolicy = types.StringValue(s.MaxmemoryPolicy)
	m.Decision = types.StringValue(redisx.Class(m.Class.ValueString()).Decision())
	m.ConfigFile = types.StringValue(st.ConfigFile)
	m.LastSaveAt = types.StringValue(st.Persistence.LastSave.UTC().Format(time.RFC3339))
	m.LastBgsaveStatus = types.StringValue(st.Persistence.LastBgsaveStatus)
}

// Delete implements resource.Resource: the snapshot schedule goes (the
// snapshots stay). NOTE: intentionally leaves the server's settings:
// turning persistence off on destroy could lose the data the settings
// protect.
func (r *redisPersistenceResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m redisPersistenceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() || m.Snapshot == nil {
		return
	}
	client := r.data.storeClient(ctx, &resp.Diagnostics)
	if client == nil {
		return
	}
	l, doc := m.scheduleDoc()
	err := redisx.DeleteSchedule(ctx, client.Store(m.Repository.Bucket.ValueString()), l, doc.Instance)
	if err != nil && !errors.Is(err, objectstore.ErrBucketNotFound) {
		resp.Diagnostics.Append(errorDiag("Error Removing Redis Snapshot Schedule", "removing "+l.RedisScheduleKey(doc.Instance), err))
	}
}

// ImportState implements resource.ResourceWithImportState. The ID is the
// address, with the ACL user when not the default one, and, for an
// instance the agent snapshots, where its schedule is:
//
//	[<user>@]<host>:<port>[,<bucket>[/<prefix>],<cluster>,<instance>]
//
// The password comes from REDISCLI_AUTH (as for redis-cli) while importing,
// and from the configuration afterwards. Read adopts the class the server's
// settings serve (redisx.Infer). With the repository part, the snapshot
// block (schedule, retention) is read from the stored schedule, which must
// exist.
func (r *redisPersistenceResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	id, where, withSchedule := strings.Cut(strings.TrimSpace(req.ID), ",")
	user, addr, hasUser := strings.Cut(id, "@")
	if !hasUser {
		user, addr = "", id
	}
	host, port, ok := cutLast(addr, ":")
	if !ok || host == "" || port == "" || strings.ContainsAny(addr, " /") {
		resp.Diagnostics.AddError("Invalid Import ID",
			fmt.Sprintf("Expected \"[<user>@]<host>:<port>[,<bucket>[/<prefix>],<cluster>,<instance>]\", e.g. \"10.0.0.5:6379\" or "+
				"\"lifeboat@redis.internal:6379,lifeboat-repo/pg,odoo-main,sessions\" (the password from REDISCLI_AUTH), got %q.", req.ID))
		return
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("signed_by"), types.StringNull())...)
	conn := &redisConnModel{Address: types.StringValue(addr), Username: optionalString(user), Password: types.StringNull(),
		TLS: types.BoolNull(), TLSServerName: types.StringNull(), TLSCACertificate: types.StringNull()}
	if pw := os.Getenv("REDISCLI_AUTH"); pw != "" {
		conn.Password = types.StringValue(pw)
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), addr)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("redis"), conn)...)
	if withSchedule {
		r.importSchedule(ctx, req.ID, where, resp)
	}
}

// importSchedule reads the stored snapshot schedule named by where
// ("<bucket>[/<prefix>],<cluster>,<instance>") into the imported state.
func (r *redisPersistenceResource) importSchedule(ctx context.Context, id, where string, resp *resource.ImportStateResponse) {
	parts := strings.Split(where, ",")
	invalid := func(why string) {
		resp.Diagnostics.AddError("Invalid Import ID",
			fmt.Sprintf("The repository part of %q %s: expected \"<bucket>[/<prefix>],<cluster>,<instance>\" after the address, "+
				"e.g. \"10.0.0.5:6379,lifeboat-repo/pg,odoo-main,sessions\".", id, why))
	}
	if len(parts) != 3 {
		invalid(fmt.Sprintf("has %d comma-separated fields, not 3", len(parts)))
		return
	}
	bucket, prefix, _ := strings.Cut(parts[0], "/")
	cluster, instance := parts[1], parts[2]
	switch {
	case validBucketName(bucket) != "":
		invalid("names bucket " + strconv.Quote(bucket) + ", which " + validBucketName(bucket))
		return
	case prefix != "" && (keyPrefixValidator{}).problem(prefix) != "":
		invalid("names prefix " + strconv.Quote(prefix) + ", which " + (keyPrefixValidator{}).problem(prefix))
		return
	case !clusterNameRE.MatchString(cluster) || !clusterNameRE.MatchString(instance):
		invalid("names a cluster or instance that is not 1-128 letters, digits, '.', '_' or '-'")
		return
	}
	if r.data == nil {
		resp.Diagnostics.AddError("Provider Not Configured", "The provider is not configured: it reads the snapshot schedule from the repository.")
		return
	}
	client := r.data.storeClient(ctx, &resp.Diagnostics)
	if client == nil {
		return
	}
	l := repo.Layout{Prefix: prefix, Cluster: cluster}
	doc, signedBy, err := redisx.ReadScheduleSigned(ctx, client.Store(bucket), l, instance, r.data.trust())
	if errors.Is(err, objectstore.ErrNotFound) || errors.Is(err, objectstore.ErrBucketNotFound) {
		resp.Diagnostics.AddError("Redis Snapshot Schedule Not Found",
			fmt.Sprintf("No snapshot schedule at s3://%s/%s. Import with the address alone when the agent takes no snapshots of this instance, "+
				"or check the bucket, prefix, cluster and instance (lifeboat backups lists the instances with snapshots).", bucket, l.RedisScheduleKey(instance)))
		return
	}
	if err != nil {
		resp.Diagnostics.Append(errorDiag("Error Reading Redis Snapshot Schedule", "reading "+l.RedisScheduleKey(instance), err))
		return
	}
	ref := &repositoryRef{Bucket: types.StringValue(bucket), Prefix: optionalString(prefix)}
	snap := &redisSnapshotModel{Instance: types.StringValue(doc.Instance), Schedule: types.StringValue(doc.Schedule),
		KeepCount: optionalInt(int32(doc.KeepCount)), KeepDays: optionalInt(int32(doc.KeepDays)), Address: types.StringNull()}
	// The address part of the ID, which the redis block holds.
	connAddr, _, _ := strings.Cut(strings.TrimSpace(id), ",")
	if _, a, found := strings.Cut(connAddr, "@"); found {
		connAddr = a
	}
	readTarget(snap, doc.Target, connAddr)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("cluster"), cluster)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("repository"), ref)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("snapshot"), snap)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("signed_by"), optionalString(signedBy))...)
}

// findRedisPersistence is the server's persistence as this resource
// manages it. NOTE: never a *notFoundError: the settings exist as long as
// the server does, and an unreachable server is an error, never a reason to
// forget the resource.
func findRedisPersistence(ctx context.Context, c *redis.Client) (*redisx.State, error) {
	st, err := redisx.Read(ctx, c)
	if err != nil {
		return nil, err
	}
	return &st, nil
}

func (m *redisConnModel) anyUnknown() bool {
	return m.Address.IsUnknown() || m.Username.IsUnknown() || m.Password.IsUnknown() || m.TLS.IsUnknown() ||
		m.TLSServerName.IsUnknown() || m.TLSCACertificate.IsUnknown()
}

func (m *redisConnModel) options() redisx.Options {
	return redisx.Options{Addr: m.Address.ValueString(), Username: m.Username.ValueString(), Password: m.Password.ValueString(),
		TLS: m.TLS.ValueBool(), TLSServerName: m.TLSServerName.ValueString(), TLSCACert: m.TLSCACertificate.ValueString()}
}
