//go:build tools

// Package tools pins the documentation tooling; it is its own module so these
// dependencies never enter the provider's go.mod.
package tools

import (
	_ "github.com/hashicorp/terraform-plugin-docs/cmd/tfplugindocs"
)
