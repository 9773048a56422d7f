package provider

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
)

// replacingRepositoryBlock is repositoryBlock for resources whose whole
// definition is their repository (a restore, a drill schedule): moving it
// to another bucket or prefix is a new resource.
func replacingRepositoryBlock() schema.SingleNestedBlock {
	b := repositoryBlock()
	for name, a := range b.Attributes {
		sa := a.(schema.StringAttribute)
		sa.PlanModifiers = append([]planmodifier.String{stringplanmodifier.RequiresReplace()}, sa.PlanModifiers...)
		b.Attributes[name] = sa
	}
	return b
}

// sourceBlockUpgraders upgrade lifeboat_restore and lifeboat_drill_schedule
// states of schema version 0, which named the repository with a
// `source { cluster, bucket, prefix }` block, to version 1's `cluster` +
// `repository { bucket, prefix }`, the shape every other resource uses.
// NOTE: no PriorSchema: the upgrade moves values inside the state's JSON,
// so the version 0 schema needs no second copy here.
func sourceBlockUpgraders() map[int64]resource.StateUpgrader {
	return map[int64]resource.StateUpgrader{
		0: {StateUpgrader: func(_ context.Context, req resource.UpgradeStateRequest, resp *resource.UpgradeStateResponse) {
			if req.RawState == nil || req.RawState.JSON == nil {
				resp.Diagnostics.AddError("Unable To Upgrade State",
					"The version 0 state has no JSON form to upgrade (Terraform 0.12 and later always store one). Remove the resource from state and import it.")
				return
			}
			upgraded, err := moveSourceBlock(req.RawState.JSON)
			if err != nil {
				resp.Diagnostics.AddError("Unable To Upgrade State",
					fmt.Sprintf("Moving the version 0 source block to cluster and repository: %v. Remove the resource from state and import it.", err))
				return
			}
			resp.DynamicValue = &tfprotov6.DynamicValue{JSON: upgraded}
		}},
	}
}

// moveSourceBlock rewrites a version 0 state object: source.cluster goes to
// cluster, source.bucket and source.prefix to repository; every other
// attribute stays as it was.
func moveSourceBlock(raw []byte) ([]byte, error) {
	var attrs map[string]json.RawMessage
	if err := json.Unmarshal(raw, &attrs); err != nil {
		return nil, err
	}
	var src *struct {
		Cluster *string `json:"cluster"`
		Bucket  *string `json:"bucket"`
		Prefix  *string `json:"prefix"`
	}
	if v, ok := attrs["source"]; ok {
		if err := json.Unmarshal(v, &src); err != nil {
			return nil, fmt.Errorf("source: %w", err)
		}
	}
	delete(attrs, "source")
	attrs["cluster"], attrs["repository"] = json.RawMessage("null"), json.RawMessage("null")
	if src != nil {
		var err error
		if attrs["cluster"], err = json.Marshal(src.Cluster); err != nil {
			return nil, err
		}
		if attrs["repository"], err = json.Marshal(map[string]*string{"bucket": src.Bucket, "prefix": src.Prefix}); err != nil {
			return nil, err
		}
	}
	return json.Marshal(attrs)
}
