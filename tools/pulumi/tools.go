//go:build tools

// Package tools pins the Pulumi CLI and its YAML language host, built from
// source because `go install` refuses modules with replace directives.
package tools

import (
	_ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
)
