//go:build tools

// Package lint pins golangci-lint for `make lint` in a module of its own, so
// the linter's dependencies never enter the provider's go.mod.
package lint

import _ "github.com/golangci/golangci-lint/v2/cmd/golangci-lint"
