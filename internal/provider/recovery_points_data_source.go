package provider

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/catalog"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/redisx"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

var _ datasource.DataSourceWithConfigure = (*recoveryPointsDataSource)(nil)

// NewRecoveryPointsDataSource is the lifeboat_recovery_points constructor.
func NewRecoveryPointsDataSource() datasource.DataSource { return &recoveryPointsDataSource{} }

// recoveryPointsDataSource lists what a cluster can be restored from.
type recoveryPointsDataSource struct {
	data *providerData
}

type recoveryPointsModel struct {
	ID         types.String         `tfsdk:"id"`
	Cluster    types.String         `tfsdk:"cluster"`
	Repository *repositoryRef       `tfsdk:"repository"`
	Backups    []recoveryPointModel `tfsdk:"backups"`
	Window     *recoveryWindowModel `tfsdk:"window"`
	Redis      []redisPointModel    `tfsdk:"redis_snapshots"`
}

type recoveryPointModel struct {
	ID        types.String `tfsdk:"id"`
	Kind      types.String `tfsdk:"kind"`
	Database  types.String `tfsdk:"database"`
	StartTime types.String `tfsdk:"start_time"`
	StopTime  types.String `tfsdk:"stop_time"`
	StartLSN  types.String `tfsdk:"start_lsn"`
	StopLSN   types.String `tfsdk:"stop_lsn"`
	Timeline  types.Int64  `tfsdk:"timeline"`
	Size      types.Int64  `tfsdk:"size"`
	// EncryptedTo lists recipient fingerprints (empty: in the clear).
	EncryptedTo []types.String `tfsdk:"encrypted_to"`
}

type recoveryWindowModel struct {
	Restorable    types.Bool   `tfsdk:"restorable"`
	FromBackup    types.String `tfsdk:"from_backup"`
	Earliest      types.String `tfsdk:"earliest"`
	Latest        types.String `tfsdk:"latest"`
	LatestSegment types.String `tfsdk:"latest_segment"`
	NewestSegment types.String `tfsdk:"newest_segment"`
	Gaps          types.Int64  `tfsdk:"gaps"`
	Timeline      types.Int64  `tfsdk:"timeline"`
	Forks         types.List   `tfsdk:"forks"`
}

// redisPointModel is one complete Redis snapshot.
type redisPointModel struct {
	Instance    types.String `tfsdk:"instance"`
	ID          types.String `tfsdk:"id"`
	TakenAt     types.String `tfsdk:"taken_at"`
	RDBSize     types.Int64  `tfsdk:"rdb_size"`
	StoredSize  types.Int64  `tfsdk:"size"`
	RDBChecksum types.String `tfsdk:"rdb_sha256"`
}

// Metadata implements datasource.DataSource.
func (d *recoveryPointsDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_recovery_points"
}

// Schema implements datasource.DataSource.
func (d *recoveryPointsDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	str := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{MarkdownDescription: desc, Computed: true}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "The recovery points of a cluster: its complete base backups and tenant dumps (a backup without its manifest does not count), the window of time it can be restored to, with WAL gaps detected, and the Redis snapshots the agent took into its repository.",
		Attributes: map[string]schema.Attribute{
			"id":      schema.StringAttribute{MarkdownDescription: "`<bucket>/<prefix>/<cluster>`.", Computed: true},
			"cluster": schema.StringAttribute{MarkdownDescription: "Cluster name in the repository.", Required: true, Validators: []validator.String{keyNameValidator{}}},
			"repository": schema.SingleNestedAttribute{
				MarkdownDescription: "Where the repository lives.",
				Required:            true,
				Attributes: map[string]schema.Attribute{
					"bucket": schema.StringAttribute{MarkdownDescription: "Repository bucket.", Required: true, Validators: []validator.String{bucketNameValidator{}}},
					"prefix": schema.StringAttribute{MarkdownDescription: "Key prefix inside the bucket (no leading or trailing `/`).", Optional: true, Validators: []validator.String{keyPrefixValidator{}}},
				},
			},
			"backups": schema.ListNestedAttribute{
				MarkdownDescription: "Complete backups, oldest first.",
				Computed:            true,
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"id":         str("Backup id (use it as a restore's `backup_id`)."),
					"kind":       str("`physical` (base backup) or `tenant` (logical dump of one database)."),
					"database":   str("Tenant database (tenant dumps only)."),
					"start_time": str("When the backup started (RFC 3339)."),
					"stop_time":  str("When it finished (RFC 3339): the earliest point a restore from it reaches."),
					"start_lsn":  str("WAL location at start."),
					"stop_lsn":   str("WAL location at stop."),
					"timeline":   schema.Int64Attribute{MarkdownDescription: "PostgreSQL timeline the base backup was taken on (physical backups only).", Computed: true},
					"size":       schema.Int64Attribute{MarkdownDescription: "Stored bytes.", Computed: true},
					"encrypted_to": schema.ListAttribute{MarkdownDescription: "Fingerprints of the age recipients the backup is encrypted to " +
						"on the database host (empty: stored in the clear); a restore of it needs the identity of one of them.",
						ElementType: types.StringType, Computed: true},
				}},
			},
			"redis_snapshots": schema.ListNestedAttribute{
				MarkdownDescription: "Complete Redis snapshots in the repository (those with a manifest), by instance then oldest first (a `lifeboat_redis_restore`'s `snapshot_id`).",
				Computed:            true,
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"instance":   str("The Redis instance's name in the repository."),
					"id":         str("Snapshot id."),
					"taken_at":   str("When its BGSAVE finished (RFC 3339)."),
					"rdb_size":   schema.Int64Attribute{MarkdownDescription: "Bytes of the RDB file.", Computed: true},
					"size":       schema.Int64Attribute{MarkdownDescription: "Stored (compressed) bytes.", Computed: true},
					"rdb_sha256": str("SHA-256 of the RDB file, checked on restore."),
				}},
			},
			"window": schema.SingleNestedAttribute{
				MarkdownDescription: "The restorable window: from the oldest usable base backup to the newest WAL reachable from it without a gap.",
				Computed:            true,
				Attributes: map[string]schema.Attribute{
					"restorable":     schema.BoolAttribute{MarkdownDescription: "False when no base backup has all the WAL it needs.", Computed: true},
					"from_backup":    str("Oldest usable base backup."),
					"earliest":       str("Earliest restorable time (RFC 3339)."),
					"latest":         str("Latest restorable time, as far as archived WAL reaches (RFC 3339)."),
					"latest_segment": str("Last WAL segment of the unbroken run."),
					"newest_segment": str("Newest archived WAL segment; differs from latest_segment when a gap cuts the window short."),
					"gaps":           schema.Int64Attribute{MarkdownDescription: "Number of missing WAL runs.", Computed: true},
					"timeline": schema.Int64Attribute{MarkdownDescription: "Timeline the window follows: the newest in the archive, along its history (its `.history` file). " +
						"A restore to another timeline sets `recovery_target_timeline`.", Computed: true},
					"forks": schema.ListAttribute{MarkdownDescription: "Timelines that went on past the point a child timeline branched off " +
						"(an old primary that kept writing after its standby was promoted), each described with its children; their WAL past that point is on no path to those children.",
						ElementType: types.StringType, Computed: true},
				},
			},
		},
	}
}

// Configure implements datasource.DataSourceWithConfigure.
func (d *recoveryPointsDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

// Read implements datasource.DataSource.
func (d *recoveryPointsDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m recoveryPointsModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	client, store := d.data.openRepository(ctx, m.Repository, &resp.Diagnostics)
	if client == nil {
		return
	}
	bucket := m.Repository.Bucket.ValueString()
	layout := repo.Layout{Prefix: m.Repository.Prefix.ValueString(), Cluster: m.Cluster.ValueString()}
	c, err := catalog.Load(ctx, store, layout)
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("repository"), "Error Listing Recovery Points",
			detail(fmt.Sprintf("listing the backups of %q in s3://%s/%s", m.Cluster.ValueString(), bucket, layout.Root()), err))
		return
	}
	m.Backups = []recoveryPointModel{}
	for _, b := range c.Backups() {
		m.Backups = append(m.Backups, recoveryPointModel{
			ID: types.StringValue(b.ID), Kind: types.StringValue(b.Kind), Database: optionalString(b.Database),
			StartTime: types.StringValue(b.StartTime.UTC().Format(time.RFC3339)), StopTime: types.StringValue(b.StopTime.UTC().Format(time.RFC3339)),
			StartLSN: optionalString(b.StartLSN), StopLSN: optionalString(b.StopLSN), Size: types.Int64Value(b.Size),
			Timeline: types.Int64Null(), EncryptedTo: []types.String{},
		})
		if b.Encryption != nil {
			for _, fp := range b.Encryption.Recipients {
				m.Backups[len(m.Backups)-1].EncryptedTo = append(m.Backups[len(m.Backups)-1].EncryptedTo, types.StringValue(fp))
			}
		}
		if b.Timeline != 0 {
			m.Backups[len(m.Backups)-1].Timeline = types.Int64Value(int64(b.Timeline))
		}
	}
	snaps, err := redisx.AllSnapshots(ctx, store, layout)
	if err != nil {
		resp.Diagnostics.Append(errorDiag("Error Listing Redis Snapshots", fmt.Sprintf("listing s3://%s/%s", bucket, layout.RedisDir()), err))
		return
	}
	m.Redis = []redisPointModel{}
	for _, sm := range snaps {
		m.Redis = append(m.Redis, redisPointModel{Instance: types.StringValue(sm.Instance), ID: types.StringValue(sm.ID),
			TakenAt: types.StringValue(sm.TakenAt.UTC().Format(time.RFC3339)), RDBSize: types.Int64Value(sm.RDBSize),
			StoredSize: types.Int64Value(sm.StoredSize), RDBChecksum: types.StringValue(sm.RDBSHA256)})
	}
	w, err := c.RestorableWindow(ctx, store)
	if err != nil {
		resp.Diagnostics.Append(errorDiag("Error Computing Restorable Window", fmt.Sprintf("listing the WAL of %q", m.Cluster.ValueString()), err))
		return
	}
	m.Window = &recoveryWindowModel{
		Restorable: types.BoolValue(w.Restorable), FromBackup: optionalString(w.FromBackup),
		Earliest: optionalTime(w.Earliest), Latest: optionalTime(w.Latest),
		LatestSegment: optionalString(w.LatestSegment), NewestSegment: optionalString(w.NewestSegment),
		Gaps: types.Int64Value(int64(len(w.Gaps))), Timeline: types.Int64Value(int64(w.Timeline)),
	}
	forks := []attr.Value{}
	for _, t := range w.Timelines {
		if len(t.ContinuedAfter) > 0 {
			forks = append(forks, types.StringValue(t.Describe()))
		}
	}
	m.Window.Forks = types.ListValueMust(types.StringType, forks)
	m.ID = types.StringValue(bucket + "/" + layout.Root())
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
