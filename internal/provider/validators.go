package provider

import (
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"

	"context"
	"fmt"
	"net"
	"net/url"
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
			fmt.Sprintf("%s = %q %s. S3 bucket names are 3-63 characters of lower-case letters, digits, '.' and '-', "+
				"start and end with a letter or digit, and are not IP addresses.", req.Path, req.ConfigValue.ValueString(), msg))
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

// keyNameValidator checks a name that becomes one segment of object keys in
// the repository (a cluster, a drill schedule): what repo.Layout accepts.
type keyNameValidator struct{}

func (keyNameValidator) Description(context.Context) string {
	return "must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit"
}
func (v keyNameValidator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }
func (v keyNameValidator) ValidateString(ctx context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if s := req.ConfigValue.ValueString(); !clusterNameRE.MatchString(s) {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid Name",
			fmt.Sprintf("%s = %q becomes part of object keys in the repository: it %s.", req.Path, s, v.Description(ctx)))
	}
}

// keyPrefixValidator checks a key prefix inside a bucket: path segments of
// letters, digits, '.', '_' and '-' (safe in S3 keys, URLs and shell
// words alike), no empty, "." or ".."
// segment (stores and tools disagree on what they mean, and ".." could
// climb into another cluster's repository), no leading "/", at most 1024
// bytes. trailingSlash allows (not requires) a final "/", as lifecycle
// rule prefixes have; empty allows "" (a rule over the whole bucket).
type keyPrefixValidator struct{ trailingSlash, empty bool }

var keySegmentRE = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

func (v keyPrefixValidator) Description(context.Context) string {
	s := "must be path segments of letters, digits, '.', '_' or '-' separated by '/', without a leading '/' or an empty, '.' or '..' segment"
	if !v.trailingSlash {
		s += ", and without a trailing '/'"
	}
	return s
}
func (v keyPrefixValidator) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}
func (v keyPrefixValidator) ValidateString(ctx context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	s := req.ConfigValue.ValueString()
	if msg := v.problem(s); msg != "" {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid Key Prefix",
			fmt.Sprintf("%s = %q %s. A prefix %s.", req.Path, s, msg, v.Description(ctx)))
	}
}

// problem says what is wrong with prefix s, or "".
func (v keyPrefixValidator) problem(s string) string {
	switch {
	case s == "" && v.empty:
		return ""
	case s == "":
		return "is empty (omit it for no prefix)"
	case len(s) > 1024:
		return fmt.Sprintf("is %d bytes long (object keys are at most 1024)", len(s))
	case strings.HasPrefix(s, "/"):
		return "starts with '/'"
	}
	body := s
	if v.trailingSlash {
		body = strings.TrimSuffix(s, "/")
	}
	for _, seg := range strings.Split(body, "/") {
		switch {
		case seg == "":
			return "has an empty segment ('//' or a trailing '/')"
		case seg == "." || seg == "..":
			return fmt.Sprintf("has a %q segment", seg)
		case !keySegmentRE.MatchString(seg):
			return fmt.Sprintf("has a character other than letters, digits, '.', '_' or '-' in segment %q", seg)
		}
	}
	return ""
}

// endpointValidator checks the object store's endpoint: an absolute
// http(s) URL with a host. A bare "host:port" would otherwise be taken as
// a URL with the host as its scheme and fail at the first request.
type endpointValidator struct{}

func (endpointValidator) Description(context.Context) string {
	return "must be an http:// or https:// URL with a host, e.g. http://127.0.0.1:9000"
}
func (v endpointValidator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }
func (v endpointValidator) ValidateString(ctx context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	s := req.ConfigValue.ValueString()
	if validEndpoint(s) {
		return
	}
	resp.Diagnostics.AddAttributeError(req.Path, "Invalid Endpoint",
		fmt.Sprintf("%s = %q %s (omit it for AWS S3).", req.Path, s, v.Description(ctx)))
}

// validEndpoint is true for an http(s) URL with a host.
func validEndpoint(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// publicKeyValidator checks an Ed25519 public key in a form
// signature.ParsePublicKey reads.
type publicKeyValidator struct{}

func (publicKeyValidator) Description(context.Context) string {
	return "must be an Ed25519 public key (ed25519:<base64>, as `lifeboat keygen` prints it, or PEM)"
}
func (v publicKeyValidator) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}
func (publicKeyValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if _, err := signature.ParsePublicKey(req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid Public Key",
			fmt.Sprintf("%s is not an Ed25519 public key: %v. Use the `public:` line `lifeboat keygen` prints.", req.Path, err))
	}
}
