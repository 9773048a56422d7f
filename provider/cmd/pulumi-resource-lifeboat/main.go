// Command pulumi-resource-lifeboat is the Lifeboat Pulumi resource provider
// plugin: the Terraform provider's resources, served to the Pulumi engine.
//
// `pulumi-resource-lifeboat schema` prints the Pulumi package schema
// (`make schema` keeps schema.json beside this file).
package main

import (
	"context"
	"fmt"
	"os"

	tfprovider "github.com/lifeboat-dr/terraform-provider-lifeboat/internal/provider"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/provider"
)

// version is set by the linker (-X main.version=...).
var version = "0.0.1-dev"

func main() {
	var err error
	if len(os.Args) == 2 && os.Args[1] == "schema" {
		err = provider.PrintSchema(context.Background(), os.Stdout, "lifeboat", tfprovider.New(version))
	} else {
		err = provider.Main("lifeboat", version, tfprovider.New(version))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
