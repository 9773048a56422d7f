package provider

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// functionInfo is one Terraform data source as Pulumi sees it: an invoke.
type functionInfo struct {
	tfName string
	token  string
	obj    *object
	typ    tftypes.Type
}

// functionToken maps a Terraform data source type to its Pulumi invoke
// token: lifeboat_posture → lifeboat:index:getPosture (Pulumi's convention
// for functions that read).
func functionToken(pkg, tfType string) string {
	return pkg + ":index:get" + pascal(strings.TrimPrefix(tfType, pkg+"_"))
}

// functionTypeToken is the prefix of the named types of a data source's
// nested objects: lifeboat:index:GetPosture + Repository. Type tokens are
// capitalised, unlike the function's own token, so that the Go SDK names
// them GetPostureRepository.
func functionTypeToken(pkg, tfType string) string {
	return pkg + ":index:Get" + pascal(strings.TrimPrefix(tfType, pkg+"_"))
}

// Invoke implements pulumirpc.ResourceProviderServer: a data source read.
// The arguments become the data source's configuration (computed
// attributes null), Terraform validates it and reads, and the state it
// returns is the invoke's result, translated like a resource's outputs.
// Configuration mistakes come back as failures naming the Pulumi property.
func (s *Server) Invoke(ctx context.Context, req *pulumirpc.InvokeRequest) (*pulumirpc.InvokeResponse, error) {
	f, ok := s.functions[req.GetTok()]
	if !ok {
		return nil, fmt.Errorf("unknown function %q", req.GetTok())
	}
	args, err := unmarshal(req.GetArgs())
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*pulumirpc.InvokeResponse, error) {
		return &pulumirpc.InvokeResponse{Failures: []*pulumirpc.CheckFailure{translationFailure(err)}}, nil
	}
	if err := unknownKeys(args, f.obj, ""); err != nil {
		return fail(err)
	}
	cfg, err := toTFObject(args, f.obj, f.typ, modeConfig, "")
	if err != nil {
		return fail(err)
	}
	if !cfg.IsFullyKnown() {
		// NOTE: the SDK's output form waits for its inputs; a plain
		// invoke during preview with unknown arguments has nothing to read.
		return &pulumirpc.InvokeResponse{}, nil
	}
	dv, err := dynamic(f.typ, cfg)
	if err != nil {
		return nil, err
	}
	vresp, err := s.tf.ValidateDataResourceConfig(ctx, &tfprotov6.ValidateDataResourceConfigRequest{TypeName: f.tfName, Config: dv})
	if err != nil {
		return nil, err
	}
	if failures := s.failures(ctx, "", f.obj, vresp.Diagnostics, false); len(failures) > 0 {
		return &pulumirpc.InvokeResponse{Failures: failures}, nil
	}
	resp, err := s.tf.ReadDataSource(ctx, &tfprotov6.ReadDataSourceRequest{TypeName: f.tfName, Config: dv})
	if err != nil {
		return nil, err
	}
	s.warn(ctx, "", resp.Diagnostics)
	var pathFailures []*pulumirpc.CheckFailure
	for _, d := range resp.Diagnostics {
		if d.Severity == tfprotov6.DiagnosticSeverityError && d.Attribute != nil && len(d.Attribute.Steps()) > 0 {
			pathFailures = append(pathFailures, &pulumirpc.CheckFailure{Property: pulumiPath(f.obj, d.Attribute), Reason: diagText(d)})
		}
	}
	if len(pathFailures) > 0 {
		return &pulumirpc.InvokeResponse{Failures: pathFailures}, nil
	}
	if err := diagsError(resp.Diagnostics); err != nil {
		return nil, fmt.Errorf("%s: %w", f.token, err)
	}
	st, err := resp.State.Unmarshal(f.typ)
	if err != nil {
		return nil, err
	}
	pm, err := fromTFObject(st, f.obj)
	if err != nil {
		return nil, err
	}
	out, err := marshal(pm)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.InvokeResponse{Return: out}, nil
}

// functionSpec is the Pulumi schema of an invoke: its inputs are the data
// source's configurable attributes and blocks, its outputs every attribute.
func functionSpec(o *object, types map[string]any) map[string]any {
	inputs, outputs := map[string]any{}, map[string]any{}
	var required, requiredOut []string
	for _, f := range o.fields {
		if f.hidden {
			continue
		}
		outputs[f.pulumi] = propertySpec(f, types)
		if f.required || f.computed || f.block {
			requiredOut = append(requiredOut, f.pulumi)
		}
		if f.input() {
			inputs[f.pulumi] = propertySpec(f, types)
			if f.required {
				required = append(required, f.pulumi)
			}
		}
	}
	in := map[string]any{"properties": inputs}
	if len(required) > 0 {
		in["required"] = required
	}
	out := map[string]any{"properties": outputs}
	if len(requiredOut) > 0 {
		out["required"] = requiredOut
	}
	return map[string]any{"description": o.desc, "inputs": in, "outputs": out}
}
