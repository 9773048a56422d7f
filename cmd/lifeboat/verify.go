package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/catalog"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// exitVerifyFailed is verify's exit code for a backup that failed its
// checks (2 stays for "could not check").
const exitVerifyFailed = 1

func newVerifyCmd() *cobra.Command {
	var f agentFlags
	cmd := &cobra.Command{
		Use:   "verify BACKUP-ID",
		Short: "Re-read every part of a backup, check checksums, files and WAL continuity",
		Long: `Re-read every stored part of a backup and check its size and SHA-256 against the
manifest, read each archive as tar and check every data file against PostgreSQL's
backup_manifest, and check that the archive holds every WAL segment from the backup's
first one to the newest. Exit 1 when a check fails, naming the failing object.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, store, err := openRepo(cmd.Context(), f)
			if err != nil {
				return err
			}
			return runVerify(cmd.Context(), cfg, store, args, cmd.OutOrStdout())
		},
	}
	f.register(cmd.Flags())
	return cmd
}

func runVerify(ctx context.Context, cfg repo.AgentConfig, store objectstore.Store, args []string, out io.Writer) error {
	ids, err := cfg.Identities()
	if err != nil {
		return err
	}
	rep, err := catalog.VerifyWith(ctx, store, cfg.Layout(), args[0], ids)
	if err != nil {
		return err
	}
	if rep.NotDecrypted > 0 {
		fmt.Fprintf(out, "NOTE %d encrypted objects checked by their stored checksums only: no identity decrypts them (set identity_file or %s to check their content)\n",
			rep.NotDecrypted, crypt.EnvIdentityFile)
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(out, "FAIL %s: %s\n", p.Object, p.Reason)
	}
	fmt.Fprintf(out, "%s %s: %d objects (%.1f MB), %d files, WAL %s..%s (%d segments): ",
		rep.Kind, rep.ID, rep.Objects, float64(rep.Bytes)/1e6, rep.Files, rep.WALFrom, rep.WALTo, rep.WALSegments)
	if err := rep.Err(); err != nil {
		fmt.Fprintln(out, "FAILED")
		return &exitError{code: exitVerifyFailed, err: err}
	}
	fmt.Fprintln(out, "OK")
	return nil
}
