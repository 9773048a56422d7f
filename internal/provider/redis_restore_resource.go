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

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/listplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/redisx"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

var (
	_ resource.ResourceWithConfigure      = (*redisRestoreResource)(nil)
	_ resource.ResourceWithModifyPlan     = (*redisRestoreResource)(nil)
	_ resource.ResourceWithValidateConfig = (*redisRestoreResource)(nil)
)

// NewRedisRestoreResource is the lifeboat_redis_restore constructor.
func NewRedisRestoreResource() resource.Resource { return &redisRestoreResource{} }

// redisRestoreResource restores a Redis snapshot into a new instance as a
// planned change (redisx.RestoreInto).
type redisRestoreResource struct {
	data *providerData
}

type redisRestoreModel struct {
	ID          types.String   `tfsdk:"id"`
	Cluster     types.String   `tfsdk:"cluster"`
	Repository  *repositoryRef `tfsdk:"repository"`
	Instance    types.String   `tfsdk:"instance"`
	Snapshot    types.String   `tfsdk:"snapshot"`
	Directory   types.String   `tfsdk:"directory"`
	Port        types.Int64    `tfsdk:"port"`
	RedisServer types.String   `tfsdk:"redis_server"`
	MinKeys     types.Int64    `tfsdk:"min_keys"`
	SampleKeys  types.List     `tfsdk:"sample_keys"`
	Password    types.String   `tfsdk:"password"`

	SnapshotID      types.String `tfsdk:"snapshot_id"`
	SnapshotTakenAt types.String `tfsdk:"snapshot_taken_at"`
	SnapshotAge     types.String `tfsdk:"snapshot_age"`
	Address         types.String `tfsdk:"address"`
	KeyCount        types.Int64  `tfsdk:"key_count"`
}

// Metadata implements resource.Resource.
func (r *redisRestoreResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_redis_restore"
}

// Schema implements resource.Resource.
func (r *redisRestoreResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	keep := []planmodifier.String{stringplanmodifier.UseStateForUnknown()}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Restores a Redis snapshot (taken by `lifeboat agent` for a `lifeboat_redis_persistence` with a `snapshot` block, " +
			"or by `lifeboat redis-snapshot`) into a new Redis instance, as a planned change: the plan names the snapshot (`snapshot_id`) " +
			"and its age, and a saved plan (`terraform plan -out`) restores exactly that snapshot even when a newer one was taken before the apply. " +
			"The apply checks the snapshot's size and sha256 against its manifest, starts `redis-server` on a fresh directory and port " +
			"(bound to 127.0.0.1, persistence off, daemonized: it outlives Terraform), waits until the RDB is loaded and checks it " +
			"(`min_keys`, `sample_keys`); a failed check fails the apply and leaves the instance running for inspection. " +
			"A snapshot the agent encrypted (its configuration's or the signed policy's age recipients) is decrypted with the provider's " +
			"`identity_file` (or `LIFEBOAT_AGE_IDENTITY_FILE`); without an identity of one of its recipients the plan fails naming their fingerprints. " +
			"Destroy stops the instance and removes the directory. Runs where Terraform runs (the provider needs the repository and `redis-server`).",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{MarkdownDescription: "`<cluster>/<instance>@<directory>`.", Computed: true, PlanModifiers: keep},
			"cluster": schema.StringAttribute{MarkdownDescription: "Cluster repository the snapshots are in.", Required: true,
				PlanModifiers: replace, Validators: []validator.String{keyNameValidator{}}},
			"instance": schema.StringAttribute{MarkdownDescription: "The Redis instance's name in the repository (`redis/<instance>/`).", Required: true,
				PlanModifiers: replace, Validators: []validator.String{keyNameValidator{}}},
			"snapshot": schema.StringAttribute{
				MarkdownDescription: "Snapshot to restore: an id (see `data.lifeboat_recovery_points`' `redis_snapshots`) or `latest` (default), resolved at plan.",
				Optional:            true, Computed: true, Default: stringdefault.StaticString(redisx.Latest), PlanModifiers: replace,
			},
			"directory": schema.StringAttribute{
				MarkdownDescription: "New directory for the instance (config, data, log). It must not exist, be empty, or hold an earlier restore of this resource.",
				Required:            true, PlanModifiers: replace, Validators: []validator.String{absolutePathValidator{}},
			},
			"port": schema.Int64Attribute{MarkdownDescription: "Free TCP port the new instance listens on (127.0.0.1).", Required: true,
				PlanModifiers: []planmodifier.Int64{int64planmodifier.RequiresReplace()}, Validators: []validator.Int64{int64validator.Between(1, 65535)}},
			"redis_server": schema.StringAttribute{MarkdownDescription: "The `redis-server` program. Default `redis-server` (from `PATH`).",
				Optional: true, Computed: true, Default: stringdefault.StaticString("redis-server"), PlanModifiers: replace},
			"min_keys": schema.Int64Attribute{MarkdownDescription: "Key count floor the restored instance must reach (all databases). Default 0.",
				Optional: true, Computed: true, Default: int64default.StaticInt64(0),
				PlanModifiers: []planmodifier.Int64{int64planmodifier.RequiresReplace()}, Validators: []validator.Int64{int64validator.AtLeast(0)}},
			"sample_keys": schema.ListAttribute{MarkdownDescription: "Keys that must exist in the restored instance.", ElementType: types.StringType, Optional: true,
				PlanModifiers: []planmodifier.List{listplanmodifier.RequiresReplace()}, Validators: []validator.List{listvalidator.SizeAtMost(1000)}},
			"password": schema.StringAttribute{
				MarkdownDescription: "Password of the new instance (`requirepass`): clients, and the checks of the apply, authenticate with it. " +
					"A restored session store holds live sessions: set one unless only this host's trusted accounts reach 127.0.0.1. " +
					"Kept in the instance's `redis.conf` (mode 0600) and, sensitive, in state. Changing it replaces the restore.",
				Optional: true, Sensitive: true, PlanModifiers: replace,
				Validators: []validator.String{stringvalidator.LengthBetween(1, 512), stringvalidator.RegexMatches(regexp.MustCompile(`^[^\r\n\x00]*$`), "must not hold a line break or NUL: it is written into redis.conf")},
			},
			"snapshot_id":       schema.StringAttribute{MarkdownDescription: "The snapshot the plan names: what the apply restores.", Computed: true, PlanModifiers: keep},
			"snapshot_taken_at": schema.StringAttribute{MarkdownDescription: "When that snapshot was taken (RFC 3339).", Computed: true, PlanModifiers: keep},
			"snapshot_age":      schema.StringAttribute{MarkdownDescription: "The snapshot's age when the restore was planned.", Computed: true, PlanModifiers: keep},
			"address":           schema.StringAttribute{MarkdownDescription: "`127.0.0.1:<port>` of the restored instance.", Computed: true, PlanModifiers: keep},
			"key_count":         schema.Int64Attribute{MarkdownDescription: "Keys the restored instance loaded.", Computed: true, PlanModifiers: []planmodifier.Int64{int64planmodifier.UseStateForUnknown()}},
		},
		Blocks: map[string]schema.Block{"repository": replacingRepositoryBlock()},
	}
}

// Configure implements resource.ResourceWithConfigure.
func (r *redisRestoreResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

// ValidateConfig implements resource.ResourceWithValidateConfig.
func (r *redisRestoreResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m redisRestoreModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	m.Repository.validate("the repository the snapshot is restored from", &resp.Diagnostics)
}

// ModifyPlan implements resource.ResourceWithModifyPlan: a new restore
// resolves its snapshot now, so the plan names it and its age, and a
// saved plan applies exactly that one.
func (r *redisRestoreResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() || !req.State.Raw.IsNull() || r.data == nil {
		return // destroy, an existing restore (keeps what it restored), or validation
	}
	var m redisRestoreModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() || m.Repository == nil || m.Repository.Bucket.IsUnknown() || m.Repository.Prefix.IsUnknown() ||
		m.Cluster.IsUnknown() || m.Instance.IsUnknown() || m.Snapshot.IsUnknown() {
		return // known at apply; it resolves the snapshot then
	}
	client := r.data.storeClient(ctx, &resp.Diagnostics)
	if client == nil {
		return
	}
	store := client.Store(m.Repository.Bucket.ValueString())
	sm, planned, notKept, err := redisx.PlanKept(ctx, store, m.layout(), m.Instance.ValueString(), m.Snapshot.ValueString(), m.identity())
	if notKept != nil {
		resp.Diagnostics.AddWarning("Planned Snapshot Not Kept",
			fmt.Sprintf("%v. A saved plan applied after a newer snapshot was taken will fail as inconsistent; plan and apply in one step, or name the snapshot by id.", notKept))
	}
	if errors.Is(err, redisx.ErrSnapshotNotFound) {
		resp.Diagnostics.AddAttributeError(path.Root("snapshot"), "Redis Snapshot Not Found",
			fmt.Sprintf("%v. List the snapshots with data.lifeboat_recovery_points (redis_snapshots) or `lifeboat backups`, and name one of them or \"latest\".", err))
		return
	}
	if err != nil {
		resp.Diagnostics.Append(errorDiag("Error Reading Redis Snapshots", "finding snapshot "+m.Snapshot.ValueString()+" of "+m.Instance.ValueString(), err))
		return
	}
	// An encrypted snapshot no identity held opens fails here, at plan,
	// naming the recipients it needs, not halfway through the apply.
	ids, err := crypt.LoadIdentities(r.data.identityFile)
	if err == nil {
		err = ids.Check("redis snapshot "+sm.ID+" of "+m.Instance.ValueString(), sm.Encryption)
	}
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("snapshot"), "Redis Snapshot Cannot Be Decrypted",
			fmt.Sprintf("%v. Set the provider's identity_file (or LIFEBOAT_AGE_IDENTITY_FILE) to the identity of one of those recipients.", err))
		return
	}
	m.SnapshotID = types.StringValue(sm.ID)
	m.SnapshotTakenAt = types.StringValue(sm.TakenAt.UTC().Format(time.RFC3339))
	m.SnapshotAge = types.StringValue(shortDuration(max(0, planned.Sub(sm.TakenAt).Truncate(time.Second))))
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &m)...)
}

// Create implements resource.Resource.
func (r *redisRestoreResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var m redisRestoreModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	client := r.data.storeClient(ctx, &resp.Diagnostics)
	if client == nil {
		return
	}
	store := client.Store(m.Repository.Bucket.ValueString())
	id := m.SnapshotID.ValueString()
	if m.SnapshotID.IsUnknown() { // unknown at plan: resolved now
		sm, err := redisx.FindSnapshot(ctx, store, m.layout(), m.Instance.ValueString(), m.Snapshot.ValueString())
		if err != nil {
			resp.Diagnostics.AddAttributeError(path.Root("snapshot"), "Redis Snapshot Not Found", err.Error())
			return
		}
		id = sm.ID
		m.SnapshotAge = types.StringValue(shortDuration(time.Since(sm.TakenAt).Truncate(time.Second)))
	}
	var keys []string
	resp.Diagnostics.Append(m.SampleKeys.ElementsAs(ctx, &keys, false)...)
	tflog.Info(ctx, "restoring a redis snapshot", map[string]any{"instance": m.Instance.ValueString(), "snapshot": id, "directory": m.Directory.ValueString()})
	ids, err := crypt.LoadIdentities(r.data.identityFile)
	if err != nil {
		resp.Diagnostics.Append(errorDiag("Error Loading Age Identities", "loading the identities that decrypt encrypted snapshots", err))
		return
	}
	res, err := redisx.RestoreInto(ctx, store, m.layout(), m.Instance.ValueString(), id,
		redisx.RestoreTarget{Dir: m.Directory.ValueString(), Port: int(m.Port.ValueInt64()), RedisServer: m.RedisServer.ValueString(),
			Password: m.Password.ValueString(), Identities: ids},
		redisx.RestoreChecks{MinKeys: m.MinKeys.ValueInt64(), Keys: keys})
	if res != nil && res.Manifest != nil {
		m.SnapshotID = types.StringValue(res.Manifest.ID)
		m.SnapshotTakenAt = types.StringValue(res.Manifest.TakenAt.UTC().Format(time.RFC3339))
	}
	if err != nil {
		attr := path.Root("directory")
		switch {
		case errors.Is(err, redisx.ErrCheckFailed):
			attr = path.Root("min_keys")
		case errors.Is(err, redisx.ErrSnapshotNotFound), errors.Is(err, redisx.ErrChecksumMismatch):
			attr = path.Root("snapshot")
		}
		resp.Diagnostics.AddAttributeError(attr, "Redis Restore Failed",
			fmt.Sprintf("Restoring snapshot %s of %q into %s: %v. A running instance is left for inspection; `terraform apply` again starts over in the same directory.",
				id, m.Instance.ValueString(), m.Directory.ValueString(), err))
		return
	}
	if err := redisx.ReleaseKept(ctx, store, m.layout(), m.identity()); err != nil {
		tflog.Warn(ctx, "forgetting the kept snapshot choice", map[string]any{"error": err.Error()})
	}
	m.ID = types.StringValue(m.Cluster.ValueString() + "/" + m.Instance.ValueString() + "@" + m.Directory.ValueString())
	m.Address = types.StringValue(res.Addr)
	m.KeyCount = types.Int64Value(res.Keys)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// Read implements resource.Resource: a restore whose directory is gone is
// gone.
func (r *redisRestoreResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m redisRestoreModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if _, err := os.Stat(filepath.Join(m.Directory.ValueString(), "redis.conf")); errors.Is(err, os.ErrNotExist) {
		resp.State.RemoveResource(ctx)
		return
	}
	if !redisx.Running(ctx, m.Directory.ValueString(), int(m.Port.ValueInt64()), m.Password.ValueString()) {
		resp.Diagnostics.AddWarning("Restored Redis Not Running",
			fmt.Sprintf("The restored instance in %s does not answer on 127.0.0.1:%d. Start it with `redis-server %s/redis.conf`, or replace the restore (terraform apply -replace).",
				m.Directory.ValueString(), m.Port.ValueInt64(), m.Directory.ValueString()))
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// Update implements resource.Resource: every input replaces the restore.
func (r *redisRestoreResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var m redisRestoreModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// Delete implements resource.Resource: the instance stops and its
// directory goes.
func (r *redisRestoreResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m redisRestoreModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if err := redisx.Teardown(ctx, m.Directory.ValueString(), int(m.Port.ValueInt64()), m.Password.ValueString()); err != nil {
		resp.Diagnostics.Append(errorDiag("Error Removing Restored Redis", "stopping the instance in "+m.Directory.ValueString(), err))
	}
}

// identity is what makes two plans the same restore (PlanKept).
func (m *redisRestoreModel) identity() string {
	return strings.Join([]string{m.Repository.Bucket.ValueString(), m.Repository.Prefix.ValueString(), m.Cluster.ValueString(),
		m.Instance.ValueString(), m.Snapshot.ValueString(), m.Directory.ValueString(), strconv.FormatInt(m.Port.ValueInt64(), 10)}, "\n")
}

func (m *redisRestoreModel) layout() repo.Layout {
	return repo.Layout{Prefix: m.Repository.Prefix.ValueString(), Cluster: m.Cluster.ValueString()}
}
