package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

// errAuditFlagged makes `restore audit` exit 1 when a record is flagged.
var errAuditFlagged = errors.New("restore audit records flagged")

func newRestoreAuditCmd() *cobra.Command {
	opts := signedListing{}
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "List every restore of the repository from its signed audit records, and flag the ones that do not verify",
		Long: `List the repository's restore audit records (one per restore: Terraform and
Pulumi's lifeboat_restore, lifeboat restore, drills, agent-executed restores):
who ran it (credentials and signer), what (recovery point), to where, when,
and how it ended. Each record is verified: a record that is unsigned, signed
by a key that is not trusted, forged, not under object lock, written over, or
contradicting its started record is flagged, and the command exits 1.

Trusted keys are the configuration's trusted_keys (the provider's) plus every
--trusted-key (agents' keys, as "lifeboat keygen" prints them).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.out = cmd.OutOrStdout()
			return runRestoreAudit(cmd.Context(), opts, args)
		},
	}
	opts.register(cmd.Flags(), "audit")
	return cmd
}

// auditLine is one restore in `restore audit --format json`.
type auditLine struct {
	restore.AuditRecord
	SignedBy    string    `json:"signed_by,omitempty"`
	Locked      bool      `json:"locked"`
	LockedUntil time.Time `json:"locked_until,omitzero"`
	Flags       []string  `json:"flags,omitempty"`
}

func runRestoreAudit(ctx context.Context, opts signedListing, _ []string) error {
	cfg, store, trust, err := opts.open(ctx)
	if err != nil {
		return err
	}
	entries, err := restore.ListAudit(ctx, store, cfg.Layout(), trust)
	if err != nil {
		return err
	}
	var lines []auditLine
	for _, e := range entries {
		lines = append(lines, auditLine{AuditRecord: e.Record, SignedBy: e.SignedBy, Locked: e.Locked, LockedUntil: e.LockedUntil, Flags: auditFlags(e, trust)})
	}
	return writeSignedListing(opts, lines, func(l auditLine) []string { return l.Flags }, "no restore audit records", func(out io.Writer, l auditLine) {
		r := l.AuditRecord
		to := r.DataDirectory
		if r.Kind == restore.KindTenant {
			to = r.NewDatabase + " on " + r.TargetServer
		} else if r.Port != 0 {
			to = fmt.Sprintf("%s (port %d, listen %s)", to, r.Port, r.Listen)
		}
		fmt.Fprintf(out, "%s %s %s restore via %s by %s (read as %s, recorded as %s, signer %s): %s to %s from %s into %s",
			r.ID, r.Result, r.Kind, r.FrontEnd, or(r.Actor, r.OSUser+"@"+r.Host), or(r.ReadAccessKeyID, "?"), or(r.WriteAccessKeyID, "?"),
			or(l.SignedBy, "none verified"), r.PointInTime, or(r.Source, "no recovery point"), r.Cluster, to)
		if r.CleanRoom {
			fmt.Fprintf(out, " [clean room, not after %s]", or(r.NotAfter, "-"))
		}
		if !r.Finished.IsZero() {
			fmt.Fprintf(out, ", %s..%s", r.Started.Format(time.RFC3339), r.Finished.Format(time.RFC3339))
		}
		if r.Error != "" {
			fmt.Fprintf(out, ", error: %s", r.Error)
		}
		fmt.Fprintln(out)
	}, errAuditFlagged)
}

// auditFlags says what is wrong with one restore's records, judged
// against trust (nothing: the records are sound).
func auditFlags(e restore.AuditEntry, trust signature.Trust) []string {
	var out []string
	if f := trust.Flag(e.SignatureError); f != "" {
		out = append(out, f)
	}
	if !e.Locked {
		out = append(out, "not under object lock")
	}
	if e.LaterVersions > 0 {
		out = append(out, fmt.Sprintf("%d version(s) or delete marker(s) written over the record", e.LaterVersions))
	}
	if e.Inconsistent != "" {
		out = append(out, "inconsistent: "+e.Inconsistent)
	}
	if e.StartedKey == "" {
		out = append(out, "no started record")
	}
	return out
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
