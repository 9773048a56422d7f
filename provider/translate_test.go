package provider

import (
	"math/big"
	"testing"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testBlock is a schema with every kind of attribute and block.
func testBlock() *tfprotov6.SchemaBlock {
	return &tfprotov6.SchemaBlock{
		Attributes: []*tfprotov6.SchemaAttribute{
			{Name: "id", Type: tftypes.String, Computed: true},
			{Name: "name", Type: tftypes.String, Required: true, Description: "The name."},
			{Name: "enabled", Type: tftypes.Bool, Optional: true},
			{Name: "max_days", Type: tftypes.Number, Optional: true},
			{Name: "ratio", Type: tftypes.Number, Optional: true},
			{Name: "zones", Type: tftypes.List{ElementType: tftypes.String}, Optional: true},
			{Name: "ports", Type: tftypes.Set{ElementType: tftypes.Number}, Optional: true},
			{Name: "tags", Type: tftypes.Map{ElementType: tftypes.String}, Optional: true},
			{Name: "password", Type: tftypes.String, Optional: true, Sensitive: true},
			{Name: "status", Type: tftypes.String, Computed: true},
			{Name: "owner", NestedType: &tfprotov6.SchemaObject{
				Nesting: tfprotov6.SchemaObjectNestingModeSingle,
				Attributes: []*tfprotov6.SchemaAttribute{
					{Name: "user_name", Type: tftypes.String, Required: true},
				},
			}, Optional: true},
		},
		BlockTypes: []*tfprotov6.SchemaNestedBlock{
			{TypeName: "retention", Nesting: tfprotov6.SchemaNestedBlockNestingModeSingle, Block: &tfprotov6.SchemaBlock{
				Attributes: []*tfprotov6.SchemaAttribute{
					{Name: "mode", Type: tftypes.String, Required: true},
					{Name: "days", Type: tftypes.Number, Required: true},
				},
			}},
			{TypeName: "rule", Nesting: tfprotov6.SchemaNestedBlockNestingModeList, Block: &tfprotov6.SchemaBlock{
				Attributes: []*tfprotov6.SchemaAttribute{
					{Name: "prefix", Type: tftypes.String, Required: true},
					{Name: "rule_id", Type: tftypes.String, Computed: true},
				},
			}},
			{TypeName: "lifecycle_tier", Nesting: tfprotov6.SchemaNestedBlockNestingModeSet, Block: &tfprotov6.SchemaBlock{
				Attributes: []*tfprotov6.SchemaAttribute{
					{Name: "name", Type: tftypes.String, Required: true},
				},
				BlockTypes: []*tfprotov6.SchemaNestedBlock{
					{TypeName: "transition", Nesting: tfprotov6.SchemaNestedBlockNestingModeSingle, Block: &tfprotov6.SchemaBlock{
						Attributes: []*tfprotov6.SchemaAttribute{{Name: "days", Type: tftypes.Number, Optional: true}},
					}},
				},
			}},
			{TypeName: "timeouts", Nesting: tfprotov6.SchemaNestedBlockNestingModeSingle, Block: &tfprotov6.SchemaBlock{
				Attributes: []*tfprotov6.SchemaAttribute{{Name: "create", Type: tftypes.String, Optional: true}},
			}},
		},
	}
}

func testResource(t *testing.T) *resourceInfo {
	t.Helper()
	b := testBlock()
	ints := intPaths{"max_days": true, "retention.days": true, "lifecycle_tier.*.transition.days": true}
	return &resourceInfo{tfName: "lifeboat_thing", token: "lifeboat:index:Thing",
		obj: buildBlock(b, "lifeboat:index:Thing", "", ints, true), typ: b.ValueType()}
}

func attrs(t *testing.T, v tftypes.Value) map[string]tftypes.Value {
	t.Helper()
	var m map[string]tftypes.Value
	require.NoError(t, v.As(&m))
	return m
}

func TestNames(t *testing.T) {
	assert.Equal(t, "forceDestroy", camel("force_destroy"))
	assert.Equal(t, "kmsKeyId", camel("kms_key_id"))
	assert.Equal(t, "name", camel("name"))
	assert.Equal(t, "lifeboat:index:ImmutableBucket", resourceToken("lifeboat", "lifeboat_immutable_bucket"))
	assert.Equal(t, "lifeboat:index:WalArchive", resourceToken("lifeboat", "lifeboat_wal_archive"))

	r := testResource(t)
	assert.True(t, r.obj.byTF["id"].hidden, "the id attribute is the Pulumi resource ID, not a property")
	assert.True(t, r.obj.byTF["timeouts"].hidden)
	assert.Equal(t, "lifecycleTier", r.obj.byTF["lifecycle_tier"].pulumi)
	tier := r.obj.byTF["lifecycle_tier"].shape
	assert.Equal(t, kindSet, tier.kind)
	assert.Equal(t, "lifeboat:index:ThingLifecycleTier", tier.elem.obj.token)
	assert.Equal(t, "lifeboat:index:ThingLifecycleTierTransition", tier.elem.obj.byTF["transition"].shape.obj.token)
	assert.True(t, tier.elem.obj.byTF["transition"].shape.obj.byTF["days"].shape.integer)
	assert.True(t, r.obj.byTF["max_days"].shape.integer)
	assert.False(t, r.obj.byTF["ratio"].shape.integer)
}

// TestToTFEveryKind converts a full Pulumi input map and checks every value.
func TestToTFEveryKind(t *testing.T) {
	r := testResource(t)
	pm := resource.NewPropertyMapFromMap(map[string]any{
		"name":    "b1",
		"enabled": true,
		"maxDays": 30,
		"ratio":   0.5,
		"zones":   []any{"a", "b"},
		"ports":   []any{80, 443},
		"tags":    map[string]any{"env": "prod", "team_name": "dr"},
		"owner":   map[string]any{"userName": "ana"},
		"retention": map[string]any{
			"mode": "GOVERNANCE", "days": 7,
		},
		"rule":          []any{map[string]any{"prefix": "wal/"}},
		"lifecycleTier": []any{map[string]any{"name": "t1", "transition": map[string]any{"days": 30}}},
		"status":        "ignored in config",
	})
	pm["password"] = resource.MakeSecret(resource.NewStringProperty("s3cret"))

	v, err := toTFObject(pm, r.obj, r.typ, modeConfig, "")
	require.NoError(t, err)
	a := attrs(t, v)

	assert.True(t, a["name"].Equal(tftypes.NewValue(tftypes.String, "b1")))
	assert.True(t, a["enabled"].Equal(tftypes.NewValue(tftypes.Bool, true)))
	assert.True(t, a["max_days"].Equal(tftypes.NewValue(tftypes.Number, big.NewFloat(30))))
	assert.True(t, a["ratio"].Equal(tftypes.NewValue(tftypes.Number, big.NewFloat(0.5))))
	assert.True(t, a["zones"].Equal(tftypes.NewValue(tftypes.List{ElementType: tftypes.String},
		[]tftypes.Value{tftypes.NewValue(tftypes.String, "a"), tftypes.NewValue(tftypes.String, "b")})))
	assert.True(t, a["ports"].Equal(tftypes.NewValue(tftypes.Set{ElementType: tftypes.Number},
		[]tftypes.Value{tftypes.NewValue(tftypes.Number, big.NewFloat(443)), tftypes.NewValue(tftypes.Number, big.NewFloat(80))})))
	tags := attrs(t, a["tags"])
	assert.Len(t, tags, 2)
	assert.True(t, tags["team_name"].Equal(tftypes.NewValue(tftypes.String, "dr")), "map keys are not renamed")
	assert.True(t, attrs(t, a["owner"])["user_name"].Equal(tftypes.NewValue(tftypes.String, "ana")))
	assert.True(t, a["password"].Equal(tftypes.NewValue(tftypes.String, "s3cret")), "secrets are unwrapped")
	assert.True(t, a["status"].IsNull(), "computed-only attributes are null in a configuration")
	assert.True(t, a["id"].IsNull())
	assert.True(t, a["timeouts"].IsNull())
	ret := attrs(t, a["retention"])
	assert.True(t, ret["days"].Equal(tftypes.NewValue(tftypes.Number, big.NewFloat(7))))
	var rules []tftypes.Value
	require.NoError(t, a["rule"].As(&rules))
	require.Len(t, rules, 1)
	assert.True(t, attrs(t, rules[0])["prefix"].Equal(tftypes.NewValue(tftypes.String, "wal/")))
	var tiers []tftypes.Value
	require.NoError(t, a["lifecycle_tier"].As(&tiers))
	require.Len(t, tiers, 1)
	assert.True(t, attrs(t, attrs(t, tiers[0])["transition"])["days"].Equal(tftypes.NewValue(tftypes.Number, big.NewFloat(30))))

	// And back: outputs carry the same values, the sensitive one as a secret.
	back, err := fromTFObject(v, r.obj)
	require.NoError(t, err)
	assert.Equal(t, "b1", back["name"].StringValue())
	assert.Equal(t, true, back["enabled"].BoolValue())
	assert.Equal(t, 30.0, back["maxDays"].NumberValue())
	assert.Equal(t, 0.5, back["ratio"].NumberValue())
	assert.Equal(t, []resource.PropertyValue{resource.NewStringProperty("a"), resource.NewStringProperty("b")}, back["zones"].ArrayValue())
	assert.Len(t, back["ports"].ArrayValue(), 2)
	assert.Equal(t, "prod", back["tags"].ObjectValue()["env"].StringValue())
	assert.Equal(t, "ana", back["owner"].ObjectValue()["userName"].StringValue())
	require.True(t, back["password"].IsSecret())
	assert.Equal(t, "s3cret", back["password"].SecretValue().Element.StringValue())
	assert.Equal(t, 7.0, back["retention"].ObjectValue()["days"].NumberValue())
	assert.Equal(t, "wal/", back["rule"].ArrayValue()[0].ObjectValue()["prefix"].StringValue())
	assert.Equal(t, 30.0, back["lifecycleTier"].ArrayValue()[0].ObjectValue()["transition"].ObjectValue()["days"].NumberValue())
	assert.NotContains(t, back, resource.PropertyKey("status"), "null values are left out")
	assert.NotContains(t, back, resource.PropertyKey("id"))
	assert.NotContains(t, back, resource.PropertyKey("timeouts"))
}

func TestNullsAndAbsentBlocks(t *testing.T) {
	r := testResource(t)
	pm := resource.PropertyMap{"name": resource.NewStringProperty("b1"), "enabled": resource.NewNullProperty()}
	v, err := toTFObject(pm, r.obj, r.typ, modeConfig, "")
	require.NoError(t, err)
	a := attrs(t, v)
	assert.True(t, a["enabled"].IsNull())
	assert.True(t, a["tags"].IsNull())
	assert.True(t, a["retention"].IsNull(), "an absent single block is null")
	var rules []tftypes.Value
	require.True(t, a["rule"].IsKnown() && !a["rule"].IsNull(), "an absent list block is an empty list, as Terraform sends it")
	require.NoError(t, a["rule"].As(&rules))
	assert.Empty(t, rules)
	assert.True(t, !a["lifecycle_tier"].IsNull())

	back, err := fromTFObject(v, r.obj)
	require.NoError(t, err)
	assert.Equal(t, resource.PropertyMap{"name": resource.NewStringProperty("b1")}, back,
		"nulls and empty blocks do not appear in outputs")
}

func TestUnknowns(t *testing.T) {
	r := testResource(t)
	pm := resource.PropertyMap{
		"name":  resource.MakeComputed(resource.NewStringProperty("")),
		"zones": resource.NewArrayProperty([]resource.PropertyValue{resource.NewStringProperty("a"), resource.MakeComputed(resource.NewStringProperty(""))}),
		"tags":  resource.MakeComputed(resource.NewObjectProperty(resource.PropertyMap{})),
		"retention": resource.NewObjectProperty(resource.PropertyMap{
			"mode": resource.NewStringProperty("COMPLIANCE"),
			"days": resource.MakeComputed(resource.NewNumberProperty(0)),
		}),
		"password": resource.MakeSecret(resource.MakeComputed(resource.NewStringProperty(""))),
	}
	v, err := toTFObject(pm, r.obj, r.typ, modeConfig, "")
	require.NoError(t, err)
	a := attrs(t, v)
	assert.False(t, a["name"].IsKnown())
	assert.False(t, a["tags"].IsKnown())
	assert.False(t, a["password"].IsKnown(), "an unknown secret is unknown")
	var zones []tftypes.Value
	require.NoError(t, a["zones"].As(&zones))
	assert.True(t, zones[0].IsKnown())
	assert.False(t, zones[1].IsKnown())
	assert.False(t, attrs(t, a["retention"])["days"].IsKnown())

	// Planned values Terraform does not know yet become Pulumi computed values.
	planned := map[string]tftypes.Value{}
	for k, val := range a {
		planned[k] = val
	}
	planned["status"] = tftypes.NewValue(tftypes.String, tftypes.UnknownValue)
	back, err := fromTFObject(tftypes.NewValue(r.typ, planned), r.obj)
	require.NoError(t, err)
	assert.True(t, back["status"].IsComputed())
	assert.True(t, back["name"].IsComputed())
	assert.True(t, back["zones"].ArrayValue()[1].IsComputed())
	assert.True(t, back["retention"].ObjectValue()["days"].IsComputed())
	require.True(t, back["password"].IsSecret(), "sensitive stays secret even while unknown")
	assert.True(t, back["password"].SecretValue().Element.IsComputed())
}

func TestStateCarriesIDAndComputed(t *testing.T) {
	r := testResource(t)
	outs := resource.PropertyMap{
		"name":     resource.NewStringProperty("b1"),
		"status":   resource.NewStringProperty("ready"),
		privateKey: resource.NewStringProperty("e30="),
	}
	st, err := r.state(outs, "b1-id")
	require.NoError(t, err)
	a := attrs(t, st)
	assert.True(t, a["id"].Equal(tftypes.NewValue(tftypes.String, "b1-id")))
	assert.True(t, a["status"].Equal(tftypes.NewValue(tftypes.String, "ready")), "a state keeps computed attributes")
	assert.Equal(t, []byte("{}"), privateOf(outs))

	props, id, err := r.outputs(st, []byte(`{"k":1}`), false)
	require.NoError(t, err)
	assert.Equal(t, "b1-id", id)
	pm, err := unmarshal(props)
	require.NoError(t, err)
	assert.Equal(t, []byte(`{"k":1}`), privateOf(pm), "private state round-trips through outputs")
}

func TestWrongTypesAreReportedAtThePath(t *testing.T) {
	r := testResource(t)
	_, err := toTFObject(resource.NewPropertyMapFromMap(map[string]any{
		"rule": []any{map[string]any{"prefix": true}},
	}), r.obj, r.typ, modeConfig, "")
	require.NoError(t, err, "a bool is accepted where a string is wanted, as Terraform would convert it")

	_, err = toTFObject(resource.NewPropertyMapFromMap(map[string]any{
		"retention": map[string]any{"days": "many"},
	}), r.obj, r.typ, modeConfig, "")
	var pe *pathError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "retention.days", pe.path)

	err = unknownKeys(resource.NewPropertyMapFromMap(map[string]any{"nmae": "x"}), r.obj, "")
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "nmae", pe.path)
	assert.NoError(t, unknownKeys(resource.NewPropertyMapFromMap(map[string]any{"__defaults": []any{}}), r.obj, ""))
}

func TestProposedNewKeepsComputedFromPrior(t *testing.T) {
	r := testResource(t)
	prior, err := r.state(resource.NewPropertyMapFromMap(map[string]any{
		"name": "b1", "status": "ready",
		"rule": []any{map[string]any{"prefix": "wal/", "ruleId": "r-1"}},
	}), "b1")
	require.NoError(t, err)
	cfg, err := toTFObject(resource.NewPropertyMapFromMap(map[string]any{
		"name": "b1", "enabled": true,
		"rule": []any{map[string]any{"prefix": "wal/"}},
	}), r.obj, r.typ, modeConfig, "")
	require.NoError(t, err)
	p, err := proposedNew(r.obj, prior, cfg)
	require.NoError(t, err)
	a := attrs(t, p)
	assert.True(t, a["id"].Equal(tftypes.NewValue(tftypes.String, "b1")))
	assert.True(t, a["status"].Equal(tftypes.NewValue(tftypes.String, "ready")))
	assert.True(t, a["enabled"].Equal(tftypes.NewValue(tftypes.Bool, true)))
	var rules []tftypes.Value
	require.NoError(t, a["rule"].As(&rules))
	assert.True(t, attrs(t, rules[0])["rule_id"].Equal(tftypes.NewValue(tftypes.String, "r-1")), "computed nested attributes come from the prior element")
}

func TestPulumiPath(t *testing.T) {
	r := testResource(t)
	p := tftypes.NewAttributePath().WithAttributeName("retention").WithAttributeName("days")
	assert.Equal(t, "retention.days", pulumiPath(r.obj, p))
	p = tftypes.NewAttributePath().WithAttributeName("rule").WithElementKeyInt(0).WithAttributeName("rule_id")
	assert.Equal(t, "rule[0].ruleId", pulumiPath(r.obj, p))
	p = tftypes.NewAttributePath().WithAttributeName("lifecycle_tier").WithElementKeyValue(tftypes.NewValue(tftypes.String, "x")).WithAttributeName("name")
	assert.Equal(t, "lifecycleTier", pulumiPath(r.obj, p))
	p = tftypes.NewAttributePath().WithAttributeName("max_days")
	assert.Equal(t, "maxDays", pulumiPath(r.obj, p))
}
