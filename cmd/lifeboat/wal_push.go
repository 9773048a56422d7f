package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/wal"
)

// walPushOptions are wal-push's flag values.
type walPushOptions struct {
	agentFlags
	pgdata  string
	timeout time.Duration
	verbose bool
	stderr  io.Writer
}

func newWalPushCmd() *cobra.Command {
	opts := walPushOptions{}
	cmd := &cobra.Command{
		Use:   "wal-push <path>",
		Short: "Archive one WAL file (use as archive_command: lifeboat wal-push --config <file> %p)",
		Long: `Archive one WAL file into the repository. It exits 0 only once the object
store has acknowledged the file, or the identical file is already archived.
A different file already archived under the same name, or a repository that
belongs to another cluster, is refused and exits non-zero.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.stderr = cmd.ErrOrStderr()
			return runWalPush(cmd.Context(), opts, args)
		},
	}
	opts.register(cmd.Flags())
	cmd.Flags().StringVar(&opts.pgdata, "pgdata", os.Getenv("PGDATA"),
		"data directory, for the system identifier (default $PGDATA, then the config's pgdata, then the working directory)")
	cmd.Flags().DurationVar(&opts.timeout, "timeout", 5*time.Minute, "give up after this long, so PostgreSQL retries")
	cmd.Flags().BoolVarP(&opts.verbose, "verbose", "v", false, "print one line per archived file")
	return cmd
}

func runWalPush(ctx context.Context, opts walPushOptions, args []string) error {
	ctx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()
	cfg, store, err := openRepo(ctx, opts.agentFlags)
	if err != nil {
		return err
	}
	pgdata := opts.pgdata
	if pgdata == "" {
		pgdata = cfg.PGData
	}
	if pgdata == "" {
		pgdata = "." // archive_command runs in the data directory
	}
	sysid, err := wal.SystemIdentifier(pgdata)
	if err != nil {
		return err
	}
	res, err := wal.Push(ctx, store, wal.Config{Layout: cfg.Layout(), Compression: cfg.Compression, SystemIdentifier: sysid}, args[0])
	if err != nil {
		return err
	}
	if opts.verbose && opts.stderr != nil {
		if res.AlreadyArchived {
			fmt.Fprintf(opts.stderr, "lifeboat: %s already archived with the same content as s3://%s/%s\n", args[0], store.Bucket(), res.Key)
		} else {
			fmt.Fprintf(opts.stderr, "lifeboat: archived %s to s3://%s/%s (%d -> %d bytes)\n", args[0], store.Bucket(), res.Key, res.Size, res.StoredSize)
		}
	}
	return nil
}
