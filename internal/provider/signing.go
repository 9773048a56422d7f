package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// signedByAttribute is the computed `signed_by` of a resource that writes a
// configuration document for the agents. Refresh sets it to the key that
// signed the stored document (empty when unsigned, forged or signed by
// another key); planSignedBy plans the provider's own key. A document
// rewritten by anyone but this provider therefore shows as an in-place
// update that signs it again (and agents that trust the key refuse the
// rewritten one meanwhile). The planned value is known at plan time: it
// comes from the provider's configuration, so plan and apply agree.
func signedByAttribute() schema.StringAttribute {
	return schema.StringAttribute{
		MarkdownDescription: "ID of the provider key (`signing_key`) that signed the document the agents read; empty when " +
			"the provider has no signing key. A document changed or rewritten outside this provider reads back with another " +
			"value, and the next apply signs it again.",
		Computed: true,
	}
}

// planSignedBy plans signed_by as the provider's own key. It is called from
// ModifyPlan, where the resource is configured (an attribute plan modifier
// may run on an instance the provider never configured).
func planSignedBy(ctx context.Context, data *providerData, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) diag.Diagnostics {
	if req.Plan.Raw.IsNull() || data == nil {
		return nil
	}
	// NOTE: set only when it differs: a set rebuilds the whole planned
	// object, and in the plan of an unchanged resource the state's value is
	// already the provider's key (500 drill schedules paid it for nothing).
	want := types.StringValue(data.signerID())
	var planned types.String
	if d := resp.Plan.GetAttribute(ctx, path.Root("signed_by"), &planned); !d.HasError() && planned.Equal(want) {
		return nil
	}
	return resp.Plan.SetAttribute(ctx, path.Root("signed_by"), want)
}
