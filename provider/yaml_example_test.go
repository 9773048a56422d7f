package provider

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/provider/pulumitest"
)

// TestPulumiYAMLExample runs examples/pulumi/yaml with the real Pulumi CLI and
// YAML language host against MinIO.
func TestPulumiYAMLExample(t *testing.T) {
	opts := pulumitest.Workspace(t)
	// A copy: the CLI writes Pulumi.<stack>.yaml next to the project.
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join(pulumitest.RepoRoot(), "examples", "pulumi", "yaml", "Pulumi.yaml"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Pulumi.yaml"), src, 0o644))

	stack, err := auto.UpsertStackLocalSource(context.Background(), "dev", dir, opts...)
	require.NoError(t, err)
	pulumitest.Lifecycle(t, stack)
}
