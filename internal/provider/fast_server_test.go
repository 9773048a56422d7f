package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/drill"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// fastAndFramework is the provider's server and, beside it, the
// framework's own server over the same configured provider.
func fastAndFramework(t *testing.T, settings map[string]string) (*fastServer, tfprotov6.ProviderServer) {
	t.Helper()
	ctx := context.Background()
	s, err := NewServer("test")()
	if err != nil {
		t.Fatal(err)
	}
	fast := s.(*fastServer)
	framework, err := providerserver.NewProtocol6WithError(fast.provider)()
	if err != nil {
		t.Fatal(err)
	}
	var sr provider.SchemaResponse
	fast.provider.Schema(ctx, provider.SchemaRequest{}, &sr)
	typ := sr.Schema.Type().TerraformType(ctx).(tftypes.Object)
	vals := map[string]tftypes.Value{}
	for name, at := range typ.AttributeTypes {
		vals[name] = tftypes.NewValue(at, nil)
		if v, ok := settings[name]; ok {
			vals[name] = tftypes.NewValue(at, v)
		}
	}
	cfg, err := tfprotov6.NewDynamicValue(typ, tftypes.NewValue(typ, vals))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []tfprotov6.ProviderServer{fast, framework} {
		if _, err := s.GetProviderSchema(ctx, &tfprotov6.GetProviderSchemaRequest{}); err != nil {
			t.Fatal(err)
		}
		resp, err := s.ConfigureProvider(ctx, &tfprotov6.ConfigureProviderRequest{TerraformVersion: "1.5.7", Config: &cfg})
		if err != nil || len(resp.Diagnostics) > 0 {
			t.Fatalf("configure: %v %v", err, resp.Diagnostics)
		}
	}
	if fast.provider.configured.Load() == nil {
		t.Fatal("Configure left nothing for the fast paths")
	}
	return fast, framework
}

// tenantDrill is a drill schedule's model as a module's tenant declares it.
func tenantDrill(bucket, signedBy string) drillScheduleModel {
	return drillScheduleModel{
		ID: types.StringValue("main/tenant-acme"), Name: types.StringValue("tenant-acme"), Cluster: types.StringValue("main"),
		Repository: &repositoryRef{Bucket: types.StringValue(bucket), Prefix: types.StringValue("pg")},
		Schedule:   types.StringValue("0 3 * * 1"), Kind: types.StringValue("tenant"), Database: types.StringValue("acme"),
		ScratchDir: types.StringNull(),
		Postgres: &postgresModel{DSN: types.StringValue("postgres://x@127.0.0.1/postgres"), Host: types.StringNull(), Port: types.Int64Null(),
			User: types.StringNull(), Password: types.StringNull(), DBName: types.StringNull(), SSLMode: types.StringNull()},
		RecoveryRegion: types.StringNull(),
		Checks: []drillCheckModel{{Name: types.StringValue("rpo"), Kind: types.StringValue("rpo"), SQL: types.StringNull(),
			Expected: types.StringValue("15m"), Database: types.StringNull()}},
		RTOTarget: types.StringValue("1h"), RunOnApply: types.BoolValue(false), EvidenceTrustedKeys: types.ListNull(types.StringType),
		EvidenceRetentionDays: types.Int64Value(365), AgentPath: types.StringValue("/usr/local/bin/lifeboat"),
		Agent: types.StringNull(), ClaimTimeout: types.StringNull(),
		LastDrillTime: types.StringNull(), LastDrillResult: types.StringNull(), LastAchievedRTO: types.Float64Null(),
		LastEvidenceKey: types.StringNull(), LastFailures: types.ListValueMust(types.StringType, []attr.Value{}),
		SignedBy: types.StringValue(signedBy), Timeouts: nullDrillTimeouts(),
	}
}

func nullDrillTimeouts() timeouts.Value {
	tt := drillScheduleType().(attr.TypeWithAttributeTypes).AttributeTypes()["timeouts"]
	n, _ := tt.ValueFromTerraform(context.Background(), tftypes.NewValue(tt.TerraformType(context.Background()), nil))
	return n.(timeouts.Value)
}

func drillValue(t *testing.T, m drillScheduleModel) *tfprotov6.DynamicValue {
	t.Helper()
	raw, d := putModel(context.Background(), drillScheduleType(), &m)
	if d.HasError() {
		t.Fatal(d)
	}
	// As Terraform sends it: a list block is never null.
	raw, err := drillFacts().likeTheFramework(raw, raw)
	if err != nil {
		t.Fatal(err)
	}
	dv, err := tfprotov6.NewDynamicValue(drillFacts().typ, raw)
	if err != nil {
		t.Fatal(err)
	}
	return &dv
}

// drillConfig is the configuration that plans to m: computed-only values null.
func drillConfig(m drillScheduleModel) drillScheduleModel {
	m.ID, m.SignedBy, m.LastDrillTime, m.LastDrillResult, m.LastEvidenceKey = types.StringNull(), types.StringNull(), types.StringNull(), types.StringNull(), types.StringNull()
	m.LastAchievedRTO, m.LastFailures = types.Float64Null(), types.ListNull(types.StringType)
	return m
}

func decodeDrill(t *testing.T, dv *tfprotov6.DynamicValue) tftypes.Value {
	t.Helper()
	if dv == nil {
		return tftypes.Value{}
	}
	v, err := dv.Unmarshal(drillFacts().typ)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// bothAnswer asks the framework and the fast server the same call, each
// with a request of its own (a request is not reused: a server may keep
// what it was given), and returns their answers.
func bothAnswer[Req, Resp any](t *testing.T, fast *fastServer, framework tfprotov6.ProviderServer,
	call func(tfprotov6.ProviderServer, context.Context, *Req) (*Resp, error), req func() *Req) (want, got *Resp) {
	t.Helper()
	want, err := call(framework, context.Background(), req())
	if err != nil {
		t.Fatal(err)
	}
	got, err = call(fast, context.Background(), req())
	if err != nil {
		t.Fatal(err)
	}
	return want, got
}

// sameDrill fails unless the fast path answered the framework's drill
// schedule value (what names it), and returns both, decoded.
func sameDrill(t *testing.T, what string, want, got *tfprotov6.DynamicValue) (w, g tftypes.Value) {
	t.Helper()
	w, g = decodeDrill(t, want), decodeDrill(t, got)
	if !w.Equal(g) {
		t.Fatalf("%s:\n%s\nthe framework's:\n%s", what, g, w)
	}
	return w, g
}

// TestFastDrillPlanAgreesWithTheFramework: the plan of an unchanged drill
// schedule answered below the framework is the framework's plan, and every
// case the fast path does not cover (a change, a defaulted attribute away
// from its default, a target, a redis drill, another signer) is left to the
// framework.
func TestFastDrillPlanAgreesWithTheFramework(t *testing.T) {
	signer, err := signature.Generate()
	if err != nil {
		t.Fatal(err)
	}
	fast, framework := fastAndFramework(t, map[string]string{"endpoint": "http://127.0.0.1:9", "access_key": "a", "secret_key": "b",
		"signing_key": signer.String()})
	me := signer.Public().ID()

	unchanged := tenantDrill("b", me)
	withDrill := unchanged
	withDrill.LastDrillTime, withDrill.LastDrillResult = types.StringValue("2026-11-30T00:00:00Z"), types.StringValue("passed")
	withDrill.LastAchievedRTO, withDrill.LastEvidenceKey = types.Float64Value(12.5), types.StringValue("pg/main/drills/x.json")
	noChecks := unchanged
	noChecks.Checks = nil
	runs := unchanged
	runs.RunOnApply = types.BoolValue(true)
	target := unchanged
	target.Target = &drillTargetModel{Offset: types.StringValue("1h"), LSN: types.StringNull(), XID: types.StringNull(),
		RestorePoint: types.StringNull(), Immediate: types.BoolNull(), Inclusive: types.BoolNull()}
	otherSigner := unchanged
	otherSigner.SignedBy = types.StringValue("ed25519:someone-else")
	moved := unchanged
	moved.Schedule = types.StringValue("0 4 * * 1")

	cases := []struct {
		name        string
		prior, plan drillScheduleModel
		config      drillScheduleModel
		fast        bool
		changesPlan bool
	}{
		{name: "unchanged", prior: unchanged, plan: unchanged, config: drillConfig(unchanged), fast: true},
		{name: "unchanged with a drill", prior: withDrill, plan: withDrill, config: drillConfig(withDrill), fast: true},
		{name: "no checks", prior: noChecks, plan: noChecks, config: drillConfig(noChecks), fast: true},
		{name: "run_on_apply removed from the configuration", prior: runs, plan: runs, config: drillConfig(unchanged)},
		{name: "run_on_apply kept", prior: runs, plan: runs, config: drillConfig(runs)},
		{name: "target", prior: target, plan: target, config: drillConfig(target)},
		{name: "signed by another key", prior: otherSigner, plan: otherSigner, config: drillConfig(otherSigner), changesPlan: true},
		{name: "schedule changed", prior: unchanged, plan: moved, config: drillConfig(moved), changesPlan: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := func() *tfprotov6.PlanResourceChangeRequest {
				return &tfprotov6.PlanResourceChangeRequest{TypeName: drillScheduleTypeName, PriorState: drillValue(t, c.prior),
					ProposedNewState: drillValue(t, c.plan), Config: drillValue(t, c.config)}
			}
			if got := fast.planUnchangedDrill(req()) != nil; got != c.fast {
				t.Fatalf("fast path taken: %v, want %v", got, c.fast)
			}
			want, got := bothAnswer(t, fast, framework, tfprotov6.ProviderServer.PlanResourceChange, req)
			w, _ := sameDrill(t, "planned state", want.PlannedState, got.PlannedState)
			if c.changesPlan == w.Equal(decodeDrill(t, drillValue(t, c.prior))) {
				t.Fatalf("the framework's plan changes the schedule: %v, want %v", !c.changesPlan, c.changesPlan)
			}
			if len(got.PlannedPrivate) != len(want.PlannedPrivate) || len(got.RequiresReplace) != len(want.RequiresReplace) ||
				len(got.Diagnostics) != len(want.Diagnostics) {
				t.Fatalf("private %q / %q, requires replace %v / %v, diagnostics %v / %v", got.PlannedPrivate, want.PlannedPrivate,
					got.RequiresReplace, want.RequiresReplace, got.Diagnostics, want.Diagnostics)
			}
		})
	}
}

// TestAccFastDrillReadAgreesWithTheFramework: a drill schedule's refresh
// answered below the framework is the framework's, against MinIO: the
// schedule's document and newest evidence read back (with and without the
// evidence, a float the framework keeps, no checks), drift, warnings, and
// a schedule deleted outside Terraform.
func TestAccFastDrillReadAgreesWithTheFramework(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	m := env.MinIO[0]
	admin := m.Admin(t)
	bucket := m.NewBucket(t, "fastread", objectstore.BucketSpec{
		Retention: &objectstore.Retention{Mode: objectstore.ModeGovernance, Days: 1}})
	signer, err := signature.Generate()
	if err != nil {
		t.Fatal(err)
	}
	fast, framework := fastAndFramework(t, map[string]string{"endpoint": m.Endpoint, "access_key": m.AccessKey, "secret_key": m.SecretKey,
		"signing_key": signer.String()})
	store := admin.Store(bucket)
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	write := func(name, schedule string) {
		t.Helper()
		if err := drill.WriteSchedule(ctx, store, l, drill.ScheduleDoc{Format: 1, Name: name, Cluster: "main", Schedule: schedule,
			Kind: "tenant", Database: "acme", RTOTargetSeconds: 3600, EvidenceDays: 365,
			Checks: []drill.Check{{Name: "rpo", Kind: "rpo", Expected: "15m"}}}, signer); err != nil {
			t.Fatal(err)
		}
	}
	write("tenant-acme", "0 3 * * 1")
	write("tenant-drifted", "0 5 * * 1")
	finished := time.Now().Add(-time.Hour).UTC()
	evidenceKey := l.DrillEvidenceKey("tenant-acme", "20261130T000000Z-beef")
	b, _ := json.Marshal(drill.Evidence{Format: 1, ID: "20261130T000000Z-beef", Schedule: "tenant-acme", Cluster: "main", Passed: false,
		RTOSeconds: 95.37, RTOTargetSeconds: 3600, Started: finished.Add(-95 * time.Second), Finished: finished, Key: evidenceKey,
		Checks: []drill.CheckResult{{Name: "rpo", Kind: "rpo", Passed: false, Expected: "15m", Observed: "2h"}}})
	if _, err := store.Put(ctx, evidenceKey, strings.NewReader(string(b)), objectstore.PutOptions{Size: int64(len(b))}); err != nil {
		t.Fatal(err)
	}
	me := signer.Public().ID()
	acme := tenantDrill(bucket, me)
	refreshed := acme
	refreshed.LastDrillTime, refreshed.LastDrillResult = types.StringValue(finished.Format(time.RFC3339)), types.StringValue("failed")
	refreshed.LastAchievedRTO, refreshed.LastEvidenceKey = types.Float64Value(95.3), types.StringValue(evidenceKey)
	noChecks := acme
	noChecks.Checks = nil
	drifted := tenantDrill(bucket, me)
	drifted.Name, drifted.ID = types.StringValue("tenant-drifted"), types.StringValue("main/tenant-drifted")
	gone := tenantDrill(bucket, me)
	gone.Name, gone.ID = types.StringValue("tenant-gone"), types.StringValue("main/tenant-gone")
	unsigned := acme
	unsigned.SignedBy = types.StringValue("")

	for name, state := range map[string]drillScheduleModel{"first refresh": acme, "refreshed before": refreshed, "no checks": noChecks,
		"drifted": drifted, "deleted outside Terraform": gone, "signed_by changed": unsigned} {
		t.Run(name, func(t *testing.T) {
			req := func() *tfprotov6.ReadResourceRequest {
				return &tfprotov6.ReadResourceRequest{TypeName: drillScheduleTypeName, CurrentState: drillValue(t, state)}
			}
			if fast.readDrill(ctx, req()) == nil {
				t.Fatal("the fast path was not taken")
			}
			want, got := bothAnswer(t, fast, framework, tfprotov6.ProviderServer.ReadResource, req)
			_, g := sameDrill(t, "new state", want.NewState, got.NewState)
			if string(got.Private) != string(want.Private) {
				t.Fatalf("private %q, the framework's %q", got.Private, want.Private)
			}
			if !reflect.DeepEqual(got.Diagnostics, want.Diagnostics) {
				t.Fatalf("diagnostics %v, the framework's %v", got.Diagnostics, want.Diagnostics)
			}
			if name == "deleted outside Terraform" && !g.IsNull() {
				t.Fatal("a deleted schedule must leave the state")
			}
		})
	}
}

// jsonOf is v as Terraform saves it in a state file.
func jsonOf(v tftypes.Value) any {
	if v.IsNull() {
		return nil
	}
	switch {
	case v.Type().Is(tftypes.String):
		var s string
		_ = v.As(&s)
		return s
	case v.Type().Is(tftypes.Bool):
		var b bool
		_ = v.As(&b)
		return b
	case v.Type().Is(tftypes.Number):
		var n big.Float
		_ = v.As(&n)
		return json.Number(n.Text('g', -1))
	case v.Type().Is(tftypes.List{}):
		var elems []tftypes.Value
		_ = v.As(&elems)
		out := []any{}
		for _, e := range elems {
			out = append(out, jsonOf(e))
		}
		return out
	default:
		var attrs map[string]tftypes.Value
		_ = v.As(&attrs)
		out := map[string]any{}
		for k, a := range attrs {
			out[k] = jsonOf(a)
		}
		return out
	}
}

// TestFastDrillUpgradeAgreesWithTheFramework: a drill schedule's state
// saved at the current schema version reads as the framework reads it
// (an attribute the schema no longer has ignored, a null list block), and
// an older version goes to the framework's upgrader.
func TestFastDrillUpgradeAgreesWithTheFramework(t *testing.T) {
	ctx := context.Background()
	fast, framework := fastAndFramework(t, map[string]string{"endpoint": "http://127.0.0.1:9", "access_key": "a", "secret_key": "b"})
	withDrill := tenantDrill("b", "")
	withDrill.LastDrillTime, withDrill.LastAchievedRTO = types.StringValue("2026-11-30T00:00:00Z"), types.Float64Value(95.3)
	states := map[string]map[string]any{}
	for name, m := range map[string]drillScheduleModel{"tenant": tenantDrill("b", "k"), "with a drill": withDrill} {
		raw, d := putModel(ctx, drillScheduleType(), &m)
		if d.HasError() {
			t.Fatal(d)
		}
		states[name] = jsonOf(raw).(map[string]any)
	}
	states["no checks, an attribute since removed"] = jsonOf(func() tftypes.Value {
		m := tenantDrill("b", "k")
		m.Checks = nil
		raw, _ := putModel(ctx, drillScheduleType(), &m)
		return raw
	}()).(map[string]any)
	states["no checks, an attribute since removed"]["removed_long_ago"] = "x"
	for name, st := range states {
		t.Run(name, func(t *testing.T) {
			b, err := json.Marshal(st)
			if err != nil {
				t.Fatal(err)
			}
			req := func() *tfprotov6.UpgradeResourceStateRequest {
				return &tfprotov6.UpgradeResourceStateRequest{TypeName: drillScheduleTypeName, Version: 1, RawState: &tfprotov6.RawState{JSON: b}}
			}
			if upgradeCurrentDrill(req()) == nil {
				t.Fatal("the fast path was not taken")
			}
			want, got := bothAnswer(t, fast, framework, tfprotov6.ProviderServer.UpgradeResourceState, req)
			if len(want.Diagnostics) > 0 || len(got.Diagnostics) > 0 {
				t.Fatal(want.Diagnostics, got.Diagnostics)
			}
			sameDrill(t, "upgraded", want.UpgradedState, got.UpgradedState)
		})
	}
	old := &tfprotov6.UpgradeResourceStateRequest{TypeName: drillScheduleTypeName, Version: 0, RawState: &tfprotov6.RawState{JSON: []byte(`{}`)}}
	if upgradeCurrentDrill(old) != nil {
		t.Fatal("a version 0 state must go to the framework's upgrader")
	}
}

// TestAccDrillSchedule_savedPlanBesideUnchangedOnes: through the provider
// binary Terraform runs, a saved plan that changes one drill schedule and
// leaves another unchanged (planned below the framework) applies after both
// schedules recorded new drills; after a refresh the next plan is empty, and a schedule
// rewritten outside Terraform plans an update (drift is still seen).
func TestAccDrillSchedule_savedPlanBesideUnchangedOnes(t *testing.T) {
	testenv.Require(t)
	ctx := context.Background()
	store := testAccStore(t, "lb-fastplan", objectstore.BucketSpec{Retention: &objectstore.Retention{Mode: objectstore.ModeGovernance, Days: 1}})
	bucket := store.Bucket()
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	tf := terraformCLI(t)
	config := func(scheduleA string) string {
		return fmt.Sprintf(`
terraform {
  required_providers {
    lifeboat = { source = "lifeboat-dr/lifeboat" }
  }
}

resource "lifeboat_drill_schedule" "a" {
  name     = "a"
  cluster  = "main"
  schedule = %[2]q
  kind     = "cluster"
  repository {
    bucket = %[1]q
    prefix = "pg"
  }
}

resource "lifeboat_drill_schedule" "b" {
  name       = "b"
  cluster    = "main"
  schedule   = "@weekly"
  kind       = "cluster"
  rto_target = "1h"
  repository {
    bucket = %[1]q
    prefix = "pg"
  }
  check {
    name     = "fresh"
    kind     = "rpo"
    expected = "15m"
  }
}

output "b_last" {
  value = lifeboat_drill_schedule.b.last_evidence_key
}
`, bucket, scheduleA)
	}
	evidence := func(schedule, id string) string {
		t.Helper()
		key := l.DrillEvidenceKey(schedule, id)
		finished := time.Now().Add(-time.Minute).UTC()
		b, _ := json.Marshal(drill.Evidence{Format: 1, ID: id, Schedule: schedule, Cluster: "main", Passed: true, RTOSeconds: 12.25,
			Started: finished.Add(-12 * time.Second), Finished: finished, Key: key, RTOMet: true})
		if _, err := store.Put(ctx, key, strings.NewReader(string(b)), objectstore.PutOptions{Size: int64(len(b))}); err != nil {
			t.Fatal(err)
		}
		return key
	}

	tf.Write(t, config("@daily"))
	tf.Run(t, "apply", "-auto-approve")
	evidence("b", "20261130T000000Z-aaaa")
	tf.Run(t, "apply", "-auto-approve", "-refresh-only")

	tf.Write(t, config("0 4 * * *"))
	tf.Run(t, "plan", "-out=tfplan")
	shown := tf.Run(t, "show", "-json", "tfplan")
	if !strings.Contains(shown, `"lifeboat_drill_schedule.b"`) || strings.Count(shown, `"actions":["update"]`) != 1 {
		t.Fatalf("the saved plan must update a and leave b alone:\n%s", shown)
	}
	// The world moves on: both schedules record a drill.
	evidence("a", "20261130T010000Z-bbbb")
	newest := evidence("b", "20261130T010000Z-cccc")
	tf.Run(t, "apply", "tfplan")
	doc, err := drill.ReadSchedule(ctx, store, l, "a", signature.Trust{})
	if err != nil || doc.Schedule != "0 4 * * *" {
		t.Fatalf("schedule a after the saved plan: %+v, %v", doc, err)
	}
	// b's new drill shows at the next refresh (the output follows it), and
	// then nothing is left to plan.
	tf.Run(t, "apply", "-auto-approve", "-refresh-only")
	if got := strings.TrimSpace(tf.Run(t, "output", "-raw", "b_last")); got != newest {
		t.Fatalf("b's last evidence after refresh: %q, want %q", got, newest)
	}
	if out, stderr, err := tf.Try("plan", "-detailed-exitcode", "-no-color"); err != nil {
		t.Fatalf("the plan after the apply is not empty: %v\n%s%s", err, out, stderr)
	}

	// Drift: b's schedule rewritten outside Terraform plans an update.
	if err := drill.WriteSchedule(ctx, store, l, drill.ScheduleDoc{Format: 1, Name: "b", Cluster: "main", Schedule: "@daily", Kind: "cluster",
		RTOTargetSeconds: 3600, EvidenceDays: 365, Checks: []drill.Check{{Name: "fresh", Kind: "rpo", Expected: "15m"}}}, nil); err != nil {
		t.Fatal(err)
	}
	out, _, err := tf.Try("plan", "-detailed-exitcode", "-no-color")
	if err == nil || !strings.Contains(out, `~ schedule`) || !strings.Contains(out, `lifeboat_drill_schedule.b`) {
		t.Fatalf("a schedule rewritten outside Terraform must plan an update of b (%v):\n%s", err, out)
	}
	tf.Run(t, "destroy", "-auto-approve")
}
