package provider

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/pg"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/posture"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/wal"
)

var (
	_ resource.ResourceWithConfigure      = (*walArchiveResource)(nil)
	_ resource.ResourceWithImportState    = (*walArchiveResource)(nil)
	_ resource.ResourceWithValidateConfig = (*walArchiveResource)(nil)
	_ resource.ResourceWithModifyPlan     = (*walArchiveResource)(nil)
)

// NewWalArchiveResource is the lifeboat_wal_archive constructor.
func NewWalArchiveResource() resource.Resource { return &walArchiveResource{} }

// walArchiveResource configures continuous WAL archiving of one PostgreSQL
// cluster into the repository through the lifeboat agent, and proves it.
type walArchiveResource struct {
	data *providerData
}

type walArchiveModel struct {
	ID                    types.String   `tfsdk:"id"`
	Cluster               types.String   `tfsdk:"cluster"`
	Postgres              *postgresModel `tfsdk:"postgres"`
	Repository            *repositoryRef `tfsdk:"repository"`
	RPO                   types.String   `tfsdk:"rpo"`
	Compression           types.String   `tfsdk:"compression"`
	AgentPath             types.String   `tfsdk:"agent_path"`
	AgentConfigPath       types.String   `tfsdk:"agent_config_path"`
	ManageAgentConfigFile types.Bool     `tfsdk:"manage_agent_config_file"`
	AgentConfigOwner      types.String   `tfsdk:"agent_config_owner"`
	// AgentHost is the bootstrap file's host: the name requests address.
	AgentHost        types.String           `tfsdk:"agent_host"`
	AgentCredentials *agentCredentialsModel `tfsdk:"agent_credentials"`
	// RestorerCredentials are the read-only keys the host's agent restores
	// with (the bootstrap's restorer).
	RestorerCredentials *agentCredentialsModel `tfsdk:"restorer_credentials"`
	Encryption          *encryptionModel       `tfsdk:"encryption"`
	Verify              types.Bool             `tfsdk:"verify"`
	VerifyTimeout       types.String           `tfsdk:"verify_timeout"`
	OnDestroy           types.String           `tfsdk:"on_destroy"`
	// SignedBy is the key that signed the repository's WAL settings.
	SignedBy types.String `tfsdk:"signed_by"`

	WALLevel         types.String   `tfsdk:"wal_level"`
	ArchiveMode      types.String   `tfsdk:"archive_mode"`
	ArchiveCommand   types.String   `tfsdk:"archive_command"`
	ArchiveTimeout   types.String   `tfsdk:"archive_timeout"`
	PendingRestart   types.Bool     `tfsdk:"pending_restart"`
	SystemIdentifier types.String   `tfsdk:"system_identifier"`
	VerifiedSegment  types.String   `tfsdk:"verified_segment"`
	VerifiedAt       types.String   `tfsdk:"verified_at"`
	AgentConfig      types.String   `tfsdk:"agent_config"`
	Timeouts         timeouts.Value `tfsdk:"timeouts"`
}

// Metadata implements resource.Resource.
func (r *walArchiveResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_wal_archive"
}

// Schema implements resource.Resource.
func (r *walArchiveResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	computedString := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{MarkdownDescription: desc, Computed: true}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Continuous WAL archiving of one PostgreSQL cluster into the repository, through the `lifeboat` agent. " +
			"Converges `wal_level`, `archive_mode`, `archive_command` and `archive_timeout` with `ALTER SYSTEM` and a reload, " +
			"derives `archive_timeout` from the declared RPO, and proves archiving works by switching WAL and waiting for the " +
			"segment to land in the bucket. Refresh plans back settings changed outside Terraform and warns when the archiver " +
			"fails or lags beyond the RPO.\n\n" +
			"`archive_mode` only takes effect after a PostgreSQL restart: until then `pending_restart` is true, a warning says so, " +
			"and verification waits for the next apply after the restart.\n\n" +
			"On destroy, WAL is never silently discarded: by default (`on_destroy = \"keep\"`) archiving is left running into the " +
			"repository; with `\"pause\"` the archive_command is replaced by one that fails, so PostgreSQL keeps every WAL segment " +
			"locally (watch the disk) until archiving is configured again.\n\n" +
			"WAL push-ahead: a `lifeboat agent` that serves the data directory (as PostgreSQL's account) pushes each segment " +
			"PostgreSQL marks ready before `archive_command` asks for it, oldest first, and records the push in " +
			"`pg_wal/lifeboat-ahead/` (or `<state_dir>/wal-ahead/` of the agent configuration), mode 0600: name, size, sha256, " +
			"repository key and version. `archive_command` then returns at once when the record matches the name and the bytes " +
			"of the file it is handed; otherwise (no agent, an agent killed mid-upload, a name re-used with other bytes) it " +
			"pushes the file itself, as without an agent. The agent never marks a segment done. It is on by default; " +
			"`\"wal_push_ahead\": false` in the agent configuration turns it off. `lifeboat_wal_pushed_ahead_total` counts the " +
			"calls that returned on a record.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				MarkdownDescription: "The cluster name.",
				Computed:            true,
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"cluster": schema.StringAttribute{
				MarkdownDescription: "Name of the cluster inside the repository (WAL goes under `<prefix>/<cluster>/wal/`). Changing it replaces the resource.",
				Required:            true,
				PlanModifiers:       []planmodifier.String{stringplanmodifier.RequiresReplace()},
				Validators:          []validator.String{keyNameValidator{}},
			},
			"rpo": schema.StringAttribute{
				MarkdownDescription: "Recovery point objective: the most data, in time, the platform may lose (a Go duration such as `5m`). `archive_timeout` is derived as half of it so a quiet database still archives within the RPO. At least `2s`.",
				Required:            true,
				Validators:          []validator.String{durationValidator{min: 2 * time.Second}},
			},
			"compression": schema.StringAttribute{
				MarkdownDescription: "Compression of archived WAL: `zstd` (default), `lz4` or `none`. Written into the repository's signed WAL settings, which `wal-push` on the host reads (a local verified copy, at most `wal_settings_max_age` old, default 30s): a change reaches the next segments with no restart and no file to rewrite on the host. Changing it affects new segments only; old ones stay readable.",
				Optional:            true,
				Computed:            true,
				Default:             stringdefault.StaticString("zstd"),
				Validators:          []validator.String{stringvalidator.OneOf("zstd", "lz4", "none")},
			},
			"agent_path": schema.StringAttribute{
				MarkdownDescription: "Path of the `lifeboat` agent binary on the database host. Default `/usr/local/bin/lifeboat`.",
				Optional:            true,
				Computed:            true,
				Default:             stringdefault.StaticString("/usr/local/bin/lifeboat"),
				Validators:          []validator.String{absolutePathValidator{}},
			},
			"agent_config_path": schema.StringAttribute{
				MarkdownDescription: "Path of the agent configuration file on the database host (the content is `agent_config`). Default `/etc/lifeboat/<cluster>.json`. No secret ever appears in `archive_command`, which any role with `pg_read_all_settings` can read.",
				Optional:            true,
				Computed:            true,
				Validators:          []validator.String{absolutePathValidator{}},
				// NOTE: no UseStateForUnknown: ModifyPlan computes the
				// default from the cluster name.
			},
			"manage_agent_config_file": schema.BoolAttribute{
				MarkdownDescription: "Write `agent_config` to `agent_config_path` (mode 0600, owned by `agent_config_owner`) from the machine running Terraform. Only for setups where that machine is the database host; otherwise hand `agent_config` to a secret store or config management. Default `false`.",
				Optional:            true,
				Computed:            true,
				Default:             booldefault.StaticBool(false),
			},
			"agent_host": schema.StringAttribute{
				MarkdownDescription: "The database host's name, written into `agent_config` as `host`: the agent there executes the requests " +
					"addressed to it (`agent = \"<host>\"` on `lifeboat_restore` and `lifeboat_drill_schedule`) and publishes its heartbeat under it. " +
					"With it, `agent_config` is the host's whole bootstrap file (endpoint, the writer's keys, cluster, host, trusted keys). " +
					"Default: unset (the agent uses the machine's host name).",
				Optional: true, Validators: []validator.String{keyNameValidator{}},
			},
			"agent_config_owner": schema.StringAttribute{
				MarkdownDescription: "Owner of the managed agent configuration file: the account PostgreSQL runs as. Default `postgres`.",
				Optional:            true,
				Computed:            true,
				Default:             stringdefault.StaticString("postgres"),
			},
			"verify": schema.BoolAttribute{
				MarkdownDescription: "Prove archiving works on apply: `pg_switch_wal()`, then wait until that segment is in the bucket. Default `true`.",
				Optional:            true,
				Computed:            true,
				Default:             booldefault.StaticBool(true),
			},
			"verify_timeout": schema.StringAttribute{
				MarkdownDescription: "How long verification waits for the segment (a duration). Default `2m`.",
				Optional:            true,
				Computed:            true,
				Default:             stringdefault.StaticString("2m"),
				Validators:          []validator.String{durationValidator{min: time.Second}},
			},
			"on_destroy": schema.StringAttribute{
				MarkdownDescription: "What destroy does to the server: `keep` (default: archiving keeps running into the repository) or `pause` (archive_command fails on purpose, so PostgreSQL retains WAL locally until archiving is configured again). WAL is never discarded either way.",
				Optional:            true,
				Computed:            true,
				Default:             stringdefault.StaticString("keep"),
				Validators:          []validator.String{stringvalidator.OneOf("keep", "pause")},
			},
			"wal_level":         computedString("`wal_level` the server will use: `replica`, or `logical` when it already was (never lowered). Known after the first apply, which reads the server."),
			"archive_mode":      computedString("`archive_mode` the server will use: `on`."),
			"archive_command":   computedString("The `archive_command` set on the server: the agent's `wal-push` with its configuration path, and nothing secret."),
			"archive_timeout":   computedString("The `archive_timeout` set on the server, derived from `rpo`, e.g. `150s`."),
			"pending_restart":   schema.BoolAttribute{MarkdownDescription: "True while a changed setting (such as `archive_mode`) waits for a PostgreSQL restart.", Computed: true},
			"system_identifier": computedString("The cluster's system identifier; WAL of another cluster is refused under the same repository path."),
			"verified_segment":  computedString("The WAL segment last proven to reach the repository. An apply that changes what archiving depends on (settings, agent file, compression, `verify`) proves it again, so the plan shows it unknown; one that changes only `verify_timeout` or `on_destroy` keeps the last proof."),
			"verified_at":       computedString("When that segment was seen in the repository (RFC 3339)."),
			"signed_by":         signedByAttribute(),
			"agent_config": schema.StringAttribute{
				MarkdownDescription: "The agent configuration file's content (JSON) for the database host, to hand to a Kubernetes Secret or a config-management tool. Holds the keys of `agent_credentials` (and of `restorer_credentials`, as `restorer`) when given, and never the provider's own keys. " +
					"The compression and encryption recipients wal-push uses come from the signed WAL settings this resource writes into the repository (`wal-settings.json`), so a change needs no new file on the host: the copy here only serves a host whose repository has none.",
				Computed:  true,
				Sensitive: true,
			},
		},
		Blocks: map[string]schema.Block{
			"postgres":             postgresBlock("whose WAL is archived"),
			"repository":           repositoryBlock(),
			"agent_credentials":    agentCredentialsBlock(),
			"restorer_credentials": restorerCredentialsBlock(),
			"encryption":           encryptionBlock("every WAL segment `wal-push` archives (the repository's signed WAL settings carry the recipients, read by `wal-push` like `compression`)"),
			"timeouts":             timeouts.Block(ctx, timeouts.Opts{Create: true, Read: true, Update: true, Delete: true}),
		},
	}
}

// Configure implements resource.ResourceWithConfigure.
func (r *walArchiveResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

// ValidateConfig implements resource.ResourceWithValidateConfig.
func (r *walArchiveResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m walArchiveModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	m.Postgres.validate(path.Root("postgres"), &resp.Diagnostics)
	m.Repository.validate("the bucket WAL is archived into", &resp.Diagnostics)
	m.AgentCredentials.validate(&resp.Diagnostics)
	m.RestorerCredentials.validateAt("restorer_credentials", "Remove the block to let the agent restore with its writer keys (it then refuses clean-room restores).", &resp.Diagnostics)
	if m.RestorerCredentials != nil && m.AgentCredentials != nil && !m.RestorerCredentials.AccessKey.IsNull() &&
		m.RestorerCredentials.AccessKey.Equal(m.AgentCredentials.AccessKey) && !m.AgentCredentials.AccessKey.IsUnknown() {
		resp.Diagnostics.AddAttributeWarning(path.Root("restorer_credentials").AtName("access_key"), "Restorer Uses The Writer's Keys",
			"restorer_credentials.access_key is the writer's (agent_credentials): restores and clean rooms then read with keys that can write into the repository. "+
				"Create a restorer identity from the lifeboat_access_policy data source (role = \"restorer\") and give its keys here.")
	}
	m.Encryption.validate(&resp.Diagnostics)
}

// desired computes the server settings and agent files the config implies.
func (r *walArchiveResource) desired(m *walArchiveModel) (pg.ArchiveSettings, repo.AgentConfig) {
	rpo, _ := time.ParseDuration(m.RPO.ValueString())
	timeout := (rpo / 2).Truncate(time.Second)
	if timeout < time.Second {
		timeout = time.Second
	}
	cmd := pg.ArchiveCommand(m.AgentPath.ValueString(), m.AgentConfigPath.ValueString())
	cfg := r.data.writerAgentConfig(m.Repository.Bucket.ValueString(), m.Repository.Prefix.ValueString(), m.Cluster.ValueString(), m.Compression.ValueString(), m.AgentCredentials)
	cfg.Encryption = m.Encryption.repo()
	cfg.Host = m.AgentHost.ValueString()
	cfg.Restorer = m.RestorerCredentials.restorer()
	return pg.ArchiveSettings{WALLevel: "replica", ArchiveMode: "on", ArchiveCommand: cmd, ArchiveTimeout: timeout}, cfg
}

// ModifyPlan implements resource.ResourceWithModifyPlan: it computes the
// settings the server must end up with, so drift found by refresh shows as
// an update, and marks verification outstanding when it is.
func (r *walArchiveResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() || r.data == nil {
		return
	}
	defer func() { resp.Diagnostics.Append(planSignedBy(ctx, r.data, req, resp)...) }()
	var plan walArchiveModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	// A path the configuration leaves out is the default, whatever the state
	// holds: Terraform proposes the prior value of an unset computed
	// attribute, which would keep a path that was removed.
	var configured types.String
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("agent_config_path"), &configured)...)
	if configured.IsNull() {
		plan.AgentConfigPath = types.StringUnknown()
		if !plan.Cluster.IsUnknown() {
			plan.AgentConfigPath = types.StringValue("/etc/lifeboat/" + plan.Cluster.ValueString() + ".json")
		}
	}
	if plan.Repository == nil || plan.RPO.IsUnknown() || plan.Cluster.IsUnknown() || plan.AgentPath.IsUnknown() ||
		plan.AgentConfigPath.IsUnknown() || plan.Repository.Bucket.IsUnknown() || plan.Repository.Prefix.IsUnknown() ||
		plan.AgentCredentials.unknown() || plan.RestorerCredentials.unknown() || !plan.Encryption.known() {
		resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
		return
	}
	plan.AgentCredentials.warnIfProviders(r.data, &resp.Diagnostics)
	want, agentCfg := r.desired(&plan)
	content, err := agentCfg.Marshal()
	if err != nil {
		resp.Diagnostics.AddError("Invalid Agent Configuration", err.Error())
		return
	}
	var state *walArchiveModel
	if !req.State.Raw.IsNull() {
		state = &walArchiveModel{}
		resp.Diagnostics.Append(req.State.Get(ctx, state)...)
	}
	r.refuseForeignArchiver(ctx, &plan, state, want, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	// wal_level is only ever raised to replica, never lowered from logical:
	// on create the server's current level decides, so it is known after
	// apply only.
	plan.WALLevel = types.StringUnknown()
	if state != nil {
		plan.WALLevel = types.StringValue("replica")
		if state.WALLevel.ValueString() == "logical" {
			plan.WALLevel = state.WALLevel
		}
	}
	plan.ArchiveMode = types.StringValue(want.ArchiveMode)
	plan.ArchiveCommand = types.StringValue(want.ArchiveCommand)
	plan.ArchiveTimeout = types.StringValue(formatSeconds(want.ArchiveTimeout))
	plan.AgentConfig = types.StringValue(string(content))
	changed := state == nil ||
		state.WALLevel.ValueString() != plan.WALLevel.ValueString() ||
		state.ArchiveMode.ValueString() != plan.ArchiveMode.ValueString() ||
		state.ArchiveCommand.ValueString() != plan.ArchiveCommand.ValueString() ||
		state.ArchiveTimeout.ValueString() != plan.ArchiveTimeout.ValueString() ||
		state.AgentConfig.ValueString() != plan.AgentConfig.ValueString() ||
		!state.Verify.Equal(plan.Verify) ||
		// A newly written or re-owned agent file can stop the agent from
		// reading it: prove archiving again.
		plan.ManageAgentConfigFile.ValueBool() && (!state.ManageAgentConfigFile.ValueBool() ||
			!state.AgentConfigOwner.Equal(plan.AgentConfigOwner) || !state.AgentConfigPath.Equal(plan.AgentConfigPath))
	outstanding := state != nil && plan.Verify.ValueBool() && state.VerifiedSegment.IsNull() && !state.PendingRestart.ValueBool()
	if changed || outstanding {
		plan.PendingRestart = types.BoolUnknown()
		plan.SystemIdentifier = types.StringUnknown()
		plan.VerifiedSegment = types.StringUnknown()
		plan.VerifiedAt = types.StringUnknown()
	} else {
		plan.PendingRestart = state.PendingRestart
		plan.SystemIdentifier = state.SystemIdentifier
		plan.VerifiedSegment = state.VerifiedSegment
		plan.VerifiedAt = state.VerifiedAt
	}
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
}

// refuseForeignArchiver refuses, at plan, to take over a server that
// already archives WAL through the agent for another cluster: setting
// archive_command would silently end that cluster's archiving, and its
// recovery window with it. The server's archive_command is parsed back
// (pg.ParseArchiveCommand); its configuration file names the cluster when
// it is readable from here, else a different configuration path counts as
// another cluster. The command in this resource's own prior state, a
// paused or another tool's command, and a server not reachable at plan
// (apply reports that) are not refused.
func (r *walArchiveResource) refuseForeignArchiver(ctx context.Context, plan, state *walArchiveModel, want pg.ArchiveSettings, diags *diag.Diagnostics) {
	if plan.Postgres == nil || plan.Postgres.anyUnknown() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	pool, err := r.pool(ctx, plan)
	if err != nil {
		tflog.Debug(ctx, "server not reachable at plan; the foreign-archiver check waits for apply", map[string]any{"error": err.Error()})
		return
	}
	st, err := findWALArchive(ctx, pool) // NOTE: the pool is shared process-wide: never closed here
	if err != nil {
		return
	}
	current := st.Settings.ArchiveCommand
	if current == want.ArchiveCommand || (state != nil && current == state.ArchiveCommand.ValueString()) {
		return
	}
	_, cfgPath, ok := pg.ParseArchiveCommand(current)
	if !ok {
		return
	}
	other := fmt.Sprintf("the agent configuration %s", cfgPath)
	if cfg, err := repo.Load(cfgPath); err == nil {
		same := cfg.Cluster == plan.Cluster.ValueString() && cfg.Bucket == plan.Repository.Bucket.ValueString() &&
			strings.Trim(cfg.Prefix, "/") == strings.Trim(plan.Repository.Prefix.ValueString(), "/")
		if same {
			return // this cluster's own archiving, configured before (or by a lost state)
		}
		other = fmt.Sprintf("cluster %q (s3://%s/%s, configured in %s)", cfg.Cluster, cfg.Bucket, cfg.Layout().Root(), cfgPath)
	} else if cfgPath == plan.AgentConfigPath.ValueString() {
		return
	}
	diags.AddAttributeError(path.Root("postgres"), "Server Archives For Another Cluster",
		fmt.Sprintf("%s already archives WAL for %s: archive_command = %q. Applying lifeboat_wal_archive %q would take archive_command over "+
			"and silently stop that archiving. One server archives into one repository cluster: use the lifeboat_wal_archive that "+
			"already manages this server (terraform import it if it was created elsewhere), or point postgres at the right server.",
			plan.Postgres.describe(), other, current, plan.Cluster.ValueString()))
}

// Create implements resource.Resource.
func (r *walArchiveResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	r.apply(ctx, req.Plan, nil, &resp.State, &resp.Diagnostics, func(t timeouts.Value) (time.Duration, diag.Diagnostics) {
		return t.Create(ctx, 10*time.Minute)
	})
}

// Update implements resource.Resource.
func (r *walArchiveResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	r.apply(ctx, req.Plan, &req.State, &resp.State, &resp.Diagnostics, func(t timeouts.Value) (time.Duration, diag.Diagnostics) {
		return t.Update(ctx, 10*time.Minute)
	})
}

// apply converges the server to plan within its timeout and records the
// result as the new state: create and update do the same. The prior state
// is not needed: the server is converged from whatever it has.
func (r *walArchiveResource) apply(ctx context.Context, planned tfsdk.Plan, _ *tfsdk.State, state *tfsdk.State, diags *diag.Diagnostics,
	timeout timeoutFunc) {
	var plan walArchiveModel
	diags.Append(planned.Get(ctx, &plan)...)
	if diags.HasError() {
		return
	}
	ctx, cancel := withTimeout(ctx, plan.Timeouts, timeout, diags)
	defer cancel()
	r.converge(ctx, &plan, diags)
	if diags.HasError() {
		return
	}
	diags.Append(state.Set(ctx, &plan)...)
}

// converge applies the settings, writes the agent file when managed, and
// verifies archiving; m is filled with what was observed.
func (r *walArchiveResource) converge(ctx context.Context, m *walArchiveModel, diags *diag.Diagnostics) {
	server := m.Postgres.describe()
	if m.AgentConfigPath.IsUnknown() { // the cluster name was unknown at plan
		m.AgentConfigPath = types.StringValue("/etc/lifeboat/" + m.Cluster.ValueString() + ".json")
	}
	pool, err := r.pool(ctx, m)
	if err != nil {
		diags.Append(errorDiag("Error Connecting To PostgreSQL", fmt.Sprintf("connecting to %s (postgres block)", server), err))
		return
	}
	client := r.data.storeClient(ctx, diags)
	if client == nil {
		return
	}
	bucket := m.Repository.Bucket.ValueString()
	if !requireBucket(ctx, client, bucket, path.Root("repository").AtName("bucket"), diags) {
		return
	}
	want, agentCfg := r.desired(m)
	content, _ := agentCfg.Marshal()
	if m.ManageAgentConfigFile.ValueBool() {
		if err := repo.WriteConfigFile(m.AgentConfigPath.ValueString(), m.AgentConfigOwner.ValueString(), content); err != nil {
			diags.AddAttributeError(path.Root("agent_config_path"), "Error Writing Agent Configuration",
				fmt.Sprintf("While writing the agent configuration to %s (manage_agent_config_file = true): %v", m.AgentConfigPath.ValueString(), err))
			return
		}
	}
	// The compression and recipients reach wal-push on every host through
	// the repository, signed: the bootstrap file on a host is written once,
	// and a writer of the bucket cannot turn encryption off.
	if err := repo.WriteWALSettings(ctx, client.Store(bucket), agentCfg.Layout(),
		repo.WALSettings{Compression: agentCfg.Compression, Encryption: agentCfg.Encryption}, r.data.signer); err != nil {
		diags.Append(errorDiag("Error Writing WAL Settings", fmt.Sprintf("writing the signed WAL settings into s3://%s/%s", bucket, agentCfg.Layout().WALSettingsKey()), err))
		return
	}
	m.SignedBy = types.StringValue(r.data.signerID())
	tflog.Info(ctx, "converging WAL archiving", map[string]any{"server": server, "archive_timeout": want.ArchiveTimeout.String()})
	st, err := pg.ApplyArchive(ctx, pool, want)
	if err != nil {
		diags.Append(errorDiag("Error Enabling WAL Archiving", fmt.Sprintf("setting archive parameters with ALTER SYSTEM on %s", server), err))
		return
	}
	// A server promoted while it did not archive holds timeline history
	// files the archive lacks; without them no restore follows its
	// timeline.
	if histories, err := pg.HistoryFiles(ctx, pool); err != nil {
		diags.AddWarning("Timeline History Not Checked", detail(fmt.Sprintf("reading the timeline history files of %s (needs pg_ls_waldir and pg_read_binary_file)", server), err))
	} else if _, err := wal.PushHistories(ctx, client.Store(bucket), wal.Config{Layout: agentCfg.Layout(),
		Compression: agentCfg.Compression, SystemIdentifier: st.SystemIdentifier}, histories); err != nil {
		diags.Append(errorDiag("Error Archiving Timeline History", fmt.Sprintf("archiving the timeline history files of %s into s3://%s", server, bucket), err))
		return
	}
	m.ID = m.Cluster
	m.AgentConfig = types.StringValue(string(content))
	if !m.settle(st, server, diags) {
		return
	}
	if !m.VerifiedSegment.IsUnknown() {
		// The plan kept the last proof: nothing this apply changes can
		// affect archiving (verify_timeout, on_destroy, ...), and a new
		// proof now would contradict the plan.
		return
	}
	m.VerifiedSegment, m.VerifiedAt = types.StringNull(), types.StringNull()
	if len(st.PendingRestart) > 0 {
		diags.AddWarning("PostgreSQL Restart Pending",
			fmt.Sprintf("%s waits for a restart of %s (archive_mode only changes at server start). Restart PostgreSQL, then apply again: archiving is verified on the next apply.",
				strings.Join(st.PendingRestart, ", "), server))
		return
	}
	if !m.Verify.ValueBool() {
		return
	}
	limit, _ := time.ParseDuration(m.VerifyTimeout.ValueString())
	segment, at, err := r.verify(ctx, pool, client, m, limit)
	if err != nil {
		diags.Append(errorDiag("WAL Archiving Not Verified", fmt.Sprintf("proving that %s archives WAL into s3://%s", server, bucket), err))
		return
	}
	m.VerifiedSegment = types.StringValue(segment)
	m.VerifiedAt = types.StringValue(at.UTC().Format(time.RFC3339))
}

// settle records what the server reports for the values the plan left
// unknown, and holds the values the plan showed: the apply does what the
// plan said even when the server moved since (the next refresh shows it).
// The settings this apply just wrote must read back as planned, except a
// wal_level of logical where replica was planned: logical includes what
// archiving needs, and the level is never lowered.
func (m *walArchiveModel) settle(st pg.ArchiveState, server string, diags *diag.Diagnostics) bool {
	var seen walArchiveModel
	seen.observe(st)
	for _, s := range []struct {
		name     string
		planned  *types.String
		observed types.String
	}{
		{"wal_level", &m.WALLevel, seen.WALLevel},
		{"archive_mode", &m.ArchiveMode, seen.ArchiveMode},
		{"archive_command", &m.ArchiveCommand, seen.ArchiveCommand},
		{"archive_timeout", &m.ArchiveTimeout, seen.ArchiveTimeout},
	} {
		switch p := s.planned.ValueString(); {
		case s.planned.IsUnknown():
			*s.planned = s.observed
		case p == s.observed.ValueString(), s.name == "wal_level" && p == "replica" && s.observed.ValueString() == "logical":
		default:
			diags.AddAttributeError(path.Root(s.name), "WAL Archiving Setting Not Applied",
				fmt.Sprintf("%s was set to %q with ALTER SYSTEM on %s, but the server reports %q after the reload. "+
					"Check postgresql.auto.conf and whether another tool manages this setting, then apply again.",
					s.name, p, server, s.observed.ValueString()))
		}
	}
	if m.PendingRestart.IsUnknown() {
		m.PendingRestart = seen.PendingRestart
	}
	if m.SystemIdentifier.IsUnknown() {
		m.SystemIdentifier = seen.SystemIdentifier
	}
	return !diags.HasError()
}

// verify switches WAL and waits until the completed segment is in the bucket.
func (r *walArchiveResource) verify(ctx context.Context, pool *pgxpool.Pool, client *objectstore.Client, m *walArchiveModel, limit time.Duration) (string, time.Time, error) {
	segment, err := pg.SwitchWAL(ctx, pool)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("switching WAL: %w", err)
	}
	layout := repo.Layout{Prefix: m.Repository.Prefix.ValueString(), Cluster: m.Cluster.ValueString()}
	prefix := layout.WALTimelineDir(segment[:8]) + segment
	store := client.Store(m.Repository.Bucket.ValueString())
	tflog.Info(ctx, "waiting for the switched WAL segment in the repository", map[string]any{"segment": segment, "key_prefix": prefix})
	deadline := time.Now().Add(limit)
	for {
		var found *objectstore.ObjectInfo
		err := store.List(ctx, prefix, func(o objectstore.ObjectInfo) error {
			if k, ok := layout.Parse(o.Key); ok && k.Kind == repo.KindWAL && k.Name == segment {
				found = &o
			}
			return nil
		})
		if err != nil {
			return "", time.Time{}, err
		}
		if found != nil {
			return segment, time.Now(), nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			st, _ := pg.ReadArchive(context.WithoutCancel(ctx), pool)
			a := st.Archiver
			hint := "the archiver reports no failure yet: the agent may be slow, or archive_command may not run (is archive_mode on?)"
			if a.Failing() {
				hint = fmt.Sprintf("the archiver is failing (%d failures, last on %s at %s): check the PostgreSQL log for the agent's error, that the agent exists at %s, and that %s is readable by the server's account",
					a.FailedCount, a.LastFailedWAL, a.LastFailedTime.UTC().Format(time.RFC3339), m.AgentPath.ValueString(), m.AgentConfigPath.ValueString())
			}
			return "", time.Time{}, fmt.Errorf("segment %s did not appear under %s within %s; %s", segment, prefix, limit, hint)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// Read implements resource.Resource.
func (r *walArchiveResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state walArchiveModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, diags := state.Timeouts.Read(ctx, 2*time.Minute)
	resp.Diagnostics.Append(diags...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if state.Postgres == nil {
		resp.Diagnostics.AddError("Missing PostgreSQL Connection", "The state has no postgres block: import with the connection in the ID (see the resource's Import section).")
		return
	}
	pool, err := r.pool(ctx, &state)
	if err != nil {
		resp.Diagnostics.Append(errorDiag("Error Connecting To PostgreSQL", fmt.Sprintf("reading archive settings of %s", state.Postgres.describe()), err))
		return
	}
	st, err := findWALArchive(ctx, pool)
	if err != nil {
		resp.Diagnostics.Append(errorDiag("Error Reading WAL Archiving", fmt.Sprintf("reading archive settings of %s", state.Postgres.describe()), err))
		return
	}
	if state.Verify.IsNull() { // just imported
		r.adopt(&state, *st)
	}
	state.observe(*st)
	r.readSettings(ctx, &state, &resp.Diagnostics)
	r.warnPosture(ctx, pool, &state, *st, &resp.Diagnostics)
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

// readSettings reads the repository's WAL settings back: a document
// rewritten outside the provider (unsigned, forged, or another compression)
// or deleted shows as a planned update that writes it again.
func (r *walArchiveResource) readSettings(ctx context.Context, m *walArchiveModel, diags *diag.Diagnostics) {
	if m.Repository == nil || r.data == nil {
		return
	}
	client := r.data.storeClient(ctx, diags)
	if client == nil {
		return
	}
	layout := repo.Layout{Prefix: m.Repository.Prefix.ValueString(), Cluster: m.Cluster.ValueString()}
	s, signer, err := repo.ReadWALSettingsSigned(ctx, client.Store(m.Repository.Bucket.ValueString()), layout, r.data.trust())
	switch {
	case errors.Is(err, objectstore.ErrNotFound):
		// wal-push falls back to the host's bootstrap file: plan the
		// document again (null never equals the planned signer).
		m.SignedBy = types.StringNull()
	case err != nil:
		diags.AddWarning("WAL Settings Not Read", detail(fmt.Sprintf("reading s3://%s/%s", m.Repository.Bucket.ValueString(), layout.WALSettingsKey()), err))
	default:
		m.SignedBy = types.StringValue(signer)
		if s.Compression != "" && !m.Compression.IsNull() {
			m.Compression = types.StringValue(s.Compression)
		}
	}
}

// warnPosture shows the posture engine's findings on the archiver (failing
// since its last success, a segment waiting longer than the declared rpo)
// as warnings: posture declared but not holding. Counters never enter the
// state.
func (r *walArchiveResource) warnPosture(ctx context.Context, pool *pgxpool.Pool, m *walArchiveModel, st pg.ArchiveState, diags *diag.Diagnostics) {
	server := m.Postgres.describe()
	a := &posture.ArchiveObservation{Server: server, State: st}
	ids := []string{posture.ControlArchiverFailures}
	var err error
	params := posture.Params{}
	// NOTE: the lag is judged only when it could be read (pg_monitor) and
	// an rpo is declared; the failing archiver is judged regardless.
	if params.RPO, err = time.ParseDuration(m.RPO.ValueString()); err == nil && st.Settings.ArchiveMode != "off" {
		if a.OldestReady, a.Ready, err = pg.OldestReady(ctx, pool); err == nil {
			ids = append(ids, posture.ControlWALArchiving)
		}
	}
	c := posture.ClusterObservation{Archive: a}
	warnFindings(diags, &posture.Observation{Clusters: []posture.ClusterObservation{c}}, params, ids...)
	if st.Settings.ArchiveMode == "on" && len(st.PendingRestart) > 0 {
		diags.AddWarning("PostgreSQL Restart Pending",
			fmt.Sprintf("%s waits for a restart of %s.", strings.Join(st.PendingRestart, ", "), server))
	}
}

// observe copies server state into the model.
func (m *walArchiveModel) observe(st pg.ArchiveState) {
	m.WALLevel = types.StringValue(st.Settings.WALLevel)
	m.ArchiveMode = types.StringValue(st.Settings.ArchiveMode)
	m.ArchiveCommand = types.StringValue(st.Settings.ArchiveCommand)
	m.ArchiveTimeout = types.StringValue(formatSeconds(st.Settings.ArchiveTimeout))
	m.PendingRestart = types.BoolValue(len(st.PendingRestart) > 0)
	m.SystemIdentifier = types.StringValue(strconv.FormatUint(st.SystemIdentifier, 10))
}

// Delete implements resource.Resource. WAL is never discarded: see on_destroy.
func (r *walArchiveResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state walArchiveModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if state.OnDestroy.ValueString() != "pause" {
		resp.Diagnostics.AddWarning("WAL Archiving Left Running",
			fmt.Sprintf("lifeboat_wal_archive %q was removed from Terraform, but %s keeps archiving WAL into the repository (on_destroy = \"keep\"), so no WAL is lost. To stop, change archive_command yourself or destroy with on_destroy = \"pause\".",
				state.Cluster.ValueString(), state.Postgres.describe()))
		return
	}
	timeout, diags := state.Timeouts.Delete(ctx, 5*time.Minute)
	resp.Diagnostics.Append(diags...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pool, err := r.pool(ctx, &state)
	if err == nil {
		// NOTE: a failing archive_command (not an empty one, and not
		// archive_mode=off) makes PostgreSQL keep every segment until
		// archiving works again: nothing is recycled unarchived.
		err = pg.ResetArchiveCommand(ctx, pool, "/bin/false # lifeboat_wal_archive paused: WAL is retained until archiving is configured again")
	}
	if err != nil {
		resp.Diagnostics.Append(errorDiag("Error Pausing WAL Archiving", fmt.Sprintf("pausing archiving on %s", state.Postgres.describe()), err))
		return
	}
	resp.Diagnostics.AddWarning("WAL Archiving Paused",
		fmt.Sprintf("%s no longer archives WAL and retains it locally until archiving is configured again; watch its disk.", state.Postgres.describe()))
}

// ImportState implements resource.ResourceWithImportState. The ID is the
// repository path and the PostgreSQL connection without its password,
// separated by a space:
//
//	<bucket>/[<prefix>/]<cluster> <postgres URL or key/value DSN>
//
// The password comes from PGPASSWORD or ~/.pgpass while importing, and from
// the configuration afterwards: an ID is shown and kept in plain text, so
// one holding a password is refused. Read then adopts the server's archive
// settings (see adopt).
func (r *walArchiveResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	const format = "Expected \"<bucket>/[<prefix>/]<cluster> <postgres connection>\", e.g. " +
		"\"acme-wal/pg/odoo-main postgres://postgres@db1.internal:5432/postgres?sslmode=require\" " +
		"(the password from PGPASSWORD or ~/.pgpass)"
	repoPath, conn, _ := strings.Cut(strings.TrimSpace(req.ID), " ")
	conn = strings.TrimSpace(conn)
	repoRef, cluster, ok := parseRepositoryPath(repoPath)
	if !ok || conn == "" {
		resp.Diagnostics.AddError("Invalid Import ID", fmt.Sprintf("%s, got %q.", format, req.ID))
		return
	}
	if !clusterNameRE.MatchString(cluster) {
		resp.Diagnostics.AddError("Invalid Import ID", fmt.Sprintf("The cluster name %q must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit.", cluster))
		return
	}
	if err := pg.ParseDSN(conn); err != nil {
		resp.Diagnostics.AddError("Invalid Import ID", format+": the connection part is not a valid PostgreSQL connection string.")
		return
	}
	if pg.HasPassword(conn) {
		resp.Diagnostics.AddError("Password In Import ID",
			"The import ID is shown and kept in plain text: leave the password out of it and set PGPASSWORD (or ~/.pgpass) while importing. "+
				"The configuration's postgres block supplies it afterwards.")
		return
	}
	pgm := &postgresModel{DSN: types.StringValue(conn), Host: types.StringNull(), Port: types.Int64Null(), User: types.StringNull(),
		Password: types.StringNull(), DBName: types.StringNull(), SSLMode: types.StringNull()}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), cluster)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("cluster"), cluster)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("repository"), repoRef)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("postgres"), pgm)...)
}

// adopt fills an imported state from the server's settings and the
// defaults: rpo is twice archive_timeout, agent_path and agent_config_path
// come from an archive_command of the form this resource writes, and the
// rest takes its default (compression lives in the agent's file on the
// database host, out of reach: zstd is assumed). The first apply after an
// import verifies archiving, as after a create.
func (r *walArchiveResource) adopt(m *walArchiveModel, st pg.ArchiveState) {
	if st.Settings.ArchiveTimeout > 0 {
		m.RPO = types.StringValue(shortDuration(2 * st.Settings.ArchiveTimeout))
	}
	m.AgentPath = types.StringValue("/usr/local/bin/lifeboat")
	m.AgentConfigPath = types.StringValue("/etc/lifeboat/" + m.Cluster.ValueString() + ".json")
	if agent, cfg, ok := pg.ParseArchiveCommand(st.Settings.ArchiveCommand); ok {
		m.AgentPath, m.AgentConfigPath = types.StringValue(agent), types.StringValue(cfg)
	}
	m.Compression = types.StringValue("zstd")
	m.ManageAgentConfigFile = types.BoolValue(false)
	m.AgentConfigOwner = types.StringValue("postgres")
	m.Verify = types.BoolValue(true)
	m.VerifyTimeout = types.StringValue("2m")
	m.OnDestroy = types.StringValue("keep")
	m.VerifiedSegment, m.VerifiedAt = types.StringNull(), types.StringNull()
	m.SignedBy = types.StringNull()
	if r.data != nil && m.Repository != nil {
		_, cfg := r.desired(m)
		if content, err := cfg.Marshal(); err == nil {
			m.AgentConfig = types.StringValue(string(content))
		}
	}
}

// findWALArchive is the server's archiving as this resource manages it.
// NOTE: it never returns a *notFoundError: the settings exist as long as
// the server does, changed ones are drift to plan back, and a server that
// cannot be reached is an error, never a reason to forget the resource.
func findWALArchive(ctx context.Context, pool *pgxpool.Pool) (*pg.ArchiveState, error) {
	st, err := pg.ReadArchive(ctx, pool)
	if err != nil {
		return nil, err
	}
	return &st, nil
}

func (r *walArchiveResource) pool(ctx context.Context, m *walArchiveModel) (*pgxpool.Pool, error) {
	p, err := pg.Pool(ctx, m.Postgres.dsn())
	if err != nil {
		return nil, err
	}
	return p, pg.Ping(ctx, p)
}
