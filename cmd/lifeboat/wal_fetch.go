package main

import (
	"context"
	"errors"
	"time"

	"github.com/spf13/cobra"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/wal"
)

// Exit codes of wal-fetch, as PostgreSQL's restore_command reads them.
const (
	// exitSegmentNotFound tells PostgreSQL the archive has no such file:
	// the normal end of archive recovery.
	exitSegmentNotFound = 1
	// exitFetchFailed is every other failure.
	exitFetchFailed = 2
)

// walFetchOptions are wal-fetch's flag values.
type walFetchOptions struct {
	agentFlags
	timeout time.Duration
}

func newWalFetchCmd() *cobra.Command {
	opts := walFetchOptions{}
	cmd := &cobra.Command{
		Use:   "wal-fetch <wal file name> <destination path>",
		Short: "Restore one WAL file (use as restore_command: lifeboat wal-fetch --config <file> %f %p)",
		Long: `Restore one WAL file from the repository, verified against the checksum
recorded when it was archived. Exit code 1 means the archive holds no such
file (PostgreSQL's end-of-archive signal); 2 means any other failure.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runWalFetch(cmd.Context(), opts, args)
		},
	}
	opts.register(cmd.Flags())
	cmd.Flags().DurationVar(&opts.timeout, "timeout", 5*time.Minute, "give up after this long")
	return cmd
}

func runWalFetch(ctx context.Context, opts walFetchOptions, args []string) error {
	ctx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()
	cfg, store, err := openRepo(ctx, opts.agentFlags)
	if err != nil {
		return &exitError{code: exitFetchFailed, err: err}
	}
	_, err = wal.Fetch(ctx, store, wal.Config{Layout: cfg.Layout(), Compression: cfg.Compression}, args[0], args[1])
	switch {
	case err == nil:
		return nil
	case errors.Is(err, wal.ErrSegmentNotFound):
		return &exitError{code: exitSegmentNotFound, err: err}
	default:
		return &exitError{code: exitFetchFailed, err: err}
	}
}
