package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/pg"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/walscan"
)

func newIncidentCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "incident",
		Short: "Find the recovery point of an incident in the archived WAL",
	}
	cmd.AddCommand(newIncidentFindCmd())
	return cmd
}

// incidentFindOptions are incident find's flag values.
type incidentFindOptions struct {
	agentFlags
	dsn, database, table string
	from, to             string
	timeline             uint32
	binDir               string
	aborted, asJSON      bool
}

func newIncidentFindCmd() *cobra.Command {
	var o incidentFindOptions
	cmd := &cobra.Command{
		Use:   "find",
		Short: "List the transactions that deleted, updated or inserted rows of a table",
		Long: `Read the archived WAL of a window (--from, --to: commit times, RFC 3339) and
list the transactions that deleted, updated, inserted or truncated rows of
--table in --database: commit time, transaction id, commit LSN and row counts.
The table is resolved in the live server's catalog (--dsn, default
$LIFEBOAT_PG_DSN, with --database as the database): pg_class and
pg_relation_filenode name the files WAL refers to. Segments are fetched from
the repository, decompressed and checked, and decoded with pg_waldump of the
server's version (--bin-dir).

Restore to just before a listed transaction with its xid, exclusive:
  lifeboat restore --xid <xid> --exclusive ...   (lifeboat_restore: xid, inclusive = false)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runIncidentFind(cmd, o)
		},
	}
	fs := cmd.Flags()
	o.register(fs)
	fs.StringVar(&o.dsn, "dsn", os.Getenv(EnvPGDSN), "live server whose catalog names the table (default $"+EnvPGDSN+")")
	fs.StringVar(&o.database, "database", "", "database of the table (default the DSN's)")
	fs.StringVar(&o.table, "table", "", "table, optionally schema-qualified (stock_picking, public.stock_picking)")
	fs.StringVar(&o.from, "from", "", "earliest commit time listed, RFC 3339 (default: all archived WAL)")
	fs.StringVar(&o.to, "to", "", "latest commit time listed, RFC 3339 (default: the newest archived WAL)")
	fs.Uint32Var(&o.timeline, "timeline", 0, "timeline whose history is read (default the archive's newest)")
	fs.StringVar(&o.binDir, "bin-dir", os.Getenv("LIFEBOAT_PG_BINDIR"), "PostgreSQL bin directory with pg_waldump (default $LIFEBOAT_PG_BINDIR, else /usr/lib/postgresql/15/bin)")
	fs.BoolVar(&o.aborted, "include-aborted", false, "also list transactions that rolled back")
	fs.BoolVar(&o.asJSON, "json", false, "print JSON")
	return cmd
}

// incidentXact is one transaction as --json prints it.
type incidentXact struct {
	XID        uint32    `json:"xid"`
	Committed  bool      `json:"committed"`
	CommitTime time.Time `json:"commit_time"`
	CommitLSN  string    `json:"commit_lsn"`
	Deleted    int       `json:"deleted"`
	Updated    int       `json:"updated"`
	Inserted   int       `json:"inserted"`
	Truncated  bool      `json:"truncated"`
}

func runIncidentFind(cmd *cobra.Command, o incidentFindOptions) error {
	ctx := cmd.Context()
	if o.table == "" {
		return errors.New("--table is required")
	}
	if o.dsn == "" {
		return errors.New("--dsn (or $" + EnvPGDSN + ") is required: the live catalog names the table's files")
	}
	var from, to time.Time
	var err error
	if o.from != "" {
		if from, err = time.Parse(time.RFC3339Nano, o.from); err != nil {
			return fmt.Errorf("--from %q: want RFC 3339", o.from)
		}
	}
	if o.to != "" {
		if to, err = time.Parse(time.RFC3339Nano, o.to); err != nil {
			return fmt.Errorf("--to %q: want RFC 3339", o.to)
		}
	}
	dsn := o.dsn
	if o.database != "" {
		dsn = pg.WithDatabase(dsn, o.database)
	}
	rel, err := walscan.ResolveRelation(ctx, dsn, o.table)
	if err != nil {
		return err
	}
	cfg, store, err := openRepo(ctx, o.agentFlags)
	if err != nil {
		return err
	}
	ids, err := cfg.Identities()
	if err != nil {
		return err
	}
	f, err := walscan.Find(ctx, store, walscan.FindOptions{Layout: cfg.Layout(), Relation: rel, From: from, To: to,
		Timeline: o.timeline, BinDir: o.binDir, IncludeAborted: o.aborted, Identities: ids})
	if err != nil {
		return err
	}
	return printFinding(cmd.OutOrStdout(), f, o.asJSON)
}

func printFinding(w io.Writer, f *walscan.Finding, asJSON bool) error {
	if asJSON {
		out := struct {
			Table        string         `json:"table"`
			Relfilenode  string         `json:"relfilenode"`
			Timeline     uint32         `json:"timeline"`
			FirstSegment string         `json:"first_segment"`
			LastSegment  string         `json:"last_segment"`
			Transactions []incidentXact `json:"transactions"`
		}{Table: f.Relation.Name, Relfilenode: relPath(f.Relation.File), Timeline: f.Timeline, FirstSegment: f.FirstSegment,
			LastSegment: f.LastSegment, Transactions: []incidentXact{}}
		for _, x := range f.Xacts {
			out.Transactions = append(out.Transactions, incidentXact{XID: x.XID, Committed: x.Committed, CommitTime: x.Time, CommitLSN: x.LSN.String(),
				Deleted: x.Deleted, Updated: x.Updated, Inserted: x.Inserted, Truncated: x.Truncated})
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	fmt.Fprintf(w, "table %s (files %s), timeline %d, WAL %s..%s (%d segments)\n", f.Relation.Name, relPath(f.Relation.File), f.Timeline,
		f.FirstSegment, f.LastSegment, f.Segments)
	if len(f.Xacts) == 0 {
		fmt.Fprintln(w, "no transaction changed its rows in this window")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COMMIT TIME\tXID\tCOMMIT LSN\tDELETED\tUPDATED\tINSERTED\tTRUNCATED\t")
	for _, x := range f.Xacts {
		state := x.Time.UTC().Format(time.RFC3339Nano)
		if !x.Committed {
			state += " (aborted)"
		}
		trunc := ""
		if x.Truncated {
			trunc = "yes"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%d\t%s\t\n", state, x.XID, x.LSN, x.Deleted, x.Updated, x.Inserted, trunc)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	last := f.Xacts[len(f.Xacts)-1]
	fmt.Fprintf(w, "restore to just before a transaction: lifeboat restore --xid %d --exclusive ... (lifeboat_restore: xid = \"%d\", inclusive = false)\n",
		last.XID, last.XID)
	return nil
}

func relPath(r walscan.RelFileNode) string {
	return fmt.Sprintf("%d/%d/%d", r.Tablespace, r.Database, r.Node)
}
