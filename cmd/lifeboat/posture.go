package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/pg"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/posture"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

// exitPostureFailed is posture report's exit code when a control fails, so
// a pipeline stops; the report is written first either way.
const exitPostureFailed = 1

// postureOptions are posture report's flags.
type postureOptions struct {
	clusters    []string
	pgDSN       string
	format      string
	output      string
	trustedKeys []string
	params      posture.Params
	// store writes the report into the repository too, under object lock
	// for retainDays.
	store      bool
	retainDays int
	// auditor are the credentials the bucket's own posture (versioning,
	// object lock, lifecycle, encryption, tags) is read with, when set: the
	// auditor role may read the bucket's configuration, which the agent's
	// writer keys may not all read.
	auditor objectstore.Config
	// buckets reads the bucket's posture (nil: the configuration's client).
	buckets posture.BucketReader
}

// Environment variables of the auditor's keys for posture report.
const (
	EnvAuditorAccessKey = "LIFEBOAT_AUDITOR_ACCESS_KEY"
	EnvAuditorSecretKey = "LIFEBOAT_AUDITOR_SECRET_KEY"
)

func newPostureCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "posture",
		Short: "Judge the repository's recovery posture",
	}
	cmd.AddCommand(newPostureReportCmd(), newPosturePlanCmd(), newPostureReportsCmd())
	return cmd
}

func newPostureReportCmd() *cobra.Command {
	var f agentFlags
	opts := postureOptions{params: posture.DefaultParams}
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Write the posture report: every control with its status, evidence and standards",
		Long: `Judge the repository with every posture control (object lock, versioning and
encryption of the bucket; per cluster WAL archiving, base backup and tenant dump age
against the policy's schedule, restorable window, last verification, last drill and
its RTO, configuration present and signed) and write the report as Markdown, JSON,
CSV or one self-contained HTML file. Each control lists the clauses of ISO/IEC
27001:2022, SOC 2, DORA, NIST SP 800-53 and NIS2 it evidences.

Exit 1 when a control fails (after writing the report), 2 when the report
could not be made.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := repo.Load(f.configPath)
			if err != nil {
				return err
			}
			client, err := objectstore.NewClient(cmd.Context(), cfg.ObjectStore())
			if err != nil {
				return fmt.Errorf("object store: %w", err)
			}
			auditor, err := auditorClient(cmd.Context(), cfg, opts.auditor)
			if err != nil {
				return err
			}
			if auditor != nil {
				opts.buckets = auditor
			}
			return runPostureReport(cmd.Context(), cfg, client, opts, cmd.OutOrStdout())
		},
	}
	f.register(cmd.Flags())
	fs := cmd.Flags()
	fs.StringSliceVar(&opts.clusters, "cluster", nil, "clusters to judge (default the configuration's cluster); repeat or separate by commas")
	fs.StringVar(&opts.pgDSN, "pg-dsn", os.Getenv(EnvPGDSN), "PostgreSQL connection of the configuration's cluster, for the WAL archiving controls (default $"+EnvPGDSN+"; empty: those controls are unknown)")
	fs.StringVar(&opts.format, "format", "markdown", "markdown, json, csv or html")
	fs.StringVarP(&opts.output, "output", "o", "", "file to write (default standard output)")
	fs.StringSliceVar(&opts.trustedKeys, "trusted-key", nil, "public key whose signature configuration and evidence must carry (default the configuration's trusted_keys)")
	fs.IntVar(&opts.params.MinLockDays, "min-lock-days", opts.params.MinLockDays, "shortest default object-lock retention accepted")
	fs.DurationVar(&opts.params.RPO, "rpo", opts.params.RPO, "longest a WAL segment may wait to be archived")
	fs.IntVar(&opts.params.WindowDays, "window-days", opts.params.WindowDays, "how far back the restorable window must reach")
	fs.IntVar(&opts.params.VerifyWithinDays, "verify-within-days", opts.params.VerifyWithinDays, "how recent the last passed verification must be")
	fs.IntVar(&opts.params.DrillWithinDays, "drill-within-days", opts.params.DrillWithinDays, "how recent the last passed drill must be")
	fs.DurationVar(&opts.params.RTOTarget, "rto-target", 0, "RTO a drill must meet (default the drill's own target)")
	fs.BoolVar(&opts.store, "store", false, "also write the report into the repository (audit/posture/<time>.<ext>) with its sha256, signed with the configuration's signing_key_file, under COMPLIANCE object lock")
	fs.IntVar(&opts.retainDays, "retain-days", 400, "how long a stored report stays locked")
	fs.StringVar(&opts.auditor.Profile, "auditor-profile", "", "AWS profile of the auditor role (lifeboat_access_policy's auditor document), whose keys read the bucket's versioning, object lock, lifecycle and encryption for the bucket controls; keys from $"+EnvAuditorAccessKey+" and $"+EnvAuditorSecretKey+" win (default: the configuration's keys, which a writer's cannot fully read: those controls are then unknown)")
	opts.auditor.AccessKey, opts.auditor.SecretKey = os.Getenv(EnvAuditorAccessKey), os.Getenv(EnvAuditorSecretKey)
	return cmd
}

func runPostureReport(ctx context.Context, cfg repo.AgentConfig, client *objectstore.Client, opts postureOptions, stdout io.Writer) error {
	keys := opts.trustedKeys
	if len(keys) == 0 {
		keys = cfg.TrustedKeys
	}
	trust, err := signature.NewTrust(keys...)
	if err != nil {
		return fmt.Errorf("trusted keys: %w", err)
	}
	opts.params.Trust = trust
	clusters := opts.clusters
	if len(clusters) == 0 {
		clusters = []string{cfg.Cluster}
	}
	target := posture.Target{Buckets: client, Store: client.Store(cfg.Bucket), Prefix: cfg.Prefix, Clusters: clusters, Trust: trust}
	if opts.buckets != nil {
		target.Buckets = opts.buckets
	}
	if opts.pgDSN != "" {
		pool, err := pg.Pool(ctx, opts.pgDSN)
		if err != nil {
			return fmt.Errorf("PostgreSQL of %s: %w", cfg.Cluster, err)
		}
		target.Postgres = map[string]posture.Server{cfg.Cluster: {Name: "the server of " + cfg.Cluster, Pool: pool}}
	}
	o, err := posture.Gather(ctx, target)
	if err != nil {
		return err
	}
	r := posture.Evaluate(o, opts.params)
	if opts.store {
		// Signed with the agent's key, as drill evidence is, so that a
		// report any other credential stores shows as unsigned or forged.
		signer, err := cfg.Signer()
		if err != nil {
			return err
		}
		l := repo.Layout{Prefix: cfg.Prefix, Cluster: cfg.Cluster}
		st, err := posture.StoreReport(ctx, target.Store, l, r, opts.format, time.Duration(opts.retainDays)*24*time.Hour, signer)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "posture report stored: s3://%s/%s version %s sha256 %s signer %s locked until %s\n",
			cfg.Bucket, st.Key, st.Version, st.SHA256, or(st.Signer, "none (no signing_key_file)"), st.RetainUntil.Format(time.RFC3339))
	}
	return writePostureReport(r, opts.format, opts.output, stdout)
}

// writePostureReport writes r to output (stdout when empty), then returns
// an exitPostureFailed error when a control fails.
func writePostureReport(r *posture.Report, format, output string, stdout io.Writer) error {
	var buf bytes.Buffer
	if err := writePosture(&buf, format, r); err != nil {
		return err
	}
	if output == "" {
		if _, err := stdout.Write(buf.Bytes()); err != nil {
			return err
		}
	} else if err := os.WriteFile(output, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	if r.Worst() == posture.Fail {
		n := 0
		for _, f := range r.Findings {
			if f.Status == posture.Fail {
				n++
			}
		}
		return &exitError{code: exitPostureFailed, err: fmt.Errorf("%d control(s) failing (report generated %s)", n, r.Generated.Format(time.RFC3339))}
	}
	return nil
}

// writePosture renders r in format.
func writePosture(w io.Writer, format string, r *posture.Report) error { return r.Render(w, format) }

func newPosturePlanCmd() *cobra.Command {
	var format, output string
	params := posture.DefaultParams
	cmd := &cobra.Command{
		Use:   "plan PLAN.json",
		Short: "Judge the posture a Terraform plan declares, before apply",
		Long: `Judge the output of 'terraform show -json PLAN' offline: a repository bucket destroyed,
its retention shortened or relaxed, missing or below --min-lock-days, no encryption; tenants
dropped from a backup policy; an RPO lengthened or beyond --rpo; WAL archiving removed.
Exit 1 when a control fails, so a pull request pipeline stops.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPosturePlan(args[0], format, output, params, cmd.OutOrStdout())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&format, "format", "markdown", "markdown, json, csv or html")
	fs.StringVarP(&output, "output", "o", "", "file to write (default standard output)")
	fs.IntVar(&params.MinLockDays, "min-lock-days", params.MinLockDays, "shortest default object-lock retention accepted")
	fs.DurationVar(&params.RPO, "rpo", params.RPO, "longest RPO accepted")
	return cmd
}

func runPosturePlan(path, format, output string, params posture.Params, stdout io.Writer) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	r, err := posture.EvaluatePlan(b, params)
	if err != nil {
		return err
	}
	return writePostureReport(r, format, output, stdout)
}

// errReportsFlagged makes `posture reports` exit 1 when a report is flagged.
var errReportsFlagged = errors.New("stored posture reports flagged")

func newPostureReportsCmd() *cobra.Command {
	opts := signedListing{}
	cmd := &cobra.Command{
		Use:   "reports",
		Short: "List the posture reports stored in the repository, and flag the ones that do not verify",
		Long: `List the posture reports stored with 'posture report --store' or the agent's
--posture-report-interval, each at its first version, and verify it: a report
that is unsigned, signed by a key that is not trusted, forged, not matching its
recorded sha256, not under object lock, or written over is flagged, and the
command exits 1.

Trusted keys are the configuration's trusted_keys plus every --trusted-key
(agents' keys, as "lifeboat keygen" prints them).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.out = cmd.OutOrStdout()
			return runPostureReports(cmd.Context(), opts)
		},
	}
	opts.register(cmd.Flags(), "report")
	return cmd
}

// reportLine is one stored report in `posture reports --format json`.
type reportLine struct {
	Key         string    `json:"key"`
	Version     string    `json:"version_id"`
	Format      string    `json:"format"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
	SignedBy    string    `json:"signed_by,omitempty"`
	Locked      bool      `json:"locked"`
	LockedUntil time.Time `json:"locked_until,omitzero"`
	Flags       []string  `json:"flags,omitempty"`
}

func runPostureReports(ctx context.Context, opts signedListing) error {
	cfg, store, trust, err := opts.open(ctx)
	if err != nil {
		return err
	}
	entries, err := posture.ListReports(ctx, store, cfg.Layout(), trust)
	if err != nil {
		return err
	}
	var lines []reportLine
	for _, e := range entries {
		lines = append(lines, reportLine{Key: e.Key, Version: e.Version, Format: e.Format, Size: e.Size, SHA256: e.SHA256, SignedBy: e.SignedBy,
			Locked: e.Locked, LockedUntil: e.LockedUntil, Flags: e.Flags(trust)})
	}
	return writeSignedListing(opts, lines, func(l reportLine) []string { return l.Flags }, "no stored posture reports", func(out io.Writer, l reportLine) {
		locked := "not locked"
		if l.Locked {
			locked = "locked until " + l.LockedUntil.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(out, "%s version %s sha256 %s signer %s, %s\n", l.Key, or(l.Version, "-"), or(l.SHA256, "-"), or(l.SignedBy, "none verified"), locked)
	}, errReportsFlagged)
}

// auditorClient opens the object store with the auditor's keys ($
// LIFEBOAT_AUDITOR_ACCESS_KEY and _SECRET_KEY, or its profile) at cfg's
// endpoint; nil when none are set. The CLI report and the agent's
// scheduled report read the bucket's configuration with it.
func auditorClient(ctx context.Context, cfg repo.AgentConfig, a objectstore.Config) (*objectstore.Client, error) {
	if a.AccessKey == "" && a.SecretKey == "" && a.Profile == "" {
		return nil, nil
	}
	if (a.AccessKey == "") != (a.SecretKey == "") {
		return nil, fmt.Errorf("auditor credentials: set both $%s and $%s (or --auditor-profile)", EnvAuditorAccessKey, EnvAuditorSecretKey)
	}
	ac := cfg.ObjectStore()
	ac.AccessKey, ac.SecretKey, ac.Profile = a.AccessKey, a.SecretKey, a.Profile
	c, err := objectstore.NewClient(ctx, ac)
	if err != nil {
		return nil, fmt.Errorf("object store (auditor credentials): %w", err)
	}
	return c, nil
}
