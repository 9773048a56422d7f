// Command terraform-provider-lifeboat serves the Lifeboat Terraform provider.
package main

import (
	"context"
	"flag"
	"log"
	"os"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/provider"
)

// version is set by the release build (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	var debug bool
	flag.BoolVar(&debug, "debug", false, "run the provider with support for debuggers like delve")
	flag.Parse()
	quietUnlessAsked()

	err := providerserver.Serve(context.Background(), provider.New(version), providerserver.ServeOpts{
		Address: provider.Address,
		Debug:   debug,
	})
	if err != nil {
		log.Fatal(err.Error())
	}
}

// quietUnlessAsked turns the provider's and the plugin SDK's logs off when
// no TF_LOG* variable asks for them. Unset, the SDK logs at TRACE: every
// request of every resource is encoded as JSON on stderr, and Terraform
// decodes each line only to drop it. With 500 resources that was a third of
// the provider's CPU and more of Terraform's. Any TF_LOG* setting keeps the
// SDK's behaviour.
func quietUnlessAsked() {
	for _, name := range []string{"TF_LOG", "TF_LOG_PROVIDER", "TF_LOG_SDK", "TF_LOG_SDK_FRAMEWORK", "TF_LOG_SDK_PROTO",
		"TF_LOG_PROVIDER_LIFEBOAT"} {
		if os.Getenv(name) != "" {
			return
		}
	}
	for _, name := range []string{"TF_LOG_SDK", "TF_LOG_PROVIDER"} {
		_ = os.Setenv(name, "off")
	}
}
