package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

// signedListing are the flag values of a command that lists stored signed
// records and flags the ones that do not verify (`restore audit`,
// `posture reports`).
type signedListing struct {
	agentFlags
	keys   []string
	format string
	out    io.Writer
}

// register adds the flags; what names the records' signatures in --help.
func (o *signedListing) register(fs *pflag.FlagSet, what string) {
	o.agentFlags.register(fs)
	fs.StringArrayVar(&o.keys, "trusted-key", nil, "public key (ed25519:<base64>) whose "+what+" signatures are trusted, besides the configuration's trusted_keys; repeatable")
	fs.StringVar(&o.format, "format", "text", "text or json")
}

// open opens the repository with the trust that judges the records: the
// configuration's trusted_keys plus every --trusted-key (agents' keys).
func (o *signedListing) open(ctx context.Context) (repo.AgentConfig, objectstore.Store, signature.Trust, error) {
	if o.out == nil {
		o.out = os.Stdout
	}
	cfg, store, err := openRepo(ctx, o.agentFlags)
	if err != nil {
		return repo.AgentConfig{}, nil, signature.Trust{}, err
	}
	trust, err := signature.NewTrust(append(append([]string{}, cfg.TrustedKeys...), o.keys...)...)
	if err != nil {
		return repo.AgentConfig{}, nil, signature.Trust{}, fmt.Errorf("trusted keys: %w", err)
	}
	return cfg, store, trust, nil
}

// writeSignedListing writes lines in --format: JSON, or as text each line (text) with
// its flags, none when there is no line. Any flagged line makes the
// command exit 1 with errFlagged.
func writeSignedListing[L any](o signedListing, lines []L, flags func(L) []string, none string, text func(io.Writer, L), errFlagged error) error {
	flagged := 0
	for _, l := range lines {
		if len(flags(l)) > 0 {
			flagged++
		}
	}
	switch o.format {
	case "json":
		if lines == nil {
			lines = []L{}
		}
		enc := json.NewEncoder(o.out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(lines); err != nil {
			return err
		}
	case "text":
		if len(lines) == 0 {
			fmt.Fprintln(o.out, none)
		}
		for _, l := range lines {
			text(o.out, l)
			for _, f := range flags(l) {
				fmt.Fprintf(o.out, "  FLAGGED: %s\n", f)
			}
		}
	default:
		return fmt.Errorf("--format %q: want text or json", o.format)
	}
	if flagged > 0 {
		return &exitError{code: 1, err: fmt.Errorf("%w: %d of %d", errFlagged, flagged, len(lines))}
	}
	return nil
}
