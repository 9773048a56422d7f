package provider

import (
	"bytes"
	"context"
	"math/big"
	"sync"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/defaults"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/drill"
)

// NewServer is the provider's protocol server: the framework's, except that
// lifeboat_drill_schedule's refresh (ReadResource) and the plan of an
// unchanged schedule (PlanResourceChange) are answered here, below the
// framework, and so is reading its state saved at the schema's current
// version (UpgradeResourceState). A platform declares one drill schedule
// per tenant, and for each of them the framework walks the whole schema
// several times per plan (defaults, plan modifiers, collection blocks,
// semantic equality), which with 500 tenants was most of the provider's
// CPU. The answers are the framework's answers (the
// *FastDrill*AgreesWithTheFramework tests); every case the fast path
// does not cover goes to the framework.
func NewServer(version string) func() (tfprotov6.ProviderServer, error) {
	return func() (tfprotov6.ProviderServer, error) {
		p := &LifeboatProvider{version: version}
		inner, err := providerserver.NewProtocol6WithError(p)()
		if err != nil {
			return nil, err
		}
		return &fastServer{ProviderServer: inner, provider: p}, nil
	}
}

type fastServer struct {
	tfprotov6.ProviderServer
	provider *LifeboatProvider
}

const drillScheduleTypeName = "lifeboat_drill_schedule"

// drillScheduleFacts is what the fast path needs of the drill schedule's
// schema, derived from it once.
type drillScheduleFacts struct {
	typ tftypes.Object
	// version is the schema's version.
	version int64
	// defaults are the top-level attributes with a default, as values.
	defaults map[string]tftypes.Value
	// listBlocks are the top-level list blocks (null in a model, an empty
	// list to Terraform).
	listBlocks map[string]tftypes.Type
	// floats are the top-level float attributes: the framework keeps a
	// float's prior value when the new one is equal as a float64.
	floats []string
}

var drillFacts = sync.OnceValue(func() *drillScheduleFacts {
	ctx := context.Background()
	var resp resource.SchemaResponse
	(&drillScheduleResource{}).Schema(ctx, resource.SchemaRequest{}, &resp)
	f := &drillScheduleFacts{
		typ: resp.Schema.Type().TerraformType(ctx).(tftypes.Object), version: resp.Schema.Version,
		defaults: map[string]tftypes.Value{}, listBlocks: map[string]tftypes.Type{},
	}
	for name, a := range resp.Schema.Attributes {
		var v attr.Value
		switch a := a.(type) {
		case schema.BoolAttribute:
			if a.Default != nil {
				v = planDefault(ctx, a.Default.DefaultBool, func(r defaults.BoolResponse) attr.Value { return r.PlanValue })
			}
		case schema.Int64Attribute:
			if a.Default != nil {
				v = planDefault(ctx, a.Default.DefaultInt64, func(r defaults.Int64Response) attr.Value { return r.PlanValue })
			}
		case schema.StringAttribute:
			if a.Default != nil {
				v = planDefault(ctx, a.Default.DefaultString, func(r defaults.StringResponse) attr.Value { return r.PlanValue })
			}
		case schema.Float64Attribute:
			f.floats = append(f.floats, name)
		}
		if v != nil {
			f.defaults[name], _ = v.ToTerraformValue(ctx)
		}
	}
	for name, b := range resp.Schema.Blocks {
		if _, ok := b.(schema.ListNestedBlock); ok {
			f.listBlocks[name] = f.typ.AttributeTypes[name]
		}
	}
	return f
})

// planDefault is the value a typed default plans: set is the default's
// DefaultBool, DefaultInt64 or DefaultString, plan reads the response's
// PlanValue.
func planDefault[Req, Resp any](ctx context.Context, set func(context.Context, Req, *Resp), plan func(Resp) attr.Value) attr.Value {
	var req Req
	var resp Resp
	set(ctx, req, &resp)
	return plan(resp)
}

// PlanResourceChange answers the plan of a drill schedule whose
// configuration changed nothing (Terraform's proposed new state is the
// prior state) with the prior state, as the framework would: no computed
// value turns unknown, the defaults and plan modifiers change nothing, and
// ModifyPlan only re-plans signed_by when the provider's key differs. A
// schedule with a target (checked against the repository at every plan), a
// redis drill (its identity check), a defaulted attribute away from its
// default or private state goes to the framework.
func (s *fastServer) PlanResourceChange(ctx context.Context, req *tfprotov6.PlanResourceChangeRequest) (*tfprotov6.PlanResourceChangeResponse, error) {
	if req.TypeName == drillScheduleTypeName {
		if resp := s.planUnchangedDrill(req); resp != nil {
			return resp, nil
		}
	}
	return s.ProviderServer.PlanResourceChange(ctx, req)
}

func (s *fastServer) planUnchangedDrill(req *tfprotov6.PlanResourceChangeRequest) *tfprotov6.PlanResourceChangeResponse {
	data := s.provider.configured.Load()
	if data == nil || req.PriorState == nil || req.ProposedNewState == nil || len(req.PriorPrivate) > 0 ||
		len(req.PriorState.MsgPack) == 0 || !bytes.Equal(req.PriorState.MsgPack, req.ProposedNewState.MsgPack) {
		return nil
	}
	f := drillFacts()
	prior, err := req.PriorState.Unmarshal(f.typ)
	if err != nil || prior.IsNull() || !prior.IsFullyKnown() {
		return nil
	}
	var attrs map[string]tftypes.Value
	if prior.As(&attrs) != nil {
		return nil
	}
	var kind, signedBy string
	if !attrs["target"].IsNull() || attrs["kind"].As(&kind) != nil || kind == drill.KindRedis ||
		attrs["signed_by"].IsNull() || attrs["signed_by"].As(&signedBy) != nil || signedBy != data.signerID() {
		return nil
	}
	for name, def := range f.defaults {
		if !attrs[name].Equal(def) {
			return nil
		}
	}
	for name := range f.listBlocks {
		if attrs[name].IsNull() { // Terraform sends empty lists; the framework would plan one
			return nil
		}
	}
	return &tfprotov6.PlanResourceChangeResponse{PlannedState: req.PriorState}
}

// UpgradeResourceState reads a drill schedule's state saved at the
// schema's current version, as the framework does (JSON decoded against
// the schema, attributes it no longer has ignored, a list block never
// null); older versions go to the framework's upgraders.
func (s *fastServer) UpgradeResourceState(ctx context.Context, req *tfprotov6.UpgradeResourceStateRequest) (*tfprotov6.UpgradeResourceStateResponse, error) {
	if req.TypeName == drillScheduleTypeName {
		if resp := upgradeCurrentDrill(req); resp != nil {
			return resp, nil
		}
	}
	return s.ProviderServer.UpgradeResourceState(ctx, req)
}

func upgradeCurrentDrill(req *tfprotov6.UpgradeResourceStateRequest) *tfprotov6.UpgradeResourceStateResponse {
	f := drillFacts()
	if req.RawState == nil || len(req.RawState.JSON) == 0 || req.Version != f.version {
		return nil
	}
	v, err := req.RawState.UnmarshalWithOpts(f.typ, tfprotov6.UnmarshalOpts{
		ValueFromJSONOpts: tftypes.ValueFromJSONOpts{IgnoreUndefinedAttributes: true}})
	if err != nil || v.IsNull() {
		return nil
	}
	if v, err = f.likeTheFramework(v, v); err != nil {
		return nil
	}
	dv, err := tfprotov6.NewDynamicValue(f.typ, v)
	if err != nil {
		return nil
	}
	return &tfprotov6.UpgradeResourceStateResponse{UpgradedState: &dv}
}

// ReadResource refreshes a drill schedule with the resource's own read
// (readState, which Read uses too) between the protocol's value and the
// model, without the framework's passes over the schema. What those passes
// would change is done here: an empty list block stays an empty list, and a
// float equal as a float64 keeps its prior value. An import's first read
// (it carries private state) goes to the framework.
func (s *fastServer) ReadResource(ctx context.Context, req *tfprotov6.ReadResourceRequest) (*tfprotov6.ReadResourceResponse, error) {
	if req.TypeName == drillScheduleTypeName {
		if resp := s.readDrill(ctx, req); resp != nil {
			return resp, nil
		}
	}
	return s.ProviderServer.ReadResource(ctx, req)
}

func (s *fastServer) readDrill(ctx context.Context, req *tfprotov6.ReadResourceRequest) *tfprotov6.ReadResourceResponse {
	data := s.provider.configured.Load()
	if data == nil || req.CurrentState == nil || len(req.Private) > 0 || len(req.CurrentState.MsgPack) == 0 {
		return nil
	}
	f := drillFacts()
	current, err := req.CurrentState.Unmarshal(f.typ)
	if err != nil || current.IsNull() {
		return nil
	}
	var diags diag.Diagnostics
	r := &drillScheduleResource{data: data}
	newState, found := r.readState(ctx, current, &diags)
	resp := &tfprotov6.ReadResourceResponse{Diagnostics: protoDiagnostics(diags)}
	switch {
	case diags.HasError():
		resp.NewState = req.CurrentState
		return resp
	case !found:
		newState = tftypes.NewValue(f.typ, nil)
	default:
		newState, err = f.likeTheFramework(current, newState)
		if err != nil {
			return nil
		}
	}
	dv, err := tfprotov6.NewDynamicValue(f.typ, newState)
	if err != nil {
		return nil
	}
	resp.NewState = &dv
	return resp
}

// likeTheFramework applies to a read's new state what the framework's
// passes would: null list blocks become empty lists, and a float equal as
// a float64 to its prior value keeps the prior value.
func (f *drillScheduleFacts) likeTheFramework(prior, next tftypes.Value) (tftypes.Value, error) {
	var attrs, priorAttrs map[string]tftypes.Value
	if err := next.As(&attrs); err != nil {
		return next, err
	}
	if err := prior.As(&priorAttrs); err != nil {
		return next, err
	}
	changed := false
	for name, typ := range f.listBlocks {
		if v := attrs[name]; v.IsNull() {
			attrs[name] = tftypes.NewValue(typ, []tftypes.Value{})
			changed = true
		}
	}
	for _, name := range f.floats {
		p, n := priorAttrs[name], attrs[name]
		if p.IsNull() || !p.IsKnown() || n.IsNull() || !n.IsKnown() || p.Equal(n) {
			continue
		}
		var pf, nf big.Float
		if p.As(&pf) == nil && n.As(&nf) == nil {
			a, _ := pf.Float64()
			b, _ := nf.Float64()
			if a == b {
				attrs[name] = p
				changed = true
			}
		}
	}
	if !changed {
		return next, nil
	}
	return tftypes.NewValue(f.typ, attrs), nil
}

// protoDiagnostics is the framework's conversion of diagnostics to the
// protocol's, for the paths the provider's diagnostics use (attribute
// names, list indexes, map keys).
func protoDiagnostics(diags diag.Diagnostics) []*tfprotov6.Diagnostic {
	var out []*tfprotov6.Diagnostic
	for _, d := range diags {
		pd := &tfprotov6.Diagnostic{Summary: d.Summary(), Detail: d.Detail(), Severity: tfprotov6.DiagnosticSeverityWarning}
		if d.Severity() == diag.SeverityError {
			pd.Severity = tfprotov6.DiagnosticSeverityError
		}
		if dp, ok := d.(diag.DiagnosticWithPath); ok {
			pd.Attribute = tfPath(dp.Path())
		}
		out = append(out, pd)
	}
	return out
}

func tfPath(p path.Path) *tftypes.AttributePath {
	if len(p.Steps()) == 0 {
		return nil
	}
	ap := tftypes.NewAttributePath()
	for _, step := range p.Steps() {
		switch s := step.(type) {
		case path.PathStepAttributeName:
			ap = ap.WithAttributeName(string(s))
		case path.PathStepElementKeyInt:
			ap = ap.WithElementKeyInt(int(s))
		case path.PathStepElementKeyString:
			ap = ap.WithElementKeyString(string(s))
		default:
			return ap
		}
	}
	return ap
}
