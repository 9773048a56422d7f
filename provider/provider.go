// Package provider is the Pulumi resource provider. It serves the Pulumi
// resource-provider protocol by driving the Terraform provider's own
// protocol-6 server in-process, translating between Pulumi property values and
// Terraform values by the Terraform schema. No resource is written twice:
// validation, plan-time checks and diagnostics are the Terraform provider's.
package provider

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	fwprovider "github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	presource "github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pprovider "github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

var _ pulumirpc.ResourceProviderServer = (*Server)(nil)

// Main serves the provider as a Pulumi plugin named name (the binary
// pulumi-resource-<name>).
func Main(name, version string, newTF func() fwprovider.Provider) error {
	return pprovider.Main(name, func(host *pprovider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		return NewServer(context.Background(), name, version, host, newTF)
	})
}

// PrintSchema writes the Pulumi package schema derived from the Terraform
// provider's schema.
func PrintSchema(ctx context.Context, w io.Writer, name string, newTF func() fwprovider.Provider) error {
	s, err := NewServer(ctx, name, "", nil, newTF)
	if err != nil {
		return err
	}
	_, err = w.Write(append(s.Schema(), '\n'))
	return err
}

// Server implements pulumirpc.ResourceProviderServer over a Terraform
// protocol-6 provider server.
type Server struct {
	pulumirpc.UnimplementedResourceProviderServer

	name, version string
	host          *pprovider.HostClient // nil in tests: warnings are then dropped
	tf            tfprotov6.ProviderServer

	config    *object
	configTyp tftypes.Type
	resources map[string]*resourceInfo // by Pulumi token
	functions map[string]*functionInfo // data sources, by Pulumi token
	schema    []byte

	mu         sync.Mutex
	configured bool
}

// resourceInfo is one Terraform resource type as Pulumi sees it.
type resourceInfo struct {
	tfName string
	token  string
	obj    *object
	typ    tftypes.Type
}

// NewServer starts the Terraform provider in-process and derives the Pulumi
// view of its schema. host may be nil.
func NewServer(ctx context.Context, name, version string, host *pprovider.HostClient, newTF func() fwprovider.Provider) (*Server, error) {
	fw := newTF()
	ints := map[string]intPaths{}
	for _, newRes := range fw.Resources(ctx) {
		r := newRes()
		var md resource.MetadataResponse
		r.Metadata(ctx, resource.MetadataRequest{ProviderTypeName: name}, &md)
		var sr resource.SchemaResponse
		r.Schema(ctx, resource.SchemaRequest{}, &sr)
		ints[md.TypeName] = frameworkIntPaths(ctx, sr.Schema.Type())
	}
	for _, newDS := range fw.DataSources(ctx) {
		d := newDS()
		var md datasource.MetadataResponse
		d.Metadata(ctx, datasource.MetadataRequest{ProviderTypeName: name}, &md)
		var sr datasource.SchemaResponse
		d.Schema(ctx, datasource.SchemaRequest{}, &sr)
		ints[md.TypeName] = frameworkIntPaths(ctx, sr.Schema.Type())
	}
	tf := providerserver.NewProtocol6(fw)()
	sch, err := tf.GetProviderSchema(ctx, &tfprotov6.GetProviderSchemaRequest{})
	if err != nil {
		return nil, err
	}
	if err := diagsError(sch.Diagnostics); err != nil {
		return nil, fmt.Errorf("reading the Terraform schema: %w", err)
	}
	s := &Server{name: name, version: version, host: host, tf: tf, resources: map[string]*resourceInfo{}, functions: map[string]*functionInfo{}}
	s.config = buildBlock(sch.Provider.Block, name+":index:Provider", "", nil, true)
	s.configTyp = sch.Provider.ValueType()
	for tfName, rs := range sch.ResourceSchemas {
		token := resourceToken(name, tfName)
		s.resources[token] = &resourceInfo{
			tfName: tfName,
			token:  token,
			obj:    buildBlock(rs.Block, token, "", ints[tfName], true),
			typ:    rs.ValueType(),
		}
	}
	for tfName, ds := range sch.DataSourceSchemas {
		token := functionToken(name, tfName)
		s.functions[token] = &functionInfo{
			tfName: tfName,
			token:  token,
			obj:    buildBlock(ds.Block, functionTypeToken(name, tfName), "", ints[tfName], true),
			typ:    ds.ValueType(),
		}
	}
	if s.schema, err = s.pulumiSchema(); err != nil {
		return nil, err
	}
	return s, nil
}

// Schema returns the Pulumi package schema (JSON).
func (s *Server) Schema() []byte { return s.schema }

// GetPluginInfo implements pulumirpc.ResourceProviderServer.
func (s *Server) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: s.version}, nil
}

// GetSchema implements pulumirpc.ResourceProviderServer.
func (s *Server) GetSchema(_ context.Context, req *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	return &pulumirpc.GetSchemaResponse{Schema: string(s.schema)}, nil
}

// Cancel implements pulumirpc.ResourceProviderServer. NOTE: nothing to do:
// each call carries its own context, which gRPC cancels.
func (s *Server) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

// CheckConfig implements pulumirpc.ResourceProviderServer: the Terraform
// provider validates its configuration.
func (s *Server) CheckConfig(ctx context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	cfg, err := s.providerConfig(news)
	if err != nil {
		return &pulumirpc.CheckResponse{Inputs: req.GetNews(), Failures: []*pulumirpc.CheckFailure{translationFailure(err)}}, nil
	}
	dv, err := dynamic(s.configTyp, cfg)
	if err != nil {
		return nil, err
	}
	resp, err := s.tf.ValidateProviderConfig(ctx, &tfprotov6.ValidateProviderConfigRequest{Config: dv})
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CheckResponse{Inputs: req.GetNews(), Failures: s.failures(ctx, req.GetUrn(), s.config, resp.Diagnostics, false)}, nil
}

// DiffConfig implements pulumirpc.ResourceProviderServer. A changed
// configuration never replaces resources: it only points at another store or
// credentials.
func (s *Server) DiffConfig(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	olds, err := unmarshal(req.GetOlds())
	if err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	var diffs []string
	for _, f := range s.config.fields {
		k := presource.PropertyKey(f.pulumi)
		if !olds[k].DeepEquals(news[k]) {
			diffs = append(diffs, f.pulumi)
		}
	}
	changes := pulumirpc.DiffResponse_DIFF_NONE
	if len(diffs) > 0 {
		changes = pulumirpc.DiffResponse_DIFF_SOME
	}
	return &pulumirpc.DiffResponse{Changes: changes, Diffs: diffs}, nil
}

// Configure implements pulumirpc.ResourceProviderServer.
func (s *Server) Configure(ctx context.Context, req *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	var args presource.PropertyMap
	if req.GetArgs() != nil {
		var err error
		if args, err = unmarshal(req.GetArgs()); err != nil {
			return nil, err
		}
	} else {
		// Old engines send only flat "<pkg>:config:<key>" strings.
		args = presource.PropertyMap{}
		for k, v := range req.GetVariables() { //nolint:staticcheck // SA1019: old engines send only this
			key := k[strings.LastIndex(k, ":")+1:]
			args[presource.PropertyKey(key)] = presource.NewStringProperty(v)
		}
	}
	cfg, err := s.providerConfig(args)
	if err != nil {
		return nil, err
	}
	dv, err := dynamic(s.configTyp, cfg)
	if err != nil {
		return nil, err
	}
	resp, err := s.tf.ConfigureProvider(ctx, &tfprotov6.ConfigureProviderRequest{
		TerraformVersion: "pulumi-" + s.version,
		Config:           dv,
	})
	if err != nil {
		return nil, err
	}
	s.warn(ctx, "", resp.Diagnostics)
	if err := diagsError(resp.Diagnostics); err != nil {
		return nil, fmt.Errorf("configuring the %s provider: %w", s.name, err)
	}
	s.mu.Lock()
	s.configured = true
	s.mu.Unlock()
	return &pulumirpc.ConfigureResponse{AcceptSecrets: true, SupportsPreview: true}, nil
}

// providerConfig converts provider inputs; keys Pulumi adds itself
// ("version", "pluginDownloadURL") are not Terraform configuration.
func (s *Server) providerConfig(pm presource.PropertyMap) (tftypes.Value, error) {
	return toTFObject(pm, s.config, s.configTyp, modeConfig, "")
}

// Check implements pulumirpc.ResourceProviderServer: Terraform's
// ValidateResourceConfig, then a plan against the prior state so that
// plan-time rules also fail as check failures naming the property.
func (s *Server) Check(ctx context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	r, pm, err := s.request(req.GetType(), req.GetUrn(), req.GetNews())
	if err != nil {
		return nil, err
	}
	news := pm[0]
	fail := func(err error) (*pulumirpc.CheckResponse, error) {
		return &pulumirpc.CheckResponse{Inputs: req.GetNews(), Failures: []*pulumirpc.CheckFailure{translationFailure(err)}}, nil
	}
	if err := unknownKeys(news, r.obj, ""); err != nil {
		return fail(err)
	}
	cfg, err := toTFObject(news, r.obj, r.typ, modeConfig, "")
	if err != nil {
		return fail(err)
	}
	dv, err := dynamic(r.typ, cfg)
	if err != nil {
		return nil, err
	}
	vresp, err := s.tf.ValidateResourceConfig(ctx, &tfprotov6.ValidateResourceConfigRequest{TypeName: r.tfName, Config: dv})
	if err != nil {
		return nil, err
	}
	failures := s.failures(ctx, req.GetUrn(), r.obj, vresp.Diagnostics, false)
	s.mu.Lock()
	configured := s.configured
	s.mu.Unlock()
	if len(failures) == 0 && configured {
		olds, err := unmarshal(req.GetOldOutputs())
		if err != nil {
			return nil, err
		}
		prior := tftypes.NewValue(r.typ, nil)
		var private []byte
		if len(olds) > 0 {
			if prior, err = r.state(olds, ""); err != nil {
				prior = tftypes.NewValue(r.typ, nil)
			}
			private = privateOf(olds)
		}
		plan, err := s.plan(ctx, r, prior, cfg, private)
		if err != nil {
			return nil, err
		}
		// Only input mistakes (errors at a path) become failures here; the
		// rest is reported again, as an error, by Diff, Create or Update.
		failures = s.failures(ctx, "", r.obj, plan.Diagnostics, true)
	}
	return &pulumirpc.CheckResponse{Inputs: req.GetNews(), Failures: failures}, nil
}

// Diff implements pulumirpc.ResourceProviderServer from Terraform's plan:
// what changes, and what Terraform would replace.
func (s *Server) Diff(ctx context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	r, pm, err := s.request(req.GetType(), req.GetUrn(), req.GetOlds(), req.GetNews())
	if err != nil {
		return nil, err
	}
	olds, news := pm[0], pm[1]
	prior, err := r.state(olds, req.GetId())
	if err != nil {
		return nil, err
	}
	cfg, err := toTFObject(news, r.obj, r.typ, modeConfig, "")
	if err != nil {
		return nil, err
	}
	plan, err := s.plan(ctx, r, prior, cfg, privateOf(olds))
	if err != nil {
		return nil, err
	}
	s.warn(ctx, req.GetUrn(), plan.Diagnostics)
	if err := diagsError(plan.Diagnostics); err != nil {
		return nil, err
	}
	planned, err := plan.PlannedState.Unmarshal(r.typ)
	if err != nil {
		return nil, err
	}
	replaceSet := map[string]bool{}
	for _, p := range plan.RequiresReplace {
		if steps := p.Steps(); len(steps) > 0 {
			if name, ok := steps[0].(tftypes.AttributeName); ok {
				if f := r.obj.byTF[string(name)]; f != nil && !f.hidden {
					replaceSet[f.pulumi] = true
				}
			}
		}
	}
	var priorAttrs, plannedAttrs map[string]tftypes.Value
	if err := prior.As(&priorAttrs); err != nil {
		return nil, err
	}
	if err := planned.As(&plannedAttrs); err != nil {
		return nil, err
	}
	resp := &pulumirpc.DiffResponse{HasDetailedDiff: true, DetailedDiff: map[string]*pulumirpc.PropertyDiff{}}
	for _, f := range r.obj.fields {
		if f.hidden {
			continue
		}
		a, b := priorAttrs[f.tf], plannedAttrs[f.tf]
		if a.Equal(b) || (emptyish(a) && emptyish(b)) {
			continue
		}
		k := pulumirpc.PropertyDiff_UPDATE
		switch {
		case emptyish(a):
			k = pulumirpc.PropertyDiff_ADD
		case emptyish(b):
			k = pulumirpc.PropertyDiff_DELETE
		}
		if replaceSet[f.pulumi] {
			k += pulumirpc.PropertyDiff_ADD_REPLACE - pulumirpc.PropertyDiff_ADD
		}
		resp.Diffs = append(resp.Diffs, f.pulumi)
		resp.DetailedDiff[f.pulumi] = &pulumirpc.PropertyDiff{Kind: k, InputDiff: f.input()}
	}
	for p := range replaceSet {
		resp.Replaces = append(resp.Replaces, p)
	}
	sort.Strings(resp.Replaces)
	resp.Changes = pulumirpc.DiffResponse_DIFF_NONE
	if len(resp.Diffs) > 0 || len(resp.Replaces) > 0 {
		resp.Changes = pulumirpc.DiffResponse_DIFF_SOME
	}
	return resp, nil
}

// emptyish is null, or a known empty collection (how Terraform spells an
// absent list or set block).
func emptyish(v tftypes.Value) bool {
	if v.IsNull() {
		return true
	}
	if !v.IsKnown() {
		return false
	}
	if v.Type().Is(tftypes.List{}) || v.Type().Is(tftypes.Set{}) {
		var elems []tftypes.Value
		return v.As(&elems) == nil && len(elems) == 0
	}
	return false
}

// Create implements pulumirpc.ResourceProviderServer: plan, then (unless
// previewing) apply.
func (s *Server) Create(ctx context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	r, pm, err := s.request(req.GetType(), req.GetUrn(), req.GetProperties())
	if err != nil {
		return nil, err
	}
	id, props, err := s.change(ctx, r, req.GetUrn(), presource.PropertyMap{}, "", pm[0], req.GetPreview())
	if err != nil {
		return nil, err
	}
	if id == "" && !req.GetPreview() {
		id = req.GetName()
	}
	return &pulumirpc.CreateResponse{Id: id, Properties: props}, nil
}

// Update implements pulumirpc.ResourceProviderServer.
func (s *Server) Update(ctx context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	r, pm, err := s.request(req.GetType(), req.GetUrn(), req.GetOlds(), req.GetNews())
	if err != nil {
		return nil, err
	}
	olds, news := pm[0], pm[1]
	_, props, err := s.change(ctx, r, req.GetUrn(), olds, req.GetId(), news, req.GetPreview())
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: props}, nil
}

// change plans and applies a create (olds empty) or an update. In preview
// it returns the planned values, unknowns as computed.
func (s *Server) change(ctx context.Context, r *resourceInfo, urn string, olds presource.PropertyMap, id string,
	news presource.PropertyMap, preview bool,
) (string, *structpb.Struct, error) {
	prior := tftypes.NewValue(r.typ, nil)
	if len(olds) > 0 {
		var err error
		if prior, err = r.state(olds, id); err != nil {
			return "", nil, err
		}
	}
	cfg, err := toTFObject(news, r.obj, r.typ, modeConfig, "")
	if err != nil {
		return "", nil, err
	}
	plan, err := s.plan(ctx, r, prior, cfg, privateOf(olds))
	if err != nil {
		return "", nil, err
	}
	s.warn(ctx, urn, plan.Diagnostics)
	if err := diagsError(plan.Diagnostics); err != nil {
		return "", nil, err
	}
	if preview {
		planned, err := plan.PlannedState.Unmarshal(r.typ)
		if err != nil {
			return "", nil, err
		}
		props, _, err := r.outputs(planned, nil, true)
		return id, props, err
	}
	priorDV, err := dynamic(r.typ, prior)
	if err != nil {
		return "", nil, err
	}
	cfgDV, err := dynamic(r.typ, cfg)
	if err != nil {
		return "", nil, err
	}
	resp, err := s.tf.ApplyResourceChange(ctx, &tfprotov6.ApplyResourceChangeRequest{
		TypeName:       r.tfName,
		PriorState:     priorDV,
		PlannedState:   plan.PlannedState,
		Config:         cfgDV,
		PlannedPrivate: plan.PlannedPrivate,
	})
	if err != nil {
		return "", nil, err
	}
	s.warn(ctx, urn, resp.Diagnostics)
	applyErr := diagsError(resp.Diagnostics)
	var props *structpb.Struct
	newID := id
	if resp.NewState != nil {
		st, err := resp.NewState.Unmarshal(r.typ)
		if err != nil {
			return "", nil, err
		}
		if !st.IsNull() {
			var idErr error
			props, newID, idErr = r.outputs(st, resp.Private, false)
			if idErr != nil {
				return "", nil, idErr
			}
		}
	}
	if applyErr != nil {
		if props != nil && newID != "" {
			// The resource exists, partly converged: Pulumi must keep it in
			// its state, or it would leak.
			return "", nil, initFailed(newID, props, applyErr)
		}
		return "", nil, applyErr
	}
	return newID, props, nil
}

// Read implements pulumirpc.ResourceProviderServer: refresh (ReadResource) and
// import (ImportResourceState, then ReadResource).
func (s *Server) Read(ctx context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	r, pm, err := s.request(req.GetType(), req.GetUrn(), req.GetProperties(), req.GetInputs())
	if err != nil {
		return nil, err
	}
	props, oldInputs := pm[0], pm[1]
	var current *tfprotov6.DynamicValue
	var private []byte
	importing := len(props) == 0
	if importing {
		resp, err := s.tf.ImportResourceState(ctx, &tfprotov6.ImportResourceStateRequest{TypeName: r.tfName, ID: req.GetId()})
		if err != nil {
			return nil, err
		}
		s.warn(ctx, req.GetUrn(), resp.Diagnostics)
		if err := diagsError(resp.Diagnostics); err != nil {
			return nil, err
		}
		for _, ir := range resp.ImportedResources {
			if ir.TypeName == r.tfName {
				current, private = ir.State, ir.Private
				break
			}
		}
		if current == nil {
			return nil, fmt.Errorf("importing %s %q: the provider returned no resource", r.tfName, req.GetId())
		}
	} else {
		st, err := r.state(props, req.GetId())
		if err != nil {
			return nil, err
		}
		if current, err = dynamic(r.typ, st); err != nil {
			return nil, err
		}
		private = privateOf(props)
	}
	resp, err := s.tf.ReadResource(ctx, &tfprotov6.ReadResourceRequest{TypeName: r.tfName, CurrentState: current, Private: private})
	if err != nil {
		return nil, err
	}
	s.warn(ctx, req.GetUrn(), resp.Diagnostics)
	if err := diagsError(resp.Diagnostics); err != nil {
		return nil, err
	}
	if resp.NewState == nil {
		return &pulumirpc.ReadResponse{}, nil
	}
	st, err := resp.NewState.Unmarshal(r.typ)
	if err != nil {
		return nil, err
	}
	if st.IsNull() {
		return &pulumirpc.ReadResponse{}, nil // gone
	}
	out, id, err := r.outputs(st, resp.Private, false)
	if err != nil {
		return nil, err
	}
	if id == "" {
		id = req.GetId()
	}
	outs, err := unmarshal(out)
	if err != nil {
		return nil, err
	}
	inputs, err := marshal(r.inputsFrom(outs, oldInputs, importing))
	if err != nil {
		return nil, err
	}
	return &pulumirpc.ReadResponse{Id: id, Properties: out, Inputs: inputs}, nil
}

// inputsFrom derives inputs from read outputs: on refresh the inputs the
// program set, with their current values; on import every input that has a
// value.
func (r *resourceInfo) inputsFrom(outs, oldInputs presource.PropertyMap, importing bool) presource.PropertyMap {
	in := presource.PropertyMap{}
	for _, f := range r.obj.fields {
		if !f.input() {
			continue
		}
		k := presource.PropertyKey(f.pulumi)
		v, has := outs[k]
		_, had := oldInputs[k]
		switch {
		case importing && has:
			in[k] = v
		case had && has:
			in[k] = v
		}
	}
	return in
}

// Delete implements pulumirpc.ResourceProviderServer.
func (s *Server) Delete(ctx context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	r, pm, err := s.request(req.GetType(), req.GetUrn(), req.GetProperties())
	if err != nil {
		return nil, err
	}
	props := pm[0]
	prior, err := r.state(props, req.GetId())
	if err != nil {
		return nil, err
	}
	priorDV, err := dynamic(r.typ, prior)
	if err != nil {
		return nil, err
	}
	null, err := dynamic(r.typ, tftypes.NewValue(r.typ, nil))
	if err != nil {
		return nil, err
	}
	resp, err := s.tf.ApplyResourceChange(ctx, &tfprotov6.ApplyResourceChangeRequest{
		TypeName:       r.tfName,
		PriorState:     priorDV,
		PlannedState:   null,
		Config:         null,
		PlannedPrivate: privateOf(props),
	})
	if err != nil {
		return nil, err
	}
	s.warn(ctx, req.GetUrn(), resp.Diagnostics)
	if err := diagsError(resp.Diagnostics); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// plan runs PlanResourceChange with the proposed new state Terraform core
// would compute.
func (s *Server) plan(ctx context.Context, r *resourceInfo, prior, cfg tftypes.Value, private []byte) (*tfprotov6.PlanResourceChangeResponse, error) {
	proposed, err := proposedNew(r.obj, prior, cfg)
	if err != nil {
		return nil, err
	}
	priorDV, err := dynamic(r.typ, prior)
	if err != nil {
		return nil, err
	}
	proposedDV, err := dynamic(r.typ, proposed)
	if err != nil {
		return nil, err
	}
	cfgDV, err := dynamic(r.typ, cfg)
	if err != nil {
		return nil, err
	}
	return s.tf.PlanResourceChange(ctx, &tfprotov6.PlanResourceChangeRequest{
		TypeName:         r.tfName,
		PriorState:       priorDV,
		ProposedNewState: proposedDV,
		Config:           cfgDV,
		PriorPrivate:     private,
	})
}

// state converts Pulumi outputs into a Terraform state, with the resource
// ID as the "id" attribute.
func (r *resourceInfo) state(outs presource.PropertyMap, id string) (tftypes.Value, error) {
	st, err := toTFObject(outs, r.obj, r.typ, modeState, "")
	if err != nil {
		return st, err
	}
	if f := r.obj.byTF["id"]; f != nil && id != "" && f.shape.kind == kindString {
		var attrs map[string]tftypes.Value
		if err := st.As(&attrs); err != nil {
			return st, err
		}
		attrs["id"] = tftypes.NewValue(tftypes.String, id)
		st = tftypes.NewValue(r.typ, attrs)
	}
	return st, nil
}

// outputs converts a Terraform state into Pulumi outputs (with the private
// state) and the resource ID.
func (r *resourceInfo) outputs(st tftypes.Value, private []byte, preview bool) (*structpb.Struct, string, error) {
	pm, err := fromTFObject(st, r.obj)
	if err != nil {
		return nil, "", err
	}
	if len(private) > 0 {
		pm[privateKey] = presource.NewStringProperty(base64.StdEncoding.EncodeToString(private))
	}
	id := ""
	var attrs map[string]tftypes.Value
	if st.As(&attrs) == nil {
		if v, ok := attrs["id"]; ok && v.IsKnown() && !v.IsNull() && v.Type().Is(tftypes.String) {
			_ = v.As(&id)
		}
	}
	out, err := marshal(pm)
	return out, id, err
}

func privateOf(pm presource.PropertyMap) []byte {
	v, ok := pm[privateKey]
	if !ok {
		return nil
	}
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	if !v.IsString() {
		return nil
	}
	b, err := base64.StdEncoding.DecodeString(v.StringValue())
	if err != nil {
		return nil
	}
	return b
}

// resource finds the resource of a request by its type token (or URN).
func (s *Server) resource(typ, urn string) (*resourceInfo, error) {
	if typ == "" && urn != "" {
		typ = string(presource.URN(urn).Type())
	}
	r, ok := s.resources[typ]
	if !ok {
		return nil, fmt.Errorf("unknown resource type %q", typ)
	}
	return r, nil
}

// request resolves a request's resource and decodes its property structs,
// in the order given.
func (s *Server) request(typ, urn string, structs ...*structpb.Struct) (*resourceInfo, []presource.PropertyMap, error) {
	r, err := s.resource(typ, urn)
	if err != nil {
		return nil, nil, err
	}
	maps := make([]presource.PropertyMap, len(structs))
	for i, st := range structs {
		if maps[i], err = unmarshal(st); err != nil {
			return nil, nil, err
		}
	}
	return r, maps, nil
}

func unmarshal(st *structpb.Struct) (presource.PropertyMap, error) {
	if st == nil {
		return presource.PropertyMap{}, nil
	}
	return plugin.UnmarshalProperties(st, plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true})
}

func marshal(pm presource.PropertyMap) (*structpb.Struct, error) {
	return plugin.MarshalProperties(pm, plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true})
}

func dynamic(t tftypes.Type, v tftypes.Value) (*tfprotov6.DynamicValue, error) {
	dv, err := tfprotov6.NewDynamicValue(t, v)
	if err != nil {
		return nil, err
	}
	return &dv, nil
}

// warn passes warning diagnostics to the engine's log.
func (s *Server) warn(ctx context.Context, urn string, diags []*tfprotov6.Diagnostic) {
	if s.host == nil {
		return
	}
	for _, d := range diags {
		if d.Severity == tfprotov6.DiagnosticSeverityWarning {
			_ = s.host.Log(ctx, diag.Warning, presource.URN(urn), diagText(d))
		}
	}
}
