package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

type keygenOptions struct {
	out string
	age bool
}

func newKeygenCmd() *cobra.Command {
	opts := keygenOptions{}
	cmd := &cobra.Command{
		Use:   "keygen",
		Short: "Generate an Ed25519 key pair for signing configuration or evidence",
		Long: "Generate an Ed25519 key pair. The private key (a secret) goes to --out, created with mode 0600 " +
			"(or to standard output without --out); the public key is printed on standard output. Give the private key " +
			"to the provider (signing_key or LIFEBOAT_SIGNING_KEY) and the public key to the agents (trusted_keys).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runKeygen(cmd.Context(), opts, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&opts.out, "out", "", "write the private key to this new file (mode 0600) instead of standard output")
	cmd.Flags().BoolVar(&opts.age, "age", false, "generate an age encryption key pair instead: the identity (for identity_file, "+
		"on the restorer's side) goes to --out, the recipient (for encryption { recipients }, on the database host) to standard output")
	return cmd
}

func runKeygen(ctx context.Context, opts keygenOptions, stdout io.Writer) error {
	if opts.age {
		return runKeygenAge(ctx, opts, stdout)
	}
	s, err := signature.Generate()
	if err != nil {
		return err
	}
	if opts.out == "" {
		_, err = fmt.Fprintf(stdout, "private: %s\npublic:  %s\n", s, s.Public())
		return err
	}
	// NOTE: O_EXCL, so an existing key is never overwritten.
	f, err := os.OpenFile(opts.out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(f, s.String()); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, s.Public())
	return err
}

// runKeygenAge writes an age identity (for restores) and prints its
// recipient (for the database hosts), as age-keygen does.
func runKeygenAge(_ context.Context, opts keygenOptions, stdout io.Writer) error {
	file, recipient, err := crypt.GenerateIdentity()
	if err != nil {
		return err
	}
	if opts.out == "" {
		_, err = fmt.Fprintf(stdout, "%srecipient: %s\n", file, recipient)
		return err
	}
	// NOTE: O_EXCL, so an existing identity is never overwritten.
	f, err := os.OpenFile(opts.out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(f, file); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, recipient)
	return err
}
