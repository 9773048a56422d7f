package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/redisx"
)

// EnvRedisAddr and EnvRedisUser default --redis and --redis-user; the
// password only ever comes from REDISCLI_AUTH (as for redis-cli), never a
// flag that ps would show.
const (
	EnvRedisAddr     = "LIFEBOAT_REDIS_ADDR"
	EnvRedisUser     = "LIFEBOAT_REDIS_USER"
	EnvRedisPassword = "REDISCLI_AUTH"
)

// redisFlags say which Redis instance a command works on.
type redisFlags struct {
	addr, user, instance string
	tls                  bool
}

func (f *redisFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.addr, "redis", os.Getenv(EnvRedisAddr), "Redis address host:port (default $"+EnvRedisAddr+"); the password comes from $"+EnvRedisPassword)
	fs.StringVar(&f.user, "redis-user", os.Getenv(EnvRedisUser), "Redis ACL user (default $"+EnvRedisUser+")")
	fs.BoolVar(&f.tls, "redis-tls", false, "connect to Redis with TLS")
	fs.StringVar(&f.instance, "instance", "", "the instance's name in the repository (snapshots go under redis/<instance>/)")
}

type redisSnapshotOptions struct {
	agentFlags
	redisFlags
	timeout time.Duration
}

func newRedisSnapshotCmd() *cobra.Command {
	opts := redisSnapshotOptions{}
	cmd := &cobra.Command{
		Use:   "redis-snapshot",
		Short: "Take an RDB snapshot of a Redis instance into the repository (run on the Redis host)",
		Long: `BGSAVE, wait until that save completed, then stream the RDB file from the
server's dir into the repository, compressed, with sha256 recorded, and the
manifest written last: a snapshot without its manifest does not exist.
Prints the manifest as JSON.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRedisSnapshot(cmd.Context(), opts, cmd.OutOrStdout())
		},
	}
	opts.agentFlags.register(cmd.Flags())
	opts.redisFlags.register(cmd.Flags())
	cmd.Flags().DurationVar(&opts.timeout, "timeout", 30*time.Minute, "give up after this long")
	return cmd
}

func runRedisSnapshot(ctx context.Context, opts redisSnapshotOptions, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()
	cfg, store, err := openRepo(ctx, opts.agentFlags)
	if err != nil {
		return err
	}
	c, err := redisx.Connect(ctx, redisx.Options{Addr: opts.addr, Username: opts.user, Password: os.Getenv(EnvRedisPassword), TLS: opts.tls})
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	recipients, err := cfg.Recipients()
	if err != nil {
		return err
	}
	m, err := redisx.Snapshot(ctx, c, store, redisx.SnapshotOptions{Layout: cfg.Layout(), Instance: opts.instance, Compression: cfg.Compression,
		Recipients: recipients})
	if err != nil {
		return fmt.Errorf("snapshot of %s: %w", opts.addr, err)
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(m)
}

type redisRestoreOptions struct {
	agentFlags
	redisFlags
	id      string
	timeout time.Duration
}

func newRedisRestoreCmd() *cobra.Command {
	opts := redisRestoreOptions{}
	cmd := &cobra.Command{
		Use:   "redis-restore <data dir>",
		Short: "Write a Redis snapshot from the repository as <data dir>/dump.rdb for a new instance",
		Long: `Download a snapshot (--id, default the newest) of --instance, check its size and
sha256 against the manifest, and only then name it dump.rdb in <data dir>.
Start a new redis-server with that directory as its dir and appendonly no
(with the AOF on and no AOF file yet, Redis may start empty), then turn the
AOF on with CONFIG SET once it has loaded.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRedisRestore(cmd.Context(), opts, args[0], cmd.OutOrStdout())
		},
	}
	opts.agentFlags.register(cmd.Flags())
	cmd.Flags().StringVar(&opts.instance, "instance", "", "the instance's name in the repository")
	cmd.Flags().StringVar(&opts.id, "id", "", "snapshot to restore (default: the newest)")
	cmd.Flags().DurationVar(&opts.timeout, "timeout", 30*time.Minute, "give up after this long")
	return cmd
}

func runRedisRestore(ctx context.Context, opts redisRestoreOptions, dir string, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()
	cfg, store, err := openRepo(ctx, opts.agentFlags)
	if err != nil {
		return err
	}
	ids, err := cfg.Identities()
	if err != nil {
		return err
	}
	m, err := redisx.RestoreSnapshot(ctx, store, cfg.Layout(), opts.instance, opts.id, dir, ids)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "restored snapshot %s of %s (taken %s, %d bytes) as %s/dump.rdb\n",
		m.ID, m.Instance, m.TakenAt.Format(time.RFC3339), m.RDBSize, dir)
	return err
}
