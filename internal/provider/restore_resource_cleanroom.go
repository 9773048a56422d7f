package provider

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/boolplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
)

// forensicLines is how many changes forensic_changes lists (the summary
// counts them all).
const forensicLines = 200

// cleanRoomModel is lifeboat_restore's clean-room arguments and the
// restorer's credentials, embedded in restoreModel.
type cleanRoomModel struct {
	CleanRoom         types.Bool               `tfsdk:"clean_room"`
	NotAfter          types.String             `tfsdk:"not_after"`
	ListenAddresses   types.String             `tfsdk:"listen_addresses"`
	Credentials       *restoreCredentialsModel `tfsdk:"credentials"`
	Superuser         types.String             `tfsdk:"superuser"`
	SuperuserPassword types.String             `tfsdk:"superuser_password"`
	ForensicSummary   types.String             `tfsdk:"forensic_summary"`
	ForensicChanges   types.List               `tfsdk:"forensic_changes"`
}

// restoreCredentialsModel is the restorer identity a restore reads with.
type restoreCredentialsModel struct {
	AccessKey types.String `tfsdk:"access_key"`
	SecretKey types.String `tfsdk:"secret_key"`
	Profile   types.String `tfsdk:"profile"`
}

func cleanRoomAttributes() map[string]schema.Attribute {
	computedStr := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{MarkdownDescription: desc, Computed: true}
	}
	return map[string]schema.Attribute{
		"clean_room": schema.BoolAttribute{
			MarkdownDescription: "A clean-room restore after a credential compromise (cluster restores): reads with the `credentials` block's " +
				"restorer identity only (audit records and kept plans are written with the provider's), every archived WAL segment the " +
				"plan replays is verified against its recorded SHA-256 before PostgreSQL starts (base backup parts as they are extracted), " +
				"the copy never archives and listens on `listen_addresses` (default the loopback), and its superuser gets a fresh password " +
				"(`superuser_password`). With `not_after`, everything is read as the repository was then. With the agent executor (`agent`), the " +
				"agent restores with the restorer credentials of its bootstrap file (`restorer`; an agent without them refuses) and the " +
				"`credentials` block, optional then, only plans; the password is made by the provider and kept in state, and the request in the " +
				"repository carries only its SCRAM-SHA-256 verifier, which the agent sets on the copy.",
			Optional: true, Computed: true, Default: booldefault.StaticBool(false),
			PlanModifiers: []planmodifier.Bool{boolplanmodifier.RequiresReplace()},
		},
		"not_after": schema.StringAttribute{
			MarkdownDescription: "The declared compromise time (RFC 3339), with `clean_room`. The restore reads the repository as it was then " +
				"(backups and WAL an attacker overwrote or hid behind delete markers since read as they were; anything written since does not " +
				"exist), so the recovery point is the newest before it (`point_in_time`, if set, must not be later). The plan lists what " +
				"changed in the repository since (`forensic_summary`, `forensic_changes`).",
			Optional: true, PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			Validators: []validator.String{pointInTimeValidator{}},
		},
		"listen_addresses": schema.StringAttribute{
			MarkdownDescription: "Addresses the restored server listens on (cluster restores), as PostgreSQL's `listen_addresses`. Default `127.0.0.1`: " +
				"never the source's addresses, so its clients cannot reach the copy by accident.",
			Optional: true, PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
		},
		"superuser": computedStr("The superuser of a clean-room copy, whose password was replaced by `superuser_password`."),
		"superuser_password": schema.StringAttribute{
			MarkdownDescription: "The fresh random password of a clean-room copy's superuser (a password known from the source, or to an attacker, does not open it).",
			Computed:            true, Sensitive: true,
		},
		"forensic_summary": computedStr("With `not_after`: what was written into the repository since, counted by kind of object and change " +
			"(objects written, versions written over existing objects, delete markers), and when it was listed. Known at plan, and kept: " +
			"a saved plan applied later, while an attacker goes on writing, keeps the listing it showed (a warning counts what changed since)."),
		"forensic_changes": schema.ListAttribute{
			MarkdownDescription: fmt.Sprintf("With `not_after`: each version and delete marker written into the repository since "+
				"(`<time> <written|overwritten|delete marker> <key> (<kind>)`), oldest first, at most %d. Known at plan and kept as "+
				"planned, like `forensic_summary`.", forensicLines),
			ElementType: types.StringType, Computed: true,
		},
	}
}

func cleanRoomBlocks() map[string]schema.Block {
	return map[string]schema.Block{
		"credentials": schema.SingleNestedBlock{
			MarkdownDescription: "The restorer identity (the `restorer` document of `lifeboat_access_policy`, read-only) the restore reads " +
				"the repository with: planning, downloading and the copy's `restore_command`. Audit records and kept plans are written with " +
				"the provider's own credentials, so the restorer's never write. Static keys, or a `profile` of the AWS shared files. " +
				"Without this block the provider's credentials read the repository. Required by `clean_room` when Terraform restores itself (`executor = \"local\"`).",
			Attributes: map[string]schema.Attribute{
				"access_key": schema.StringAttribute{MarkdownDescription: "The restorer's access key id.", Optional: true},
				"secret_key": schema.StringAttribute{MarkdownDescription: "The restorer's secret access key.", Optional: true, Sensitive: true},
				"profile":    schema.StringAttribute{MarkdownDescription: "A profile of the AWS shared configuration and credentials files holding the restorer's keys.", Optional: true},
			},
		},
	}
}

// validate is ValidateConfig's share for the clean-room arguments.
// onAgent: the agent executor restores, with the restorer credentials of
// its own bootstrap file (the credentials block then only plans).
func (c *cleanRoomModel) validateCleanRoom(kind, pointInTime types.String, onAgent bool, diags *diag.Diagnostics) {
	if cr := c.Credentials; cr != nil {
		keys := !cr.AccessKey.IsNull() || !cr.SecretKey.IsNull()
		if keys && (cr.AccessKey.IsNull() || cr.SecretKey.IsNull()) {
			diags.AddAttributeError(path.Root("credentials"), "Incomplete Restorer Credentials",
				"credentials needs both access_key and secret_key, or a profile instead of them.")
		}
		if keys && !cr.Profile.IsNull() {
			diags.AddAttributeError(path.Root("credentials").AtName("profile"), "Conflicting Restorer Credentials",
				"Give either access_key and secret_key, or a profile, not both.")
		}
		if !keys && cr.Profile.IsNull() {
			diags.AddAttributeError(path.Root("credentials"), "Missing Restorer Credentials",
				"The credentials block needs access_key and secret_key, or a profile.")
		}
	}
	if !c.ListenAddresses.IsNull() && !c.ListenAddresses.IsUnknown() {
		for _, a := range strings.Split(c.ListenAddresses.ValueString(), ",") {
			a = strings.TrimSpace(a)
			if a != "localhost" && a != "*" && net.ParseIP(a) == nil {
				diags.AddAttributeError(path.Root("listen_addresses"), "Invalid Listen Address",
					fmt.Sprintf("listen_addresses: %q is not an IP address, localhost or *. Give a comma-separated list such as 127.0.0.1.", a))
			}
		}
	}
	on := c.CleanRoom.ValueBool()
	if !c.NotAfter.IsNull() && !c.NotAfter.IsUnknown() && !on && !c.CleanRoom.IsUnknown() {
		diags.AddAttributeError(path.Root("not_after"), "not_after Needs clean_room",
			"not_after declares a compromise time: set clean_room = true, so the restore reads with restorer credentials only and verifies what it uses.")
	}
	if !on {
		return
	}
	if kind.ValueString() == string(restore.KindTenant) {
		diags.AddAttributeError(path.Root("clean_room"), "Clean Room Needs A Cluster Restore",
			"A tenant restore goes into a live server, which is no clean room. Restore the cluster (kind = \"cluster\") into a new data directory.")
	}
	if c.Credentials == nil && !onAgent {
		diags.AddAttributeError(path.Root("clean_room"), "Clean Room Needs Restorer Credentials",
			"clean_room reads with restorer credentials only: add a credentials block with the keys (or profile) of an identity made from "+
				"the lifeboat_access_policy data source's restorer document.")
	}
	if c.ListenAddresses.ValueString() == "*" {
		diags.AddAttributeWarning(path.Root("listen_addresses"), "Clean Room Listens Everywhere",
			"listen_addresses = \"*\" lets every network reach the clean-room copy. Prefer the loopback or one isolated address.")
	}
	if c.NotAfter.IsNull() || c.NotAfter.IsUnknown() || pointInTime.IsUnknown() || pointInTime.ValueString() == "latest" || pointInTime.IsNull() {
		return
	}
	na, err1 := time.Parse(time.RFC3339Nano, c.NotAfter.ValueString())
	pit, err2 := time.Parse(time.RFC3339Nano, pointInTime.ValueString())
	if err1 == nil && err2 == nil && pit.After(na) {
		diags.AddAttributeError(path.Root("point_in_time"), "Point In Time After The Compromise",
			fmt.Sprintf("point_in_time %s is after not_after %s: the clean room restores from before the compromise. Choose an earlier point, or latest (the newest point before not_after).",
				pointInTime.ValueString(), c.NotAfter.ValueString()))
	}
}

// notAfter is the declared compromise time; zero when none.
func (c *cleanRoomModel) notAfter() time.Time {
	t, _ := time.Parse(time.RFC3339Nano, c.NotAfter.ValueString())
	return t
}

// cleanRoomValues are the arguments that define the restore, for
// definitionChanged and anyUnknown.
func (c *cleanRoomModel) cleanRoomValues() []attr.Value {
	return []attr.Value{c.CleanRoom, c.NotAfter, c.ListenAddresses}
}

// readStore is the store a restore reads: the restorer's, with the
// credentials block, on the source store cfg and bucket (the provider's,
// or a recovery region's); admin, the provider's credentials there,
// otherwise.
func (r *restoreResource) readStore(ctx context.Context, m *restoreModel, cfg objectstore.Config, bucket string, admin objectstore.Store,
	diags *diag.Diagnostics) objectstore.Store {
	cr := m.Credentials
	if cr == nil {
		return admin
	}
	cfg.AccessKey, cfg.SecretKey, cfg.SessionToken, cfg.Profile = cr.AccessKey.ValueString(), cr.SecretKey.ValueString(), "", cr.Profile.ValueString()
	client := r.data.storeClientFor(ctx, cfg, diags)
	if client == nil {
		return nil
	}
	return client.Store(bucket)
}

// planCleanRoom fills the clean-room values the plan shows: the forensic
// context since not_after, read with the restore's own store (req is the
// restore's request, whose Audit.Store keeps the report), and the
// password to come.
//
// GOTCHA: an attacker may still be writing, and Terraform plans a saved
// plan again when it applies it, failing the apply if the forensic values
// changed: the report is kept in the repository (restore.KeptForensics)
// so that second plan shows exactly the first's; when it cannot be kept
// the values are unknown and listed on apply.
func planCleanRoom(ctx context.Context, store objectstore.Store, req restore.Request, m *restoreModel, diags *diag.Diagnostics) {
	m.Superuser, m.SuperuserPassword = types.StringNull(), types.StringNull()
	if m.CleanRoom.ValueBool() && m.Kind.ValueString() == string(restore.KindCluster) {
		m.Superuser, m.SuperuserPassword = types.StringUnknown(), types.StringUnknown()
	}
	m.ForensicSummary, m.ForensicChanges = types.StringNull(), types.ListNull(types.StringType)
	if m.notAfter().IsZero() {
		return
	}
	rep, err := restore.KeptForensics(ctx, store, req, forensicLines)
	if err != nil {
		diags.AddAttributeError(path.Root("not_after"), "Error Reading The Repository's History",
			detail(fmt.Sprintf("listing what was written into the repository since not_after %s (the restorer needs s3:ListBucketVersions)", m.NotAfter.ValueString()), err))
		return
	}
	if rep.NotKept != nil {
		m.ForensicSummary, m.ForensicChanges = types.StringUnknown(), types.ListUnknown(types.StringType)
		diags.AddWarning("Forensic Context Listed On Apply",
			fmt.Sprintf("%s. It could not be kept for a saved plan (%v), so forensic_summary and forensic_changes are listed again when the restore runs.",
				rep.Summary, rep.NotKept))
		return
	}
	m.ForensicSummary, m.ForensicChanges = forensicValues(rep.Summary, rep.Lines)
	if rep.Changes > 0 {
		diags.AddWarning("Repository Changed Since The Declared Compromise",
			fmt.Sprintf("%s. The clean room reads the repository as it was at %s and ignores all of it; see forensic_changes.", rep.Summary, m.NotAfter.ValueString()))
	}
	if more := len(rep.Fresh.Changes) - rep.Changes; more != 0 {
		// Warnings are not planned values: this one may say what the
		// kept listing cannot.
		diags.AddWarning("Repository Still Changing",
			fmt.Sprintf("forensic_summary and forensic_changes are the listing of %s, kept for this restore's saved plan; the repository now holds %d "+
				"changes since not_after (%+d): %s. Apply (or destroy) this restore, then plan again for a new listing.",
				rep.Listed.UTC().Format(time.RFC3339), len(rep.Fresh.Changes), more, rep.Fresh.Summary()))
	}
}

// forensicValues are forensic_summary and forensic_changes.
func forensicValues(summary string, lines []string) (types.String, types.List) {
	vals := []attr.Value{}
	for _, l := range lines {
		vals = append(vals, types.StringValue(l))
	}
	return types.StringValue(summary), types.ListValueMust(types.StringType, vals)
}

// applyForensics lists the forensic context when the plan could not keep
// it (so it was unknown there).
func applyForensics(ctx context.Context, store objectstore.Store, m *restoreModel, diags *diag.Diagnostics) {
	if !m.ForensicSummary.IsUnknown() {
		return
	}
	m.ForensicSummary, m.ForensicChanges = types.StringNull(), types.ListNull(types.StringType)
	na := m.notAfter()
	if na.IsZero() {
		return
	}
	rep, err := restore.Forensics(ctx, store, m.layout(), na)
	if err != nil {
		diags.AddWarning("Forensic Context Not Listed",
			fmt.Sprintf("The restore ran, but what was written into the repository since not_after could not be listed: %v.", err))
		return
	}
	m.ForensicSummary, m.ForensicChanges = forensicValues(rep.Summary(), rep.Lines(forensicLines))
}

// applyCleanRoom sets the clean-room arguments of a restore request.
func (c *cleanRoomModel) applyCleanRoom(req *restore.Request) {
	req.CleanRoom, req.NotAfter = c.CleanRoom.ValueBool(), c.notAfter()
	req.ListenAddresses = c.ListenAddresses.ValueString()
	if cr := c.Credentials; cr != nil {
		// restore_command reads with the restorer's keys too, never the
		// provider's.
		req.AgentConfig.AccessKey, req.AgentConfig.SecretKey = cr.AccessKey.ValueString(), cr.SecretKey.ValueString()
		req.AgentConfig.Profile = cr.Profile.ValueString()
	}
}
