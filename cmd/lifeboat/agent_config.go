package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// agentFlags are the flags every repository command shares. Defaults come
// from the environment, so archive_command can stay short.
type agentFlags struct {
	configPath string
}

func (f *agentFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.configPath, "config", os.Getenv(repo.EnvConfig),
		"agent configuration file (JSON; default $"+repo.EnvConfig+")")
}

// openRepo loads the configuration and opens the repository bucket. The
// client makes no request yet: reachability surfaces on first use.
func openRepo(ctx context.Context, f agentFlags) (repo.AgentConfig, objectstore.Store, error) {
	cfg, err := repo.Load(f.configPath)
	if err != nil {
		return repo.AgentConfig{}, nil, err
	}
	store, err := openStore(ctx, cfg)
	if err != nil {
		return repo.AgentConfig{}, nil, err
	}
	return cfg, store, nil
}

// openStore opens cfg's repository bucket (see openRepo).
func openStore(ctx context.Context, cfg repo.AgentConfig) (objectstore.Store, error) {
	return openStoreWith(ctx, cfg, cfg.ObjectStore())
}

// openSegmentStore is openStore for a command PostgreSQL starts once per
// WAL segment (wal-push, wal-fetch): it resumes the TLS session the
// previous one left in the state directory rather than make a full
// handshake (objectstore.Config.TLSSessionFile).
func openSegmentStore(ctx context.Context, cfg repo.AgentConfig) (objectstore.Store, error) {
	oc := cfg.ObjectStore()
	if dir, err := cfg.StateDirectory(); err == nil {
		oc.TLSSessionFile = filepath.Join(dir, "tls-sessions.json")
	}
	return openStoreWith(ctx, cfg, oc)
}

func openStoreWith(ctx context.Context, cfg repo.AgentConfig, oc objectstore.Config) (objectstore.Store, error) {
	client, err := objectstore.NewClient(ctx, oc)
	if err != nil {
		return nil, fmt.Errorf("object store: %w", err)
	}
	if !cfg.ReadAsOf.IsZero() {
		// A clean-room restore's configuration: the repository as it was
		// before the declared compromise, nothing written since.
		return objectstore.AsOf(client.Store(cfg.Bucket), cfg.ReadAsOf), nil
	}
	return client.Store(cfg.Bucket), nil
}
