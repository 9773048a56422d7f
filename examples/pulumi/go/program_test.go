package main

import (
	"context"
	"os"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/stretchr/testify/require"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/provider/pulumitest"
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.Spec{MinIO: 1, Postgres: true}))
}

// TestProgram runs Program, which uses the generated Go SDK, as an
// Automation API inline program (no pulumi-language-go needed) with the real
// Pulumi CLI against MinIO.
func TestProgram(t *testing.T) {
	opts := pulumitest.Workspace(t)
	opts = append(opts, auto.Project(workspace.Project{
		Name:    tokens.PackageName("lifeboat-go"),
		Runtime: workspace.NewProjectRuntimeInfo("go", nil),
	}))
	stack, err := auto.UpsertStackInlineSource(context.Background(), "dev", "lifeboat-go", Program, opts...)
	require.NoError(t, err)
	pulumitest.Lifecycle(t, stack)
}
