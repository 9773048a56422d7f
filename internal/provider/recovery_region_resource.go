package provider

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/float64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/region"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

var (
	_ resource.ResourceWithConfigure      = (*recoveryRegionResource)(nil)
	_ resource.ResourceWithValidateConfig = (*recoveryRegionResource)(nil)
	_ resource.ResourceWithImportState    = (*recoveryRegionResource)(nil)
	_ resource.ResourceWithModifyPlan     = (*recoveryRegionResource)(nil)
)

// NewRecoveryRegionResource is the lifeboat_recovery_region constructor.
func NewRecoveryRegionResource() resource.Resource { return &recoveryRegionResource{} }

// recoveryRegionResource declares a verified copy of clusters' repositories
// in a second object store, its lag target and its activation order.
type recoveryRegionResource struct {
	data *providerData
}

type recoveryRegionModel struct {
	ID          types.String         `tfsdk:"id"`
	Source      *repositoryRef       `tfsdk:"source"`
	Destination *regionDestModel     `tfsdk:"destination"`
	Clusters    []types.String       `tfsdk:"clusters"`
	MaxLag      types.String         `tfsdk:"max_lag"`
	Interval    types.String         `tfsdk:"interval"`
	Mode        types.String         `tfsdk:"mode"`
	Activation  *regionActivateModel `tfsdk:"activation"`

	LagSeconds     types.Float64 `tfsdk:"lag_seconds"`
	PendingObjects types.Int64   `tfsdk:"pending_objects"`
	PendingBytes   types.Int64   `tfsdk:"pending_bytes"`
	LastCopyTime   types.String  `tfsdk:"last_copy_time"`
	Runbook        types.String  `tfsdk:"runbook"`
	SignedBy       types.String  `tfsdk:"signed_by"`
	CopyPolicy     types.String  `tfsdk:"copy_policy"`
}

type regionDestModel struct {
	Bucket        types.String `tfsdk:"bucket"`
	Endpoint      types.String `tfsdk:"endpoint"`
	Region        types.String `tfsdk:"region"`
	AccessKey     types.String `tfsdk:"access_key"`
	SecretKey     types.String `tfsdk:"secret_key"`
	PathStyle     types.Bool   `tfsdk:"path_style"`
	SkipTLSVerify types.Bool   `tfsdk:"skip_tls_verify"`
	AgentStore    types.String `tfsdk:"agent_store"`
}

type regionActivateModel struct {
	Groups []regionGroupModel `tfsdk:"group"`
}

type regionGroupModel struct {
	Name    types.String   `tfsdk:"name"`
	Tenants []types.String `tfsdk:"tenants"`
	RTO     types.String   `tfsdk:"rto"`
}

// Metadata implements resource.Resource.
func (r *recoveryRegionResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_recovery_region"
}

// Schema implements resource.Resource.
func (r *recoveryRegionResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	keep := []planmodifier.String{stringplanmodifier.UseStateForUnknown()}
	resp.Schema = schema.Schema{
		MarkdownDescription: "A recovery region: a verified copy of the declared clusters' repositories in a second object store " +
			"(another region, another provider), so backups survive the loss of the primary store and restores can run from it. " +
			"`lifeboat agent` copies every object of each cluster (WAL, base backups with their manifests last, tenant dumps, " +
			"configuration, drill evidence) under the same keys, each one checked on arrival by the destination (by the SHA-256 its manifest records for base backup parts and tenant dumps, else by a CRC32C of the bytes whose SHA-256 the copy computes as they stream), under the " +
			"destination bucket's own object lock; the copy resumes where it stopped. The agent needs the destination's credentials " +
			"in its configuration's `stores` (entry `agent_store`). Lag is the age of the oldest object not yet verified at the " +
			"destination plus a canary's round trip; refresh measures it and warns above `max_lag`, and warns when the " +
			"destination's versioning or object lock is weakened. `runbook` is the regional activation plan: in `activation` " +
			"order, every restore, its recovery point in the region and the expected data loss. Only `mode = \"agent\"` is " +
			"available; store-side replication (`native`) is not implemented.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{MarkdownDescription: "`<source bucket>/<prefix> <destination bucket>` (the import ID).", Computed: true, PlanModifiers: keep},
			"clusters": schema.ListAttribute{
				MarkdownDescription: "Clusters (names in the source repository) whose repositories are copied.",
				ElementType:         types.StringType, Required: true,
				Validators: []validator.List{listvalidator.SizeAtLeast(1), listvalidator.UniqueValues(), listvalidator.ValueStringsAre(keyNameValidator{})},
			},
			"max_lag": schema.StringAttribute{
				MarkdownDescription: "Lag target (a duration, default `15m`): refresh warns, and the agent logs, when the measured lag is above it. At least `interval`.",
				Optional:            true, Computed: true, Default: stringdefault.StaticString("15m"),
				Validators: []validator.String{durationValidator{min: time.Minute}},
			},
			"interval": schema.StringAttribute{
				MarkdownDescription: "How often the agent starts a copy pass (a duration, default `1m`, at least `1m`).",
				Optional:            true, Computed: true, Default: stringdefault.StaticString("1m"),
				Validators: []validator.String{durationValidator{min: time.Minute}},
			},
			"mode": schema.StringAttribute{
				MarkdownDescription: "`agent` (default): the agent copies and verifies, on any S3-compatible store.",
				Optional:            true, Computed: true, Default: stringdefault.StaticString(region.ModeAgent),
				Validators: []validator.String{stringvalidator.OneOf(region.ModeAgent)},
			},
			"lag_seconds": schema.Float64Attribute{
				MarkdownDescription: "Lag measured at the last refresh: age of the oldest object of the clusters not yet verified at the destination, plus the last canary round trip (largest over the clusters).",
				Computed:            true, PlanModifiers: []planmodifier.Float64{float64planmodifier.UseStateForUnknown()},
			},
			"pending_objects": schema.Int64Attribute{
				MarkdownDescription: "Objects of the clusters not yet verified at the destination, at the last refresh.",
				Computed:            true, PlanModifiers: []planmodifier.Int64{int64planmodifier.UseStateForUnknown()},
			},
			"pending_bytes": schema.Int64Attribute{
				MarkdownDescription: "Bytes of those objects.",
				Computed:            true, PlanModifiers: []planmodifier.Int64{int64planmodifier.UseStateForUnknown()},
			},
			"last_copy_time": schema.StringAttribute{
				MarkdownDescription: "When the agent's last copy pass finished (the oldest over the clusters; null before the first).",
				Computed:            true, PlanModifiers: keep,
			},
			"runbook": schema.StringAttribute{
				MarkdownDescription: "The regional activation plan (Markdown), read from the destination only: each cluster's recovery point in the region, then every tenant restore in activation order with its recovery point and the expected data loss per group. `lifeboat region activate --plan` prints the same.",
				Computed:            true, PlanModifiers: keep,
			},
			"signed_by": signedByAttribute(),
			"copy_policy": schema.StringAttribute{
				MarkdownDescription: "The least-privilege S3/IAM policy document (JSON) for the credentials the agent writes the destination with " +
					"(`destination.agent_store`): `data.lifeboat_access_policy`'s `copy` role for the destination bucket, the source prefix " +
					"and the cluster (every cluster below the prefix when there are several). It lists, reads and writes the copy under the " +
					"bucket's default lock, and may never delete, bypass governance retention, name its own retention, change the bucket " +
					"or write agent state (leases, job records, heartbeats, requests).",
				Computed: true,
			},
		},
		Blocks: map[string]schema.Block{
			"source": schema.SingleNestedBlock{
				MarkdownDescription: "The repository copied: a bucket of the provider's store and its key prefix.",
				Attributes: map[string]schema.Attribute{
					"bucket": schema.StringAttribute{MarkdownDescription: "Source repository bucket. Changing it replaces the region.", Optional: true,
						Validators: []validator.String{bucketNameValidator{}}, PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()}},
					"prefix": schema.StringAttribute{MarkdownDescription: "Key prefix of the repository (kept at the destination). Changing it replaces the region.", Optional: true,
						Validators: []validator.String{keyPrefixValidator{}}, PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()}},
				},
			},
			"destination": schema.SingleNestedBlock{
				MarkdownDescription: "Where the copy goes: a versioned bucket with object lock (a `lifeboat_immutable_bucket` of a provider " +
					"in the other region) and its store, with settings like the provider's own (empty ones fall back the same way).",
				Attributes: map[string]schema.Attribute{
					"bucket": schema.StringAttribute{MarkdownDescription: "Destination bucket; also the region's name in the repository. Changing it replaces the region.", Optional: true,
						Validators: []validator.String{bucketNameValidator{}}, PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()}},
					"endpoint":        schema.StringAttribute{MarkdownDescription: "S3 API endpoint of the destination store.", Optional: true, Validators: []validator.String{endpointValidator{}}},
					"region":          schema.StringAttribute{MarkdownDescription: "Region of the destination store.", Optional: true},
					"access_key":      schema.StringAttribute{MarkdownDescription: "Access key ID for the destination (reading it at refresh and plan).", Optional: true},
					"secret_key":      schema.StringAttribute{MarkdownDescription: "Secret access key for the destination.", Optional: true, Sensitive: true},
					"path_style":      schema.BoolAttribute{MarkdownDescription: "Address the destination's buckets as `endpoint/bucket`.", Optional: true},
					"skip_tls_verify": schema.BoolAttribute{MarkdownDescription: "Skip TLS verification (self-signed test stores only).", Optional: true},
					"agent_store": schema.StringAttribute{
						MarkdownDescription: "Name of the entry of the agent configuration's `stores` holding the destination's credentials for the copy (a writer role of the destination; default: the destination bucket's name).",
						Optional:            true, Validators: []validator.String{keyNameValidator{}},
					},
				},
			},
			"activation": schema.SingleNestedBlock{
				MarkdownDescription: "Business-priority order in which the region is brought up: groups are restored in declaration order.",
				Blocks: map[string]schema.Block{
					"group": schema.ListNestedBlock{
						MarkdownDescription: "One activation group: its tenants are restored together.",
						NestedObject: schema.NestedBlockObject{Attributes: map[string]schema.Attribute{
							"name":    schema.StringAttribute{MarkdownDescription: "Group name (`warehouse`, `finance`...).", Required: true},
							"tenants": schema.ListAttribute{MarkdownDescription: "Tenant databases of the group; each must be in a backup policy's `tenant_databases` of the clusters.", ElementType: types.StringType, Required: true},
							"rto":     schema.StringAttribute{MarkdownDescription: "Recovery time objective of the group (a duration), measured by `region` drills from the start of the activation.", Optional: true, Validators: []validator.String{durationValidator{min: time.Second}}},
						}},
					},
				},
			},
		},
	}
}

// Configure implements resource.ResourceWithConfigure.
func (r *recoveryRegionResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

// ValidateConfig implements resource.ResourceWithValidateConfig.
func (r *recoveryRegionResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m recoveryRegionModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if m.Source == nil || (m.Source.Bucket.IsNull() && !m.Source.Bucket.IsUnknown()) {
		resp.Diagnostics.AddAttributeError(path.Root("source").AtName("bucket"), "Missing Source Bucket",
			"source.bucket is required: the repository bucket whose clusters are copied.")
	}
	if m.Destination == nil || (m.Destination.Bucket.IsNull() && !m.Destination.Bucket.IsUnknown()) {
		resp.Diagnostics.AddAttributeError(path.Root("destination").AtName("bucket"), "Missing Destination Bucket",
			"destination.bucket is required: a versioned bucket with object lock in the other region.")
	}
	lag, lerr := time.ParseDuration(m.MaxLag.ValueString())
	every, ierr := time.ParseDuration(m.Interval.ValueString())
	if m.MaxLag.IsNull() {
		lag, lerr = 15*time.Minute, nil
	}
	if m.Interval.IsNull() {
		every, ierr = time.Minute, nil
	}
	if lerr == nil && ierr == nil && !m.MaxLag.IsUnknown() && !m.Interval.IsUnknown() && lag < every {
		resp.Diagnostics.AddAttributeError(path.Root("max_lag"), "Max Lag Below The Copy Interval",
			fmt.Sprintf("max_lag = %s is shorter than interval = %s: a copy every %s cannot keep the lag below %s. Raise max_lag or shorten interval.",
				shortDuration(lag), shortDuration(every), shortDuration(every), shortDuration(lag)))
	}
	if m.Activation != nil {
		seen := map[string]string{}
		for i, g := range m.Activation.Groups {
			for _, t := range g.Tenants {
				if prev, dup := seen[t.ValueString()]; dup && !t.IsUnknown() {
					resp.Diagnostics.AddAttributeError(path.Root("activation").AtName("group").AtListIndex(i), "Tenant In Two Groups",
						fmt.Sprintf("tenant %q is in groups %q and %q: each tenant is restored once, in one group.", t.ValueString(), prev, g.Name.ValueString()))
				}
				seen[t.ValueString()] = g.Name.ValueString()
			}
		}
	}
}

// destConfig is the destination store's configuration: the block's
// settings, falling back like the provider's own.
func (m *recoveryRegionModel) destConfig() objectstore.Config {
	d := m.Destination
	return objectstore.Config{Endpoint: d.Endpoint.ValueString(), Region: d.Region.ValueString(), AccessKey: d.AccessKey.ValueString(),
		SecretKey: d.SecretKey.ValueString(), PathStyle: d.PathStyle.ValueBool(), Insecure: d.SkipTLSVerify.ValueBool()}
}

func (m *recoveryRegionModel) name() string { return m.Destination.Bucket.ValueString() }

func (m *recoveryRegionModel) prefix() string { return m.Source.Prefix.ValueString() }

func (m *recoveryRegionModel) layout(cluster string) repo.Layout {
	return repo.Layout{Prefix: m.prefix(), Cluster: cluster}
}

func (m *recoveryRegionModel) clusters() []string {
	out := make([]string, 0, len(m.Clusters))
	for _, c := range m.Clusters {
		out = append(out, c.ValueString())
	}
	return out
}

func (m *recoveryRegionModel) doc(cluster string) region.ConfigDoc {
	d := region.ConfigDoc{Name: m.name(), Cluster: cluster, Mode: m.Mode.ValueString(), Updated: time.Now().UTC(),
		Destination: region.Destination{Bucket: m.name(), Endpoint: m.Destination.Endpoint.ValueString(),
			Region: m.Destination.Region.ValueString(), Store: m.Destination.AgentStore.ValueString()}}
	if v, err := time.ParseDuration(m.Interval.ValueString()); err == nil {
		d.IntervalSeconds = v.Seconds()
	}
	if v, err := time.ParseDuration(m.MaxLag.ValueString()); err == nil {
		d.MaxLagSeconds = v.Seconds()
	}
	if m.Activation != nil {
		for _, g := range m.Activation.Groups {
			grp := region.Group{Name: g.Name.ValueString()}
			for _, t := range g.Tenants {
				grp.Tenants = append(grp.Tenants, t.ValueString())
			}
			if v, err := time.ParseDuration(g.RTO.ValueString()); err == nil {
				grp.RTOSeconds = v.Seconds()
			}
			d.Activation = append(d.Activation, grp)
		}
	}
	return d
}

// known reports whether every value the plan-time checks read is known.
func (m *recoveryRegionModel) known() bool {
	if m.Source == nil || m.Destination == nil || m.Source.Bucket.IsUnknown() || m.Source.Prefix.IsUnknown() ||
		m.Destination.Bucket.IsUnknown() || m.Destination.Endpoint.IsUnknown() || m.Destination.Region.IsUnknown() ||
		m.Destination.AccessKey.IsUnknown() || m.Destination.SecretKey.IsUnknown() {
		return false
	}
	return !slices.ContainsFunc(m.Clusters, func(c types.String) bool { return c.IsUnknown() })
}

// ModifyPlan implements resource.ResourceWithModifyPlan: the plan-time
// rules that need the stores (the configuration alone is checked by
// ValidateConfig).
func (r *recoveryRegionResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	resp.Diagnostics.Append(planSignedBy(ctx, r.data, req, resp)...)
	if req.Plan.Raw.IsNull() || r.data == nil || resp.Diagnostics.HasError() {
		return
	}
	var m recoveryRegionModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() || !m.known() {
		return
	}
	r.checkStores(ctx, &m, false, &resp.Diagnostics)
	r.checkTenants(ctx, &m, &resp.Diagnostics)
	// Known from the configuration alone: the reviewed plan shows the
	// document the copy's credentials need.
	resp.Diagnostics.Append(resp.Plan.SetAttribute(ctx, path.Root("copy_policy"), m.copyPolicy())...)
}

// copyPolicy is the copy role's document for the destination (null when it
// cannot be rendered: a name the document refuses, reported elsewhere).
func (m *recoveryRegionModel) copyPolicy() types.String {
	l := repo.Layout{Prefix: m.prefix()}
	if cs := m.clusters(); len(cs) == 1 {
		l.Cluster = cs[0]
	}
	d, err := access.Policy(access.RoleCopy, m.name(), l)
	if err != nil {
		return types.StringNull()
	}
	return types.StringValue(d.JSON())
}

// checkStores applies the rules on the two buckets: not the same bucket;
// the destination versioned, object-locked, with a retention at least the
// source's; in another region (a warning). A bucket that does not exist
// yet is checked at apply (must is true there).
func (r *recoveryRegionResource) checkStores(ctx context.Context, m *recoveryRegionModel, must bool, diags *diag.Diagnostics) bool {
	srcCfg, dstCfg := r.data.storeConfig.FromEnv(), m.destConfig().FromEnv()
	destAttr := path.Root("destination").AtName("bucket")
	if m.Source.Bucket.ValueString() == m.name() && (srcCfg.Endpoint == dstCfg.Endpoint || dstCfg.Endpoint == "") {
		diags.AddAttributeError(destAttr, "Destination Is The Source",
			fmt.Sprintf("destination.bucket %q is the source bucket on the same store: a copy in the same bucket survives nothing. Use a bucket in another region or another store.", m.name()))
		return false
	}
	if sr, dr := effectiveRegion(srcCfg), effectiveRegion(dstCfg); sr == dr {
		diags.AddAttributeWarning(path.Root("destination").AtName("region"), "Recovery Region In The Same Region",
			fmt.Sprintf("The destination is in region %q, like the source: a regional disruption takes both. Set destination.region to another region's store.", dr))
	}
	src := r.data.storeClient(ctx, diags)
	dst := r.data.storeClientFor(ctx, m.destConfig(), diags)
	if src == nil || dst == nil {
		return false
	}
	srcState, err := src.ReadBucket(ctx, m.Source.Bucket.ValueString())
	if err != nil {
		if must || !errors.Is(err, objectstore.ErrBucketNotFound) {
			diags.Append(errorDiag("Error Reading Source Bucket", fmt.Sprintf("reading source bucket %q", m.Source.Bucket.ValueString()), err))
			return false
		}
		srcState = nil
	}
	dstState, err := dst.ReadBucket(ctx, m.name())
	switch {
	case errors.Is(err, objectstore.ErrBucketNotFound) && !must:
		return true // created in the same apply: checked then
	case err != nil:
		diags.Append(errorDiag("Error Reading Destination Bucket", fmt.Sprintf("reading destination bucket %q on %s", m.name(), dst.Endpoint()), err))
		return false
	}
	if problems := destWeakness(srcState, dstState); len(problems) > 0 {
		diags.AddAttributeError(destAttr, "Destination Bucket Not Protected",
			fmt.Sprintf("The destination bucket %q on %s: %s. A recovery region must be a versioned bucket with object lock (lifeboat_immutable_bucket) "+
				"keeping copies at least as long as the source.", m.name(), dst.Endpoint(), strings.Join(problems, "; ")))
		return false
	}
	return true
}

// effectiveRegion is the region a store configuration ends up in, as the
// client resolves it.
func effectiveRegion(c objectstore.Config) string {
	return cmp.Or(c.Region, os.Getenv("AWS_REGION"), os.Getenv("AWS_DEFAULT_REGION"), "us-east-1")
}

// destWeakness lists what makes the destination weaker than the rules:
// no versioning, no object lock, a default retention shorter than the
// source's (src may be nil: not known).
func destWeakness(src, dst *objectstore.BucketState) []string {
	var out []string
	if dst.Versioning != "Enabled" {
		out = append(out, fmt.Sprintf("versioning is %q, not Enabled", cmp.Or(dst.Versioning, "never enabled")))
	}
	if !dst.ObjectLockEnabled {
		out = append(out, "object lock is not enabled")
	}
	if src != nil && src.Spec.Retention != nil {
		if dst.Spec.Retention == nil || dst.Spec.Retention.Days < src.Spec.Retention.Days {
			have := "none"
			if dst.Spec.Retention != nil {
				have = fmt.Sprintf("%d days", dst.Spec.Retention.Days)
			}
			out = append(out, fmt.Sprintf("its default retention (%s) is shorter than the source's %d days", have, src.Spec.Retention.Days))
		}
	}
	return out
}

// checkTenants: every tenant of the activation groups is in a backup
// policy's tenant_databases of the clusters, when a policy can be read.
func (r *recoveryRegionResource) checkTenants(ctx context.Context, m *recoveryRegionModel, diags *diag.Diagnostics) {
	if m.Activation == nil {
		return
	}
	src := r.data.storeClient(ctx, diags)
	if src == nil {
		return
	}
	store := src.Store(m.Source.Bucket.ValueString())
	known, read := map[string]bool{}, false
	for _, c := range m.clusters() {
		p, err := repo.ReadPolicy(ctx, store, m.layout(c), r.data.trust())
		if err != nil {
			continue // no policy yet (same apply) or unreadable: nothing to check against
		}
		read = true
		for _, t := range p.TenantDatabases {
			known[t] = true
		}
	}
	if !read {
		return
	}
	for i, g := range m.Activation.Groups {
		for _, t := range g.Tenants {
			if t.IsUnknown() || known[t.ValueString()] {
				continue
			}
			diags.AddAttributeError(path.Root("activation").AtName("group").AtListIndex(i).AtName("tenants"), "Activation Tenant Not Backed Up",
				fmt.Sprintf("tenant %q of group %q is in no backup policy's tenant_databases of clusters %s: the region would hold nothing to restore it from. "+
					"Add it to the policy, or remove it from the group.", t.ValueString(), g.Name.ValueString(), strings.Join(m.clusters(), ", ")))
		}
	}
}

// Create implements resource.Resource.
func (r *recoveryRegionResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var m recoveryRegionModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	r.apply(ctx, &m, nil, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// Update implements resource.Resource.
func (r *recoveryRegionResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var m, prior recoveryRegionModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &prior)...)
	if resp.Diagnostics.HasError() {
		return
	}
	r.apply(ctx, &m, &prior, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// apply checks the buckets, writes the signed region document into each
// cluster's repository (removing it from clusters no longer declared), and
// measures.
func (r *recoveryRegionResource) apply(ctx context.Context, m, prior *recoveryRegionModel, diags *diag.Diagnostics) {
	if !r.checkStores(ctx, m, true, diags) {
		return
	}
	src := r.data.storeClient(ctx, diags)
	if src == nil {
		return
	}
	store := src.Store(m.Source.Bucket.ValueString())
	for _, c := range m.clusters() {
		if err := region.WriteConfig(ctx, store, m.layout(c), m.doc(c), r.data.signer); err != nil {
			diags.Append(errorDiag("Error Writing Recovery Region", fmt.Sprintf("writing s3://%s/%s", store.Bucket(), m.layout(c).RegionConfigKey(m.name())), err))
			return
		}
	}
	if prior != nil {
		for _, c := range prior.clusters() {
			if !slices.Contains(m.clusters(), c) {
				if err := region.DeleteConfig(ctx, store, m.layout(c), m.name()); err != nil {
					diags.Append(errorDiag("Error Removing Recovery Region", "removing the region from cluster "+c, err))
					return
				}
			}
		}
	}
	m.ID = types.StringValue(regionID(m.Source.Bucket.ValueString(), m.prefix(), m.name()))
	m.SignedBy = types.StringValue(r.data.signerID())
	m.CopyPolicy = m.copyPolicy()
	r.observe(ctx, m, diags)
}

func regionID(bucket, prefix, dest string) string {
	src := bucket
	if p := strings.Trim(prefix, "/"); p != "" {
		src += "/" + p
	}
	return src + " " + dest
}

// observe measures lag and pending objects (source listed against the
// destination's copy index) and writes the runbook, reading the stores;
// a store that cannot be read leaves the values unknown-free (null) with a
// warning.
func (r *recoveryRegionResource) observe(ctx context.Context, m *recoveryRegionModel, diags *diag.Diagnostics) {
	m.LagSeconds, m.PendingObjects, m.PendingBytes = types.Float64Null(), types.Int64Null(), types.Int64Null()
	m.LastCopyTime, m.Runbook = types.StringNull(), types.StringNull()
	var warn diag.Diagnostics
	src := r.data.storeClient(ctx, &warn)
	dst := r.data.storeClientFor(ctx, m.destConfig(), &warn)
	if src == nil || dst == nil {
		diags.AddWarning("Recovery Region Not Measured", fmt.Sprintf("The stores could not be configured: %v", warn))
		return
	}
	dest := dst.Store(m.name())
	now := time.Now()
	var lag time.Duration
	var pending, bytes int64
	var last time.Time
	never := false
	for _, c := range m.clusters() {
		st, err := region.Measure(ctx, region.Options{Name: m.name(), Layout: m.layout(c), Source: src.Store(m.Source.Bucket.ValueString()), Dest: dest})
		if err != nil {
			diags.AddWarning("Recovery Region Not Measured", fmt.Sprintf("Measuring the copy of cluster %s to %s failed: %v", c, m.name(), err))
			return
		}
		if l := st.Lag(now); l > lag {
			lag = l
		}
		pending += int64(st.PendingObjects)
		bytes += st.PendingBytes
		if st.Finished.IsZero() {
			never = true
		} else if last.IsZero() || st.Finished.Before(last) {
			last = st.Finished
		}
	}
	m.LagSeconds = types.Float64Value(float64(lag.Milliseconds()) / 1000)
	m.PendingObjects, m.PendingBytes = types.Int64Value(pending), types.Int64Value(bytes)
	if !never {
		m.LastCopyTime = optionalTime(last)
	}
	doc := m.doc("")
	tenantCluster := map[string]string{}
	for _, c := range m.clusters() {
		if p, err := repo.ReadPolicy(ctx, src.Store(m.Source.Bucket.ValueString()), m.layout(c), r.data.trust()); err == nil {
			for _, t := range p.TenantDatabases {
				if _, ok := tenantCluster[t]; !ok {
					tenantCluster[t] = c
				}
			}
		}
	}
	plan, err := region.PlanActivation(ctx, dest, doc, m.prefix(), m.clusters(), tenantCluster, now)
	if err != nil {
		diags.AddWarning("Recovery Region Runbook Not Written", fmt.Sprintf("Reading the recovery points in %s failed: %v", m.name(), err))
		return
	}
	m.Runbook = types.StringValue(plan.Markdown())
}

// Read implements resource.Resource: the documents still exist, the
// destination is still protected, and the measured lag.
func (r *recoveryRegionResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m recoveryRegionModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	src := r.data.storeClient(ctx, &resp.Diagnostics)
	if src == nil {
		return
	}
	store := src.Store(m.Source.Bucket.ValueString())
	if len(m.Clusters) == 0 { // just imported
		if !r.adopt(ctx, store, &m, &resp.Diagnostics) {
			if !resp.Diagnostics.HasError() {
				resp.State.RemoveResource(ctx)
			}
			return
		}
	}
	var signers []string
	found := 0
	for _, c := range m.clusters() {
		_, err := region.ReadConfig(ctx, store, m.layout(c), m.name(), r.data.trust())
		switch {
		case errors.Is(err, objectstore.ErrNotFound):
			continue
		case err != nil:
			signers = append(signers, "")
		default:
			signers = append(signers, r.data.signerID())
		}
		found++
	}
	if found == 0 {
		resp.State.RemoveResource(ctx)
		return
	}
	// A document missing from one cluster, or not signed by this provider,
	// reads as unsigned: the next apply writes and signs them all again.
	m.SignedBy = types.StringValue(r.data.signerID())
	if found < len(m.Clusters) || slices.Contains(signers, "") {
		m.SignedBy = types.StringValue("")
	}
	if dst := r.data.storeClientFor(ctx, m.destConfig(), &resp.Diagnostics); dst != nil {
		srcState, _ := src.ReadBucket(ctx, m.Source.Bucket.ValueString())
		dstState, err := dst.ReadBucket(ctx, m.name())
		switch {
		case err != nil:
			resp.Diagnostics.AddWarning("Recovery Region Destination Unreadable",
				fmt.Sprintf("The destination bucket %q on %s could not be read: %v", m.name(), dst.Endpoint(), err))
		default:
			if problems := destWeakness(srcState, dstState); len(problems) > 0 {
				resp.Diagnostics.AddAttributeWarning(path.Root("destination"), "Recovery Region Destination Weakened",
					fmt.Sprintf("The destination bucket %q no longer protects the copy: %s. Restore its versioning and object lock (lifeboat_immutable_bucket) before relying on it.",
						m.name(), strings.Join(problems, "; ")))
			}
		}
	}
	m.CopyPolicy = m.copyPolicy()
	r.observe(ctx, &m, &resp.Diagnostics)
	r.warn(&m, &resp.Diagnostics)
	for _, c := range m.clusters() {
		rec, err := access.ReadCopyProbeRecord(ctx, store, m.layout(c), m.name(), r.data.trust())
		if err != nil {
			resp.Diagnostics.AddWarning("Recovery Region Copy Probe Unreadable",
				fmt.Sprintf("The copying agent's probe of the copy keys of %s (cluster %s) could not be read: %v", m.name(), c, err))
			continue
		}
		warnCopyProbe(m.name(), c, rec, &resp.Diagnostics)
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// warnCopyProbe reports copy keys the copying agent's last probe found
// allowed a forbidden action: they could delete the copy, bypass its lock,
// weaken the destination or activate the region. A forged record could
// only raise a false alarm or hide one the agent's metric
// (lifeboat_recovery_region_copy_forbidden_actions_allowed) still shows;
// the warning says who signed it.
func warnCopyProbe(name, cluster string, rec *access.ProbeRecord, diags *diag.Diagnostics) {
	if rec == nil {
		return
	}
	var allowed []string
	for _, res := range rec.Results {
		if res.Outcome == access.Allowed {
			allowed = append(allowed, string(res.Check))
		}
	}
	if len(allowed) == 0 {
		return
	}
	signed := "unsigned or signed by a key the provider does not hold"
	if rec.Signer != "" {
		signed = "signed by " + rec.Signer
	}
	diags.AddAttributeWarning(path.Root("copy_policy"), "Recovery Region Copy Keys Too Broad",
		fmt.Sprintf("The keys agent %s copies cluster %s to %s with were allowed %s by its probe at %s (record %s). "+
			"Attach only copy_policy to them: with them, whoever reads the agent's configuration can delete or weaken the copy the region exists for.",
			rec.Holder, cluster, name, strings.Join(allowed, ", "), rec.Ran.Format(time.RFC3339), signed))
}

// warn reports a lag over max_lag and a copy that stopped.
func (r *recoveryRegionResource) warn(m *recoveryRegionModel, diags *diag.Diagnostics) {
	maxLag, err := time.ParseDuration(m.MaxLag.ValueString())
	if err == nil && !m.LagSeconds.IsNull() && m.LagSeconds.ValueFloat64() > maxLag.Seconds() {
		diags.AddAttributeWarning(path.Root("lag_seconds"), "Recovery Region Lag Over Target",
			fmt.Sprintf("The recovery region %s lags %.0fs behind the source (%d objects, %d bytes not yet verified there), over max_lag = %s. "+
				"Is `lifeboat agent` running with the destination in its stores, and can it reach the destination?",
				m.name(), m.LagSeconds.ValueFloat64(), m.PendingObjects.ValueInt64(), m.PendingBytes.ValueInt64(), m.MaxLag.ValueString()))
	}
	every, err := time.ParseDuration(m.Interval.ValueString())
	if err == nil && !m.LastCopyTime.IsNull() {
		if last, perr := time.Parse(time.RFC3339, m.LastCopyTime.ValueString()); perr == nil && time.Since(last) > 3*every+time.Minute {
			diags.AddWarning("Recovery Region Copy Stopped",
				fmt.Sprintf("The last copy pass to %s finished at %s, more than three intervals (%s) ago. Is `lifeboat agent` running?",
					m.name(), m.LastCopyTime.ValueString(), m.Interval.ValueString()))
		}
	}
}

// adopt fills an imported state from the region documents found under the
// source prefix; false when there is none.
func (r *recoveryRegionResource) adopt(ctx context.Context, store objectstore.Store, m *recoveryRegionModel, diags *diag.Diagnostics) bool {
	base := repo.Layout{Prefix: m.prefix()}
	var clusters []string
	err := store.List(ctx, base.PrefixDir(), func(o objectstore.ObjectInfo) error {
		rest := strings.TrimPrefix(o.Key, base.PrefixDir())
		c, _, _ := strings.Cut(rest, "/")
		if c == "" {
			return nil
		}
		if k, ok := m.layout(c).Parse(o.Key); ok && k.Kind == repo.KindRegionConfig && k.Region == m.name() {
			clusters = append(clusters, c)
		}
		return nil
	})
	if err != nil {
		diags.Append(errorDiag("Error Reading Recovery Region", "listing "+base.PrefixDir()+" for region documents", err))
		return false
	}
	if len(clusters) == 0 {
		return false
	}
	d, err := region.ReadConfig(ctx, store, m.layout(clusters[0]), m.name(), signature.Trust{})
	if err != nil {
		diags.Append(errorDiag("Error Reading Recovery Region", "reading the region document of cluster "+clusters[0], err))
		return false
	}
	for _, c := range clusters {
		m.Clusters = append(m.Clusters, types.StringValue(c))
	}
	m.Mode = types.StringValue(d.Mode)
	m.Interval = types.StringValue(shortDuration(d.Interval()))
	m.MaxLag = types.StringValue(shortDuration(d.MaxLag()))
	m.Destination.Endpoint = optionalString(d.Destination.Endpoint)
	m.Destination.Region = optionalString(d.Destination.Region)
	m.Destination.AgentStore = optionalString(d.Destination.Store)
	if len(d.Activation) > 0 {
		m.Activation = &regionActivateModel{}
		for _, g := range d.Activation {
			gm := regionGroupModel{Name: types.StringValue(g.Name), RTO: types.StringNull()}
			for _, t := range g.Tenants {
				gm.Tenants = append(gm.Tenants, types.StringValue(t))
			}
			if g.RTOSeconds > 0 {
				gm.RTO = types.StringValue(shortDuration(time.Duration(g.RTOSeconds * float64(time.Second))))
			}
			m.Activation.Groups = append(m.Activation.Groups, gm)
		}
	}
	return true
}

// Delete implements resource.Resource: the agents stop copying; the copy
// stays in the destination under its lock.
func (r *recoveryRegionResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m recoveryRegionModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	src := r.data.storeClient(ctx, &resp.Diagnostics)
	if src == nil {
		return
	}
	store := src.Store(m.Source.Bucket.ValueString())
	for _, c := range m.clusters() {
		if err := region.DeleteConfig(ctx, store, m.layout(c), m.name()); err != nil && !errors.Is(err, objectstore.ErrBucketNotFound) {
			resp.Diagnostics.Append(errorDiag("Error Deleting Recovery Region", "removing the region document of cluster "+c, err))
			return
		}
	}
}

// ImportState implements resource.ResourceWithImportState. The ID is
// "<source bucket>[/<prefix>] <destination bucket>"; the clusters are those
// whose repository holds the region's document. Destination credentials
// are not stored anywhere and must be in the configuration.
func (r *recoveryRegionResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	srcPath, dest, ok := strings.Cut(strings.TrimSpace(req.ID), " ")
	bucket, prefix, _ := strings.Cut(srcPath, "/")
	if !ok || bucket == "" || strings.TrimSpace(dest) == "" {
		resp.Diagnostics.AddError("Invalid Import ID",
			fmt.Sprintf("Expected \"<source bucket>[/<prefix>] <destination bucket>\" (e.g. \"acme-backups/pg acme-backups-dr\"), got %q.", req.ID))
		return
	}
	dest = strings.TrimSpace(dest)
	src := &repositoryRef{Bucket: types.StringValue(bucket), Prefix: optionalString(prefix)}
	dst := &regionDestModel{Bucket: types.StringValue(dest), Endpoint: types.StringNull(), Region: types.StringNull(), AccessKey: types.StringNull(),
		SecretKey: types.StringNull(), PathStyle: types.BoolNull(), SkipTLSVerify: types.BoolNull(), AgentStore: types.StringNull()}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), regionID(bucket, prefix, dest))...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("source"), src)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("destination"), dst)...)
}
