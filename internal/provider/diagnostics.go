package provider

import (
	"errors"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/diag"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
)

// errorDiag builds the one error style the provider uses: a short Title Case
// summary; a detail saying what was attempted on what, what the user can do,
// then the original error.
func errorDiag(summary, attempted string, err error) diag.Diagnostic {
	return diag.NewErrorDiagnostic(summary, detail(attempted, err))
}

func detail(attempted string, err error) string {
	hint := hintFor(err)
	if hint != "" {
		return fmt.Sprintf("While %s: %s\n\n%v", attempted, hint, err)
	}
	return fmt.Sprintf("While %s, an error occurred.\n\n%v", attempted, err)
}

// hintFor says what the user can do about a class of engine error.
func hintFor(err error) string {
	switch {
	case errors.Is(err, objectstore.ErrUnreachable):
		return "the object store could not be reached. Check the provider's `endpoint` " +
			"(or AWS_ENDPOINT_URL_S3 / LIFEBOAT_S3_ENDPOINT) and that the store is running."
	case errors.Is(err, objectstore.ErrAccessDenied):
		return "the object store rejected the request. Check the provider's `access_key`/`secret_key` " +
			"(or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / the AWS profile) and their permissions."
	case errors.Is(err, objectstore.ErrObjectLocked):
		return "object lock protects data here; it cannot be removed before its retention ends."
	case errors.Is(err, objectstore.ErrBucketNotEmpty):
		return "the bucket still holds objects."
	}
	return ""
}
