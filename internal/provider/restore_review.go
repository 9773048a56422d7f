package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/objectplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
)

// The compatibility review of a rollback: a tenant restore to a
// restore_point, compared at plan with what lifeboat_restore_point recorded
// of the tenant there (restore.Compare), so the reviewer sees the module
// versions and schema changes the rollback undoes.

var reviewModuleType = types.ObjectType{AttrTypes: map[string]attr.Type{
	"name": types.StringType, "point_version": types.StringType, "point_state": types.StringType,
	"live_version": types.StringType, "live_state": types.StringType, "rollback_effect": types.StringType,
}}

var reviewType = types.ObjectType{AttrTypes: map[string]attr.Type{
	"restore_point": types.StringType, "database": types.StringType, "point_recorded_at": types.StringType, "reviewed_at": types.StringType,
	"summary": types.StringType, "modules": types.ListType{ElemType: reviewModuleType},
	"tables_added": types.ListType{ElemType: types.StringType}, "tables_dropped": types.ListType{ElemType: types.StringType},
	"columns_added": types.ListType{ElemType: types.StringType}, "columns_dropped": types.ListType{ElemType: types.StringType},
	"columns_changed": types.ListType{ElemType: types.StringType},
}}

func compatibilityReviewAttribute() schema.Attribute {
	str := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{MarkdownDescription: desc, Computed: true}
	}
	list := func(desc string) schema.ListAttribute {
		return schema.ListAttribute{MarkdownDescription: desc, ElementType: types.StringType, Computed: true}
	}
	return schema.SingleNestedAttribute{
		MarkdownDescription: "For a tenant restore to a `restore_point` whose `lifeboat_restore_point` listed the tenant in `tenant_databases`: " +
			"what the rollback undoes, read at plan by comparing the tenant's schema and Odoo module versions (`ir_module_module`) " +
			"recorded at the point with the live database. Known at plan. A saved plan applies with the review it showed: the review " +
			"is kept in the repository (`restores/`) beside the kept recovery point, reused by a plan of the same restore within 7 days, " +
			"and released once the restore is done. Null for other restores, with a warning when the point recorded no schema.",
		Computed:      true,
		PlanModifiers: []planmodifier.Object{objectplanmodifier.UseStateForUnknown()},
		Attributes: map[string]schema.Attribute{
			"restore_point":     str("The restore point compared with."),
			"database":          str("The tenant database compared (`target.source_database`)."),
			"point_recorded_at": str("When the tenant's schema was recorded, just before the point was made (RFC 3339)."),
			"reviewed_at":       str("When the live database was read for this review (RFC 3339)."),
			"summary":           str("One line: how much the rollback undoes."),
			"modules": schema.ListNestedAttribute{
				MarkdownDescription: "Odoo modules whose `latest_version` or `state` differ between the point and now (installed, upgraded or removed since).",
				Computed:            true,
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"name":            str("Module name."),
					"point_version":   str("`latest_version` at the point (empty: not in the database then)."),
					"point_state":     str("`state` at the point."),
					"live_version":    str("`latest_version` now (empty: not in the database now)."),
					"live_state":      str("`state` now."),
					"rollback_effect": str("What the rollback does to the module (`downgraded from 16.0.2.0 to 16.0.1.0`)."),
				}},
			},
			"tables_added":    list("Tables that exist now and did not at the point: the rollback removes them."),
			"tables_dropped":  list("Tables that existed at the point and do not now: the rollback brings them back."),
			"columns_added":   list("`table.column type` added since the point (to tables that existed then)."),
			"columns_dropped": list("`table.column type` dropped since the point (from tables that still exist)."),
			"columns_changed": list("`table.column: <type at the point> -> <type now>`."),
		},
	}
}

// planReview sets plan.CompatibilityReview: null unless a tenant restore
// to a restore point, else the review (kept for a saved plan's apply).
func (r *restoreResource) planReview(ctx context.Context, records, store objectstore.Store, plan *restoreModel, diags *diag.Diagnostics) {
	plan.CompatibilityReview = types.ObjectNull(reviewType.AttrTypes)
	if plan.Kind.ValueString() != string(restore.KindTenant) || plan.RestorePoint.ValueString() == "" || plan.Postgres == nil {
		return
	}
	req := r.request(plan, nil)
	req.Audit.Store = records
	point, db := plan.RestorePoint.ValueString(), plan.Target.SourceDatabase.ValueString()
	review, kept, err := restore.ReviewLive(ctx, store, req, plan.Postgres.dsn(), db, r.data.trust())
	switch {
	case errors.Is(err, restore.ErrNoPointSchema):
		diags.AddAttributeWarning(path.Root("restore_point"), "No Compatibility Review",
			fmt.Sprintf("Restore point %q recorded no schema of %s (%v), so this plan cannot show which module versions and schema changes the "+
				"rollback undoes. List the tenant in the lifeboat_restore_point's tenant_databases for the next release.", point, db, err))
		return
	case review == nil:
		diags.AddAttributeError(path.Root("restore_point"), "Error Reading Compatibility Review",
			detail("comparing "+db+" at restore point "+point+" with the live database", err))
		return
	case err != nil:
		diags.AddWarning("Compatibility Review Not Kept For A Saved Plan",
			fmt.Sprintf("This plan shows the review read now, but could not keep it for the apply: %v. Applied at once this does not matter; "+
				"a saved plan applied after the live schema changed fails with \"Provider produced inconsistent final plan\" (plan again then).", err))
	case kept && time.Since(review.ReviewedAt) > time.Minute:
		diags.AddWarning("Compatibility Review From An Earlier Plan",
			fmt.Sprintf("The compatibility review shown was read at %s by an earlier plan of this restore and kept for its apply; it is released once "+
				"the restore is applied. Changes to %s since then are not in it.", review.ReviewedAt.Format(time.RFC3339), db))
	}
	if !review.Empty() {
		diags.AddWarning("Rollback Compatibility Review", review.Summary()+":"+reviewSummaryLines(review))
	}
	obj, d := reviewValue(review)
	diags.Append(d...)
	plan.CompatibilityReview = obj
}

func reviewValue(rv *restore.Review) (types.Object, diag.Diagnostics) {
	var diags diag.Diagnostics
	strs := func(v []string) types.List {
		l, d := types.ListValueFrom(context.Background(), types.StringType, v)
		diags.Append(d...)
		return l
	}
	mods := make([]attr.Value, 0, len(rv.Modules))
	for _, m := range rv.Modules {
		o, d := types.ObjectValue(reviewModuleType.AttrTypes, map[string]attr.Value{
			"name": types.StringValue(m.Name), "point_version": types.StringValue(m.PointVersion), "point_state": types.StringValue(m.PointState),
			"live_version": types.StringValue(m.LiveVersion), "live_state": types.StringValue(m.LiveState), "rollback_effect": types.StringValue(m.RollbackEffect),
		})
		diags.Append(d...)
		mods = append(mods, o)
	}
	modules, d := types.ListValue(reviewModuleType, mods)
	diags.Append(d...)
	obj, d := types.ObjectValue(reviewType.AttrTypes, map[string]attr.Value{
		"restore_point": types.StringValue(rv.RestorePoint), "database": types.StringValue(rv.Database),
		"point_recorded_at": types.StringValue(rv.PointTakenAt.UTC().Format(time.RFC3339Nano)),
		"reviewed_at":       types.StringValue(rv.ReviewedAt.UTC().Format(time.RFC3339Nano)),
		"summary":           types.StringValue(rv.Summary()), "modules": modules,
		"tables_added": strs(rv.TablesAdded), "tables_dropped": strs(rv.TablesDropped),
		"columns_added": strs(rv.ColumnsAdded), "columns_dropped": strs(rv.ColumnsDropped), "columns_changed": strs(rv.ColumnsChanged),
	})
	diags.Append(d...)
	return obj, diags
}

// reviewSummaryLines is the review as the plan's warning text lists it.
func reviewSummaryLines(rv *restore.Review) string {
	var b strings.Builder
	for _, m := range rv.Modules {
		fmt.Fprintf(&b, "\n  module %s: %s", m.Name, m.RollbackEffect)
	}
	for _, t := range rv.TablesAdded {
		fmt.Fprintf(&b, "\n  table %s: dropped by the rollback", t)
	}
	for _, t := range rv.TablesDropped {
		fmt.Fprintf(&b, "\n  table %s: back with the rollback", t)
	}
	for _, c := range rv.ColumnsAdded {
		fmt.Fprintf(&b, "\n  column %s: dropped by the rollback", c)
	}
	for _, c := range rv.ColumnsDropped {
		fmt.Fprintf(&b, "\n  column %s: back with the rollback", c)
	}
	for _, c := range rv.ColumnsChanged {
		fmt.Fprintf(&b, "\n  column %s: changed back", c)
	}
	return b.String()
}
