package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/backup"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/catalog"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

type pruneFlags struct {
	agent     agentFlags
	fullCount int
	days      int
	grace     time.Duration
	dryRun    bool
}

func newPruneCmd() *cobra.Command {
	var f pruneFlags
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Enforce retention: delete old backups, the WAL no kept backup needs, and dead incomplete backups (delete markers; versions are never destroyed)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, store, err := openRepo(cmd.Context(), f.agent)
			if err != nil {
				return err
			}
			return runPrune(cmd.Context(), cfg, store, f, cmd.OutOrStdout())
		},
	}
	f.agent.register(cmd.Flags())
	cmd.Flags().IntVar(&f.fullCount, "full-count", 0, "keep the newest N base backups (and N dumps per tenant database)")
	cmd.Flags().IntVar(&f.days, "days", 0, "keep what restoring to any point of the last D days needs")
	cmd.Flags().DurationVar(&f.grace, "grace", catalog.DefaultGrace, "leave incomplete backups younger than this (they may be running)")
	cmd.Flags().BoolVar(&f.dryRun, "dry-run", false, "say what would be deleted, delete nothing")
	return cmd
}

func runPrune(ctx context.Context, cfg repo.AgentConfig, store objectstore.Store, f pruneFlags, out io.Writer) error {
	grace := f.grace
	if grace == 0 {
		grace = -1 // the flag's 0 means none; the engine's 0 means the default
	}
	res, err := catalog.Prune(ctx, store, cfg.Layout(), catalog.PruneOptions{
		FullCount: f.fullCount, Days: f.days, Grace: grace, DryRun: f.dryRun,
	})
	if res != nil {
		verb := "deleted"
		if f.dryRun {
			verb = "would delete"
		}
		for _, id := range res.Deleted {
			fmt.Fprintf(out, "%s backup %s\n", verb, id)
		}
		for _, id := range res.TenantDeleted {
			fmt.Fprintf(out, "%s tenant dump %s\n", verb, id)
		}
		for _, id := range res.Incomplete {
			fmt.Fprintf(out, "%s incomplete backup %s\n", verb, id)
		}
		for _, w := range res.Waiting {
			fmt.Fprintf(out, "held by object lock: %s, %d objects %s\n", describeWaiting(w), w.Objects, untilText(w.Until))
		}
		if res.WALWaiting > 0 {
			fmt.Fprintf(out, "held by object lock: %d WAL files %s\n", res.WALWaiting, untilText(res.WALWaitingUntil))
		}
		fmt.Fprintf(out, "kept %d backups and %d tenant dumps; WAL kept from %s, %d WAL files %s; %d objects (%.1f MB) %s "+
			"(delete markers: their versions stay until their lock expires and the bucket's lifecycle removes them)\n",
			len(res.Kept), len(res.TenantKept), orNone(res.WALKeptFrom), res.WALDeleted, verb, res.ObjectsDeleted,
			float64(res.BytesDeleted)/1e6, verb)
	}
	return err
}

// describeWaiting names a backup prune deleted whose versions object lock
// still holds.
func describeWaiting(w catalog.Waiting) string {
	switch {
	case w.Kind == backup.KindTenant && w.Incomplete:
		return "incomplete tenant dump " + w.Name
	case w.Kind == backup.KindTenant:
		return "tenant dump " + w.Name
	case w.Incomplete:
		return "incomplete backup " + w.Name
	}
	return "backup " + w.Name
}

func untilText(t time.Time) string {
	if t.IsZero() {
		return "until their lock expires"
	}
	return "until " + t.UTC().Format(time.RFC3339) + ", then the bucket's lifecycle removes them"
}

func orNone(s string) string {
	if s == "" {
		return "(no WAL pruned)"
	}
	return s
}
