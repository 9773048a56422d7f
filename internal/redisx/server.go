package redisx

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Options say how to reach one Redis instance.
type Options struct {
	Addr     string // host:port
	Username string // ACL user; empty for the default user
	Password string
	TLS      bool
	// TLSServerName overrides the name checked in the server certificate.
	TLSServerName string
	// TLSCACert is a PEM bundle to trust instead of the system roots.
	TLSCACert string
}

// ErrNoConfigFile says the server runs without a config file, so CONFIG
// REWRITE cannot persist anything.
var ErrNoConfigFile = errors.New("the server runs without a config file")

// RewriteError is CONFIG REWRITE failing: the settings are live but a
// restart would undo them. ConfigFile is empty when there is none.
type RewriteError struct {
	ConfigFile string
	Err        error
}

func (e *RewriteError) Error() string {
	if e.ConfigFile == "" {
		return fmt.Sprintf("CONFIG REWRITE: %v: start redis-server with a config file (redis-server /etc/redis/redis.conf) so settings survive a restart", e.Err)
	}
	return fmt.Sprintf("CONFIG REWRITE of %s: %v: make the file and its directory writable by the redis-server account so settings survive a restart", e.ConfigFile, e.Err)
}

func (e *RewriteError) Unwrap() error { return e.Err }

// Connect opens a client and checks the server answers. The caller closes it.
func Connect(ctx context.Context, o Options) (*redis.Client, error) {
	opts := &redis.Options{
		Addr: o.Addr, Username: o.Username, Password: o.Password,
		// NOTE: RESP2 and no CLIENT SETINFO: every Redis since 2.x speaks
		// them, and nothing here needs RESP3.
		Protocol: 2, DisableIdentity: true,
		MaxRetries: 1, DialTimeout: 5 * time.Second,
	}
	if o.TLS {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: o.TLSServerName}
		if o.TLSCACert != "" {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM([]byte(o.TLSCACert)) {
				return nil, fmt.Errorf("tls CA certificate: no PEM certificate found")
			}
			cfg.RootCAs = pool
		}
		opts.TLSConfig = cfg
	}
	c := redis.NewClient(opts)
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("connecting to redis at %s: %w", o.Addr, err)
	}
	return c, nil
}

// Persistence is what INFO persistence reports, the parts posture needs.
type Persistence struct {
	LastSave             time.Time // last successful RDB save
	LastBgsaveStatus     string    // ok or err
	BgsaveInProgress     bool
	ChangesSinceLastSave int64
	AOFEnabled           bool
	AOFLastWriteStatus   string // ok or err
	AOFLastRewriteStatus string // ok or err
	AOFRewriteInProgress bool
}

// Problems describes each failing persistence mechanism; none when healthy.
func (p Persistence) Problems() []string {
	var out []string
	if p.LastBgsaveStatus != "" && p.LastBgsaveStatus != "ok" {
		out = append(out, fmt.Sprintf("the last BGSAVE failed (last successful save %s, %d changes since)",
			p.LastSave.UTC().Format(time.RFC3339), p.ChangesSinceLastSave))
	}
	if p.AOFEnabled && p.AOFLastWriteStatus != "" && p.AOFLastWriteStatus != "ok" {
		out = append(out, "the last AOF write failed")
	}
	if p.AOFEnabled && p.AOFLastRewriteStatus != "" && p.AOFLastRewriteStatus != "ok" {
		out = append(out, "the last AOF rewrite failed")
	}
	return out
}

// State is the server as Read sees it.
type State struct {
	Settings    Settings
	ConfigFile  string // empty when the server runs without one
	Persistence Persistence
}

// Read returns the managed settings (CONFIG GET), the config file and
// INFO persistence.
func Read(ctx context.Context, c *redis.Client) (State, error) {
	var st State
	cfg := map[string]string{}
	for _, name := range []string{"save", "appendonly", "appendfsync", "aof-use-rdb-preamble", "maxmemory-policy"} {
		m, err := c.ConfigGet(ctx, name).Result()
		if err != nil {
			return st, fmt.Errorf("CONFIG GET %s: %w", name, err)
		}
		cfg[name] = m[name]
	}
	save, err := NormalizeSave(cfg["save"])
	if err != nil {
		return st, fmt.Errorf("CONFIG GET save: %w", err)
	}
	st.Settings = Settings{Save: save, AppendOnly: cfg["appendonly"] == "yes", AppendFsync: cfg["appendfsync"],
		AOFUseRDBPreamble: cfg["aof-use-rdb-preamble"] == "yes", MaxmemoryPolicy: cfg["maxmemory-policy"]}
	server, err := info(ctx, c, "server")
	if err != nil {
		return st, err
	}
	st.ConfigFile = server["config_file"]
	p, err := info(ctx, c, "persistence")
	if err != nil {
		return st, err
	}
	last, _ := strconv.ParseInt(p["rdb_last_save_time"], 10, 64)
	changes, _ := strconv.ParseInt(p["rdb_changes_since_last_save"], 10, 64)
	st.Persistence = Persistence{
		LastSave:             time.Unix(last, 0),
		LastBgsaveStatus:     p["rdb_last_bgsave_status"],
		BgsaveInProgress:     p["rdb_bgsave_in_progress"] == "1",
		ChangesSinceLastSave: changes,
		AOFEnabled:           p["aof_enabled"] == "1",
		AOFLastWriteStatus:   p["aof_last_write_status"],
		AOFLastRewriteStatus: p["aof_last_bgrewrite_status"],
		AOFRewriteInProgress: p["aof_rewrite_in_progress"] == "1",
	}
	return st, nil
}

// Apply converges the server to want: the differing settings in one CONFIG
// SET (atomic, safety rule 4), then CONFIG REWRITE (safety rule 3). It
// returns the state read back afterwards. A *RewriteError comes with that
// state: the settings are live, only not persisted.
func Apply(ctx context.Context, c *redis.Client, want Settings) (State, error) {
	st, err := Read(ctx, c)
	if err != nil {
		return st, err
	}
	diff := Diff(want, st.Settings)
	if len(diff) > 0 {
		args := []any{"CONFIG", "SET"}
		for _, name := range diff {
			args = append(args, name, want.get(name))
		}
		if err := c.Do(ctx, args...).Err(); err != nil {
			return st, fmt.Errorf("CONFIG SET %s: %w", strings.Join(diff, ", "), err)
		}
	}
	// NOTE: rewritten even when nothing differed: settings made live by an
	// earlier apply whose rewrite failed must still reach the file.
	rerr := c.ConfigRewrite(ctx).Err()
	st, err = Read(ctx, c)
	if err != nil {
		return st, err
	}
	if rerr != nil {
		if st.ConfigFile == "" || strings.Contains(rerr.Error(), "without a config file") {
			return st, &RewriteError{ConfigFile: st.ConfigFile, Err: fmt.Errorf("%w (%w)", ErrNoConfigFile, rerr)}
		}
		return st, &RewriteError{ConfigFile: st.ConfigFile, Err: rerr}
	}
	return st, nil
}

// info parses one INFO section into its fields.
func info(ctx context.Context, c *redis.Client, section string) (map[string]string, error) {
	s, err := c.Info(ctx, section).Result()
	if err != nil {
		return nil, fmt.Errorf("INFO %s: %w", section, err)
	}
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":"); ok {
			out[k] = v
		}
	}
	return out, nil
}
