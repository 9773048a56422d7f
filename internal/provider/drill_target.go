package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/drill"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
)

// drillTargetModel is where a drill's restore stops (drill.Target).
type drillTargetModel struct {
	Offset       types.String `tfsdk:"offset"`
	LSN          types.String `tfsdk:"lsn"`
	XID          types.String `tfsdk:"xid"`
	RestorePoint types.String `tfsdk:"restore_point"`
	Immediate    types.Bool   `tfsdk:"immediate"`
	Inclusive    types.Bool   `tfsdk:"inclusive"`
}

func drillTargetBlock() schema.Block {
	return schema.SingleNestedBlock{
		MarkdownDescription: "Where each drill's restore stops instead of the newest point, so the drill rehearses the recovery a runbook asks " +
			"for: exactly one of `offset`, `lsn`, `xid`, `restore_point` and `immediate` (cluster and tenant drills). Checked at plan against " +
			"the repository like a `lifeboat_restore` target: a target the archived WAL does not hold, or an offset before the restorable " +
			"window, fails at plan (not judged while the repository has no base backup yet). An `rpo` check measures from the drill's start, " +
			"so it does not suit an `offset` drill.",
		Attributes: map[string]schema.Attribute{
			"offset": schema.StringAttribute{MarkdownDescription: "Restore to this long before the drill starts (a duration such as `1h`).",
				Optional: true, Validators: []validator.String{durationValidator{min: time.Second}}},
			"lsn":           schema.StringAttribute{MarkdownDescription: "A WAL location (`recovery_target_lsn`).", Optional: true},
			"xid":           schema.StringAttribute{MarkdownDescription: "A transaction id (`recovery_target_xid`).", Optional: true},
			"restore_point": schema.StringAttribute{MarkdownDescription: "A named restore point (`lifeboat_restore_point`).", Optional: true},
			"immediate":     schema.BoolAttribute{MarkdownDescription: "`true`: stop at the end of the base backup.", Optional: true},
			"inclusive": schema.BoolAttribute{MarkdownDescription: "With `lsn`, `xid` or `restore_point`: `false` stops just before it. Default `true`.",
				Optional: true},
		},
	}
}

// target is the engine's target (nil without the block).
func (t *drillTargetModel) target() *drill.Target {
	if t == nil {
		return nil
	}
	d := &drill.Target{LSN: t.LSN.ValueString(), XID: t.XID.ValueString(), RestorePoint: t.RestorePoint.ValueString(),
		Immediate: t.Immediate.ValueBool(), Exclusive: !t.Inclusive.IsNull() && !t.Inclusive.ValueBool()}
	if o, err := time.ParseDuration(t.Offset.ValueString()); err == nil {
		d.OffsetSeconds = o.Seconds()
	}
	return d
}

func (t *drillTargetModel) unknown() bool {
	return t != nil && (t.Offset.IsUnknown() || t.LSN.IsUnknown() || t.XID.IsUnknown() || t.RestorePoint.IsUnknown() ||
		t.Immediate.IsUnknown() || t.Inclusive.IsUnknown())
}

// drillTargetFrom is the block an imported schedule's target reads back as.
func drillTargetFrom(d *drill.Target) *drillTargetModel {
	if d == nil {
		return nil
	}
	m := &drillTargetModel{Offset: types.StringNull(), LSN: optionalString(d.LSN), XID: optionalString(d.XID),
		RestorePoint: optionalString(d.RestorePoint), Immediate: types.BoolNull(), Inclusive: types.BoolNull()}
	if d.OffsetSeconds > 0 {
		m.Offset = types.StringValue(shortDuration(time.Duration(d.OffsetSeconds * float64(time.Second))))
	}
	if d.Immediate {
		m.Immediate = types.BoolValue(true)
	}
	if d.Exclusive {
		m.Inclusive = types.BoolValue(false)
	}
	return m
}

// validateDrillTarget checks the block's form (ValidateConfig).
func validateDrillTarget(m *drillScheduleModel, diags *diag.Diagnostics) {
	if m.Target == nil || m.Target.unknown() {
		return
	}
	if k := m.Kind.ValueString(); k == drill.KindRedis || k == drill.KindRegion {
		diags.AddAttributeError(path.Root("target"), "Recovery Target On A "+strings.ToUpper(k[:1])+k[1:]+" Drill",
			fmt.Sprintf("A %s drill has no recovery target; the target block is for cluster and tenant drills. Remove it.", k))
		return
	}
	if err := m.Target.target().Validate(); err != nil {
		diags.AddAttributeError(path.Root("target"), "Invalid Drill Target", fmt.Sprintf("%v.", err))
	}
}

// planDrillTarget plans the restore the drill's target asks for against
// the repository (drill.PlanTarget), failing the plan on the attribute the
// archive cannot satisfy.
func (r *drillScheduleResource) planDrillTarget(ctx context.Context, m *drillScheduleModel, diags *diag.Diagnostics) {
	if m.Target == nil || m.Target.unknown() || m.Repository == nil || m.Repository.Bucket.IsUnknown() || m.Cluster.IsUnknown() || r.data == nil {
		return
	}
	client := r.data.storeClient(ctx, diags)
	if client == nil {
		return
	}
	bucket := m.Repository.Bucket.ValueString()
	cfg := r.data.restoreAgentConfig(bucket, m.Repository.Prefix.ValueString(), m.Cluster.ValueString())
	_, err := drill.PlanTarget(ctx, client.Store(bucket), m.layout(), m.Kind.ValueString(), m.Database.ValueString(), m.Target.target(), cfg)
	if err == nil {
		return
	}
	var te *restore.TargetError
	var outside *restore.OutsideWindowError
	switch {
	case errors.As(err, &te):
		attr := map[string]string{"recovery_target_lsn": "lsn", "recovery_target_xid": "xid", "recovery_target_name": "restore_point"}[te.Attribute]
		if attr == "" {
			attr = "immediate"
		}
		diags.AddAttributeError(path.Root("target").AtName(attr), "Recovery Target Not In The Archive",
			fmt.Sprintf("The drill's restore cannot reach target.%s: %v. Choose a target the archive holds (`lifeboat incident find` lists "+
				"transactions, lifeboat_recovery_points the window).", attr, err))
	case errors.As(err, &outside):
		diags.AddAttributeError(path.Root("target").AtName("offset"), "Drill Target Outside Restorable Window",
			fmt.Sprintf("A drill run now could not restore to target.offset before its start: %v. Shorten the offset, or wait until the window reaches back that far.", err))
	case errors.Is(err, drill.ErrInvalidTarget), errors.Is(err, restore.ErrInvalidTarget):
		diags.AddAttributeError(path.Root("target"), "Invalid Drill Target", fmt.Sprintf("%v.", err))
	default:
		diags.AddAttributeError(path.Root("target"), "Error Planning Drill Target", detail("planning the drill's restore to its target", err))
	}
}
