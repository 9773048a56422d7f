package provider

import (
	"errors"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// encryptionModel is client-side encryption: the age recipients (public
// keys) a database host encrypts to. Identities never appear here: they
// live with the restorer (the provider's identity_file).
type encryptionModel struct {
	Recipients types.List `tfsdk:"recipients"`
}

func encryptionBlock(what string) schema.SingleNestedBlock {
	return schema.SingleNestedBlock{
		MarkdownDescription: "Client-side encryption of " + what + " on the database host, after compression, to age " +
			"recipients (https://age-encryption.org): the host holds public keys only, so it can write backups it can never read " +
			"back; restores, drills and verification decrypt with an identity (the provider's `identity_file`, or " +
			"`" + crypt.EnvIdentityFile + "`). Every object and manifest records the fingerprints of its recipients: changing the " +
			"list (key rotation) applies to new objects, and the old identities still restore the old ones. A restore whose " +
			"backup, WAL or dump no identity held decrypts fails at plan, naming the missing recipient.",
		Attributes: map[string]schema.Attribute{
			"recipients": schema.ListAttribute{
				MarkdownDescription: "age recipients, `age1...` (X25519, as `age-keygen -y identity.txt` prints) or `age1pq1...` " +
					"(hybrid post-quantum). Any one of their identities decrypts. Required in the block.",
				ElementType: types.StringType,
				Optional:    true,
			},
		},
	}
}

// validate checks every recipient at plan time, naming the bad one.
func (e *encryptionModel) validate(diags *diag.Diagnostics) {
	if e == nil || e.Recipients.IsUnknown() {
		return
	}
	attr := path.Root("encryption").AtName("recipients")
	if e.Recipients.IsNull() || len(e.Recipients.Elements()) == 0 {
		diags.AddAttributeError(attr, "Missing Encryption Recipients",
			"encryption needs at least one age recipient (age1...). Generate a key pair with `age-keygen -o identity.txt` on the "+
				"restorer's side and give its public key here; remove the block to store backups unencrypted.")
		return
	}
	for i, v := range e.Recipients.Elements() {
		s, ok := v.(types.String)
		if !ok || s.IsUnknown() {
			continue
		}
		if s.IsNull() {
			diags.AddAttributeError(attr.AtListIndex(i), "Invalid Age Recipient", "encryption.recipients must not hold null values.")
			continue
		}
		_, err := crypt.ParseRecipients([]string{s.ValueString()})
		var re *crypt.RecipientError
		if errors.As(err, &re) {
			diags.AddAttributeError(attr.AtListIndex(i), "Invalid Age Recipient",
				fmt.Sprintf("encryption.recipients[%d] is not an age recipient: %v. Give an age public key (age1...), as `age-keygen -y identity.txt` prints it; never the identity itself.", i, re.Err))
		}
	}
}

// known reports whether every recipient is known at plan time.
func (e *encryptionModel) known() bool {
	if e == nil {
		return true
	}
	if e.Recipients.IsUnknown() {
		return false
	}
	for _, v := range e.Recipients.Elements() {
		if v.IsUnknown() {
			return false
		}
	}
	return true
}

// repo is the block as the agent configuration and the policy carry it;
// nil without a block.
func (e *encryptionModel) repo() *repo.Encryption {
	if e == nil {
		return nil
	}
	out := &repo.Encryption{}
	for _, v := range e.Recipients.Elements() {
		if s, ok := v.(types.String); ok {
			out.Recipients = append(out.Recipients, s.ValueString())
		}
	}
	return out
}

// encryptionFromRepo is the block as a stored policy or configuration
// carries it (nil: no block), for refresh: recipients changed or removed
// in the store show as a planned update.
func encryptionFromRepo(e *repo.Encryption) *encryptionModel {
	if e == nil {
		return nil
	}
	vals := make([]attr.Value, 0, len(e.Recipients))
	for _, r := range e.Recipients {
		vals = append(vals, types.StringValue(r))
	}
	return &encryptionModel{Recipients: types.ListValueMust(types.StringType, vals)}
}
