// Command terraform-provider-lifeboat serves the Lifeboat Terraform provider.
package main

import (
	"flag"
	"log"
	"os"
	"runtime/debug"

	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6/tf6server"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/provider"
)

// version is set by the release build (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	var debug bool
	flag.BoolVar(&debug, "debug", false, "run the provider with support for debuggers like delve")
	flag.Parse()
	quietUnlessAsked()
	tuneGC()
	stopProfile := startProfile()

	var opts []tf6server.ServeOpt
	if debug {
		opts = append(opts, tf6server.WithManagedDebug())
	}
	newServer := provider.NewServer(version)
	err := tf6server.Serve(provider.Address, func() tfprotov6.ProviderServer {
		s, err := newServer()
		if err != nil {
			log.Fatal(err.Error())
		}
		return s
	}, opts...)
	stopProfile()
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

// tuneGC lets the heap grow to five times what is live (GOGC=400) before
// collecting, under a soft limit of 64 MiB of Go memory. The provider is a process per
// Terraform command whose live heap stays small (a few MiB) while it
// converts every value of every resource between protocol, framework and
// model types: at the default GOGC the collector ran every few MiB and took
// a quarter of the CPU of a 100-tenant plan. The limit keeps a plan of many
// resources from trading that for memory: near it the collector runs as
// often as it must. GOGC or GOMEMLIMIT in the environment win.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(64 << 20)
	}
}
