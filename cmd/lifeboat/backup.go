package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"
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
	parallel          int
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
	cmd.PersistentFlags().IntVar(&f.parallel, "parallel", 0,
		fmt.Sprintf("tenant dumps run at once (1-%d; default the policy's tenant_dump_parallelism, else %d)", backup.MaxTenantParallelism, backup.DefaultTenantParallelism))
	cmd.AddCommand(newBackupTenantsCmd(&f))
	return cmd
}

func newBackupTenantsCmd(f *backupFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "tenants [DATABASE...]",
		Short: "Dump tenant databases with pg_dump -Fc into the repository, one dump per database",
		Long: `Dump tenant databases with pg_dump -Fc into the repository, one dump per database,
several at once (--parallel). Without names, dump the policy's tenant_databases.
Every database is attempted even when others fail; the exit code is 1 when any
dump failed, and the failed databases are named.`,
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
	recipients, err := backupRecipients(ctx, cfg, store)
	if err != nil {
		return err
	}
	m, err := backup.Take(ctx, store, backup.Options{
		Layout: cfg.Layout(), DSN: f.pg.dsn, Label: f.label, Compression: comp,
		ClientCompression: f.clientCompression, Level: f.level, Workers: f.workers,
		PartSize: f.partSize, MaxRate: f.maxRate, Recipients: recipients,
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

// runBackupTenants dumps dbs, or the policy's tenant_databases when dbs is
// empty, with the policy's parallelism unless --parallel says otherwise.
func runBackupTenants(ctx context.Context, cfg repo.AgentConfig, store objectstore.Store, f backupFlags, dbs []string, out, logw io.Writer) error {
	if f.parallel < 0 || f.parallel > backup.MaxTenantParallelism {
		return fmt.Errorf("--parallel %d: want 1-%d", f.parallel, backup.MaxTenantParallelism)
	}
	parallel := f.parallel
	if len(dbs) == 0 || parallel == 0 {
		trust, err := cfg.Trust()
		if err != nil {
			return err
		}
		p, err := repo.ReadPolicy(ctx, store, cfg.Layout(), trust)
		switch {
		case errors.Is(err, objectstore.ErrNotFound) && len(dbs) == 0:
			return fmt.Errorf("no databases named and cluster %q has no backup policy (%s) to take tenant_databases from", cfg.Cluster, cfg.Layout().PolicyKey())
		case errors.Is(err, objectstore.ErrNotFound):
		case err != nil:
			return err
		default:
			if len(dbs) == 0 {
				dbs = p.TenantDatabases
				if len(dbs) == 0 {
					return fmt.Errorf("no databases named and the backup policy of %q declares no tenant_databases", cfg.Cluster)
				}
			}
			if parallel == 0 {
				parallel = p.TenantDumpParallelism
			}
		}
	}
	pgDump := "pg_dump"
	if f.pg.binDir != "" {
		pgDump = filepath.Join(f.pg.binDir, "pg_dump")
	}
	recipients, err := backupRecipients(ctx, cfg, store)
	if err != nil {
		return err
	}
	results, err := backup.DumpTenants(ctx, store, backup.TenantOptions{
		Layout: cfg.Layout(), DSN: f.pg.dsn, PGDump: pgDump, Parallelism: parallel, Recipients: recipients,
		Progress: backup.LogProgress(logw, 5*time.Second),
	}, dbs)
	for _, r := range results {
		if r.Err != nil {
			fmt.Fprintf(out, "tenant dump %s: FAILED: %v\n", r.Database, r.Err)
			continue
		}
		m := r.Manifest
		fmt.Fprintf(out, "tenant dump %s/%s: %.1f MB, LSN %s\n", m.Database, m.ID, float64(m.Dump.Size)/1e6, m.LSN)
	}
	var tde *backup.TenantDumpError
	if errors.As(err, &tde) {
		return &exitError{code: 1, err: fmt.Errorf("%d of %d tenant dumps failed: %s", len(tde.Failed), len(dbs), strings.Join(tde.Databases(), ", "))}
	}
	return err
}

// backupRecipients are what a backup or dump taken now is encrypted to:
// the signed policy's recipients when it declares some, else the agent
// configuration's (repo.BackupRecipients). A policy refused for its
// signature stops the backup, as it stops the daemon's.
func backupRecipients(ctx context.Context, cfg repo.AgentConfig, store objectstore.Store) (*crypt.Recipients, error) {
	trust, err := cfg.Trust()
	if err != nil {
		return nil, err
	}
	p, err := repo.ReadPolicy(ctx, store, cfg.Layout(), trust)
	if errors.Is(err, objectstore.ErrNotFound) {
		p, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	return repo.BackupRecipients(cfg, p)
}
