package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
)

// diagText is how a Terraform diagnostic reads on the Pulumi side: the same
// summary and detail Terraform prints.
func diagText(d *tfprotov6.Diagnostic) string {
	if d.Detail == "" {
		return d.Summary
	}
	return d.Summary + ": " + d.Detail
}

// diagsError joins the error diagnostics into one error, nil when there are
// none.
func diagsError(diags []*tfprotov6.Diagnostic) error {
	var msgs []string
	for _, d := range diags {
		if d.Severity != tfprotov6.DiagnosticSeverityError {
			continue
		}
		msg := diagText(d)
		if d.Attribute != nil && len(d.Attribute.Steps()) > 0 {
			msg = fmt.Sprintf("%s (at %s)", msg, tfPath(d.Attribute))
		}
		msgs = append(msgs, msg)
	}
	if len(msgs) == 0 {
		return nil
	}
	return errors.New(strings.Join(msgs, "\n"))
}

// failures turns error diagnostics into check failures naming the Pulumi
// property. With pathOnly, errors without an attribute path are skipped and
// warnings are not logged (the caller reports them later).
func (s *Server) failures(ctx context.Context, urn string, o *object, diags []*tfprotov6.Diagnostic, pathOnly bool) []*pulumirpc.CheckFailure {
	var out []*pulumirpc.CheckFailure
	for _, d := range diags {
		switch d.Severity {
		case tfprotov6.DiagnosticSeverityError:
			if pathOnly && (d.Attribute == nil || len(d.Attribute.Steps()) == 0) {
				continue
			}
			out = append(out, &pulumirpc.CheckFailure{Property: pulumiPath(o, d.Attribute), Reason: diagText(d)})
		case tfprotov6.DiagnosticSeverityWarning:
			if !pathOnly {
				s.warn(ctx, urn, []*tfprotov6.Diagnostic{d})
			}
		}
	}
	return out
}

// translationFailure is the check failure for a value that does not fit the
// schema.
func translationFailure(err error) *pulumirpc.CheckFailure {
	var pe *pathError
	if errors.As(err, &pe) {
		return &pulumirpc.CheckFailure{Property: pe.path, Reason: pe.msg}
	}
	return &pulumirpc.CheckFailure{Reason: err.Error()}
}

// pulumiPath spells a Terraform attribute path with Pulumi property names:
// lifecycle_tier[0].expiration_days → lifecycleTier[0].expirationDays. A set
// element has no index: the path stops at the set.
func pulumiPath(o *object, p *tftypes.AttributePath) string {
	if p == nil {
		return ""
	}
	var b strings.Builder
	var cur *shape
	for _, step := range p.Steps() {
		switch st := step.(type) {
		case tftypes.AttributeName:
			var f *field
			if cur == nil && o != nil {
				f = o.byTF[string(st)]
			} else if cur != nil && cur.kind == kindObject {
				f = cur.obj.byTF[string(st)]
			}
			name := camel(string(st))
			if f != nil {
				name = f.pulumi
			}
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(name)
			cur = nil
			if f != nil {
				cur = f.shape
			}
		case tftypes.ElementKeyInt:
			fmt.Fprintf(&b, "[%d]", int64(st))
			if cur != nil {
				cur = cur.elem
			}
		case tftypes.ElementKeyString:
			fmt.Fprintf(&b, "[%q]", string(st))
			if cur != nil {
				cur = cur.elem
			}
		case tftypes.ElementKeyValue:
			return b.String()
		}
	}
	return b.String()
}

// tfPath spells a Terraform attribute path the way Terraform users read it.
func tfPath(p *tftypes.AttributePath) string {
	var b strings.Builder
	for _, step := range p.Steps() {
		switch st := step.(type) {
		case tftypes.AttributeName:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(string(st))
		case tftypes.ElementKeyInt:
			fmt.Fprintf(&b, "[%d]", int64(st))
		case tftypes.ElementKeyString:
			fmt.Fprintf(&b, "[%q]", string(st))
		case tftypes.ElementKeyValue:
			b.WriteString("[…]")
		}
	}
	return b.String()
}

// initFailed tells the engine that the resource exists although applying
// failed, so it is kept in the state (and not leaked).
func initFailed(id string, props *structpb.Struct, err error) error {
	st := status.New(codes.Unknown, err.Error())
	withDetails, derr := st.WithDetails(&pulumirpc.ErrorResourceInitFailed{
		Id: id, Properties: props, Reasons: []string{err.Error()},
	})
	if derr != nil {
		return err
	}
	return withDetails.Err()
}
