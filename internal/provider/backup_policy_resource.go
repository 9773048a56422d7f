package provider

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/objectvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/catalog"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/pg"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/posture"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/schedule"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

var (
	_ resource.ResourceWithConfigure      = (*backupPolicyResource)(nil)
	_ resource.ResourceWithValidateConfig = (*backupPolicyResource)(nil)
	_ resource.ResourceWithModifyPlan     = (*backupPolicyResource)(nil)
	_ resource.ResourceWithImportState    = (*backupPolicyResource)(nil)
)

// Data classes a tier may name, with the prefix each defaults to.
var tierClasses = map[string]string{
	"transactional": "", // the cluster's repository root: its data folders (repo.Layout.LifecyclePrefixes)
	"attachments":   "attachments/",
	"audit":         "audit/",
	"config":        "config/",
}

// NewBackupPolicyResource is the lifeboat_backup_policy constructor.
func NewBackupPolicyResource() resource.Resource { return &backupPolicyResource{} }

// backupPolicyResource declares when a cluster is backed up, what is kept,
// and for how long each data class lives; the agent daemon executes it.
type backupPolicyResource struct {
	data *providerData
}

type backupPolicyModel struct {
	ID                 types.String          `tfsdk:"id"`
	Cluster            types.String          `tfsdk:"cluster"`
	Postgres           *postgresModel        `tfsdk:"postgres"`
	Repository         *repositoryRef        `tfsdk:"repository"`
	Schedule           types.String          `tfsdk:"schedule"`
	Retention          *policyRetentionModel `tfsdk:"retention"`
	Tiers              []policyTierModel     `tfsdk:"tier"`
	TenantDatabases    stringSetValue        `tfsdk:"tenant_databases"`
	TenantDumpParallel types.Int64           `tfsdk:"tenant_dump_parallelism"`
	VerifySchedule     types.String          `tfsdk:"verify_schedule"`
	Encryption         *encryptionModel      `tfsdk:"encryption"`
	AuditRetention     *auditRetentionModel  `tfsdk:"audit_retention"`
	RPO                types.String          `tfsdk:"rpo"`
	RTO                types.String          `tfsdk:"rto"`
	WALArchiving       types.Bool            `tfsdk:"wal_archiving"`
	BackupOnCreate     types.Bool            `tfsdk:"backup_on_create"`
	// Agent, Executor and ClaimTimeout: where the backup of
	// backup_on_create is taken (see firstBackup).
	Agent               types.String   `tfsdk:"agent"`
	Executor            types.String   `tfsdk:"executor"`
	ClaimTimeout        types.String   `tfsdk:"claim_timeout"`
	Compression         types.String   `tfsdk:"compression"`
	LastBackupID        types.String   `tfsdk:"last_backup_id"`
	LastBackupTime      types.String   `tfsdk:"last_backup_time"`
	RecoveryWindowStart types.String   `tfsdk:"recovery_window_start"`
	RecoveryWindowEnd   types.String   `tfsdk:"recovery_window_end"`
	SignedBy            types.String   `tfsdk:"signed_by"`
	Timeouts            timeouts.Value `tfsdk:"timeouts"`
}

type policyRetentionModel struct {
	FullCount types.Int64 `tfsdk:"full_count"`
	Days      types.Int64 `tfsdk:"days"`
}

type policyTierModel struct {
	Name          types.String `tfsdk:"name"`
	Prefix        types.String `tfsdk:"prefix"`
	RetentionDays types.Int64  `tfsdk:"retention_days"`
}

// Metadata implements resource.Resource.
func (r *backupPolicyResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_backup_policy"
}

// Schema implements resource.Resource.
func (r *backupPolicyResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	keepState := []planmodifier.String{stringplanmodifier.UseStateForUnknown()}
	resp.Schema = schema.Schema{
		MarkdownDescription: "A backup policy for one PostgreSQL cluster: schedule, retention, per-data-class lifetimes " +
			"(applied as bucket lifecycle rules), and the tenant databases dumped logically. The policy is written into " +
			"the repository (`<prefix>/<cluster>/policy.json`, no secrets) where `lifeboat agent` executes it. " +
			"Plan fails when a tier would expire backups or WAL the retention still needs, when the bucket's object lock " +
			"outlives the retention (the bucket could not remove what prune lets go), or when the schedule cannot meet the declared RPO/RTO. " +
			"Refresh reports the last backup and the restorable window, and warns when a backup is overdue. " +
			"Destroying the policy stops scheduling; it never deletes backups.",
		Attributes: map[string]schema.Attribute{
			"id":        schema.StringAttribute{MarkdownDescription: "The cluster name.", Computed: true, PlanModifiers: keepState},
			"signed_by": signedByAttribute(),
			"cluster": schema.StringAttribute{
				MarkdownDescription: "Cluster name in the repository (the same as its `lifeboat_wal_archive`). Changing it replaces the policy.",
				Required:            true,
				PlanModifiers:       []planmodifier.String{stringplanmodifier.RequiresReplace()},
				Validators:          []validator.String{keyNameValidator{}},
			},
			"schedule": schema.StringAttribute{
				MarkdownDescription: "When base backups run, in UTC: five cron fields (`0 2 * * *`) or `@daily`, `@hourly`, `@every 6h`.",
				Required:            true,
				Validators:          []validator.String{cronValidator{}},
			},
			"tenant_databases": schema.SetAttribute{
				MarkdownDescription: "Databases (one per Odoo tenant) dumped logically (`pg_dump -Fc`) with every scheduled backup, each into its own prefix.",
				ElementType:         types.StringType,
				CustomType:          newStringSetType(),
				Optional:            true,
			},
			"tenant_dump_parallelism": schema.Int64Attribute{
				MarkdownDescription: fmt.Sprintf("How many tenant databases are dumped at once (one `pg_dump` each). Default `%d`. "+
					"Every tenant is attempted even when others fail; failures are named in the agent's job record, the "+
					"`lifeboat_tenant_dump_failures` metric and a warning on refresh.", backup.DefaultTenantParallelism),
				Optional:   true,
				Computed:   true,
				Default:    int64default.StaticInt64(backup.DefaultTenantParallelism),
				Validators: []validator.Int64{int64validator.Between(1, backup.MaxTenantParallelism)},
			},
			"verify_schedule": schema.StringAttribute{
				MarkdownDescription: "When `lifeboat agent` verifies the newest base backup by content, in UTC (cron, like `schedule`): every part, " +
					"every data file against PostgreSQL's backup_manifest, and every WAL segment a restore of it reads against the checksum stored with it. " +
					"The result is in the agent's metrics (`lifeboat_verify_success`, `lifeboat_verify_problems`) and a failure shows as a warning on refresh. " +
					"Unset: no scheduled verification.",
				Optional:   true,
				Validators: []validator.String{cronValidator{}},
			},
			"rpo": schema.StringAttribute{
				MarkdownDescription: "Declared recovery point objective. Without WAL archiving (`wal_archiving = false`), the schedule must back up at least this often.",
				Optional:            true,
				Validators:          []validator.String{durationValidator{min: time.Second}},
			},
			"rto": schema.StringAttribute{
				MarkdownDescription: "Declared recovery time objective. A restore replays the WAL written since the last backup; the check assumes replay runs at least 12 times faster than the WAL was written, so the longest gap between backups may be at most 12 × `rto`.",
				Optional:            true,
				Validators:          []validator.String{durationValidator{min: time.Second}},
			},
			"wal_archiving": schema.BoolAttribute{
				MarkdownDescription: "Whether the cluster's WAL is archived continuously (a `lifeboat_wal_archive`). Default `true`.",
				Optional:            true,
				Computed:            true,
				Default:             booldefault.StaticBool(true),
			},
			"backup_on_create": schema.BoolAttribute{
				MarkdownDescription: "Take a first base backup (and the tenant dumps) during apply, logging progress. Default `false`.",
				Optional:            true,
				Computed:            true,
				Default:             booldefault.StaticBool(false),
			},
			"compression": schema.StringAttribute{
				MarkdownDescription: "Codec of the base backups taken for this policy: `zstd`, `lz4` or `none`. It goes into the signed policy, so every " +
					"running agent uses it from its next refresh, with no file to change on the hosts (an agent's `--compression` flag still " +
					"overrides it). Default: the agent configuration's (`zstd` unless it says otherwise).",
				Optional: true, Validators: []validator.String{stringvalidator.OneOf("zstd", "lz4", "none")},
			},
			"agent": schema.StringAttribute{
				MarkdownDescription: "Host whose Lifeboat agent takes the backup of `backup_on_create` (its bootstrap file's `host`, see `data.lifeboat_agents`): " +
					"the provider writes a signed \"backup now\" request into the repository, the agent on that host claims it and takes the backup " +
					"there as the signed policy declares it (its own PostgreSQL connection, `pg_dump` and writer credentials), and the apply waits " +
					"for its result. Terraform then needs no route to PostgreSQL.",
				Optional: true, Validators: []validator.String{keyNameValidator{}},
			},
			"executor": schema.StringAttribute{
				MarkdownDescription: "Where the backup of `backup_on_create` runs: `agent` (the agent on `agent`, or any agent of the cluster) or `local` " +
					"(the machine running Terraform, through the `postgres` block). Default: `agent` when `agent` is set or a live agent of the " +
					"cluster publishes its heartbeat at apply, else `local`.",
				Optional: true, Validators: []validator.String{stringvalidator.OneOf("agent", "local")},
			},
			"claim_timeout": schema.StringAttribute{
				MarkdownDescription: "With the agent executor: how long the backup request may wait without a live agent claiming it before the apply " +
					"fails, naming the request and the live agents (the request is then withdrawn). Default `5m`.",
				Optional: true, Validators: []validator.String{durationValidator{min: time.Second}},
			},
			"last_backup_id":   schema.StringAttribute{MarkdownDescription: "Newest complete base backup, as refresh saw it: an update keeps it as planned (it takes no backup), and never causes a diff.", Computed: true, PlanModifiers: keepState},
			"last_backup_time": schema.StringAttribute{MarkdownDescription: "When it finished (RFC 3339).", Computed: true, PlanModifiers: keepState},
			"recovery_window_start": schema.StringAttribute{
				MarkdownDescription: "Earliest point in time the cluster can be restored to (RFC 3339).", Computed: true, PlanModifiers: keepState,
			},
			"recovery_window_end": schema.StringAttribute{
				MarkdownDescription: "Latest point covered by unbroken archived WAL (RFC 3339).", Computed: true, PlanModifiers: keepState,
			},
		},
		Blocks: map[string]schema.Block{
			"postgres":        postgresBlock("to back up (the role needs REPLICATION)"),
			"repository":      repositoryBlock(),
			"encryption":      encryptionBlock("the base backups and tenant dumps the agent takes for this policy (the signed policy carries the recipients; they override the agent configuration's)"),
			"audit_retention": auditRetentionBlock(),
			"retention": schema.SingleNestedBlock{
				MarkdownDescription: "What prune keeps: the newest `full_count` base backups and/or what a restore to any point of the last `days` days needs. WAL a kept backup needs is never pruned. " +
					"Prune deletes with delete markers only (the agent may not delete a version); the policy's lifecycle rules `pruned.<folder>` on the data folders remove the versions it hid once this retention has passed again, and the delete markers left behind.",
				Validators: []validator.Object{objectvalidator.IsRequired()},
				Attributes: map[string]schema.Attribute{
					"full_count": schema.Int64Attribute{MarkdownDescription: "Base backups to keep.", Optional: true, Validators: []validator.Int64{int64validator.Between(1, 10000)}},
					"days":       schema.Int64Attribute{MarkdownDescription: "Days of point-in-time recovery to keep.", Optional: true, Validators: []validator.Int64{int64validator.Between(1, 36500)}},
				},
			},
			"tier": schema.SetNestedBlock{
				MarkdownDescription: "Lifetime of one data class, applied as bucket lifecycle rules (IDs `lifeboat-policy/<prefix>/<cluster>:<name>`, owned by this policy alone): `transactional` (base backups, tenant dumps and WAL of the cluster's repository), `attachments`, `audit`, `config`. " +
					"A tier never expires what the agent needs: a prefix that covers the repository is narrowed to its data folders (`basebackups/`, `tenants/`, `wal/`), and a prefix that covers only its configuration, drill schedules, evidence, leases or job records, or another cluster's repository, is refused at plan.",
				NestedObject: schema.NestedBlockObject{
					Attributes: map[string]schema.Attribute{
						"name": schema.StringAttribute{
							MarkdownDescription: "Data class: `transactional`, `attachments`, `audit` or `config`.",
							Required:            true,
							Validators:          []validator.String{stringvalidator.OneOf("transactional", "attachments", "audit", "config")},
						},
						"prefix": schema.StringAttribute{
							MarkdownDescription: "Key prefix; defaults to the cluster's repository root for `transactional` (its data folders get the rules), and `attachments/`, `audit/`, `config/` for the others.",
							Optional:            true,
							Computed:            true,
							Validators:          []validator.String{keyPrefixValidator{trailingSlash: true}},
							// NOTE: no UseStateForUnknown: ModifyPlan computes
							// the default.
						},
						"retention_days": schema.Int64Attribute{
							MarkdownDescription: "Days objects of this class are kept before the store expires them.",
							Required:            true,
							Validators:          []validator.Int64{int64validator.Between(1, 36500)},
						},
					},
				},
			},
			"timeouts": timeouts.Block(ctx, timeouts.Opts{Create: true, Read: true, Update: true, Delete: true}),
		},
	}
}

// Configure implements resource.ResourceWithConfigure.
func (r *backupPolicyResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

// ValidateConfig implements resource.ResourceWithValidateConfig: the
// cross-checks that need only the configuration.
func (r *backupPolicyResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m backupPolicyModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	m.Postgres.validate(path.Root("postgres"), &resp.Diagnostics)
	m.Repository.validate("the bucket backups are written to", &resp.Diagnostics)
	m.Encryption.validate(&resp.Diagnostics)
	m.AuditRetention.validate(&resp.Diagnostics)
	if m.Retention != nil && m.Retention.FullCount.IsNull() && m.Retention.Days.IsNull() {
		resp.Diagnostics.AddAttributeError(path.Root("retention"), "Empty Retention", "Set retention.full_count, retention.days, or both.")
	}
	seen, prefixes := map[string]bool{}, map[string]string{}
	for _, t := range m.Tiers {
		if seen[t.Name.ValueString()] {
			resp.Diagnostics.AddAttributeError(path.Root("tier"), "Duplicate Tier", fmt.Sprintf("tier %q appears more than once.", t.Name.ValueString()))
		}
		seen[t.Name.ValueString()] = true
		// Two rules on one prefix: which expiry wins is up to the store.
		prefix, known := t.Prefix.ValueString(), !t.Prefix.IsUnknown() && !t.Prefix.IsNull()
		if t.Prefix.IsNull() && !t.Name.IsUnknown() && m.Repository != nil && !m.Cluster.IsUnknown() && !m.Repository.Prefix.IsUnknown() {
			prefix, known = defaultTierPrefix(t.Name.ValueString(), m.layout()), true
		}
		if !known {
			continue
		}
		if other, dup := prefixes[prefix]; dup {
			resp.Diagnostics.AddAttributeError(path.Root("tier"), "Duplicate Tier Prefix",
				fmt.Sprintf("tier %q and tier %q both apply to prefix %q; give each data class its own prefix.", other, t.Name.ValueString(), prefix))
		}
		prefixes[prefix] = t.Name.ValueString()
	}
	if m.Schedule.IsUnknown() || m.Schedule.IsNull() || m.Retention == nil {
		return
	}
	sched, err := schedule.Parse(m.Schedule.ValueString())
	if err != nil {
		return // the attribute validator reported it
	}
	gap := sched.MaxGap()

	// A tier must not expire what the retention still needs.
	if need := retentionNeedsDays(m.Retention, gap); need > 0 {
		for _, t := range m.Tiers {
			if t.Name.ValueString() != "transactional" || t.RetentionDays.IsUnknown() {
				continue
			}
			if days := t.RetentionDays.ValueInt64(); days < need {
				resp.Diagnostics.AddAttributeError(path.Root("tier"), "Tier Expires Backups Retention Still Needs",
					fmt.Sprintf("tier \"transactional\" retention_days = %d would let the store expire base backups and WAL that %s still keeps: "+
						"with schedule %q (up to %s between backups) the oldest kept backup and its WAL can be %d days old. "+
						"Raise tier.retention_days to at least %d, or shorten the retention.",
						days, describeRetention(m.Retention), m.Schedule.ValueString(), gap, need, need))
			}
		}
	}
	// The schedule against the declared RPO and RTO.
	// NOTE: wal_archiving's default (true) is not in the configuration yet.
	archiving := m.WALArchiving.IsNull() || m.WALArchiving.IsUnknown() || m.WALArchiving.ValueBool()
	if !m.RPO.IsNull() && !m.RPO.IsUnknown() && !archiving {
		if rpo, err := time.ParseDuration(m.RPO.ValueString()); err == nil && gap > rpo {
			resp.Diagnostics.AddAttributeError(path.Root("schedule"), "Schedule Cannot Meet RPO",
				fmt.Sprintf("Without WAL archiving, backups are the only recovery points: schedule %q leaves up to %s between backups, "+
					"beyond rpo = %q. Back up more often, or archive WAL (lifeboat_wal_archive) and set wal_archiving = true.", m.Schedule.ValueString(), gap, m.RPO.ValueString()))
		}
	}
	if !m.RTO.IsNull() && !m.RTO.IsUnknown() {
		if rto, err := time.ParseDuration(m.RTO.ValueString()); err == nil && gap > 12*rto {
			resp.Diagnostics.AddAttributeError(path.Root("schedule"), "Schedule Cannot Meet RTO",
				fmt.Sprintf("A restore replays the WAL written since the last backup: schedule %q leaves up to %s between backups, "+
					"more than 12 × rto = %s of replay even at 12 times the write speed. Back up at least every %s.",
					m.Schedule.ValueString(), gap, 12*rto, 12*rto))
		}
	}
}

// retentionNeedsDays is how old, in whole days, the oldest kept backup (and
// the WAL from its start) can get under the retention and schedule.
func retentionNeedsDays(ret *policyRetentionModel, gap time.Duration) int64 {
	var need time.Duration
	if !ret.Days.IsNull() && !ret.Days.IsUnknown() {
		// Every backup of the last days, and the newest one before them.
		need = time.Duration(ret.Days.ValueInt64())*24*time.Hour + gap
	}
	if !ret.FullCount.IsNull() && !ret.FullCount.IsUnknown() {
		if d := time.Duration(ret.FullCount.ValueInt64()) * gap; d > need {
			need = d
		}
	}
	return int64((need + 24*time.Hour - 1) / (24 * time.Hour))
}

func describeRetention(ret *policyRetentionModel) string {
	var parts []string
	if !ret.FullCount.IsNull() {
		parts = append(parts, fmt.Sprintf("full_count = %d", ret.FullCount.ValueInt64()))
	}
	if !ret.Days.IsNull() {
		parts = append(parts, fmt.Sprintf("days = %d", ret.Days.ValueInt64()))
	}
	return "retention { " + strings.Join(parts, ", ") + " }"
}

// ModifyPlan implements resource.ResourceWithModifyPlan: tier prefixes, and
// the check against the bucket's object lock, which needs the store.
func (r *backupPolicyResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() || r.data == nil {
		return
	}
	// Last, after every other change to the plan below.
	defer func() { resp.Diagnostics.Append(planSignedBy(ctx, r.data, req, resp)...) }()
	var plan backupPolicyModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() || plan.Repository == nil || plan.Cluster.IsUnknown() || plan.Repository.Prefix.IsUnknown() {
		return
	}
	layout := plan.layout()
	// GOTCHA: in a set of blocks, UseStateForUnknown may hand a new tier
	// the prefix of another tier's prior state (transactional's root for
	// a re-added attachments tier): a prefix not in the configuration is
	// always the tier's default.
	var config backupPolicyModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	configured := map[string]bool{}
	for _, t := range config.Tiers {
		configured[t.Name.ValueString()] = !t.Prefix.IsNull()
	}
	for i := range plan.Tiers {
		if !configured[plan.Tiers[i].Name.ValueString()] { // a configured prefix, even unknown, is kept
			plan.Tiers[i].Prefix = types.StringValue(defaultTierPrefix(plan.Tiers[i].Name.ValueString(), layout))
		}
	}
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
	if _, err := plan.tiers(layout); err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("tier"), "Tier Would Expire Repository Configuration",
			fmt.Sprintf("A tier's lifecycle rule must expire backup data only, never what the agent needs to keep working: %v. "+
				"Choose a prefix outside the repository, or one of its data folders (%s), or leave prefix unset.", err, strings.Join(layout.DataPrefixes(), ", ")))
		return
	}

	if plan.Repository.Bucket.IsUnknown() || plan.Retention == nil || plan.Schedule.IsUnknown() {
		return // the bucket is created in this apply: nothing to read yet (converge checks)
	}
	client, err := r.data.Store(ctx)
	if err != nil {
		return
	}
	st, err := client.ReadBucket(ctx, plan.Repository.Bucket.ValueString())
	if err != nil {
		return // missing buckets are reported at apply, with the attribute
	}
	if bad := posture.ExpiringConfig(layout, st.Spec.Lifecycle); len(bad) > 0 {
		resp.Diagnostics.AddAttributeError(path.Root("repository").AtName("bucket"), "Bucket Lifecycle Tier Would Expire Repository Configuration",
			posture.ExpiringConfigDetail(st.Spec.Name, layout, bad))
	}
	plan.AuditRetention.checkBucket(st.Spec.Name, st.Spec.Retention, &resp.Diagnostics)
	sched, err := schedule.Parse(plan.Schedule.ValueString())
	if err != nil || st.Spec.Retention == nil {
		return
	}
	need := retentionNeedsDays(plan.Retention, sched.MaxGap())
	if lock := int64(st.Spec.Retention.Days); lock > need+1 {
		resp.Diagnostics.AddAttributeError(path.Root("retention"), "Retention Shorter Than Bucket Lock",
			fmt.Sprintf("Bucket %q locks every object for %d days (%s), but %s only keeps backups about %d days: prune hides "+
				"what the retention lets go behind delete markers, but the bucket cannot remove its versions while they are locked, and the repository would grow for %d days past it. Raise the retention to at least %d days, "+
				"or lower the bucket's retention.days.", st.Spec.Name, lock, st.Spec.Retention.Mode, describeRetention(plan.Retention), need, lock-need, lock))
	}
}

// Create implements resource.Resource.
func (r *backupPolicyResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	r.apply(ctx, req.Plan, nil, &resp.State, &resp.Diagnostics, func(t timeouts.Value) (time.Duration, diag.Diagnostics) {
		return t.Create(ctx, 60*time.Minute)
	})
}

// Update implements resource.Resource.
func (r *backupPolicyResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	r.apply(ctx, req.Plan, &req.State, &resp.State, &resp.Diagnostics, func(t timeouts.Value) (time.Duration, diag.Diagnostics) {
		return t.Update(ctx, 10*time.Minute)
	})
}

// apply writes the policy and its tier rules, takes the first backup when
// creating (prior is nil) with backup_on_create, and records the posture
// as the new state.
func (r *backupPolicyResource) apply(ctx context.Context, planned tfsdk.Plan, prior *tfsdk.State, state *tfsdk.State, diags *diag.Diagnostics,
	timeout timeoutFunc) {
	var plan backupPolicyModel
	diags.Append(planned.Get(ctx, &plan)...)
	if diags.HasError() {
		return
	}
	ctx, cancel := withTimeout(ctx, plan.Timeouts, timeout, diags)
	defer cancel()
	store, ok := r.converge(ctx, &plan, diags)
	if !ok {
		return
	}
	if prior == nil {
		var taken string
		if plan.BackupOnCreate.ValueBool() {
			taken = r.firstBackup(ctx, store, &plan, diags)
			if diags.HasError() {
				return
			}
		}
		r.observe(ctx, store, &plan, diags)
		r.lastBackupTaken(ctx, store, &plan, taken, diags)
	}
	// On update the last backup and the restorable window stay as planned:
	// they move with every backup and every archived segment, so the plan
	// kept them as refresh saw them, and the update takes no backup. The
	// next refresh shows the news.
	diags.Append(state.Set(ctx, &plan)...)
}

// converge writes the policy document and the tier lifecycle rules.
func (r *backupPolicyResource) converge(ctx context.Context, m *backupPolicyModel, diags *diag.Diagnostics) (objectstore.Store, bool) {
	client := r.data.storeClient(ctx, diags)
	if client == nil {
		return nil, false
	}
	bucket := m.Repository.Bucket.ValueString()
	if !requireBucket(ctx, client, bucket, path.Root("repository").AtName("bucket"), diags) {
		return nil, false
	}
	store := client.Store(bucket)
	layout := m.layout()
	st, err := client.ReadBucket(ctx, bucket)
	if err != nil {
		diags.Append(errorDiag("Error Reading Repository Bucket", fmt.Sprintf("reading the lifecycle of bucket %q", bucket), err))
		return nil, false
	}
	if bad := posture.ExpiringConfig(layout, st.Spec.Lifecycle); len(bad) > 0 {
		diags.AddAttributeError(path.Root("repository").AtName("bucket"), "Bucket Lifecycle Tier Would Expire Repository Configuration",
			posture.ExpiringConfigDetail(bucket, layout, bad))
		return nil, false
	}
	// The bucket may have been created in this apply, after the plan.
	m.AuditRetention.checkBucket(bucket, st.Spec.Retention, diags)
	if diags.HasError() {
		return nil, false
	}
	for i, t := range m.Tiers {
		if t.Prefix.IsUnknown() || t.Prefix.IsNull() { // the layout was unknown at plan
			m.Tiers[i].Prefix = types.StringValue(defaultTierPrefix(t.Name.ValueString(), layout))
		}
	}
	if err := repo.WritePolicy(ctx, store, layout, m.policy(), r.data.signer); err != nil {
		diags.Append(errorDiag("Error Writing Backup Policy", fmt.Sprintf("writing s3://%s/%s", bucket, layout.PolicyKey()), err))
		return nil, false
	}
	tiers, err := m.tiers(layout)
	if err != nil {
		diags.AddAttributeError(path.Root("tier"), "Tier Would Expire Repository Configuration", err.Error())
		return nil, false
	}
	if err := client.SetPolicyTiers(ctx, bucket, layout.Root(), tiers); err != nil {
		diags.Append(errorDiag("Error Applying Tier Lifecycle Rules", fmt.Sprintf("setting the policy's lifecycle rules on bucket %q", bucket), err))
		return nil, false
	}
	m.ID = m.Cluster
	m.SignedBy = types.StringValue(r.data.signerID())
	return store, true
}

// firstBackup takes a base backup and the tenant dumps, logging progress:
// on the cluster's agent when one is named or alive (see backupOnAgent),
// else here. It returns the base backup it took ("" when unknown).
func (r *backupPolicyResource) firstBackup(ctx context.Context, store objectstore.Store, m *backupPolicyModel, diags *diag.Diagnostics) (backupID string) {
	if id, done := r.backupOnAgent(ctx, store, m, diags); done || diags.HasError() {
		return id
	}
	progress := func(p backup.Progress) {
		tflog.Info(ctx, "backup in progress", map[string]any{"id": p.ID, "database": p.Database, "phase": p.Phase,
			"read_mb": p.Read / 1e6, "stored_mb": p.Stored / 1e6, "mb_per_s": fmt.Sprintf("%.1f", p.Rate())})
	}
	recipients, err := m.Encryption.repo().Parse()
	if err != nil {
		diags.AddAttributeError(path.Root("encryption"), "Invalid Age Recipient", err.Error())
		return ""
	}
	manifest, err := backup.Take(ctx, store, backup.Options{Layout: m.layout(), DSN: m.Postgres.dsn(), Progress: progress, Recipients: recipients,
		Compression: m.Compression.ValueString()})
	if err != nil {
		diags.Append(errorDiag("Error Taking First Base Backup",
			fmt.Sprintf("taking a base backup of %s (backup_on_create = true)", m.Postgres.describe()), err))
		return ""
	}
	tflog.Info(ctx, "base backup complete", map[string]any{"id": manifest.ID, "stored_bytes": manifest.StoredSize})
	dbs := m.tenantDatabases()
	if len(dbs) == 0 {
		return manifest.ID
	}
	_, err = backup.DumpTenants(ctx, store, backup.TenantOptions{Layout: m.layout(), DSN: m.Postgres.dsn(), PGDump: pg.Program("pg_dump"),
		Parallelism: int(m.TenantDumpParallel.ValueInt64()), Progress: progress, Recipients: recipients}, dbs)
	var tde *backup.TenantDumpError
	switch {
	case errors.As(err, &tde):
		diags.Append(errorDiag("Error Dumping Tenant Databases", fmt.Sprintf("dumping %v from %s (backup_on_create = true): the dumps of %s failed, "+
			"every other tenant was dumped. Fix or remove those databases from tenant_databases, then apply again", dbs, m.Postgres.describe(),
			strings.Join(tde.Databases(), ", ")), err))
	case err != nil:
		diags.Append(errorDiag("Error Dumping Tenant Databases", fmt.Sprintf("dumping %v from %s (backup_on_create = true)", dbs, m.Postgres.describe()), err))
	}
	return manifest.ID
}

// Read implements resource.Resource.
func (r *backupPolicyResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state backupPolicyModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, diags := state.Timeouts.Read(ctx, 2*time.Minute)
	resp.Diagnostics.Append(diags...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := r.data.storeClient(ctx, &resp.Diagnostics)
	if client == nil {
		return
	}
	bucket := state.Repository.Bucket.ValueString()
	store := client.Store(bucket)
	layout := state.layout()
	p, signedBy, err := findBackupPolicy(ctx, store, layout, r.data.trust())
	if isNotFound(err) {
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil {
		resp.Diagnostics.Append(errorDiag("Error Reading Backup Policy", fmt.Sprintf("reading s3://%s/%s", bucket, layout.PolicyKey()), err))
		return
	}
	// Drift in the stored policy shows as a planned update.
	state.SignedBy = types.StringValue(signedBy)
	state.Schedule = types.StringValue(p.Schedule)
	state.Retention = &policyRetentionModel{FullCount: optionalInt(int32(p.Retention.FullCount)), Days: optionalInt(int32(p.Retention.Days))}
	state.TenantDatabases = stringSetValue{SetValue: stringSet(state.TenantDatabases.SetValue, p.TenantDatabases)}
	state.TenantDumpParallel = types.Int64Value(int64(cmp.Or(p.TenantDumpParallelism, backup.DefaultTenantParallelism)))
	state.VerifySchedule = optionalString(p.VerifySchedule)
	state.Compression = optionalString(p.Compression)
	// The recipients the agent encrypts to are the stored policy's: a
	// policy rewritten without them, or with others, is drift even though
	// its signature (signed_by) tells only who wrote it.
	state.Encryption = encryptionFromRepo(p.Encryption)
	state.AuditRetention = auditRetentionFromRepo(p.AuditRetention)
	tiers, err := client.PolicyTiers(ctx, bucket, layout.Root())
	if err != nil {
		resp.Diagnostics.Append(errorDiag("Error Reading Tier Lifecycle Rules", fmt.Sprintf("reading bucket %q lifecycle", bucket), err))
		return
	}
	state.Tiers = observedPolicyTiers(state.Tiers, tiers, layout)
	cat := r.observe(ctx, store, &state, &resp.Diagnostics)
	r.warnPosture(ctx, store, layout, p, cat, &resp.Diagnostics)
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

// observe fills the computed posture values from the catalog, and returns
// it (nil when it could not be read).
func (r *backupPolicyResource) observe(ctx context.Context, store objectstore.Store, m *backupPolicyModel, diags *diag.Diagnostics) *catalog.Catalog {
	m.LastBackupID, m.LastBackupTime = types.StringNull(), types.StringNull()
	m.RecoveryWindowStart, m.RecoveryWindowEnd = types.StringNull(), types.StringNull()
	// NOTE: only the physical backups: the policy shows the newest base
	// backup and the window, and reading every tenant dump's manifest
	// would cost one GET per dump on every refresh.
	c, err := catalog.LoadPhysical(ctx, store, m.layout())
	if err != nil {
		diags.AddWarning("Backup Catalog Unreadable", fmt.Sprintf("The repository's backups could not be listed: %v", err))
		return nil
	}
	if n := len(c.Physical); n > 0 {
		last := c.Physical[n-1]
		m.LastBackupID = types.StringValue(last.ID)
		m.LastBackupTime = types.StringValue(last.StopTime.UTC().Format(time.RFC3339))
	}
	w, err := c.RestorableWindow(ctx, store)
	if err == nil && w.Restorable {
		m.RecoveryWindowStart = types.StringValue(w.Earliest.UTC().Format(time.RFC3339))
		m.RecoveryWindowEnd = types.StringValue(w.Latest.UTC().Format(time.RFC3339))
	}
	return c
}

// lastBackupTaken makes the backup the apply took (id) the last backup in
// state: the one the "backup now" request's result names, not whatever
// is newest in the catalog (a scheduled backup of another agent may have
// started beside it). Unknown or unreadable, the catalog's newest stays.
func (r *backupPolicyResource) lastBackupTaken(ctx context.Context, store objectstore.Store, m *backupPolicyModel, id string, diags *diag.Diagnostics) {
	if id == "" || m.LastBackupID.ValueString() == id {
		return
	}
	man, err := backup.ReadManifest(ctx, store, m.layout(), id)
	if err != nil {
		diags.AddWarning("Backup Taken On Create Unreadable",
			fmt.Sprintf("The backup %s taken on create could not be read back (%v): last_backup_id shows the newest in the catalog instead. "+
				"The next refresh reads the catalog again.", id, err))
		return
	}
	m.LastBackupID = types.StringValue(man.ID)
	m.LastBackupTime = types.StringValue(man.StopTime.UTC().Format(time.RFC3339))
}

// warnPosture shows the posture engine's findings on the policy p as read
// from the repository: the newest base backup against the schedule (a new
// policy owes no backup before its first slot after p.Created), the
// tenants whose dump failed in the agent's last scheduled backup, and, with
// a verify_schedule, the agent's last verification. cat is the catalog of
// physical backups (nil: unreadable, already warned about).
func (r *backupPolicyResource) warnPosture(ctx context.Context, store objectstore.Store, l repo.Layout, p *repo.Policy, cat *catalog.Catalog, diags *diag.Diagnostics) {
	c := posture.ClusterObservation{Cluster: l.Cluster, Layout: l, Catalog: cat, Policy: p}
	var ids []string
	if cat != nil {
		ids = append(ids, posture.ControlBaseBackupAge)
	}
	c.BackupRun, c.BackupRunErr = repo.ReadJobRun(ctx, store, l, repo.JobBackup)
	ids = append(ids, posture.ControlTenantDumpErrors)
	if p.VerifySchedule != "" {
		c.VerifyRun, c.VerifyErr = repo.ReadJobRun(ctx, store, l, repo.JobVerify)
		ids = append(ids, posture.ControlVerification)
	}
	warnFindings(diags, &posture.Observation{Bucket: store.Bucket(), Prefix: l.Prefix, Clusters: []posture.ClusterObservation{c}}, posture.Params{}, ids...)
}

// Delete implements resource.Resource: scheduling stops, backups stay.
func (r *backupPolicyResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state backupPolicyModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	client := r.data.storeClient(ctx, &resp.Diagnostics)
	if client == nil {
		return
	}
	bucket := state.Repository.Bucket.ValueString()
	// Not found is success: the policy is gone, which destroy wants.
	if err := asNotFound("backup policy", repo.DeletePolicy(ctx, client.Store(bucket), state.layout())); err != nil && !isNotFound(err) {
		resp.Diagnostics.Append(errorDiag("Error Deleting Backup Policy", fmt.Sprintf("deleting the policy of %q", state.Cluster.ValueString()), err))
		return
	}
	if err := asNotFound("bucket", client.SetPolicyTiers(ctx, bucket, state.layout().Root(), nil)); err != nil && !isNotFound(err) {
		resp.Diagnostics.Append(errorDiag("Error Removing Tier Lifecycle Rules", fmt.Sprintf("removing the policy's lifecycle rules from %q", bucket), err))
	}
}

// ImportState implements resource.ResourceWithImportState. The ID is
// "<bucket>/<cluster>" or "<bucket>/<prefix>/<cluster>"; the postgres block
// comes from the configuration.
func (r *backupPolicyResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	repoRef, cluster, ok := parseRepositoryPath(req.ID)
	if !ok {
		resp.Diagnostics.AddError("Invalid Import ID",
			fmt.Sprintf("Expected \"<bucket>/<cluster>\" or \"<bucket>/<prefix>/<cluster>\" (e.g. acme-backups/pg/odoo-main), got %q.", req.ID))
		return
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), cluster)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("cluster"), cluster)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("repository"), repoRef)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("wal_archiving"), true)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("backup_on_create"), false)...)
}

// findBackupPolicy is the policy document the agent schedules from, or a
// *notFoundError when it (or its bucket) does not exist.
func findBackupPolicy(ctx context.Context, store objectstore.Store, layout repo.Layout, trust signature.Trust) (*repo.Policy, string, error) {
	p, signedBy, err := repo.ReadPolicySigned(ctx, store, layout, trust)
	if err != nil {
		return nil, "", asNotFound(fmt.Sprintf("backup policy %s", layout.PolicyKey()), err)
	}
	return p, signedBy, nil
}

func (m *backupPolicyModel) layout() repo.Layout {
	return repo.Layout{Prefix: m.Repository.Prefix.ValueString(), Cluster: m.Cluster.ValueString()}
}

func defaultTierPrefix(name string, l repo.Layout) string {
	if name == "transactional" {
		return l.RootDir()
	}
	return tierClasses[name]
}

// tiers are the lifecycle rules of the declared tiers: one per prefix the
// repository layout lets the tier's prefix cover (see
// repo.Layout.LifecyclePrefixes), named "<tier>" when that is the declared
// prefix itself, "<tier>.<folder>" for each data folder otherwise.
func (m *backupPolicyModel) tiers(l repo.Layout) ([]objectstore.LifecycleTier, error) {
	var out []objectstore.LifecycleTier
	for _, t := range m.Tiers {
		prefix := t.Prefix.ValueString()
		if t.Prefix.IsNull() || t.Prefix.IsUnknown() {
			prefix = defaultTierPrefix(t.Name.ValueString(), l)
		}
		prefixes, err := l.LifecyclePrefixes(prefix)
		if err != nil {
			return nil, fmt.Errorf("tier %q: %w", t.Name.ValueString(), err)
		}
		days := int32(t.RetentionDays.ValueInt64())
		for _, p := range prefixes {
			name := t.Name.ValueString()
			if len(prefixes) > 1 || p != prefix {
				name += "." + folderName(p)
			}
			out = append(out, objectstore.LifecycleTier{Name: name, Prefix: p, ExpirationDays: days, NoncurrentVersionExpirationDays: days})
		}
	}
	// Lease renewals, job records, heartbeats (agents/) and request
	// progress (requests/) rewrite the same keys all day: their replaced
	// versions go after a day (each is locked for minutes only, and an
	// agent with the writer role may not delete versions itself). Current
	// versions never expire. Superseded lease generations are hidden by a
	// delete marker, which goes too once nothing is behind it (the newest
	// generation is never deleted, so no key is reused).
	for _, f := range []repo.Folder{repo.FolderLeases, repo.FolderJobs, repo.FolderAgents, repo.FolderRequests} {
		out = append(out, objectstore.LifecycleTier{Name: agentRulePrefix + string(f), Prefix: l.Dir(f), NoncurrentVersionExpirationDays: 1,
			ExpiredObjectDeleteMarker: f == repo.FolderLeases})
	}
	// Prune only adds delete markers (the writer may not delete versions):
	// the versions it hid go, with the bucket's rights, once the policy's
	// retention has passed again, so a prune made in error can be undone
	// (by removing the markers) for as long. Markers left with no version
	// behind them go too. Data folders only: elsewhere a replaced version
	// may be what the agent needs.
	if days := m.prunedVersionDays(); days > 0 {
		for _, p := range l.DataPrefixes() {
			out = append(out, objectstore.LifecycleTier{Name: prunedRulePrefix + folderName(p), Prefix: p,
				NoncurrentVersionExpirationDays: days, ExpiredObjectDeleteMarker: true})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// prunedVersionDays is how long, in days, a version prune hid stays: what
// the retention keeps (retentionNeedsDays), at least a day; 0 without a
// retention.
func (m *backupPolicyModel) prunedVersionDays() int32 {
	if m.Retention == nil {
		return 0
	}
	var gap time.Duration
	if s, err := schedule.Parse(m.Schedule.ValueString()); err == nil {
		gap = s.MaxGap()
	}
	return int32(max(1, retentionNeedsDays(m.Retention, gap)))
}

// prunedRulePrefix names the policy's rules that remove what prune hid,
// which are no tier.
const prunedRulePrefix = "pruned."

// agentRulePrefix names the policy's rules for the agent's own records,
// which are no tier.
const agentRulePrefix = "agent."

// layoutOfRoot is the layout of the repository whose root is root.
func layoutOfRoot(root string) repo.Layout {
	i := strings.LastIndexByte(root, '/')
	if i < 0 {
		return repo.Layout{Cluster: root}
	}
	return repo.Layout{Prefix: root[:i], Cluster: root[i+1:]}
}

// folderName is the last segment of a folder prefix ("pg/main/wal/" gives
// "wal").
func folderName(prefix string) string {
	p := strings.TrimSuffix(prefix, "/")
	return p[strings.LastIndexByte(p, '/')+1:]
}

// observedPolicyTiers groups the policy's rules back into tiers (by the
// name before the '.'). A tier keeps its prior prefix (or the default)
// when the rules are exactly what that prefix gives; otherwise its prefix
// shows the prefixes found, so the plan shows the drift.
func observedPolicyTiers(prior []policyTierModel, observed []objectstore.LifecycleTier, l repo.Layout) []policyTierModel {
	priorPrefix := map[string]string{}
	for _, t := range prior {
		priorPrefix[t.Name.ValueString()] = t.Prefix.ValueString()
	}
	type group struct {
		prefixes []string
		days     int32
		mixed    bool
	}
	groups := map[string]*group{}
	var names []string
	for _, t := range observed {
		if strings.HasPrefix(t.Name, agentRulePrefix) || strings.HasPrefix(t.Name, prunedRulePrefix) {
			continue
		}
		name, _, _ := strings.Cut(t.Name, ".")
		g, ok := groups[name]
		if !ok {
			g = &group{days: t.ExpirationDays}
			groups[name] = g
			names = append(names, name)
		}
		g.prefixes = append(g.prefixes, t.Prefix)
		g.mixed = g.mixed || t.ExpirationDays != g.days
	}
	sort.Strings(names)
	var out []policyTierModel
	for _, name := range names {
		g := groups[name]
		sort.Strings(g.prefixes)
		prefix := strings.Join(g.prefixes, " ")
		candidates := []string{defaultTierPrefix(name, l)}
		if p, ok := priorPrefix[name]; ok {
			candidates = append([]string{p}, candidates...)
		}
		for _, candidate := range candidates {
			want, err := l.LifecyclePrefixes(candidate)
			// NOTE: g.prefixes is sorted, the layout's data folders are not.
			want = slices.Sorted(slices.Values(want))
			if err == nil && slices.Equal(want, g.prefixes) {
				prefix = candidate
				break
			}
		}
		days := int64(g.days)
		if g.mixed {
			days = 0 // shows as drift: the rules disagree
		}
		out = append(out, policyTierModel{Name: types.StringValue(name), Prefix: types.StringValue(prefix), RetentionDays: types.Int64Value(days)})
	}
	return out
}

func (m *backupPolicyModel) tenantDatabases() []string {
	var dbs []string
	for _, v := range m.TenantDatabases.Elements() {
		if s, ok := v.(types.String); ok {
			dbs = append(dbs, s.ValueString())
		}
	}
	sort.Strings(dbs)
	return dbs
}

func (m *backupPolicyModel) policy() repo.Policy {
	p := repo.Policy{
		Cluster:               m.Cluster.ValueString(),
		Schedule:              m.Schedule.ValueString(),
		Updated:               time.Now().UTC(),
		TenantDatabases:       m.tenantDatabases(),
		TenantDumpParallelism: int(m.TenantDumpParallel.ValueInt64()),
		VerifySchedule:        m.VerifySchedule.ValueString(),
		Retention:             repo.PolicyRetention{FullCount: int(m.Retention.FullCount.ValueInt64()), Days: int(m.Retention.Days.ValueInt64())},
		Encryption:            m.Encryption.repo(),
		Compression:           m.Compression.ValueString(),
		AuditRetention:        m.AuditRetention.repo(),
	}
	if cfg, err := pgconn.ParseConfig(m.Postgres.dsn()); err == nil {
		p.Postgres = repo.PolicyPostgres{Host: cfg.Host, Port: int(cfg.Port), User: cfg.User, DBName: cfg.Database}
	}
	if !m.Postgres.SSLMode.IsNull() {
		p.Postgres.SSLMode = m.Postgres.SSLMode.ValueString()
	}
	return p
}
