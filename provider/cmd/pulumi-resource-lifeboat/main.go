// Command pulumi-resource-lifeboat is the Lifeboat Pulumi resource provider
// plugin: the Terraform provider's resources, served to the Pulumi engine.
package main

import (
	"fmt"
	"os"

	tfprovider "github.com/lifeboat-dr/terraform-provider-lifeboat/internal/provider"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/provider"
)

// version is set by the linker (-X main.version=...).
var version = "0.0.1-dev"

func main() {
	if err := provider.Main("lifeboat", version, tfprovider.New(version)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
