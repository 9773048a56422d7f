package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TerraformCLI runs the Terraform CLI (TF_ACC_TERRAFORM_PATH) in a
// directory of its own, with the provider built from this tree as a binary
// (dev_overrides): for what terraform-plugin-testing cannot do, such as
// saving a plan and applying it in a later step, and for scenarios told as
// the commands a user types.
type TerraformCLI struct {
	Bin, Dir string
	Env      []string
}

// NewTerraformCLI builds the provider (main package pkg, registry address
// addr; once per test binary, see Build) and returns a CLI whose directory
// is empty.
func NewTerraformCLI(t *testing.T, addr, pkg string) *TerraformCLI {
	t.Helper()
	bin := os.Getenv("TF_ACC_TERRAFORM_PATH")
	if bin == "" {
		t.Skip("TF_ACC_TERRAFORM_PATH is not set")
	}
	provider := Build(t, pkg)
	plugins := t.TempDir()
	// dev_overrides finds the provider by its name in the folder it names.
	name := "terraform-provider-" + addr[strings.LastIndex(addr, "/")+1:]
	if err := os.Symlink(provider, filepath.Join(plugins, name)); err != nil {
		t.Fatal(err)
	}
	rc := filepath.Join(plugins, "terraformrc")
	if err := os.WriteFile(rc, []byte(fmt.Sprintf("provider_installation {\n  dev_overrides {\n    %q = %q\n  }\n  direct {}\n}\n", addr, plugins)), 0o600); err != nil {
		t.Fatal(err)
	}
	return &TerraformCLI{Bin: bin, Dir: t.TempDir(),
		Env: append(os.Environ(), "TF_CLI_CONFIG_FILE="+rc, "CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1")}
}

// CopyFile copies src into the CLI's directory.
func (c *TerraformCLI) CopyFile(t *testing.T, src string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.Dir, filepath.Base(src)), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// Write writes config as the directory's main.tf, replacing the last one.
func (c *TerraformCLI) Write(t *testing.T, config string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(c.Dir, "main.tf"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Run runs terraform with args (-no-color added but to show) and returns
// its standard output; a failure fails the test with both outputs.
func (c *TerraformCLI) Run(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := c.Try(args...)
	if err != nil {
		t.Fatalf("terraform %s: %v\n%s\n%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// State is the attribute values of the resources in the directory's
// state, by address (terraform show -json).
func (c *TerraformCLI) State(t *testing.T) map[string]map[string]any {
	t.Helper()
	var state struct {
		Values struct {
			RootModule struct {
				Resources []struct {
					Address string         `json:"address"`
					Values  map[string]any `json:"values"`
				} `json:"resources"`
			} `json:"root_module"`
		} `json:"values"`
	}
	if err := json.Unmarshal([]byte(c.Run(t, "show", "-json")), &state); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	for _, r := range state.Values.RootModule.Resources {
		out[r.Address] = r.Values
	}
	return out
}

// Resource is State's values of the resource addr; the test fails when
// the state has no such resource.
func (c *TerraformCLI) Resource(t *testing.T, addr string) map[string]any {
	t.Helper()
	v, ok := c.State(t)[addr]
	if !ok {
		t.Fatalf("%s not in the state", addr)
	}
	return v
}

// Change is a resource's change in a saved plan: its actions ("update",
// "create", "no-op", ...) and its planned values.
type Change struct {
	Actions []string       `json:"actions"`
	After   map[string]any `json:"after"`
}

// Planned is the saved plan file plan's resource changes, by address
// (terraform show -json plan).
func (c *TerraformCLI) Planned(t *testing.T, plan string) map[string]Change {
	t.Helper()
	var p struct {
		ResourceChanges []struct {
			Address string `json:"address"`
			Change  Change `json:"change"`
		} `json:"resource_changes"`
	}
	if err := json.Unmarshal([]byte(c.Run(t, "show", "-json", plan)), &p); err != nil {
		t.Fatal(err)
	}
	out := map[string]Change{}
	for _, rc := range p.ResourceChanges {
		out[rc.Address] = rc.Change
	}
	return out
}

// Try is Run returning the failure instead.
func (c *TerraformCLI) Try(args ...string) (stdout, stderr string, err error) {
	var o, e strings.Builder
	err = c.invoke(nil, &o, &e, args...)
	return o.String(), e.String(), err
}

// RunWith is Run with env added to the CLI's environment (a CI runner's,
// say: other credentials, no PostgreSQL on PATH), returning standard
// output and error together, as a pipeline's log shows them.
func (c *TerraformCLI) RunWith(t *testing.T, env []string, args ...string) string {
	t.Helper()
	out, err := c.TryWith(env, args...)
	if err != nil {
		t.Fatalf("terraform %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// TryWith is RunWith returning the failure instead.
func (c *TerraformCLI) TryWith(env []string, args ...string) (string, error) {
	var out strings.Builder
	err := c.invoke(env, &out, &out, args...)
	return out.String(), err
}

// invoke runs terraform args in the CLI's directory, -no-color added but to
// show (whose -json output has no colour), with env added to the CLI's
// environment, for ten minutes at most.
func (c *TerraformCLI) invoke(env []string, stdout, stderr io.Writer, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if args[0] != "show" {
		args = append([]string{args[0], "-no-color"}, args[1:]...)
	}
	cmd := exec.CommandContext(ctx, c.Bin, append([]string{"-chdir=" + c.Dir}, args...)...)
	cmd.Env = append(append([]string(nil), c.Env...), env...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	return cmd.Run()
}
