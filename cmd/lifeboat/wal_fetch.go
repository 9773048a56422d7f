package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/wal"
)

// Exit codes of wal-fetch, as PostgreSQL's restore_command reads them.
const (
	// exitSegmentNotFound tells PostgreSQL the archive has no such file:
	// the normal end of archive recovery.
	exitSegmentNotFound = 1
	// exitFetchFailed is every other failure, after retries.
	//
	// NOTE: PostgreSQL reads exit codes 1-125 from restore_command as "no
	// such file" and would end recovery there, promoting a copy that
	// silently lacks the rest of the WAL. Above 125 it aborts recovery
	// instead, which is the only safe reading of "the store is down" or
	// "the archived file is corrupt".
	exitFetchFailed = 126
)

// walFetchOptions are wal-fetch's flag values.
type walFetchOptions struct {
	agentFlags
	timeout time.Duration
	retries int
	spool   string
}

func newWalFetchCmd() *cobra.Command {
	opts := walFetchOptions{}
	cmd := &cobra.Command{
		Use:   "wal-fetch <wal file name> <destination path>",
		Short: "Restore one WAL file (use as restore_command: lifeboat wal-fetch --config <file> %f %p)",
		Long: `Restore one WAL file from the repository, verified against the checksum
recorded when it was archived. Exit code 1 means the archive holds no such
file (PostgreSQL's end-of-archive signal). Any other failure is retried
(--retries) and then exits 126, which makes PostgreSQL abort recovery
rather than finish it early with data missing.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runWalFetch(cmd.Context(), opts, args)
		},
	}
	opts.register(cmd.Flags())
	cmd.Flags().DurationVar(&opts.timeout, "timeout", 5*time.Minute, "give up after this long")
	cmd.Flags().IntVar(&opts.retries, "retries", 3, "retries of a failed fetch (not of a missing file), with backoff")
	cmd.Flags().StringVar(&opts.spool, "spool", "", "take the file from this directory when a restore prefetched it there (verified), else from the repository")
	return cmd
}

func runWalFetch(ctx context.Context, opts walFetchOptions, args []string) error {
	if opts.spool != "" {
		// Before anything else: a spooled file needs no configuration,
		// no connection and no decoding, only a check and a link.
		if ok, err := wal.TakeSpooled(opts.spool, args[0], args[1]); ok {
			return nil
		} else if err != nil {
			fmt.Fprintf(os.Stderr, "lifeboat: taking %s from the spool %s: %v; fetching it from the repository\n", args[0], opts.spool, err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()
	cfg, err := repo.Load(opts.configPath)
	if err != nil {
		return &exitError{code: exitFetchFailed, err: err}
	}
	store, err := openSegmentStore(ctx, cfg)
	if err != nil {
		return &exitError{code: exitFetchFailed, err: err}
	}
	ids, err := cfg.Identities()
	if err != nil {
		return &exitError{code: exitFetchFailed, err: err}
	}
	walCfg := wal.Config{Layout: cfg.Layout(), Compression: cfg.Compression, Identities: ids}
	_, err = wal.Fetch(ctx, store, walCfg, args[0], args[1])
	// NOTE: a missing identity does not come back on a retry.
	for attempt, wait := 0, time.Second; err != nil && !errors.Is(err, wal.ErrSegmentNotFound) && !errors.Is(err, crypt.ErrNoIdentity) && attempt < opts.retries; attempt, wait = attempt+1, wait*2 {
		select {
		case <-ctx.Done():
		case <-time.After(wait):
			_, err = wal.Fetch(ctx, store, walCfg, args[0], args[1])
		}
	}
	switch {
	case err == nil:
		if opts.spool != "" {
			// In the server's log: the spool missed (a segment the
			// restore did not prefetch, or one it refused).
			fmt.Fprintf(os.Stderr, "lifeboat: %s was not in the spool, fetched from the repository\n", args[0])
		}
		return nil
	case errors.Is(err, wal.ErrSegmentNotFound):
		return &exitError{code: exitSegmentNotFound, err: err}
	default:
		return &exitError{code: exitFetchFailed, err: err}
	}
}
