// Command lifeboat-pulumi-go declares an immutable backup bucket and WAL
// archiving into it with the Lifeboat Go SDK. With pulumi-language-go
// installed, `pulumi up` runs it; program_test.go runs the same Program
// through the Automation API.
package main

import "github.com/pulumi/pulumi/sdk/v3/go/pulumi"

func main() {
	pulumi.Run(Program)
}
