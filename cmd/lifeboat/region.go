package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/region"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

// regionOptions are the flags of `lifeboat region` subcommands.
type regionOptions struct {
	agentFlags
	name     string
	clusters []string
	plan     bool
	standby  bool
	store    string
	// signingKeyFile signs the activation mark (else $LIFEBOAT_SIGNING_KEY).
	signingKeyFile string
}

func newRegionCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "region",
		Short: "Recovery region: copy, verify and status of the repository's copy in a second store, and the activation plan",
	}
	cmd.AddCommand(newRegionActivateCmd(), newRegionVerifyCmd(), newRegionCopyCmd(), newRegionStatusCmd())
	return cmd
}

func newRegionActivateCmd() *cobra.Command {
	var o regionOptions
	cmd := &cobra.Command{
		Use:   "activate",
		Short: "Mark the recovery region active (agents there start the backup schedules), or print its activation runbook with --plan",
		Long: `Without --plan, mark the recovery region active for each cluster: until
then an agent started in the region (its configuration's bucket is the
region's destination) stands by, serving restore requests and drills from
the copy but running none of the primary's backup, tenant dump,
verification or Redis snapshot schedules, which would write another
database's backups into the primary's copied history. --standby removes the
mark. --config is an agent configuration whose store and bucket are the
region's.

The mark is signed: by the key in --signing-key-file (an operator's key,
as ` + "`lifeboat keygen --out`" + ` writes it, mode 0600) or else by
$LIFEBOAT_SIGNING_KEY (the provider's signing_key). An agent with
trusted_keys acts only on a mark signed by one of them and stands by on
any other (logged), so the key must be one the region's agents trust:
with trusted_keys in --config, a key they do not list is refused here.

With --plan, print the runbook of a regional failover: each cluster's recovery
point in the recovery region, then every tenant restore in the activation order
the lifeboat_recovery_region declared, with its recovery point and the expected
data loss per group. Only the region is read: --config is an agent
configuration whose store and bucket are the region's (the primary may be gone).
The restores themselves are lifeboat_restore resources with source_region, or
` + "`lifeboat restore --config <that configuration>`" + `.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.plan {
				return runRegionActivatePlan(cmd.Context(), o, cmd.OutOrStdout())
			}
			return runRegionActivate(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	o.register(cmd.Flags())
	cmd.Flags().StringVar(&o.name, "name", "", "recovery region name (default: the configuration's bucket, the destination)")
	cmd.Flags().StringSliceVar(&o.clusters, "clusters", nil, "clusters to plan (default: the configuration's cluster)")
	cmd.Flags().BoolVar(&o.plan, "plan", false, "print the runbook and stop")
	cmd.Flags().BoolVar(&o.standby, "standby", false, "remove the activation mark: agents in the region stand by again")
	cmd.Flags().StringVar(&o.signingKeyFile, "signing-key-file", "", "private key file that signs the mark (default $LIFEBOAT_SIGNING_KEY, the provider's signing key)")
	return cmd
}

func newRegionVerifyCmd() *cobra.Command {
	var o regionOptions
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Read back every object the recovery region holds and compare its SHA-256; exit 1 on any problem",
		Long: `Read back from the destination every object the copy index says was verified
there and compare its SHA-256. A missing or changed object is reported and
dropped from the index, so the agent's next pass copies it again. --config is
the cluster's agent configuration (the source); --store names the entry of
its "stores" that holds the destination.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRegionVerify(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	o.register(cmd.Flags())
	cmd.Flags().StringVar(&o.name, "name", "", "recovery region name (the destination bucket)")
	cmd.Flags().StringVar(&o.store, "store", "", "entry of the configuration's stores holding the destination (default: --name)")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func newRegionCopyCmd() *cobra.Command {
	var o regionOptions
	cmd := &cobra.Command{
		Use:   "copy",
		Short: "Run one copy pass to a recovery region now (what the agent does on the region's interval)",
		Long: `Copy every object of the cluster not yet verified in the recovery region, data
before the manifests that name it, each one's SHA-256 checked by the destination
as it arrives (read back where the destination confirms no checksum), and
print what was copied, what is pending and the lag. --config is the cluster's
agent configuration (the source); --store names the entry of its "stores"
that holds the destination.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRegionCopy(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	o.register(cmd.Flags())
	cmd.Flags().StringVar(&o.name, "name", "", "recovery region name (the destination bucket)")
	cmd.Flags().StringVar(&o.store, "store", "", "entry of the configuration's stores holding the destination (default: --name)")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func newRegionStatusCmd() *cobra.Command {
	var o regionOptions
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Measure the recovery region's lag now: the source listed against the copy index at the destination",
		Long: `List the cluster's repository in the source and compare it with the copy index
at the destination: the objects not yet verified there, their bytes, and the
lag (age of the oldest of them, plus the last canary round trip). Copies
nothing. --config is the cluster's agent configuration (the source); --store
names the entry of its "stores" that holds the destination.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := regionStores(cmd.Context(), o)
			if err != nil {
				return err
			}
			st, err := region.Measure(cmd.Context(), opts)
			if err != nil {
				return err
			}
			lag := st.Lag(time.Now())
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(map[string]any{"region": o.name, "lag_seconds": lag.Seconds(),
					"pending_objects": st.PendingObjects, "pending_bytes": st.PendingBytes, "last_copy_finished": st.Finished})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: lag %s; %d objects (%d bytes) not yet verified at the destination; last pass finished %s\n",
				o.name, lag.Round(time.Millisecond), st.PendingObjects, st.PendingBytes, st.Finished.Format(time.RFC3339))
			return nil
		},
	}
	o.register(cmd.Flags())
	cmd.Flags().StringVar(&o.name, "name", "", "recovery region name (the destination bucket)")
	cmd.Flags().StringVar(&o.store, "store", "", "entry of the configuration's stores holding the destination (default: --name)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

// regionStores opens the source (the configuration's repository) and the
// destination (its stores entry).
func regionStores(ctx context.Context, o regionOptions) (region.Options, error) {
	cfg, src, err := openRepo(ctx, o.agentFlags)
	if err != nil {
		return region.Options{}, err
	}
	storeName := o.store
	if storeName == "" {
		storeName = o.name
	}
	sc, err := cfg.StoreConfig(storeName)
	if err != nil {
		return region.Options{}, err
	}
	client, err := objectstore.NewClient(ctx, sc)
	if err != nil {
		return region.Options{}, fmt.Errorf("object store: %w", err)
	}
	return region.Options{Name: o.name, Layout: cfg.Layout(), Source: src, Dest: client.Store(o.name)}, nil
}

func runRegionCopy(ctx context.Context, o regionOptions, out io.Writer) error {
	opts, err := regionStores(ctx, o)
	if err != nil {
		return err
	}
	st, err := region.Copy(ctx, opts)
	if st != nil {
		fmt.Fprintf(out, "copied %d objects (%d bytes) to %s in %s; %d pending (%d bytes); lag %s\n", st.Copied, st.CopiedBytes, o.name,
			st.Finished.Sub(st.ListedAt).Round(time.Millisecond), st.PendingObjects, st.PendingBytes, st.Lag(time.Now()).Round(time.Millisecond))
	}
	return err
}

// openRegionStore opens the store `region activate` works in, from the
// configuration o names: the region's name (--name, else the bucket's),
// its clusters (--cluster, else the configuration's) and the trust that
// judges its documents (the configuration's trusted_keys).
func openRegionStore(ctx context.Context, o regionOptions) (cfg repo.AgentConfig, store objectstore.Store, name string, clusters []string,
	trust signature.Trust, err error) {
	if cfg, store, err = openRepo(ctx, o.agentFlags); err != nil {
		return
	}
	name, clusters = o.name, o.clusters
	if name == "" {
		name = cfg.Bucket
	}
	if len(clusters) == 0 {
		clusters = []string{cfg.Cluster}
	}
	trust, err = cfg.Trust()
	return
}

// runRegionActivate writes (or with --standby removes) the activation mark
// of each cluster in the region's store. It refuses a configuration that
// is not the region's: the mark only means something where the copy is.
func runRegionActivate(ctx context.Context, o regionOptions, out io.Writer) error {
	cfg, store, name, clusters, trust, err := openRegionStore(ctx, o)
	if err != nil {
		return err
	}
	var signer *signature.Signer
	if !o.standby {
		if signer, err = activationSigner(o.signingKeyFile, trust); err != nil {
			return err
		}
	}
	by, _ := os.Hostname()
	for _, c := range clusters {
		l := repo.Layout{Prefix: cfg.Prefix, Cluster: c}
		doc, err := region.ReadConfig(ctx, store, l, name, trust)
		if err != nil {
			return fmt.Errorf("cluster %s: recovery region %q in %s: %w (is --config the region's store, and has the agent copied it?)", c, name, store.Bucket(), err)
		}
		if doc.Destination.Bucket != cfg.Bucket || (doc.Destination.Endpoint != "" && doc.Destination.Endpoint != cfg.Endpoint) {
			return fmt.Errorf("cluster %s: --config is not recovery region %s's destination (%s at %q): activate the region's copy, not the primary", c, name, doc.Destination.Bucket, doc.Destination.Endpoint)
		}
		if o.standby {
			if err := region.Deactivate(ctx, store, l, name); err != nil {
				return err
			}
			fmt.Fprintf(out, "%s: recovery region %s stands by: agents there serve restores and drills only\n", c, name)
			continue
		}
		a, err := region.Activate(ctx, store, l, name, by, time.Now(), signer)
		if err != nil {
			return err
		}
		signed := "unsigned (the configuration trusts no key)"
		if signer != nil {
			signed = "signed by " + signer.Public().ID()
		}
		fmt.Fprintf(out, "%s: recovery region %s active since %s, %s: agents there run the policy's schedules from their next refresh\n",
			c, name, a.ActivatedAt.Format(time.RFC3339), signed)
	}
	return nil
}

// activationSigner reads the key the activation mark is signed with: the
// file, else $LIFEBOAT_SIGNING_KEY (the provider's key). With trust
// holding keys (the region agents' trusted_keys) it must be one of them:
// a mark they would refuse activates nothing, and saying so now beats an
// agent that silently stands by.
func activationSigner(file string, trust signature.Trust) (*signature.Signer, error) {
	var signer *signature.Signer
	switch {
	case file != "":
		s, err := repo.AgentConfig{SigningKeyFile: file}.Signer()
		if err != nil {
			return nil, fmt.Errorf("--signing-key-file: %w", err)
		}
		signer = s
	case os.Getenv(envSigningKey) != "":
		s, err := signature.ParsePrivateKey(os.Getenv(envSigningKey))
		if err != nil {
			return nil, fmt.Errorf("$%s: %w", envSigningKey, err)
		}
		signer = s
	}
	switch {
	case signer == nil && trust.Required():
		return nil, fmt.Errorf("the region's agents act only on an activation mark signed by one of their trusted_keys: pass --signing-key-file, or set $%s to the provider's signing key", envSigningKey)
	case signer != nil && trust.Required() && !trust.Trusts(signer.Public()):
		return nil, fmt.Errorf("key %s is not among the configuration's trusted_keys: the region's agents would refuse the mark and keep standing by; sign with the provider's key or add this key's public half to their trusted_keys", signer.Public().ID())
	}
	return signer, nil
}

// envSigningKey holds the provider's signing key, as the provider reads it.
const envSigningKey = "LIFEBOAT_SIGNING_KEY"

func runRegionActivatePlan(ctx context.Context, o regionOptions, out io.Writer) error {
	cfg, store, name, clusters, trust, err := openRegionStore(ctx, o)
	if err != nil {
		return err
	}
	var doc *region.ConfigDoc
	tenantCluster := map[string]string{}
	for _, c := range clusters {
		l := repo.Layout{Prefix: cfg.Prefix, Cluster: c}
		d, err := region.ReadConfig(ctx, store, l, name, trust)
		switch {
		case errors.Is(err, objectstore.ErrNotFound):
		case err != nil:
			return err
		case doc == nil:
			doc = d
		}
		if p, err := repo.ReadPolicy(ctx, store, l, trust); err == nil {
			for _, t := range p.TenantDatabases {
				if _, ok := tenantCluster[t]; !ok {
					tenantCluster[t] = c
				}
			}
		}
	}
	if doc == nil {
		return fmt.Errorf("no recovery region %q in %s/%s for clusters %s: is --config the region's store, and has the agent copied it?",
			name, store.Bucket(), cfg.Prefix, strings.Join(clusters, ", "))
	}
	plan, err := region.PlanActivation(ctx, store, *doc, cfg.Prefix, clusters, tenantCluster, time.Now())
	if err != nil {
		return err
	}
	_, err = io.WriteString(out, plan.Markdown())
	return err
}

func runRegionVerify(ctx context.Context, o regionOptions, out io.Writer) error {
	opts, err := regionStores(ctx, o)
	if err != nil {
		return err
	}
	rep, err := region.Verify(ctx, opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "checked %d objects in %s\n", rep.Checked, o.name)
	for _, p := range rep.Problems {
		fmt.Fprintf(out, "PROBLEM %s: %v\n", p.Key, p.Err)
	}
	if len(rep.Problems) > 0 {
		return &exitError{code: 1, err: fmt.Errorf("%d object(s) in the recovery region are missing or changed; the next copy pass writes them again", len(rep.Problems))}
	}
	return nil
}
