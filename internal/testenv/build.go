package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sync"
	"testing"
)

// Module is this tree's Go module path: Build's packages are named below it.
const Module = "github.com/lifeboat-dr/terraform-provider-lifeboat"

// LifeboatPackage is the agent CLI's main package.
const LifeboatPackage = Module + "/cmd/lifeboat"

// built holds the binaries Build made in this test binary, by package: one
// `go build` per package and test binary instead of one per test (each
// links a binary of tens of MB). binDir is removed by Main at the end.
var built struct {
	sync.Mutex
	dir  string
	bins map[string]string
	errs map[string]error
}

// Build builds the main package pkg (an import path: Module, LifeboatPackage)
// once per test binary and returns the binary's path, named after the
// package's last element. Its folder every account may enter and run
// from: the PostgreSQL account runs the agent as archive_command and
// restore_command. Tests share the binary; none may change it.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	built.Lock()
	defer built.Unlock()
	if bin, ok := built.bins[pkg]; ok {
		return bin
	}
	if err, ok := built.errs[pkg]; ok {
		t.Fatal(err)
	}
	bin, err := build(pkg)
	if err != nil {
		if built.errs == nil {
			built.errs = map[string]error{}
		}
		built.errs[pkg] = err
		t.Fatal(err)
	}
	if built.bins == nil {
		built.bins = map[string]string{}
	}
	built.bins[pkg] = bin
	return bin
}

func build(pkg string) (string, error) {
	if built.dir == "" {
		dir, err := os.MkdirTemp("", "lifeboat-bin-")
		if err != nil {
			return "", err
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			return "", err
		}
		built.dir = dir
	}
	// One folder a package: NewTerraformCLI points dev_overrides at it.
	dir, err := os.MkdirTemp(built.dir, "pkg-")
	if err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, path.Base(pkg))
	if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s: %w\n%s", pkg, err, out)
	}
	return bin, nil
}

// removeBuilt removes what Build made (Main, after the tests).
func removeBuilt() {
	built.Lock()
	defer built.Unlock()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	built.dir, built.bins, built.errs = "", nil, nil
}

// Lifeboat is the agent CLI built from this tree (Build of LifeboatPackage).
func Lifeboat(t testing.TB) string {
	t.Helper()
	return Build(t, LifeboatPackage)
}

// Dir is a new folder for one test's files that the PostgreSQL account may
// enter (t.TempDir's are private to this account), removed when the test
// ends: data directories of restored servers, agent configuration files.
func Dir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "lifeboat-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
