package main

import (
	"context"
	"fmt"
	"io"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/compression"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/version"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the agent version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runVersion(cmd.Context(), cmd.OutOrStdout())
		},
	}
}

func runVersion(_ context.Context, out io.Writer) error {
	_, err := fmt.Fprintf(out, "lifeboat %s (%s %s/%s, zstd: %s)\n", version.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH, compression.ZstdImplementation)
	return err
}
