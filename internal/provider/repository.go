package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
)

// The repository reference every resource and data source that lives in
// one cluster's repository shares: its schema, model, plan check, import ID
// parsing and the bucket-exists check at apply.

// repositoryRef names where in the object store a cluster's repository lives.
type repositoryRef struct {
	Bucket types.String `tfsdk:"bucket"`
	Prefix types.String `tfsdk:"prefix"`
}

// validate reports a missing repository bucket at plan; purpose says what
// the bucket is for.
func (r *repositoryRef) validate(purpose string, diags *diag.Diagnostics) {
	if r == nil || (r.Bucket.IsNull() && !r.Bucket.IsUnknown()) {
		diags.AddAttributeError(path.Root("repository").AtName("bucket"), "Missing Repository Bucket",
			"repository.bucket is required: "+purpose+".")
	}
}

func repositoryBlock() schema.SingleNestedBlock {
	return schema.SingleNestedBlock{
		MarkdownDescription: "Where the repository lives: a bucket (typically a `lifeboat_immutable_bucket`) and an optional key prefix.",
		Attributes: map[string]schema.Attribute{
			"bucket": schema.StringAttribute{MarkdownDescription: "Repository bucket name.", Optional: true, Validators: []validator.String{bucketNameValidator{}}},
			"prefix": schema.StringAttribute{
				MarkdownDescription: "Key prefix inside the bucket (no leading or trailing `/`).",
				Optional:            true,
				Validators:          []validator.String{keyPrefixValidator{}},
			},
		},
	}
}

// requireBucket adds an error on attr and returns false when the repository
// bucket does not exist (or cannot be read).
func requireBucket(ctx context.Context, client *objectstore.Client, bucket string, attr path.Path, diags *diag.Diagnostics) bool {
	seen := bucketSeenKey{client, bucket}
	if _, ok := bucketsSeen.Load(seen); ok {
		return true
	}
	_, err := client.ReadBucket(ctx, bucket)
	switch {
	case err == nil:
		bucketsSeen.Store(seen, struct{}{})
		return true
	case errors.Is(err, objectstore.ErrBucketNotFound):
		diags.AddAttributeError(attr, "Repository Bucket Not Found",
			fmt.Sprintf("%s %q does not exist on %s. Create it first (for example with lifeboat_immutable_bucket, referenced so Terraform orders them).",
				attr, bucket, client.Endpoint()))
	default:
		diags.Append(errorDiag("Error Reading Repository Bucket", fmt.Sprintf("checking %s %q", attr, bucket), err))
	}
	return false
}

// parseRepositoryPath splits "<bucket>/<cluster>" or
// "<bucket>/<prefix>/<cluster>" (the prefix may have several segments), the
// import ID of the resources that live in one cluster's repository.
func parseRepositoryPath(s string) (ref *repositoryRef, cluster string, ok bool) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || parts[0] == "" || parts[len(parts)-1] == "" {
		return nil, "", false
	}
	ref = &repositoryRef{Bucket: types.StringValue(parts[0]), Prefix: types.StringNull()}
	if len(parts) > 2 {
		ref.Prefix = types.StringValue(strings.Join(parts[1:len(parts)-1], "/"))
	}
	return ref, parts[len(parts)-1], true
}

// openRepository is how every reader of a repository reaches it: the
// provider's store client (which also reads the bucket's configuration)
// and the store of the repository's bucket; nil with a diagnostic when
// the client cannot be configured. The data sources share it so that they
// read one repository the same way.
func (d *providerData) openRepository(ctx context.Context, r *repositoryRef, diags *diag.Diagnostics) (*objectstore.Client, objectstore.Store) {
	client := d.storeClient(ctx, diags)
	if client == nil {
		return nil, nil
	}
	return client, client.Store(r.Bucket.ValueString())
}
