package provider

import (
	"errors"
	"fmt"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
)

// notFoundError says the thing a resource manages no longer exists: Read
// removes the resource from state, Delete counts it as done, and the
// tests' destroy checks expect it. Every resource's finder returns it.
type notFoundError struct {
	// What names the missing thing for messages, e.g. `policy of "main"`.
	What string
	Err  error
}

func (e *notFoundError) Error() string { return fmt.Sprintf("%s not found: %v", e.What, e.Err) }
func (e *notFoundError) Unwrap() error { return e.Err }

// isNotFound reports whether err is, or wraps, a *notFoundError.
func isNotFound(err error) bool {
	var nf *notFoundError
	return errors.As(err, &nf)
}

// asNotFound turns the store's "no such object" and "no such bucket" into
// a *notFoundError naming what; other errors (and nil) pass unchanged.
// NOTE: a missing bucket means the thing is gone too: it lived in the
// bucket.
func asNotFound(what string, err error) error {
	if errors.Is(err, objectstore.ErrNotFound) || errors.Is(err, objectstore.ErrBucketNotFound) {
		return &notFoundError{What: what, Err: err}
	}
	return err
}
