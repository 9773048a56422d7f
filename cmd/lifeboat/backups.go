package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/catalog"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/redisx"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

func newBackupsCmd() *cobra.Command {
	var f agentFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "backups",
		Aliases: []string{"list"},
		Short:   "List the complete backups of the cluster, its restorable window, and its Redis snapshots",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, store, err := openRepo(cmd.Context(), f)
			if err != nil {
				return err
			}
			return runBackups(cmd.Context(), cfg, store, asJSON, cmd.OutOrStdout())
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func runBackups(ctx context.Context, cfg repo.AgentConfig, store objectstore.Store, asJSON bool, out io.Writer) error {
	c, err := catalog.Load(ctx, store, cfg.Layout())
	if err != nil {
		return err
	}
	a, err := catalog.ListWAL(ctx, store, cfg.Layout(), c.WALSegmentSize())
	if err != nil {
		return err
	}
	list, w := c.Backups(), c.Window(a)
	snaps, err := redisx.AllSnapshots(ctx, store, cfg.Layout())
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Backups        []catalog.Backup          `json:"backups"`
			Window         *catalog.Window           `json:"window"`
			RedisSnapshots []redisx.SnapshotManifest `json:"redis_snapshots"`
		}{list, w, snaps})
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tDATABASE\tSTART\tSTOP\tTIMELINE\tSTART LSN\tSTOP LSN\tSIZE (MB)\tENCRYPTED TO")
	for _, b := range list {
		tli := ""
		if b.Timeline != 0 {
			tli = fmt.Sprint(b.Timeline)
		}
		enc := "-"
		if b.Encryption != nil {
			enc = strings.Join(b.Encryption.Recipients, ",")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.1f\t%s\n", b.ID, b.Kind, b.Database,
			b.StartTime.Format(time.RFC3339), b.StopTime.Format(time.RFC3339), tli, b.StartLSN, b.StopLSN, float64(b.Size)/1e6, enc)
	}
	tw.Flush()
	// More than one timeline: say how they relate, and which went on past
	// a branch point (a fork: an old primary that kept writing after its
	// standby was promoted), since the window follows the newest only.
	for _, t := range w.Timelines {
		fmt.Fprintf(out, "%s, newest segment %s\n", t.Describe(), cmp.Or(t.NewestSegment, "none"))
	}
	if !w.Restorable {
		fmt.Fprintln(out, "restorable window: none (no base backup with all the WAL it needs)")
	} else {
		fmt.Fprintf(out, "restorable window on timeline %d: %s (backup %s, LSN %s) to %s (segment %s)\n",
			w.Timeline, w.Earliest.Format(time.RFC3339), w.FromBackup, w.EarliestLSN, w.Latest.Format(time.RFC3339), w.LatestSegment)
	}
	for _, g := range w.Gaps {
		fmt.Fprintf(out, "WAL gap: %s to %s (%d segments missing)\n", g.From, g.To, g.Missing)
	}
	if w.Restorable && w.Truncated() {
		fmt.Fprintf(out, "warning: WAL up to %s is archived but unusable past the gap: take a base backup\n", w.NewestSegment)
	}
	if len(snaps) > 0 {
		fmt.Fprintln(out)
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "REDIS INSTANCE\tSNAPSHOT\tTAKEN\tRDB (MB)\tSTORED (MB)")
		for _, m := range snaps {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.1f\t%.1f\n", m.Instance, m.ID, m.TakenAt.Format(time.RFC3339), float64(m.RDBSize)/1e6, float64(m.StoredSize)/1e6)
		}
		tw.Flush()
	}
	return nil
}
