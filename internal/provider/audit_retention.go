package provider

import (
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
)

// auditRetentionModel is how long a cluster's restore audit records stay
// under object lock, declared on lifeboat_backup_policy: the signed policy
// carries it to every front end that restores (Terraform, Pulumi, the CLI,
// drills, the agent).
type auditRetentionModel struct {
	Mode types.String `tfsdk:"mode"`
	Days types.Int64  `tfsdk:"days"`
}

func auditRetentionBlock() schema.SingleNestedBlock {
	return schema.SingleNestedBlock{
		MarkdownDescription: fmt.Sprintf("How long the signed audit record of every restore of this cluster (Terraform, Pulumi, `lifeboat restore`, "+
			"drills, restores the agent runs) stays under object lock; the signed policy carries it to each of them. Without this block "+
			"records are kept %d days in COMPLIANCE mode. Plan fails when it would lock audit records for less than the bucket's "+
			"default retention, or in GOVERNANCE mode on a COMPLIANCE bucket: the evidence of a restore never goes before the backups it read. "+
			"A drill whose `evidence_retention_days` is longer keeps its restore's record that long.", int(restore.DefaultAuditRetention.Hours()/24)),
		Attributes: map[string]schema.Attribute{
			"mode": schema.StringAttribute{
				MarkdownDescription: "`COMPLIANCE` (no credential, the provider's included, can shorten or remove the lock) or `GOVERNANCE`. Required in the block.",
				Optional:            true,
				Validators:          []validator.String{stringvalidator.OneOf(objectstore.ModeCompliance, objectstore.ModeGovernance)},
			},
			"days": schema.Int64Attribute{
				MarkdownDescription: "Days each record stays locked. Required in the block.",
				Optional:            true,
				Validators:          []validator.Int64{int64validator.Between(1, 36500)},
			},
		},
	}
}

// validate is ValidateConfig's share.
func (a *auditRetentionModel) validate(diags *diag.Diagnostics) {
	if a == nil {
		return
	}
	if a.Mode.IsNull() || a.Days.IsNull() {
		diags.AddAttributeError(path.Root("audit_retention"), "Incomplete Audit Retention",
			"audit_retention needs both mode and days; remove the block to keep restore audit records 365 days in COMPLIANCE mode.")
	}
}

// checkBucket refuses a retention shorter or weaker than lock, the
// bucket's default retention (nil: none).
func (a *auditRetentionModel) checkBucket(bucket string, lock *objectstore.Retention, diags *diag.Diagnostics) {
	if a == nil || lock == nil || a.Days.IsUnknown() || a.Mode.IsUnknown() || a.Days.IsNull() {
		return
	}
	if days := a.Days.ValueInt64(); days < int64(lock.Days) {
		diags.AddAttributeError(path.Root("audit_retention").AtName("days"), "Audit Retention Shorter Than Bucket Lock",
			fmt.Sprintf("audit_retention.days = %d, but bucket %q locks every object for %d days (%s): a restore's audit record would be "+
				"unlocked while the backups it read are still locked. Set audit_retention.days to at least %d.", days, bucket, lock.Days, lock.Mode, lock.Days))
	}
	if lock.Mode == objectstore.ModeCompliance && a.Mode.ValueString() == objectstore.ModeGovernance {
		diags.AddAttributeError(path.Root("audit_retention").AtName("mode"), "Audit Retention Weaker Than Bucket Lock",
			fmt.Sprintf("audit_retention.mode = GOVERNANCE, but bucket %q locks its objects in COMPLIANCE mode: credentials allowed to bypass "+
				"governance could remove the audit records of restores and nothing else. Set mode = \"COMPLIANCE\".", bucket))
	}
}

// repo is the block as the signed policy carries it.
func (a *auditRetentionModel) repo() *repo.AuditRetention {
	if a == nil {
		return nil
	}
	return &repo.AuditRetention{Mode: a.Mode.ValueString(), Days: int(a.Days.ValueInt64())}
}

// auditRetentionFromRepo is the block as refresh reads it from the stored
// policy (nil: none declared).
func auditRetentionFromRepo(a *repo.AuditRetention) *auditRetentionModel {
	if a == nil {
		return nil
	}
	return &auditRetentionModel{Mode: types.StringValue(a.Mode), Days: types.Int64Value(int64(a.Days))}
}
