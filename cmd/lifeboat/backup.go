package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

type backupFlags struct {
	agent             agentFlags
	pg                pgFlags
	label             string
	compression       string
	clientCompression bool
	level             int
	workers           int
	partSize          int64
	maxRate           int
	tenants           []string
}

func newBackupCmd() *cobra.Command {
	var f backupFlags
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Take a physical base backup (or, with --tenant, tenant dumps) into the repository",
		Long: `Take a physical base backup over the replication protocol into the repository:
one compressed tar per tablespace, stored in parts, PostgreSQL's backup_manifest,
and Lifeboat's manifest written last. The role needs the REPLICATION attribute.

With --tenant, dump the listed databases with pg_dump -Fc instead (see "backup tenants").`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, store, err := openRepo(cmd.Context(), f.agent)
			if err != nil {
				return err
			}
			if len(f.tenants) > 0 {
				return runBackupTenants(cmd.Context(), cfg, store, f, f.tenants, cmd.OutOrStdout(), cmd.ErrOrStderr())
			}
			return runBackup(cmd.Context(), cfg, store, f, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	f.agent.register(cmd.PersistentFlags())
	f.pg.register(cmd.PersistentFlags())
	fs.StringVar(&f.label, "label", "", "backup label (default \"lifeboat <id>\")")
	fs.StringVar(&f.compression, "compression", "", "zstd (default), lz4 or none; default from the agent configuration")
	fs.BoolVar(&f.clientCompression, "client-compression", false, "compress in the agent instead of server-side")
	fs.IntVar(&f.level, "level", 1, "zstd level")
	fs.IntVar(&f.workers, "workers", 2, "zstd threads (server- or client-side)")
	fs.Int64Var(&f.partSize, "part-size", backup.DefaultPartSize, "stored bytes per part object")
	fs.IntVar(&f.maxRate, "max-rate", 0, "limit the server's read rate, kB/s (32-1048576; 0: unlimited)")
	fs.StringSliceVar(&f.tenants, "tenant", nil, "dump these databases (comma-separated) instead of a base backup")
	cmd.AddCommand(newBackupTenantsCmd(&f))
	return cmd
}

func newBackupTenantsCmd(f *backupFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "tenants DATABASE...",
		Short: "Dump tenant databases with pg_dump -Fc into the repository, one dump per database",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, store, err := openRepo(cmd.Context(), f.agent)
			if err != nil {
				return err
			}
			return runBackupTenants(cmd.Context(), cfg, store, *f, args, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
}

func runBackup(ctx context.Context, cfg repo.AgentConfig, store objectstore.Store, f backupFlags, out, logw io.Writer) error {
	comp := f.compression
	if comp == "" {
		comp = cfg.Compression
	}
	m, err := backup.Take(ctx, store, backup.Options{
		Layout: cfg.Layout(), DSN: f.pg.dsn, Label: f.label, Compression: comp,
		ClientCompression: f.clientCompression, Level: f.level, Workers: f.workers,
		PartSize: f.partSize, MaxRate: f.maxRate,
		Progress: backup.LogProgress(logw, 5*time.Second),
	})
	if err != nil {
		return err
	}
	secs := m.StopTime.Sub(m.StartTime).Seconds()
	fmt.Fprintf(out, "backup %s: %d archives, %.1f MB read, %.1f MB stored, LSN %s..%s, WAL %s..%s, %.1fs (%.1f MB/s)\n",
		m.ID, len(m.Archives), float64(m.DataSize)/1e6, float64(m.StoredSize)/1e6, m.StartLSN, m.StopLSN,
		m.WALStart, m.WALStop, secs, float64(m.DataSize)/1e6/max(secs, 0.001))
	return nil
}

func runBackupTenants(ctx context.Context, cfg repo.AgentConfig, store objectstore.Store, f backupFlags, dbs []string, out, logw io.Writer) error {
	pgDump := "pg_dump"
	if f.pg.binDir != "" {
		pgDump = filepath.Join(f.pg.binDir, "pg_dump")
	}
	ms, err := backup.DumpTenants(ctx, store, backup.TenantOptions{
		Layout: cfg.Layout(), DSN: f.pg.dsn, PGDump: pgDump,
		Progress: backup.LogProgress(logw, 5*time.Second),
	}, dbs)
	for _, m := range ms {
		fmt.Fprintf(out, "tenant dump %s/%s: %.1f MB, LSN %s\n", m.Database, m.ID, float64(m.Dump.Size)/1e6, m.LSN)
	}
	if err != nil {
		done := make([]string, 0, len(ms))
		for _, m := range ms {
			done = append(done, m.Database)
		}
		return fmt.Errorf("%w (completed: %s)", err, strings.Join(done, ", "))
	}
	return nil
}
