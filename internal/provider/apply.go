package provider

import (
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/diag"
)

// timeoutFunc picks the create or the update timeout from a resource's
// timeouts block. Every resource's Create and Update call one apply method
// with the plan, the prior state (nil on create), the state to write and
// the timeoutFunc of the operation: the two differ in nothing else.
type timeoutFunc func(timeouts.Value) (time.Duration, diag.Diagnostics)
