package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/drill"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

// drillOptions are the flags of `lifeboat drill run`.
type drillOptions struct {
	agentFlags
	pgDSN  string
	binDir string
	format string
	stdout io.Writer
	// evidenceKeys are the agents' public keys drill report checks.
	evidenceKeys []string
}

func newDrillCmd() *cobra.Command {
	opts := drillOptions{}
	cmd := &cobra.Command{
		Use:   "drill",
		Short: "Run a restore drill, or report the drill history",
	}
	run := &cobra.Command{
		Use:   "run <schedule>",
		Short: "Run one drill of a schedule the provider declared; exits 1 if it does not pass",
		Long: `Restore the newest recovery point into a scratch target, run the schedule's
checks, measure the RTO, tear the target down, and write the evidence under
object lock. The exit code is 0 only when the drill passed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.stdout = cmd.OutOrStdout()
			return runDrill(cmd.Context(), opts, args)
		},
	}
	opts.register(run.Flags())
	run.Flags().StringVar(&opts.pgDSN, "pg-dsn", os.Getenv("LIFEBOAT_PG_DSN"), "server that receives a tenant drill's scratch database (default $LIFEBOAT_PG_DSN)")
	run.Flags().StringVar(&opts.binDir, "pg-bindir", os.Getenv("LIFEBOAT_PG_BINDIR"), "PostgreSQL binaries (default $LIFEBOAT_PG_BINDIR, then Debian's PostgreSQL 15)")

	report := &cobra.Command{
		Use:   "report <schedule>",
		Short: "Print a schedule's drill history from its evidence, as a table or Markdown",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.stdout = cmd.OutOrStdout()
			return runDrillReport(cmd.Context(), opts, args)
		},
	}
	opts.agentFlags.register(report.Flags())
	report.Flags().StringVar(&opts.format, "format", "table", "table, markdown or json")
	report.Flags().StringArrayVar(&opts.evidenceKeys, "evidence-key", nil,
		"public key (ed25519:<base64>) of an agent whose evidence signatures are trusted; repeatable. With one or more, "+
			"every record's signature is checked and unsigned or forged records are marked")
	index := &cobra.Command{
		Use:   "index",
		Short: "Write the cluster's drill index now (the agent keeps it; refreshes read it in one request)",
		Long: `Read every drill schedule of the cluster and its newest evidence, and write
them, signed with the configuration's signing key, as the drill index that
Terraform refreshes read in place of two or three requests per schedule.
The agent rewrites it on its own whenever a schedule changes or a drill ran.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, store, err := openRepo(cmd.Context(), opts.agentFlags)
			if err != nil {
				return err
			}
			signer, err := cfg.Signer()
			if err != nil {
				return err
			}
			x, err := drill.BuildIndex(cmd.Context(), store, cfg.Layout(), time.Now())
			if err != nil {
				return err
			}
			if err := drill.WriteIndex(cmd.Context(), store, cfg.Layout(), x, signer); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "drill index %s: %d schedules\n", cfg.Layout().DrillIndexKey(), len(x.Schedules))
			return nil
		},
	}
	opts.agentFlags.register(index.Flags())
	cmd.AddCommand(run, report, index)
	return cmd
}

func runDrill(ctx context.Context, opts drillOptions, args []string) error {
	cfg, store, err := openRepo(ctx, opts.agentFlags)
	if err != nil {
		return err
	}
	trust, err := cfg.Trust()
	if err != nil {
		return err
	}
	doc, err := drill.ReadSchedule(ctx, store, cfg.Layout(), args[0], trust)
	if err != nil {
		return fmt.Errorf("drill schedule %q: %w", args[0], err)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	client, err := objectstore.NewClient(ctx, cfg.ObjectStore())
	if err != nil {
		return err
	}
	spec := doc.Spec(func(b string) objectstore.Store { return client.Store(b) }, cfg.Layout(), cfg, self, opts.pgDSN)
	spec.BinDir = opts.binDir
	spec.Trust, spec.Redis.Trust, spec.Region.Trust = trust, trust, trust
	spec.Region.Open = drill.OpenRegionFromConfig(cfg, objectstore.NewClient)
	if spec.Signer, err = cfg.Signer(); err != nil {
		return err
	}
	ev, err := drill.Run(ctx, store, spec)
	if err != nil {
		return err
	}
	printEvidence(opts.stdout, ev)
	if !ev.Passed {
		return &exitError{code: 1, err: fmt.Errorf("drill %s of %q did not pass", ev.ID, ev.Schedule)}
	}
	return nil
}

func printEvidence(w io.Writer, ev *drill.Evidence) {
	result := "PASSED"
	if !ev.Passed {
		result = "FAILED"
	}
	fmt.Fprintf(w, "drill %s of %s: %s in %.1fs (RTO target %.0fs) from %s to %s\n", ev.ID, ev.Schedule, result, ev.RTOSeconds,
		ev.RTOTargetSeconds, ev.Source, ev.RestoredToTime.UTC().Format(time.RFC3339))
	for _, c := range ev.Checks {
		mark := "ok  "
		if !c.Passed {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "  %s %-28s expected %-16s observed %s\n", mark, c.Name, c.Expected, c.Observed)
	}
	if ev.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", ev.Error)
	}
	for i, g := range ev.Groups {
		fmt.Fprintf(w, "  group %d %-20s rto %.1fs (target %.0fs) %s\n", i+1, g.Name, g.RTOSeconds, g.RTOTargetSeconds, groupsText([]drill.GroupResult{g}))
	}
	fmt.Fprintf(w, "evidence: %s (locked)\n", ev.Key)
}

// groupsText is a region drill's groups in activation order, each with
// the RTO it achieved against its target ("-" for other drills).
func groupsText(gs []drill.GroupResult) string {
	if len(gs) == 0 {
		return "-"
	}
	var out []string
	for _, g := range gs {
		verdict := "met"
		switch {
		case g.Error != "":
			verdict = "NOT RESTORED"
		case !g.RTOMet:
			verdict = "MISSED"
		}
		target := "none"
		if g.RTOTargetSeconds > 0 {
			target = fmt.Sprintf("%.0fs", g.RTOTargetSeconds)
		}
		out = append(out, fmt.Sprintf("%s %.1fs/%s %s", g.Name, g.RTOSeconds, target, verdict))
	}
	return strings.Join(out, "; ")
}

func runDrillReport(ctx context.Context, opts drillOptions, args []string) error {
	cfg, store, err := openRepo(ctx, opts.agentFlags)
	if err != nil {
		return err
	}
	evs, err := drill.List(ctx, store, cfg.Layout(), args[0])
	if err != nil {
		return err
	}
	trust, err := signature.NewTrust(opts.evidenceKeys...)
	if err != nil {
		return fmt.Errorf("--evidence-key: %w", err)
	}
	return writeReport(opts.stdout, opts.format, args[0], evs, trust)
}

// writeReport renders the history, oldest first.
// With trusted keys, a record whose signature does not verify is marked in
// its failures: it may be a forgery by a writer of the bucket.
func writeReport(w io.Writer, format, schedule string, evs []*drill.Evidence, trust signature.Trust) error {
	row := func(ev *drill.Evidence) []string {
		result := "passed"
		if !ev.Passed {
			result = "FAILED"
		}
		var failed []string
		passed := 0
		for _, c := range ev.Checks {
			if c.Passed {
				passed++
			} else {
				failed = append(failed, c.Name+"="+c.Observed)
			}
		}
		if ev.Error != "" {
			failed = append(failed, "restore error")
		}
		if ev.LaterVersions > 0 {
			failed = append(failed, fmt.Sprintf("evidence written over %d time(s) since (the original is shown)", ev.LaterVersions))
		}
		if trust.Required() {
			if _, err := ev.SignedBy(trust); err != nil {
				failed = append(failed, "SIGNATURE NOT VERIFIED: "+errors.Unwrap(err).Error())
			}
		}
		return []string{ev.Finished.UTC().Format(time.RFC3339), result, fmt.Sprintf("%.1f", ev.RTOSeconds), fmt.Sprintf("%.0f", ev.RTOTargetSeconds),
			ev.Source, ev.RestoredToTime.UTC().Format(time.RFC3339), fmt.Sprintf("%d/%d", passed, len(ev.Checks)),
			strings.Join(failed, "; "), groupsText(ev.Groups)}
	}
	header := []string{"finished", "result", "rto_s", "rto_target_s", "restored_from", "restored_to", "checks_passed", "failures", "groups"}
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(evs)
	case "markdown", "md":
		fmt.Fprintf(w, "## Restore drills: %s\n\n", schedule)
		fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(header, " | "), strings.Repeat("---|", len(header)))
		for _, ev := range evs {
			fmt.Fprintf(w, "| %s |\n", strings.Join(row(ev), " | "))
		}
		fmt.Fprintf(w, "\n%d drill(s); evidence is kept under object lock in the repository.\n", len(evs))
		return nil
	case "table":
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, strings.ToUpper(strings.Join(header, "\t")))
		for _, ev := range evs {
			fmt.Fprintln(tw, strings.Join(row(ev), "\t"))
		}
		return tw.Flush()
	}
	return fmt.Errorf("unknown --format %q: want table, markdown or json", format)
}
