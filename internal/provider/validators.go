package provider

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/schema/validator"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/schedule"
)

// durationValidator checks a Go duration string with a lower bound.
type durationValidator struct{ min time.Duration }

func (v durationValidator) Description(context.Context) string {
	return fmt.Sprintf("must be a duration such as \"5m\" or \"30s\", at least %s", v.min)
}
func (v durationValidator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }
func (v durationValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	d, err := time.ParseDuration(req.ConfigValue.ValueString())
	if err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid Duration",
			fmt.Sprintf("%s = %q is not a duration: use a number with a unit, such as \"5m\", \"30s\" or \"1h30m\".", req.Path, req.ConfigValue.ValueString()))
		return
	}
	if d < v.min {
		resp.Diagnostics.AddAttributeError(req.Path, "Duration Too Short",
			fmt.Sprintf("%s = %q is shorter than the minimum of %s.", req.Path, req.ConfigValue.ValueString(), v.min))
	}
}

// absolutePathValidator checks an absolute file path.
type absolutePathValidator struct{}

func (absolutePathValidator) Description(context.Context) string { return "must be an absolute path" }
func (v absolutePathValidator) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}
func (absolutePathValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if !filepath.IsAbs(req.ConfigValue.ValueString()) {
		resp.Diagnostics.AddAttributeError(req.Path, "Relative Path",
			fmt.Sprintf("%s = %q must be an absolute path on the database host.", req.Path, req.ConfigValue.ValueString()))
	}
}

// clusterNameRE is what repo.Layout accepts as a cluster name.
var clusterNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// bucketNameValidator checks S3 bucket naming rules at plan.
type bucketNameValidator struct{}

func (bucketNameValidator) Description(context.Context) string {
	return "must be a valid S3 bucket name"
}

func (v bucketNameValidator) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}

func (bucketNameValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if msg := validBucketName(req.ConfigValue.ValueString()); msg != "" {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid Bucket Name",
			fmt.Sprintf("name %q %s. S3 bucket names are 3-63 characters of lower-case letters, digits, '.' and '-', "+
				"start and end with a letter or digit, and are not IP addresses.", req.ConfigValue.ValueString(), msg))
	}
}

var bucketNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*[a-z0-9]$`)

// validBucketName returns "" for a valid S3 bucket name, else what is wrong.
func validBucketName(name string) string {
	switch {
	case len(name) < 3 || len(name) > 63:
		return fmt.Sprintf("is %d characters long (3-63 allowed)", len(name))
	case !bucketNameRE.MatchString(name):
		return "has characters other than lower-case letters, digits, '.' and '-', or does not start and end with a letter or digit"
	case strings.Contains(name, ".."):
		return "contains \"..\""
	case net.ParseIP(name) != nil:
		return "is formatted as an IP address"
	case strings.HasPrefix(name, "xn--"), strings.HasSuffix(name, "-s3alias"):
		return "uses a reserved prefix or suffix"
	}
	return ""
}

// cronValidator checks a schedule at plan.
type cronValidator struct{}

func (cronValidator) Description(context.Context) string {
	return "must be five cron fields or a descriptor such as @daily"
}

func (v cronValidator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (cronValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if _, err := schedule.Parse(req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid Schedule", fmt.Sprintf("%s: %v", req.Path, err))
	}
}
