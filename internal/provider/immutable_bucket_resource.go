package provider

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/objectvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/setvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/posture"
)

var (
	_ resource.ResourceWithConfigure      = (*immutableBucketResource)(nil)
	_ resource.ResourceWithImportState    = (*immutableBucketResource)(nil)
	_ resource.ResourceWithValidateConfig = (*immutableBucketResource)(nil)
	_ resource.ResourceWithModifyPlan     = (*immutableBucketResource)(nil)
)

// NewImmutableBucketResource is the lifeboat_immutable_bucket constructor.
func NewImmutableBucketResource() resource.Resource { return &immutableBucketResource{} }

// immutableBucketResource converges an object-locked, versioned, encrypted
// bucket with lifecycle tiers: the repository's WORM home.
type immutableBucketResource struct {
	data *providerData
}

type immutableBucketModel struct {
	ID            types.String           `tfsdk:"id"`
	Name          types.String           `tfsdk:"name"`
	Retention     *bucketRetentionModel  `tfsdk:"retention"`
	Encryption    *bucketEncryptionModel `tfsdk:"encryption"`
	LifecycleTier []lifecycleTierModel   `tfsdk:"lifecycle_tier"`
	Tags          types.Map              `tfsdk:"tags"`
	ForceDestroy  types.Bool             `tfsdk:"force_destroy"`
	Versioning    types.String           `tfsdk:"versioning"`
	Timeouts      timeouts.Value         `tfsdk:"timeouts"`

	WriterProbe        *writerProbeModel `tfsdk:"writer_probe"`
	WriterProbeResults types.List        `tfsdk:"writer_probe_results"`
}

type bucketRetentionModel struct {
	Mode types.String `tfsdk:"mode"`
	Days types.Int64  `tfsdk:"days"`
}

type bucketEncryptionModel struct {
	Algorithm types.String `tfsdk:"algorithm"`
	KMSKeyID  types.String `tfsdk:"kms_key_id"`
}

type lifecycleTierModel struct {
	Name                            types.String         `tfsdk:"name"`
	Prefix                          types.String         `tfsdk:"prefix"`
	ExpirationDays                  types.Int64          `tfsdk:"expiration_days"`
	NoncurrentVersionExpirationDays types.Int64          `tfsdk:"noncurrent_version_expiration_days"`
	Transition                      *tierTransitionModel `tfsdk:"transition"`
}

type tierTransitionModel struct {
	Days         types.Int64  `tfsdk:"days"`
	StorageClass types.String `tfsdk:"storage_class"`
}

// Metadata implements resource.Resource.
func (r *immutableBucketResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_immutable_bucket"
}

// Schema implements resource.Resource.
func (r *immutableBucketResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "An S3 bucket for backups that ransomware cannot erase: object lock with a default " +
			"retention (GOVERNANCE or COMPLIANCE), versioning always on, default server-side encryption, lifecycle " +
			"tiers per data class (transactional database, attachments, audit logs, configuration), tags, and public " +
			"access blocked where the store supports it. Refresh detects lock, versioning, encryption, lifecycle and " +
			"tag changes made outside Terraform and plans them back.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				MarkdownDescription: "The bucket name.",
				Computed:            true,
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"name": schema.StringAttribute{
				MarkdownDescription: "Bucket name, following S3 naming rules (3-63 characters: lower-case letters, digits, `.` and `-`, starting and ending with a letter or digit). Changing it replaces the bucket.",
				Required:            true,
				PlanModifiers:       []planmodifier.String{stringplanmodifier.RequiresReplace()},
				Validators:          []validator.String{bucketNameValidator{}},
			},
			"tags": schema.MapAttribute{
				MarkdownDescription: "Tags on the bucket.",
				ElementType:         types.StringType,
				Optional:            true,
			},
			"force_destroy": schema.BoolAttribute{
				MarkdownDescription: "Delete every object version (bypassing GOVERNANCE retention) on destroy. Versions under COMPLIANCE retention are never deleted: destroy then fails, saying until when they are locked. Default `false`: a non-empty bucket is not destroyed.",
				Optional:            true,
				Computed:            true,
				Default:             booldefault.StaticBool(false),
			},
			"versioning": schema.StringAttribute{
				MarkdownDescription: "Versioning status. Object lock requires versioning, so it is always `Enabled`; a bucket whose versioning was suspended outside Terraform plans an update that enables it again.",
				Computed:            true,
			},
			"writer_probe_results": writerProbeResultsAttribute(),
		},
		Blocks: map[string]schema.Block{
			"retention": schema.SingleNestedBlock{
				MarkdownDescription: "Default object-lock retention applied to every new object version. Required. " +
					"COMPLIANCE retention can never be weakened (not by root, not by Terraform): changing it to GOVERNANCE or to fewer days is refused at plan.",
				Validators: []validator.Object{objectvalidator.IsRequired()},
				Attributes: map[string]schema.Attribute{
					"mode": schema.StringAttribute{
						MarkdownDescription: "`GOVERNANCE` (privileged users may bypass) or `COMPLIANCE` (nobody may delete before the period ends).",
						Required:            true,
						Validators:          []validator.String{stringvalidator.OneOf(objectstore.ModeGovernance, objectstore.ModeCompliance)},
					},
					"days": schema.Int64Attribute{
						MarkdownDescription: "Retention period in days (at least 1).",
						Required:            true,
						Validators:          []validator.Int64{int64validator.Between(1, 36500)},
					},
				},
			},
			"encryption": schema.SingleNestedBlock{
				MarkdownDescription: "Default server-side encryption. Without this block the bucket keeps the store's default.",
				Attributes: map[string]schema.Attribute{
					"algorithm": schema.StringAttribute{
						MarkdownDescription: "`AES256` (SSE-S3) or `aws:kms` (SSE-KMS).",
						Optional:            true,
						Validators:          []validator.String{stringvalidator.OneOf(objectstore.SSEAES256, objectstore.SSEKMS)},
					},
					"kms_key_id": schema.StringAttribute{
						MarkdownDescription: "KMS key ID or ARN; only with `aws:kms`.",
						Optional:            true,
					},
				},
			},
			"lifecycle_tier": schema.SetNestedBlock{
				MarkdownDescription: "A lifecycle rule for one data class (for example `transactional`, `attachments`, `audit`, `config`), applied to the objects under its prefix. Expirations shorter than the retention period are refused at plan: they signal a retention mistake.",
				Validators:          []validator.Set{setvalidator.SizeAtMost(100)},
				NestedObject: schema.NestedBlockObject{
					Attributes: map[string]schema.Attribute{
						"name": schema.StringAttribute{
							MarkdownDescription: "Tier name, unique in the bucket (the lifecycle rule ID).",
							Required:            true,
							Validators: []validator.String{stringvalidator.RegexMatches(regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,255}$`),
								"must be 1-255 letters, digits, '_', '.' or '-'")},
						},
						"prefix": schema.StringAttribute{
							MarkdownDescription: "Key prefix the tier applies to, e.g. `attachments/` (`\"\"` for the whole bucket).",
							Required:            true,
							Validators:          []validator.String{keyPrefixValidator{trailingSlash: true, empty: true}},
						},
						"expiration_days": schema.Int64Attribute{
							MarkdownDescription: "Days after which the current version expires (a delete marker is added; locked versions stay). Omit to never expire.",
							Optional:            true,
							Validators:          []validator.Int64{int64validator.AtLeast(1)},
						},
						"noncurrent_version_expiration_days": schema.Int64Attribute{
							MarkdownDescription: "Days after which non-current versions are deleted. Omit to keep them.",
							Optional:            true,
							Validators:          []validator.Int64{int64validator.AtLeast(1)},
						},
					},
					Blocks: map[string]schema.Block{
						"transition": schema.SingleNestedBlock{
							MarkdownDescription: "Move objects to a colder storage class after some days (AWS S3 classes such as `GLACIER_IR`; MinIO needs a configured remote tier of that name).",
							Attributes: map[string]schema.Attribute{
								"days": schema.Int64Attribute{
									MarkdownDescription: "Days after creation.",
									Optional:            true,
									Validators:          []validator.Int64{int64validator.AtLeast(1)},
								},
								"storage_class": schema.StringAttribute{
									MarkdownDescription: "Target storage class.",
									Optional:            true,
								},
							},
						},
					},
				},
			},
			"timeouts":     timeouts.Block(ctx, timeouts.Opts{Create: true, Read: true, Update: true, Delete: true}),
			"writer_probe": writerProbeBlock(),
		},
	}
}

// Configure implements resource.ResourceWithConfigure.
func (r *immutableBucketResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

// ValidateConfig implements resource.ResourceWithValidateConfig: the
// cross-attribute rules that need only the configuration.
func (r *immutableBucketResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m immutableBucketModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if e := m.Encryption; e != nil {
		if e.Algorithm.IsNull() && !e.KMSKeyID.IsNull() {
			resp.Diagnostics.AddAttributeError(path.Root("encryption").AtName("algorithm"), "Missing Encryption Algorithm",
				"encryption.algorithm must be set; use \"aws:kms\" together with kms_key_id.")
		}
		if !e.KMSKeyID.IsNull() && !e.KMSKeyID.IsUnknown() && e.Algorithm.ValueString() == objectstore.SSEAES256 {
			resp.Diagnostics.AddAttributeError(path.Root("encryption").AtName("kms_key_id"), "KMS Key With AES256",
				"encryption.kms_key_id only applies to algorithm \"aws:kms\": remove it or change the algorithm.")
		}
	}
	m.WriterProbe.validate(&resp.Diagnostics)
	seen, prefixes := map[string]bool{}, map[string]string{}
	var lockDays int64
	if m.Retention != nil && !m.Retention.Days.IsUnknown() {
		lockDays = m.Retention.Days.ValueInt64()
	}
	for _, t := range m.LifecycleTier {
		p := path.Root("lifecycle_tier")
		if !t.Name.IsUnknown() {
			if seen[t.Name.ValueString()] {
				resp.Diagnostics.AddAttributeError(p, "Duplicate Lifecycle Tier",
					fmt.Sprintf("lifecycle_tier name %q appears more than once; each tier needs a unique name.", t.Name.ValueString()))
			}
			seen[t.Name.ValueString()] = true
		}
		if !t.Prefix.IsUnknown() && !t.Prefix.IsNull() {
			// Two rules on one prefix: which expiry wins is up to the store.
			if other, dup := prefixes[t.Prefix.ValueString()]; dup {
				resp.Diagnostics.AddAttributeError(p, "Duplicate Lifecycle Tier Prefix",
					fmt.Sprintf("lifecycle_tier %q and %q both have prefix %q; give each data class its own prefix, or merge the tiers.",
						other, t.Name.ValueString(), t.Prefix.ValueString()))
			}
			prefixes[t.Prefix.ValueString()] = t.Name.ValueString()
		}
		for attrName, v := range map[string]types.Int64{"expiration_days": t.ExpirationDays, "noncurrent_version_expiration_days": t.NoncurrentVersionExpirationDays} {
			if v.IsNull() || v.IsUnknown() || lockDays == 0 {
				continue
			}
			if v.ValueInt64() < lockDays {
				resp.Diagnostics.AddAttributeError(p, "Lifecycle Expiration Shorter Than Retention",
					fmt.Sprintf("lifecycle_tier %q: %s = %d is shorter than retention.days = %d. Objects would be scheduled "+
						"for deletion while object lock still protects them, which signals a retention mistake: raise %s to at "+
						"least %d or lower the retention.", t.Name.ValueString(), attrName, v.ValueInt64(), lockDays, attrName, lockDays))
			}
		}
		if tr := t.Transition; tr != nil && (tr.Days.IsNull() != tr.StorageClass.IsNull()) {
			resp.Diagnostics.AddAttributeError(p, "Incomplete Transition",
				"transition needs both days and storage_class.")
		}
	}
}

// ModifyPlan implements resource.ResourceWithModifyPlan: the rules that need
// the prior state, and versioning that must always be on.
func (r *immutableBucketResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return // destroy
	}
	resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("versioning"), types.StringValue("Enabled"))...)
	var probe *writerProbeModel
	resp.Diagnostics.Append(req.Plan.GetAttribute(ctx, path.Root("writer_probe"), &probe)...)
	if probe == nil {
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("writer_probe_results"), types.ListNull(probeResultType))...)
	} else if req.State.Raw.IsNull() || !req.Plan.Raw.Equal(req.State.Raw) {
		// Every apply probes again: the results are known after it only.
		resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("writer_probe_results"), types.ListUnknown(probeResultType))...)
	}
	if req.State.Raw.IsNull() {
		return // create
	}
	var state, plan immutableBucketModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if state.Retention == nil || state.Retention.Mode.ValueString() != objectstore.ModeCompliance || plan.Retention == nil {
		return
	}
	if plan.Name.ValueString() != state.Name.ValueString() {
		return // a new bucket: the old one keeps its lock
	}
	if m := plan.Retention.Mode; !m.IsUnknown() && m.ValueString() != objectstore.ModeCompliance {
		resp.Diagnostics.AddAttributeError(path.Root("retention").AtName("mode"), "COMPLIANCE Retention Cannot Be Weakened",
			fmt.Sprintf("Bucket %q has COMPLIANCE retention; changing retention.mode to %s would let objects be deleted early, "+
				"which COMPLIANCE mode exists to prevent. Keep mode = \"COMPLIANCE\" (or create a new bucket).", state.Name.ValueString(), m.ValueString()))
	}
	if d := plan.Retention.Days; !d.IsUnknown() && d.ValueInt64() < state.Retention.Days.ValueInt64() {
		resp.Diagnostics.AddAttributeError(path.Root("retention").AtName("days"), "COMPLIANCE Retention Cannot Be Weakened",
			fmt.Sprintf("Bucket %q has COMPLIANCE retention of %d days; retention.days = %d would shorten it. Keep at least %d days (or create a new bucket).",
				state.Name.ValueString(), state.Retention.Days.ValueInt64(), d.ValueInt64(), state.Retention.Days.ValueInt64()))
	}
}

// Create implements resource.Resource.
func (r *immutableBucketResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	r.apply(ctx, req.Plan, nil, &resp.State, &resp.Diagnostics, func(t timeouts.Value) (time.Duration, diag.Diagnostics) {
		return t.Create(ctx, 5*time.Minute)
	})
}

// Read implements resource.Resource.
func (r *immutableBucketResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state immutableBucketModel
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
	err := r.observe(ctx, client, &state, &resp.Diagnostics)
	if isNotFound(err) {
		tflog.Warn(ctx, "immutable bucket is gone; removing it from state", map[string]any{"bucket": state.Name.ValueString()})
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil {
		resp.Diagnostics.Append(errorDiag("Error Reading Immutable Bucket", fmt.Sprintf("reading bucket %q on %s", state.Name.ValueString(), client.Endpoint()), err))
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

// Update implements resource.Resource.
func (r *immutableBucketResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	r.apply(ctx, req.Plan, &req.State, &resp.State, &resp.Diagnostics, func(t timeouts.Value) (time.Duration, diag.Diagnostics) {
		return t.Update(ctx, 5*time.Minute)
	})
}

// apply creates the bucket (prior is nil) or converges it from what the
// store holds to the plan, then records what the store reports as the new
// state.
func (r *immutableBucketResource) apply(ctx context.Context, planned tfsdk.Plan, prior *tfsdk.State, state *tfsdk.State, diags *diag.Diagnostics,
	timeout timeoutFunc) {
	var plan immutableBucketModel
	diags.Append(planned.Get(ctx, &plan)...)
	if diags.HasError() {
		return
	}
	ctx, cancel := withTimeout(ctx, plan.Timeouts, timeout, diags)
	defer cancel()

	client := r.data.storeClient(ctx, diags)
	if client == nil {
		return
	}
	spec := plan.spec(ctx)
	if !tiersSpareRepositories(ctx, client, spec, diags) {
		return
	}
	if prior == nil {
		tflog.Info(ctx, "creating immutable bucket", map[string]any{"bucket": spec.Name, "endpoint": client.Endpoint()})
		if err := client.CreateBucket(ctx, spec); err != nil {
			diags.Append(errorDiag("Error Creating Immutable Bucket",
				fmt.Sprintf("creating bucket %q with object lock on %s", spec.Name, client.Endpoint()), err))
			return
		}
	} else {
		// Converge from what the bucket holds now, not from the prior
		// state: whatever moved since the plan (a tag or a rule changed by
		// hand) is put back to what the plan shows, so the apply records
		// exactly the plan.
		current, err := client.ReadBucket(ctx, spec.Name)
		if err != nil {
			diags.Append(errorDiag("Error Reading Immutable Bucket",
				fmt.Sprintf("reading bucket %q on %s before updating it", spec.Name, client.Endpoint()), err))
			return
		}
		old := current.Spec
		if plan.Encryption == nil {
			old.Encryption = nil // not declared: left as the store has it
		}
		if err := client.UpdateBucket(ctx, old, spec); err != nil {
			diags.Append(errorDiag("Error Updating Immutable Bucket",
				fmt.Sprintf("updating bucket %q on %s", spec.Name, client.Endpoint()), err))
			return
		}
	}
	plan.ID = plan.Name
	if err := r.observe(ctx, client, &plan, diags); err != nil {
		diags.Append(errorDiag("Error Reading Immutable Bucket", fmt.Sprintf("reading back bucket %q on %s", spec.Name, client.Endpoint()), err))
		return
	}
	plan.WriterProbeResults = r.data.runWriterProbe(ctx, spec.Name, plan.WriterProbe, diags)
	diags.Append(state.Set(ctx, &plan)...)
}

// Delete implements resource.Resource.
func (r *immutableBucketResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state immutableBucketModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	timeout, diags := state.Timeouts.Delete(ctx, 20*time.Minute)
	resp.Diagnostics.Append(diags...)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	client := r.data.storeClient(ctx, &resp.Diagnostics)
	if client == nil {
		return
	}
	name := state.Name.ValueString()
	tflog.Info(ctx, "destroying immutable bucket", map[string]any{"bucket": name, "force_destroy": state.ForceDestroy.ValueBool()})
	err := client.DestroyBucket(ctx, name, state.ForceDestroy.ValueBool())
	bucketsSeen.Delete(bucketSeenKey{client, name}) // gone, or in doubt: ask again
	var locked *objectstore.BucketLockedError
	switch {
	case err == nil, isNotFound(asNotFound(fmt.Sprintf("bucket %q", name), err)):
		// Gone already, by us or out of band: what destroy wants.
	case errors.As(err, &locked):
		resp.Diagnostics.AddError("Bucket Holds Locked Objects",
			fmt.Sprintf("Bucket %q cannot be destroyed: %d object version(s) are under COMPLIANCE retention until %s "+
				"(first: %s). Nobody can delete them before then; every other version was deleted. Remove the resource "+
				"from state (terraform state rm) to stop managing it, or destroy again after that date.\n\n%v",
				name, len(locked.Locked), locked.Until.UTC().Format(time.RFC3339), locked.Locked[0].Key, err))
	case errors.Is(err, objectstore.ErrBucketNotEmpty):
		resp.Diagnostics.AddError("Bucket Not Empty",
			fmt.Sprintf("Bucket %q still holds objects and force_destroy is false, so it was left in place. "+
				"Set force_destroy = true and apply before destroying, or empty it first.\n\n%v", name, err))
	default:
		resp.Diagnostics.Append(errorDiag("Error Deleting Immutable Bucket", fmt.Sprintf("deleting bucket %q", name), err))
	}
}

// ImportState implements resource.ResourceWithImportState. The ID is the bucket name.
func (r *immutableBucketResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	if err := validBucketName(req.ID); err != "" {
		resp.Diagnostics.AddError("Invalid Import ID",
			fmt.Sprintf("Expected the bucket name (e.g. `terraform import lifeboat_immutable_bucket.repo my-backups`); %q %s.", req.ID, err))
		return
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), req.ID)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("name"), req.ID)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("force_destroy"), false)...)
}

// observe refreshes m from the bucket (warnings in diags); a bucket that
// does not exist is a *notFoundError.
func (r *immutableBucketResource) observe(ctx context.Context, client *objectstore.Client, m *immutableBucketModel, diags *diag.Diagnostics) error {
	st, err := findImmutableBucket(ctx, client, m.Name.ValueString())
	if err != nil {
		return err
	}
	m.ID = types.StringValue(st.Spec.Name)
	m.Name = types.StringValue(st.Spec.Name)
	if m.ForceDestroy.IsNull() || m.ForceDestroy.IsUnknown() {
		m.ForceDestroy = types.BoolValue(false)
	}
	status := st.Versioning
	if status == "" {
		status = "Disabled"
	}
	m.Versioning = types.StringValue(status)
	// The bucket is judged against what it declares (an imported state
	// declares nothing yet: the engine's defaults apply).
	params := posture.Params{}
	if d := m.Retention; d != nil && !d.Days.IsNull() && !d.Days.IsUnknown() {
		params.MinLockDays, params.AcceptGovernance = int(d.Days.ValueInt64()), d.Mode.ValueString() == objectstore.ModeGovernance
	}
	warnFindings(diags, &posture.Observation{Bucket: st.Spec.Name, BucketState: st}, params, posture.ControlObjectLock)
	// An imported state has no retention yet: it adopts everything found.
	// Otherwise encryption is observed only when declared: without the
	// block the store's default applies (AWS encrypts every bucket with
	// SSE-S3), which is neither drift nor a result the plan could show.
	declaredEncryption := m.Encryption != nil || m.Retention == nil
	m.Retention = nil
	if r := st.Spec.Retention; r != nil {
		m.Retention = &bucketRetentionModel{Mode: types.StringValue(r.Mode), Days: types.Int64Value(int64(r.Days))}
	}
	switch e := st.Spec.Encryption; {
	case !declaredEncryption:
	case e != nil:
		m.Encryption = &bucketEncryptionModel{Algorithm: types.StringValue(e.Algorithm), KMSKeyID: types.StringNull()}
		if e.KMSKeyID != "" {
			m.Encryption.KMSKeyID = types.StringValue(e.KMSKeyID)
		}
	case m.Encryption != nil && m.Encryption.Algorithm.IsNull():
		// An empty block declares no algorithm: the store's default, as
		// without the block.
	default:
		m.Encryption = nil
	}
	m.LifecycleTier = observedTiers(m.LifecycleTier, st.Spec.Lifecycle)
	m.Tags = tagsValue(m.Tags, st.Spec.Tags)
	return nil
}

// findImmutableBucket is the bucket's posture as the store reports it, or a
// *notFoundError when there is no such bucket.
func findImmutableBucket(ctx context.Context, client *objectstore.Client, name string) (*objectstore.BucketState, error) {
	st, err := client.ReadBucket(ctx, name)
	if err != nil {
		return nil, asNotFound(fmt.Sprintf("bucket %q", name), err)
	}
	return st, nil
}

// observedTiers turns observed rules into tier models. The block is a set, so
// order does not matter; rules unknown to the configuration are kept so they
// show as drift to remove.
func observedTiers(prior []lifecycleTierModel, observed []objectstore.LifecycleTier) []lifecycleTierModel {
	byName := map[string]objectstore.LifecycleTier{}
	for _, t := range observed {
		byName[t.Name] = t
	}
	var out []lifecycleTierModel
	used := map[string]bool{}
	add := func(t objectstore.LifecycleTier) {
		m := lifecycleTierModel{
			Name:                            types.StringValue(t.Name),
			Prefix:                          types.StringValue(t.Prefix),
			ExpirationDays:                  optionalInt(t.ExpirationDays),
			NoncurrentVersionExpirationDays: optionalInt(t.NoncurrentVersionExpirationDays),
		}
		if t.TransitionDays > 0 || t.TransitionStorageClass != "" {
			m.Transition = &tierTransitionModel{Days: optionalInt(t.TransitionDays), StorageClass: types.StringValue(t.TransitionStorageClass)}
		}
		out = append(out, m)
		used[t.Name] = true
	}
	for _, p := range prior {
		if t, ok := byName[p.Name.ValueString()]; ok && !used[t.Name] {
			add(t)
		}
	}
	for _, t := range observed {
		if !used[t.Name] {
			add(t)
		}
	}
	return out
}

func sortTiers(tiers []objectstore.LifecycleTier) {
	sort.Slice(tiers, func(i, j int) bool { return tiers[i].Name < tiers[j].Name })
}

// spec turns the model into the engine's bucket spec.
func (m *immutableBucketModel) spec(ctx context.Context) objectstore.BucketSpec {
	s := objectstore.BucketSpec{Name: m.Name.ValueString()}
	if m.Retention != nil {
		s.Retention = &objectstore.Retention{Mode: m.Retention.Mode.ValueString(), Days: int32(m.Retention.Days.ValueInt64())}
	}
	if m.Encryption != nil && !m.Encryption.Algorithm.IsNull() {
		s.Encryption = &objectstore.Encryption{Algorithm: m.Encryption.Algorithm.ValueString(), KMSKeyID: m.Encryption.KMSKeyID.ValueString()}
	}
	for _, t := range m.LifecycleTier {
		tier := objectstore.LifecycleTier{
			Name:                            t.Name.ValueString(),
			Prefix:                          t.Prefix.ValueString(),
			ExpirationDays:                  int32(t.ExpirationDays.ValueInt64()),
			NoncurrentVersionExpirationDays: int32(t.NoncurrentVersionExpirationDays.ValueInt64()),
		}
		if t.Transition != nil {
			tier.TransitionDays = int32(t.Transition.Days.ValueInt64())
			tier.TransitionStorageClass = t.Transition.StorageClass.ValueString()
		}
		s.Lifecycle = append(s.Lifecycle, tier)
	}
	sortTiers(s.Lifecycle)
	if !m.Tags.IsNull() && !m.Tags.IsUnknown() {
		s.Tags = map[string]string{}
		for k, v := range m.Tags.Elements() {
			if sv, ok := v.(types.String); ok {
				s.Tags[k] = sv.ValueString()
			}
		}
	}
	return s
}

// tiersSpareRepositories refuses lifecycle tiers that would expire objects
// of a repository in the bucket that are not backup data: the repositories
// are those whose backup policies own rules in the bucket. A bucket that
// does not exist yet holds none.
func tiersSpareRepositories(ctx context.Context, client *objectstore.Client, spec objectstore.BucketSpec, diags *diag.Diagnostics) bool {
	if len(spec.Lifecycle) == 0 {
		return true // no tier, nothing to expire: no request (a first request's error belongs to the create)
	}
	owners, err := client.PolicyOwners(ctx, spec.Name)
	if errors.Is(err, objectstore.ErrBucketNotFound) || errors.Is(err, objectstore.ErrNotFound) {
		return true
	}
	if err != nil {
		diags.Append(errorDiag("Error Reading Bucket Lifecycle", fmt.Sprintf("reading the lifecycle rules of bucket %q", spec.Name), err))
		return false
	}
	for _, owner := range owners {
		l := layoutOfRoot(owner)
		if bad := posture.ExpiringConfig(l, spec.Lifecycle); len(bad) > 0 {
			diags.AddAttributeError(path.Root("lifecycle_tier"), "Lifecycle Tier Would Expire Repository Configuration", posture.ExpiringConfigDetail(spec.Name, l, bad))
			return false
		}
	}
	return true
}
