package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
)

// restoreOptions are restore's flag values.
type restoreOptions struct {
	agentFlags
	to          string
	lsn         string
	xid         string
	name        string
	exclusive   bool
	backupID    string
	timeline    string
	dataDir     string
	port        int
	binDir      string
	osUser      string
	agentPath   string
	parallel    int
	keepRunning bool
	noStart     bool
	planOnly    bool
	auditConfig string

	tenant      string
	targetDSN   string
	newDatabase string
	scratchDir  string

	attBucket       string
	attPrefix       string
	attTargetPrefix string
	attQuery        string

	out, log io.Writer
}

func newRestoreCmd() *cobra.Command {
	opts := restoreOptions{}
	cmd := &cobra.Command{
		Use:   "restore",
		Short: "Restore the cluster to a point in time into a new data directory, or one tenant into a new database",
		Long: `Restore the cluster into a new data directory (--data-dir, --port) at a point
in time (--to RFC3339, or latest): the newest base backup that reaches it is
downloaded and extracted, and PostgreSQL replays archived WAL through
"lifeboat wal-fetch" and promotes. The copy never archives. A failed restore
leaves LIFEBOAT_RESTORE_FAILED in the directory and no server running.

With --tenant, restore that one database into --new-database on --target-dsn:
from its dump when --to is a dump's time (or --backup names a dump), else by a
point-in-time restore of the cluster into a scratch directory. With
--attachments-bucket, the objects its ir_attachment rows reference are copied
as they were at that time. --plan prints the recovery point and stops.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.out, opts.log = cmd.OutOrStdout(), cmd.ErrOrStderr()
			return runRestore(cmd.Context(), opts, args)
		},
	}
	fs := cmd.Flags()
	opts.register(fs)
	fs.StringVar(&opts.to, "to", "latest", "point in time: RFC3339 (2026-11-25T21:30:00Z), latest, or immediate (the end of the base backup)")
	fs.StringVar(&opts.lsn, "lsn", "", "recovery target: a WAL location (recovery_target_lsn, 0/5000060)")
	fs.StringVar(&opts.xid, "xid", "", "recovery target: a transaction id (recovery_target_xid), e.g. from lifeboat incident find")
	fs.StringVar(&opts.name, "restore-point", "", "recovery target: a named restore point (recovery_target_name)")
	fs.BoolVar(&opts.exclusive, "exclusive", false, "stop just before the --xid or --lsn target (recovery_target_inclusive = off)")
	fs.StringVar(&opts.backupID, "backup", "", "restore from this base backup (with --tenant: this dump id)")
	fs.StringVar(&opts.timeline, "timeline", "latest", "recovery_target_timeline: latest (the archive's newest), current (the backup's own) or a timeline number")
	fs.StringVar(&opts.dataDir, "data-dir", "", "new data directory (must not exist, or be empty)")
	fs.IntVar(&opts.port, "port", 0, "port of the restored server")
	fs.StringVar(&opts.binDir, "bin-dir", os.Getenv("LIFEBOAT_PG_BINDIR"), "PostgreSQL bin directory (default $LIFEBOAT_PG_BINDIR, else /usr/lib/postgresql/15/bin)")
	fs.StringVar(&opts.osUser, "os-user", "postgres", "account PostgreSQL runs as when lifeboat runs as root")
	fs.StringVar(&opts.agentPath, "agent-path", "", "lifeboat binary for restore_command (default: this binary)")
	fs.IntVar(&opts.parallel, "parallel", 4, "part downloads in flight")
	fs.BoolVar(&opts.keepRunning, "keep-running", false, "leave the restored server running")
	fs.BoolVar(&opts.noStart, "no-start", false, "lay out the files and recovery settings only; do not start PostgreSQL")
	fs.BoolVar(&opts.planOnly, "plan", false, "print the recovery point and exit")
	fs.StringVar(&opts.auditConfig, "audit-config", os.Getenv("LIFEBOAT_AUDIT_CONFIG"),
		"agent configuration whose credentials write the restore's audit record (default $LIFEBOAT_AUDIT_CONFIG, else --config's): "+
			"lets a restore read with restorer credentials only")
	fs.StringVar(&opts.tenant, "tenant", "", "restore this tenant database only")
	fs.StringVar(&opts.targetDSN, "target-dsn", os.Getenv(EnvPGDSN), "server to create the tenant's new database on (default $"+EnvPGDSN+")")
	fs.StringVar(&opts.newDatabase, "new-database", "", "name of the tenant's new database (must not exist)")
	fs.StringVar(&opts.scratchDir, "scratch-dir", "", "where a tenant PITR lays out its scratch cluster (default a temporary directory)")
	fs.StringVar(&opts.attBucket, "attachments-bucket", "", "versioned bucket of the tenant's attachments (same endpoint and credentials as the repository)")
	fs.StringVar(&opts.attPrefix, "attachments-prefix", "", "prefix of the tenant's attachment objects (objects are prefix + store_fname)")
	fs.StringVar(&opts.attTargetPrefix, "attachments-target-prefix", "", "prefix the restored attachment copies are written under")
	fs.StringVar(&opts.attQuery, "attachments-query", "", "SQL listing referenced names (default: DISTINCT store_fname FROM ir_attachment)")
	cmd.AddCommand(newRestoreAuditCmd())
	return cmd
}

func runRestore(ctx context.Context, opts restoreOptions, _ []string) error {
	if opts.out == nil {
		opts.out, opts.log = os.Stdout, os.Stderr
	}
	var target time.Time
	point := restore.Point{LSN: opts.lsn, XID: opts.xid, Name: opts.name, Immediate: strings.EqualFold(opts.to, "immediate"), Exclusive: opts.exclusive}
	if !point.IsZero() && !point.Immediate && opts.to != "" && !strings.EqualFold(opts.to, "latest") {
		return fmt.Errorf("--to %s and --%s are both set: a restore has one recovery target", opts.to, map[bool]string{true: "lsn", false: "xid or --restore-point"}[opts.lsn != ""])
	}
	if err := point.Validate(); err != nil {
		return err
	}
	if opts.exclusive && opts.lsn == "" && opts.xid == "" {
		return errors.New("--exclusive applies to an --xid or --lsn target")
	}
	if opts.to != "" && !strings.EqualFold(opts.to, "latest") && !point.Immediate {
		t, err := time.Parse(time.RFC3339Nano, opts.to)
		if err != nil {
			return fmt.Errorf("--to %q: want RFC3339 (2026-11-25T21:30:00Z), latest or immediate", opts.to)
		}
		target = t
	}
	cfg, store, err := openRepo(ctx, opts.agentFlags)
	if err != nil {
		return err
	}
	agent := opts.agentPath
	if agent == "" {
		if agent, err = os.Executable(); err != nil {
			return err
		}
	}
	req := restore.Request{
		Kind: restore.KindCluster, Layout: cfg.Layout(), Target: target, Point: point, BackupID: opts.backupID, TargetTimeline: opts.timeline,
		DataDir: opts.dataDir, Port: opts.port, Parallel: opts.parallel, KeepRunning: opts.keepRunning, NoStart: opts.noStart,
		BinDir: opts.binDir, OSUser: opts.osUser, AgentPath: agent, AgentConfig: cfg,
		Progress: restore.LogProgress(opts.log, 5*time.Second),
	}
	if req.Audit, err = cliAudit(ctx, cfg, opts.auditConfig); err != nil {
		return err
	}
	if opts.tenant != "" {
		req.Kind, req.Database, req.TargetDSN, req.NewDatabase, req.ScratchDir = restore.KindTenant, opts.tenant, opts.targetDSN, opts.newDatabase, opts.scratchDir
		if opts.attBucket != "" {
			client, err := objectstore.NewClient(ctx, cfg.ObjectStore())
			if err != nil {
				return fmt.Errorf("object store: %w", err)
			}
			req.Attachments = &restore.AttachmentOptions{Store: client.Store(opts.attBucket), SourcePrefix: opts.attPrefix,
				TargetPrefix: opts.attTargetPrefix, Query: opts.attQuery}
		}
	}
	plan, err := restore.PlanRestore(ctx, store, req)
	if err != nil {
		return err
	}
	printPlan(opts.out, req, plan)
	if opts.planOnly {
		return nil
	}
	if req.Kind == restore.KindTenant && opts.newDatabase == "" {
		return errors.New("--new-database is required with --tenant")
	}
	res, err := restore.Execute(ctx, store, req, plan)
	if err != nil {
		return err
	}
	if res.AuditError != nil {
		fmt.Fprintf(opts.log, "warning: the restore succeeded but its finished audit record was not written: %v\n", res.AuditError)
	}
	if req.Kind == restore.KindTenant {
		fmt.Fprintf(opts.out, "restored tenant %s into %s from %s to %s in %.1fs\n", opts.tenant, opts.newDatabase, res.Source,
			res.RestoredToTime.UTC().Format(time.RFC3339Nano), res.Duration.Seconds())
		if a := res.Attachments; a != nil {
			fmt.Fprintf(opts.out, "attachments: %d referenced, %d copied to %s, %d missing\n", a.Referenced, a.Copied, opts.attTargetPrefix, len(a.Missing))
			for _, m := range a.Missing {
				fmt.Fprintf(opts.out, "  missing: %s\n", m)
			}
		}
		return nil
	}
	mb := float64(res.Extracted) / 1e6
	if len(res.Phases) > 0 {
		// Where the time went, for benchmarks and slow restores.
		defer fmt.Fprintf(opts.out, "phases: %s\n", restore.FormatPhases(res.Phases))
	}
	if opts.noStart {
		fmt.Fprintf(opts.out, "laid out backup %s in %s: %.1f MB in %.2fs (%.1f MB/s); start PostgreSQL to replay WAL, with the repository's "+
			"credentials in its environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) or an instance role: the copy's configuration file holds no keys\n",
			res.Source.ID, res.DataDir, mb, res.Duration.Seconds(), mb/max(res.Duration.Seconds(), 0.001))
		return nil
	}
	state := "stopped"
	if res.Running {
		state = fmt.Sprintf("running on port %d (socket in %s)", res.Port, restore.SocketDir(res.DataDir))
	}
	fmt.Fprintf(opts.out, "restored to %s (LSN %s) in %s: %.1f MB in %.1fs; server %s\n",
		res.RestoredToTime.UTC().Format(time.RFC3339Nano), res.RestoredToLSN, res.DataDir, mb, res.Duration.Seconds(), state)
	return nil
}

// cliAudit is how a CLI restore is audited: signed with the agent's key,
// written with the credentials of auditConfig (another agent configuration
// of the same repository) or, without it, of cfg.
func cliAudit(ctx context.Context, cfg repo.AgentConfig, auditConfig string) (restore.AuditOptions, error) {
	signer, err := cfg.Signer()
	if err != nil {
		return restore.AuditOptions{}, err
	}
	trust, err := cfg.Trust()
	if err != nil {
		return restore.AuditOptions{}, err
	}
	a := restore.AuditOptions{Signer: signer, FrontEnd: restore.FrontEndCLI, Trust: trust}
	if auditConfig == "" {
		return a, nil
	}
	acfg, astore, err := openRepo(ctx, agentFlags{configPath: auditConfig})
	if err != nil {
		return a, fmt.Errorf("--audit-config: %w", err)
	}
	if acfg.Layout().Root() != cfg.Layout().Root() || acfg.Bucket != cfg.Bucket {
		return a, fmt.Errorf("--audit-config points at %s/%s, the restore reads %s/%s: audit records go to the restored repository",
			acfg.Bucket, acfg.Layout().Root(), cfg.Bucket, cfg.Layout().Root())
	}
	a.Store = astore
	return a, nil
}

// printPlan shows the recovery point before anything is downloaded.
func printPlan(w io.Writer, req restore.Request, plan *restore.RecoveryPlan) {
	if req.Kind == restore.KindTenant {
		fmt.Fprintf(w, "plan: tenant %s from %s\n", req.Database, plan.Source)
		return
	}
	p := plan.Cluster
	to := "latest"
	switch {
	case !p.Target.IsZero():
		to = p.Target.UTC().Format(time.RFC3339Nano)
	case !p.Point.IsZero():
		to = p.Point.String() + " at " + p.TargetLSN
		if p.TargetFound != "" {
			to += " (" + p.TargetFound
			if !p.TargetTime.IsZero() {
				to += " at " + p.TargetTime.UTC().Format(time.RFC3339Nano)
			}
			to += ")"
		}
	}
	fmt.Fprintf(w, "plan: to %s from backup %s (consistent from %s) along timeline %d (%s), WAL %s..%s, archive reaches %s\n",
		to, p.BackupID, p.BackupStop.UTC().Format(time.RFC3339), p.Timeline, p.TimelinePath, p.WALStart, p.WALStop, p.Latest.UTC().Format(time.RFC3339))
}
