//go:build tools

// Package tools pins the Pulumi YAML language host. It is its own module:
// pulumi-yaml pins an older pulumi/pkg than the CLI in ../pulumi.
package tools

import (
	_ "github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml"
)
