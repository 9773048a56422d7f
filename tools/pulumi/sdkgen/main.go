// Command sdkgen generates the Lifeboat Go SDK from the provider's Pulumi
// schema with pkg/v3's Go code generator. `pulumi package gen-sdk` would
// need pulumi-language-go, which cannot be built here (see RECIPES.md).
//
//	go run ./sdkgen -schema <schema.json> -out <sdk module dir>
//
// It replaces <out>/go/<package> entirely, so files of removed resources go too.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	gogen "github.com/pulumi/pulumi/pkg/v3/codegen/go"
	"github.com/pulumi/pulumi/pkg/v3/codegen/schema"
)

func main() {
	schemaPath := flag.String("schema", "", "Pulumi package schema (JSON)")
	out := flag.String("out", "", "root of the SDK Go module; files go under <out>/go/")
	flag.Parse()
	if err := run(*schemaPath, *out); err != nil {
		fmt.Fprintln(os.Stderr, "sdkgen:", err)
		os.Exit(1)
	}
}

func run(schemaPath, out string) error {
	if schemaPath == "" || out == "" {
		return fmt.Errorf("-schema and -out are required")
	}
	raw, err := os.ReadFile(schemaPath)
	if err != nil {
		return err
	}
	var spec schema.PackageSpec
	if err := json.Unmarshal(raw, &spec); err != nil {
		return fmt.Errorf("%s: %w", schemaPath, err)
	}
	// NOTE: the schema refers to no other package, so a loader that never
	// loads is enough.
	pkg, diags, err := schema.BindSpec(spec, schema.NewNullLoader(), schema.ValidationOptions{})
	if err != nil {
		return err
	}
	if diags.HasErrors() {
		return diags
	}
	files, err := gogen.GeneratePackage("lifeboat-sdkgen", pkg, nil)
	if err != nil {
		return err
	}
	// GeneratePackage names files relative to the module's go/ folder,
	// starting with the package folder ("lifeboat/...").
	goDir := filepath.Join(out, "go")
	tops := map[string]bool{}
	for name := range files {
		tops[strings.SplitN(filepath.ToSlash(name), "/", 2)[0]] = true
	}
	for top := range tops {
		if err := os.RemoveAll(filepath.Join(goDir, top)); err != nil {
			return err
		}
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p := filepath.Join(goDir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, files[name], 0o644); err != nil {
			return err
		}
	}
	fmt.Printf("sdkgen: wrote %d files under %s\n", len(names), goDir)
	return nil
}
