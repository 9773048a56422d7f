package provider

import (
	"context"
	"reflect"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// getModel and putModel convert drill schedules exactly as the framework's
// Get and Set do: the same model from the same value, the same value from
// the same model, for nulls, unknowns, absent and present blocks, empty and
// null lists, and timeouts.
func TestModelCodecAgreesWithTheFramework(t *testing.T) {
	ctx := context.Background()
	var sr resource.SchemaResponse
	(&drillScheduleResource{}).Schema(ctx, resource.SchemaRequest{}, &sr)
	typ := drillScheduleType()
	tt := typ.(attr.TypeWithAttributeTypes).AttributeTypes()["timeouts"]
	setTimeouts, err := tt.ValueFromTerraform(ctx, tftypes.NewValue(tt.TerraformType(ctx), map[string]tftypes.Value{
		"create": tftypes.NewValue(tftypes.String, "90m"), "update": tftypes.NewValue(tftypes.String, nil)}))
	if err != nil {
		t.Fatal(err)
	}
	tenant := tenantDrill("b", "")
	tenant.Repository.Prefix, tenant.Schedule = types.StringNull(), types.StringValue("@weekly")
	tenant.Postgres.DSN = types.StringValue("postgres://x@h/db")
	everything := tenant
	everything.Attachments = &drillAttachModel{Bucket: types.StringValue("att"), Prefix: types.StringValue("tenants/acme/")}
	everything.Target = &drillTargetModel{Offset: types.StringNull(), LSN: types.StringValue("0/3000000"), XID: types.StringNull(),
		RestorePoint: types.StringNull(), Immediate: types.BoolNull(), Inclusive: types.BoolValue(false)}
	everything.Checks = append(everything.Checks, drillCheckModel{Name: types.StringValue("orders"), Kind: types.StringNull(),
		SQL: types.StringValue("SELECT count(*) FROM orders"), Expected: types.StringValue("10"), Database: types.StringValue("shop")})
	everything.EvidenceTrustedKeys = types.ListValueMust(types.StringType, []attr.Value{types.StringValue("ed25519:AAAA")})
	everything.LastDrillTime, everything.LastAchievedRTO = types.StringValue("2026-01-01T00:00:00Z"), types.Float64Value(12.5)
	everything.LastFailures = types.ListValueMust(types.StringType, []attr.Value{types.StringValue("check orders: 3")})
	everything.Timeouts = setTimeouts.(timeouts.Value)
	unknowns := tenant
	unknowns.ID, unknowns.LastDrillTime, unknowns.LastAchievedRTO = types.StringUnknown(), types.StringUnknown(), types.Float64Unknown()
	unknowns.LastFailures, unknowns.Schedule = types.ListUnknown(types.StringType), types.StringUnknown()
	noChecks := tenant
	noChecks.Checks = []drillCheckModel{}
	redis := tenant
	redis.Kind, redis.Database, redis.Postgres, redis.Checks = types.StringValue("redis"), types.StringNull(), nil, nil
	redis.Redis = &drillRedisModel{Instance: types.StringValue("sessions"), MinKeys: types.Int64Value(10), RPO: types.StringNull()}

	for name, m := range map[string]drillScheduleModel{"tenant": tenant, "everything": everything, "unknowns": unknowns,
		"no checks": noChecks, "redis": redis} {
		t.Run(name, func(t *testing.T) {
			st := tfsdk.State{Schema: sr.Schema}
			if d := st.Set(ctx, &m); d.HasError() {
				t.Fatal(d)
			}
			raw, d := putModel(ctx, typ, &m)
			if d.HasError() {
				t.Fatal(d)
			}
			if !raw.Equal(st.Raw) {
				t.Fatalf("putModel:\n%s\nthe framework's Set:\n%s", raw, st.Raw)
			}
			var want, got drillScheduleModel
			if d := st.Get(ctx, &want); d.HasError() {
				t.Fatal(d)
			}
			if d := getModel(ctx, typ, st.Raw, &got); d.HasError() {
				t.Fatal(d)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("getModel:\n%+v\nthe framework's Get:\n%+v", got, want)
			}
		})
	}

	// An unknown block is refused, as the framework refuses it.
	var vals map[string]tftypes.Value
	st := tfsdk.State{Schema: sr.Schema}
	if d := st.Set(ctx, &tenant); d.HasError() {
		t.Fatal(d)
	}
	if err := st.Raw.As(&vals); err != nil {
		t.Fatal(err)
	}
	pt := typ.(attr.TypeWithAttributeTypes).AttributeTypes()["postgres"]
	vals["postgres"] = tftypes.NewValue(pt.TerraformType(ctx), tftypes.UnknownValue)
	unknownBlock := tftypes.NewValue(typ.TerraformType(ctx), vals)
	var m drillScheduleModel
	if d := (tfsdk.State{Schema: sr.Schema, Raw: unknownBlock}).Get(ctx, &m); !d.HasError() {
		t.Fatal("the framework took an unknown block")
	}
	if d := getModel(ctx, typ, unknownBlock, &m); !d.HasError() {
		t.Fatal("getModel took an unknown block")
	}
}
