// Package provider is the Terraform provider: it maps schema values to engine
// calls and nothing more. One file per resource or data source.
package provider

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"sync/atomic"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

var _ provider.Provider = (*LifeboatProvider)(nil)

// New returns a constructor for the provider, as providerserver wants it.
func New(version string) func() provider.Provider {
	return func() provider.Provider { return &LifeboatProvider{version: version} }
}

// LifeboatProvider is the lifeboat Terraform provider.
type LifeboatProvider struct {
	version string
	// configured is what Configure gave the resources, for the protocol
	// server's fast paths (NewServer).
	configured atomic.Pointer[providerData]
}

// providerModel is the provider block.
type providerModel struct {
	Endpoint      types.String `tfsdk:"endpoint"`
	Region        types.String `tfsdk:"region"`
	AccessKey     types.String `tfsdk:"access_key"`
	SecretKey     types.String `tfsdk:"secret_key"`
	PathStyle     types.Bool   `tfsdk:"path_style"`
	SkipTLSVerify types.Bool   `tfsdk:"skip_tls_verify"`
	SigningKey    types.String `tfsdk:"signing_key"`
	IdentityFile  types.String `tfsdk:"identity_file"`
}

// Metadata implements provider.Provider.
func (p *LifeboatProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "lifeboat"
	resp.Version = p.version
}

// Schema implements provider.Provider.
func (p *LifeboatProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Lifeboat declares and converges the backup and disaster-recovery posture of a " +
			"PostgreSQL-centred platform. The provider block locates the object store that holds the repository; " +
			"every setting falls back to the standard AWS environment variables and credential chain, then to " +
			"`LIFEBOAT_S3_*` variables.",
		Attributes: map[string]schema.Attribute{
			"endpoint": schema.StringAttribute{
				MarkdownDescription: "S3 API endpoint URL with its scheme, e.g. `http://127.0.0.1:9000` for MinIO. Empty means AWS S3. " +
					"Falls back to `AWS_ENDPOINT_URL_S3`/`AWS_ENDPOINT_URL`, then `LIFEBOAT_S3_ENDPOINT`.",
				Optional:   true,
				Validators: []validator.String{endpointValidator{}},
			},
			"region": schema.StringAttribute{
				MarkdownDescription: "Region of the object store. Falls back to `AWS_REGION`/`AWS_DEFAULT_REGION`, then `us-east-1`.",
				Optional:            true,
			},
			"access_key": schema.StringAttribute{
				MarkdownDescription: "Access key ID. Falls back to `AWS_ACCESS_KEY_ID` and the AWS credential chain (profiles, IMDS, web identity).",
				Optional:            true,
			},
			"secret_key": schema.StringAttribute{
				MarkdownDescription: "Secret access key. Falls back to `AWS_SECRET_ACCESS_KEY` and the AWS credential chain.",
				Optional:            true,
				Sensitive:           true,
			},
			"path_style": schema.BoolAttribute{
				MarkdownDescription: "Address buckets as `endpoint/bucket` rather than `bucket.endpoint` (MinIO and most self-hosted stores). Falls back to `LIFEBOAT_S3_PATH_STYLE`.",
				Optional:            true,
			},
			"skip_tls_verify": schema.BoolAttribute{
				MarkdownDescription: "Skip TLS certificate verification (self-signed test stores only). Falls back to `LIFEBOAT_S3_INSECURE`.",
				Optional:            true,
			},
			"signing_key": schema.StringAttribute{
				MarkdownDescription: "Ed25519 private key (`ed25519-private:<base64 seed>`, as `lifeboat keygen` prints it, or PEM PKCS#8) " +
					"that signs the configuration the provider writes for the agents (backup policies, drill schedules). " +
					"Agent configurations rendered by `lifeboat_wal_archive` then trust its public key, and agents refuse " +
					"configuration without its signature, so credentials that can write into the bucket cannot reconfigure " +
					"backups. Falls back to `LIFEBOAT_SIGNING_KEY`.",
				Optional:  true,
				Sensitive: true,
			},
			"identity_file": schema.StringAttribute{
				MarkdownDescription: "Path of a file of age identities (private keys, `age-keygen -o`; mode 0600, refused when group or " +
					"others can read it) that restores and drills decrypt client-side encrypted backups, dumps and WAL with (see the " +
					"`encryption` blocks of `lifeboat_wal_archive` and `lifeboat_backup_policy`). Only the path is kept, never the keys: " +
					"they stay out of Terraform state. A restore whose data no identity here decrypts fails at plan. Falls back to `" +
					crypt.EnvIdentityFile + "`, then to identities in `" + crypt.EnvIdentity + "`.",
				Optional: true,
			},
		},
	}
}

// Configure implements provider.Provider. It makes no request: a wrong
// endpoint or bad credentials are reported, by name, at the first resource
// that needs the store.
func (p *LifeboatProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var m providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	cfg := objectstore.Config{
		Endpoint:  m.Endpoint.ValueString(),
		Region:    m.Region.ValueString(),
		AccessKey: m.AccessKey.ValueString(),
		SecretKey: m.SecretKey.ValueString(),
		PathStyle: m.PathStyle.ValueBool(),
		Insecure:  m.SkipTLSVerify.ValueBool(),
	}
	// Half a key pair, or an endpoint from the environment without a
	// scheme, would only fail at the first resource that needs the store,
	// with a message that names neither.
	if ak, sk := m.AccessKey, m.SecretKey; !ak.IsUnknown() && !sk.IsUnknown() && ak.IsNull() != sk.IsNull() {
		attr, other := path.Root("secret_key"), "access_key"
		if ak.IsNull() {
			attr, other = path.Root("access_key"), "secret_key"
		}
		resp.Diagnostics.AddAttributeError(attr, "Incomplete Object Store Credentials",
			fmt.Sprintf("%s is set but %s is not: set both, or neither to use the AWS credential chain.", other, attr))
	}
	if m.Endpoint.IsNull() {
		if e := os.Getenv(objectstore.EnvEndpoint); e != "" && !validEndpoint(e) {
			resp.Diagnostics.AddAttributeError(path.Root("endpoint"), "Invalid Endpoint",
				fmt.Sprintf("%s = %q (the provider's endpoint falls back to it) must be an http:// or https:// URL with a host, e.g. http://127.0.0.1:9000.",
					objectstore.EnvEndpoint, e))
		}
	}
	if resp.Diagnostics.HasError() {
		return
	}
	data := &providerData{storeConfig: cfg, identityFile: m.IdentityFile.ValueString()}
	// Read once here so an unreadable or exposed file is named at the
	// provider block, not at the first restore.
	if _, err := crypt.LoadIdentities(data.identityFile); err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("identity_file"), "Invalid Identity File",
			fmt.Sprintf("The age identities of identity_file (or %s / %s) could not be used: %v", crypt.EnvIdentityFile, crypt.EnvIdentity, err))
		return
	}
	if key := cmp.Or(m.SigningKey.ValueString(), os.Getenv("LIFEBOAT_SIGNING_KEY")); key != "" {
		signer, err := signature.ParsePrivateKey(key)
		if err != nil {
			resp.Diagnostics.AddAttributeError(path.Root("signing_key"), "Invalid Signing Key",
				"The provider's signing_key (or LIFEBOAT_SIGNING_KEY) could not be read: generate one with `lifeboat keygen`. "+err.Error())
			return
		}
		data.signer = signer
	}
	resp.ResourceData = data
	resp.DataSourceData = data
	p.configured.Store(data)
}

// Resources implements provider.Provider.
func (p *LifeboatProvider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{
		NewImmutableBucketResource,
		NewWalArchiveResource,
		NewBackupPolicyResource,
		NewRestoreResource,
		NewRestorePointResource,
		NewDrillScheduleResource,
		NewRedisPersistenceResource,
		NewRedisRestoreResource,
		NewRecoveryRegionResource,
	}
}

// DataSources implements provider.Provider.
func (p *LifeboatProvider) DataSources(context.Context) []func() datasource.DataSource {
	return []func() datasource.DataSource{
		NewRecoveryPointsDataSource,
		NewAccessPolicyDataSource,
		NewPostureDataSource,
		NewAgentsDataSource,
	}
}

// providerData is shared by every resource of one provider instance: the
// provider block's store, and one object-store client (connection pool)
// per distinct store configuration any resource asks for.
type providerData struct {
	// storeConfig is the provider block's store: the default for every
	// resource, and what agent configurations are written for.
	storeConfig objectstore.Config
	clients     objectstore.Clients
	// signer signs policies and drill schedules; nil when no signing_key.
	signer *signature.Signer
	// identityFile is the provider's identity_file: restores and drills
	// decrypt with it (crypt.LoadIdentities; "" is the environment).
	identityFile string
	// reads is what the resources of this Terraform command share of what
	// they read (readCache).
	reads readCache
}

// restoreAgentConfig is the configuration a restore or drill the provider
// runs reads the repository with: the provider's store and its identities
// (the path only), which restore_command's wal-fetch reads too. A writer's
// agent configuration never gets them.
func (d *providerData) restoreAgentConfig(bucket, prefix, cluster string) repo.AgentConfig {
	c := d.agentConfig(bucket, prefix, cluster, "")
	c.IdentityFile = d.identityFile
	return c
}

// Store returns the client of the provider block's store.
func (d *providerData) Store(ctx context.Context) (*objectstore.Client, error) {
	return d.StoreFor(ctx, d.storeConfig)
}

// StoreFor returns the client of the store cfg describes (another region,
// or a role's own credentials), shared by every resource that asks for the
// same configuration.
func (d *providerData) StoreFor(ctx context.Context, cfg objectstore.Config) (*objectstore.Client, error) {
	return d.clients.Get(ctx, cfg)
}

// Address is the provider's registry address.
const Address = "registry.terraform.io/lifeboat-dr/lifeboat"

// agentConfig is the configuration an agent on the database host needs to
// reach the repository of cluster: the provider's own object-store
// settings, with static keys from the environment filled in (never
// temporary credentials from other sources).
func (d *providerData) agentConfig(bucket, prefix, cluster, compression string) repo.AgentConfig {
	c := d.storeConfig.FromEnv()
	if c.Endpoint == "" {
		c.Endpoint = firstEnv("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
	}
	if c.Region == "" {
		c.Region = firstEnv("AWS_REGION", "AWS_DEFAULT_REGION")
	}
	if c.AccessKey == "" && c.SecretKey == "" && os.Getenv("AWS_SESSION_TOKEN") == "" {
		c.AccessKey, c.SecretKey = os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	}
	return repo.AgentConfig{
		Endpoint: c.Endpoint, Region: c.Region, PathStyle: c.PathStyle, SkipTLSVerify: c.Insecure,
		AccessKey: c.AccessKey, SecretKey: c.SecretKey,
		Bucket: bucket, Prefix: prefix, Cluster: cluster, Compression: compression,
		TrustedKeys: d.trustedKeys(),
	}
}

// trustedKeys is what agents are told to trust: the provider's public key.
func (d *providerData) trustedKeys() []string {
	if d.signer == nil {
		return nil
	}
	return []string{d.signer.Public().String()}
}

// signerID is the key ID configuration written now is signed with ("" when
// unsigned): resources keep it as signed_by, so a document rewritten by
// anyone else reads back as drift.
func (d *providerData) signerID() string {
	if d.signer == nil {
		return ""
	}
	return d.signer.Public().ID()
}

// trust verifies documents against the provider's own key.
func (d *providerData) trust() signature.Trust {
	t, _ := signature.NewTrust(d.trustedKeys()...) // the provider's own, well-formed key
	return t
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// providerDataFrom is every resource's Configure: the shared provider data,
// or nil before the provider is configured (validation).
func providerDataFrom(pd any, diags *diag.Diagnostics) *providerData {
	if pd == nil {
		return nil
	}
	data, ok := pd.(*providerData)
	if !ok {
		diags.AddError("Unexpected Provider Data", fmt.Sprintf("Expected *providerData, got %T. This is a bug in the provider.", pd))
		return nil
	}
	return data
}

// storeClient is the client of the provider block's store, or nil with a
// diagnostic.
func (d *providerData) storeClient(ctx context.Context, diags *diag.Diagnostics) *objectstore.Client {
	return d.storeClientFor(ctx, d.storeConfig, diags)
}

// storeClientFor is the client of the store cfg describes, or nil with a
// diagnostic.
func (d *providerData) storeClientFor(ctx context.Context, cfg objectstore.Config, diags *diag.Diagnostics) *objectstore.Client {
	c, err := d.StoreFor(ctx, cfg)
	if err != nil {
		diags.Append(errorDiag("Error Configuring Object Store", fmt.Sprintf("configuring the object store client for %s", storeName(cfg)), err))
		return nil
	}
	return c
}

// storeName names a store configuration for messages, without secrets.
func storeName(cfg objectstore.Config) string {
	name := cfg.Endpoint
	if name == "" {
		name = "AWS S3"
	}
	if cfg.Region != "" {
		name += " (" + cfg.Region + ")"
	}
	return name
}
