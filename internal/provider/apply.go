package provider

import (
	"context"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/diag"
)

// timeoutFunc picks the create or the update timeout from a resource's
// timeouts block. Every resource's Create and Update call one apply method
// with the plan, the prior state (nil on create), the state to write and
// the timeoutFunc of the operation: the two differ in nothing else.
type timeoutFunc func(timeouts.Value) (time.Duration, diag.Diagnostics)

// withTimeout bounds ctx by the operation's timeout from the resource's
// timeouts block.
func withTimeout(ctx context.Context, t timeouts.Value, timeout timeoutFunc, diags *diag.Diagnostics) (context.Context, context.CancelFunc) {
	limit, d := timeout(t)
	diags.Append(d...)
	return context.WithTimeout(ctx, limit)
}
