package repo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/compression"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

// EnvConfig names the environment variable the agent reads its
// configuration file path from when --config is not given.
const EnvConfig = "LIFEBOAT_CONFIG"

// AgentConfig is the agent configuration file. Example:
//
//	{
//	  "endpoint": "https://s3.eu-west-1.amazonaws.com",
//	  "region": "eu-west-1",
//	  "bucket": "acme-backups",
//	  "prefix": "prod",
//	  "cluster": "odoo-main",
//	  "compression": "zstd"
//	}
//
// Without access_key/secret_key the standard AWS credential chain applies
// (environment, profiles, instance roles), which keeps secrets out of the
// file altogether.
//
// The top-level endpoint, region and credentials are the repository's
// store. Further stores (a recovery region, a role with credentials of its
// own) are named under "stores"; a file without it reads as before:
//
//	"stores": {
//	  "dr": {"endpoint": "https://s3.eu-central-1.amazonaws.com", "region": "eu-central-1"}
//	}
type AgentConfig struct {
	// Endpoint is the S3 API URL; empty means AWS S3.
	Endpoint string `json:"endpoint,omitempty"`
	// Region defaults to us-east-1 when nothing else sets it.
	Region string `json:"region,omitempty"`
	// PathStyle addresses buckets as endpoint/bucket (MinIO needs it).
	PathStyle bool `json:"path_style,omitempty"`
	// SkipTLSVerify accepts any certificate (self-signed test stores only).
	SkipTLSVerify bool `json:"skip_tls_verify,omitempty"`
	// AccessKey and SecretKey are optional static credentials.
	AccessKey string `json:"access_key,omitempty"`
	SecretKey string `json:"secret_key,omitempty"`
	// Bucket is the repository bucket.
	Bucket string `json:"bucket"`
	// Prefix is an optional key prefix inside the bucket.
	Prefix string `json:"prefix,omitempty"`
	// Cluster names this PostgreSQL cluster inside the repository.
	Cluster string `json:"cluster"`
	// Compression is zstd (default), lz4 or none. It only affects what is
	// written: objects are read by their own extension.
	Compression string `json:"compression,omitempty"`
	// PGData is the data directory; empty means $PGDATA, then the working
	// directory (PostgreSQL runs archive_command in the data directory).
	PGData string `json:"pgdata,omitempty"`
	// Stores are further object stores by name; see StoreConfig.
	Stores map[string]StoreEntry `json:"stores,omitempty"`
	// TrustedKeys are the public keys ("ed25519:<base64>") of the provider
	// that writes this cluster's configuration. When set, the agent refuses
	// a policy or drill schedule that does not carry a valid signature of
	// one of them, so credentials that can write into the bucket cannot
	// reconfigure the backups.
	TrustedKeys []string `json:"trusted_keys,omitempty"`
	// SigningKeyFile is this agent's own Ed25519 private key (a file only
	// its account reads, as `lifeboat keygen --out` writes it): the agent
	// signs the drill evidence it records, so a forged record shows as
	// forged to whoever trusts the key.
	SigningKeyFile string `json:"signing_key_file,omitempty"`
	// Encryption, when set, encrypts the WAL, base backups and tenant
	// dumps this agent writes to its recipients (public keys only: this
	// host can write backups it cannot read).
	Encryption *Encryption `json:"encryption,omitempty"`
	// IdentityFile is a file of age identities (mode 0600) that wal-fetch,
	// restores, drills and verification decrypt with; empty means the
	// environment (crypt.LoadIdentities). A writer-only host has none.
	IdentityFile string `json:"identity_file,omitempty"`
	// Host is this agent's name in requests for host-side work: a request
	// addressed to a host (`agent = "db-eu-1"` on a resource) is claimed
	// only by agents of that name, and the agent's heartbeat is published
	// under it. Empty means the machine's host name.
	Host string `json:"host,omitempty"`
	// Profile names a profile of the AWS shared configuration and
	// credentials files on the host (~/.aws/credentials) the agent signs
	// with, instead of static keys or the default chain.
	Profile string `json:"profile,omitempty"`
	// ReadAsOf, when set, makes every read see the repository as it was at
	// that time (objectstore.AsOf). A clean-room restore writes it into
	// the copy's configuration, so restore_command can never fetch WAL
	// written, or shadowed, after the declared compromise.
	ReadAsOf time.Time `json:"read_as_of,omitzero"`
	// Redis are the Redis instances on this host by their name in the
	// repository. A snapshot schedule that declares its target (address
	// and agent, signed in the repository) needs only the password here,
	// when the instance requires one; a schedule without a target is taken
	// by the agents that name the instance here, with this connection. The
	// password lives here, never in the repository:
	//
	//	"redis": {"sessions": {"password": "..."}}
	//	"redis": {"sessions": {"address": "127.0.0.1:6379", "password": "..."}}
	Redis map[string]RedisEntry `json:"redis,omitempty"`
	// Restorer is the restorer identity (read-only: the restorer document
	// of lifeboat_access_policy) the agent reads the repository with for
	// the restores and drills it runs, and that their restore_command
	// uses: a profile of the host's AWS shared files, or static keys. It
	// lives in this file only, never in the repository. Without it those
	// restores read with the agent's own (writer) credentials. Audit
	// records, drill evidence and results are written with the writer's.
	Restorer *RestorerEntry `json:"restorer,omitempty"`
	// WALPushAhead turns the agent's WAL push-ahead off when false: by
	// default an agent that serves the cluster's data directory pushes
	// each segment PostgreSQL marks ready before archive_command asks, and
	// archive_command (wal-push) returns at once on its record.
	WALPushAhead *bool `json:"wal_push_ahead,omitempty"`
	// StateDir is a directory the agent and archive_command both write
	// (the PostgreSQL account's), where push-ahead records are kept under
	// wal-ahead/<system identifier>/ (empty: pg_wal/lifeboat-ahead in the
	// data directory), and the verified copy of the repository's WAL
	// settings that wal-push reads instead of the repository on every
	// segment (see ResolveWALPushSettings; empty: that account's cache
	// directory, ~/.cache/lifeboat).
	StateDir string `json:"state_dir,omitempty"`
	// WALSettingsMaxAge is how long wal-push uses that copy before reading
	// the repository again (a Go duration; default 30s, "0s" reads on
	// every push). An agent daemon on the host refreshes it sooner.
	WALSettingsMaxAge string `json:"wal_settings_max_age,omitempty"`
}

// PushAhead reports whether WAL push-ahead is on (the default).
func (c AgentConfig) PushAhead() bool { return c.WALPushAhead == nil || *c.WALPushAhead }

// RestorerEntry is how the agent signs in as the restorer.
type RestorerEntry struct {
	Profile   string `json:"profile,omitempty"`
	AccessKey string `json:"access_key,omitempty"`
	SecretKey string `json:"secret_key,omitempty"`
}

// RestorerConfig is the configuration the agent's restores read with:
// this one with the restorer's credentials in place of the agent's (and
// no restorer entry, encryption or signing key of its own: it is what a
// restored server's restore_command is given). ok is false without a
// restorer.
func (c AgentConfig) RestorerConfig() (rc AgentConfig, ok bool) {
	if c.Restorer == nil {
		return c, false
	}
	rc = c
	rc.AccessKey, rc.SecretKey, rc.Profile = c.Restorer.AccessKey, c.Restorer.SecretKey, c.Restorer.Profile
	rc.Restorer, rc.SigningKeyFile, rc.Encryption, rc.Redis = nil, "", nil, nil
	return rc, true
}

// Encryption declares client-side encryption: age recipients ("age1...")
// that new objects are encrypted to. Objects record the fingerprints of
// their recipients, so changing the list (rotation) applies to new objects
// and the old identities still read the old ones.
type Encryption struct {
	Recipients []string `json:"recipients"`
}

// Parse reads the encryption recipients; nil when there is no
// encryption.
func (e *Encryption) Parse() (*crypt.Recipients, error) {
	if e == nil {
		return nil, nil
	}
	if len(e.Recipients) == 0 {
		return nil, errors.New("encryption: recipients must list at least one age recipient")
	}
	r, err := crypt.ParseRecipients(e.Recipients)
	if err != nil {
		return nil, fmt.Errorf("encryption: %w", err)
	}
	return r, nil
}

// Recipients are the recipients new objects are encrypted to; nil when the
// configuration declares no encryption.
func (c AgentConfig) Recipients() (*crypt.Recipients, error) { return c.Encryption.Parse() }

// Identities loads the identities to decrypt with, from IdentityFile or
// the environment (crypt.LoadIdentities); nil when none is configured.
func (c AgentConfig) Identities() (*crypt.Keyring, error) {
	return crypt.LoadIdentities(c.IdentityFile)
}

// RedisEntry is how the agent reaches one Redis instance.
type RedisEntry struct {
	// Address is host:port; empty when the signed schedule's target
	// declares it.
	Address  string `json:"address,omitempty"`
	Username string `json:"username,omitempty"`
	// Password is a secret: a file holding one must be mode 0600.
	Password      string `json:"password,omitempty"`
	TLS           bool   `json:"tls,omitempty"`
	TLSServerName string `json:"tls_server_name,omitempty"`
	// TLSCAFile is a PEM bundle to trust instead of the system roots.
	TLSCAFile string `json:"tls_ca_file,omitempty"`
}

// Signer reads SigningKeyFile; nil when none is configured. A key file
// that other accounts can read is refused (*InsecureConfigError).
func (c AgentConfig) Signer() (*signature.Signer, error) {
	if c.SigningKeyFile == "" {
		return nil, nil
	}
	st, err := os.Stat(c.SigningKeyFile)
	if err != nil {
		return nil, fmt.Errorf("signing_key_file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, &InsecureConfigError{Path: c.SigningKeyFile, Mode: st.Mode(), Holds: "a private signing key"}
	}
	b, err := os.ReadFile(c.SigningKeyFile)
	if err != nil {
		return nil, fmt.Errorf("signing_key_file: %w", err)
	}
	s, err := signature.ParsePrivateKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("signing_key_file %s: %w", c.SigningKeyFile, err)
	}
	return s, nil
}

// StoreEntry is one named store of the agent configuration: where it is
// and how to sign in, with the same meaning as the top-level fields.
type StoreEntry struct {
	Endpoint      string `json:"endpoint,omitempty"`
	Region        string `json:"region,omitempty"`
	PathStyle     bool   `json:"path_style,omitempty"`
	SkipTLSVerify bool   `json:"skip_tls_verify,omitempty"`
	AccessKey     string `json:"access_key,omitempty"`
	SecretKey     string `json:"secret_key,omitempty"`
}

// ErrUnknownStore means a store name the configuration does not define.
var ErrUnknownStore = errors.New("no such store in the agent configuration")

// StoreConfig is the objectstore configuration of the store named name;
// "" is the repository's own (the top-level fields).
func (c AgentConfig) StoreConfig(name string) (objectstore.Config, error) {
	if name == "" {
		return c.ObjectStore(), nil
	}
	e, ok := c.Stores[name]
	if !ok {
		return objectstore.Config{}, fmt.Errorf("%w: %q", ErrUnknownStore, name)
	}
	return objectstore.Config{Endpoint: e.Endpoint, Region: e.Region, AccessKey: e.AccessKey, SecretKey: e.SecretKey,
		PathStyle: e.PathStyle, Insecure: e.SkipTLSVerify}, nil
}

// hasSecret is true when any store of the file carries a secret key.
func (c AgentConfig) hasSecret() bool {
	if c.SecretKey != "" {
		return true
	}
	for _, e := range c.Stores {
		if e.SecretKey != "" {
			return true
		}
	}
	for _, e := range c.Redis {
		if e.Password != "" {
			return true
		}
	}
	return c.Restorer != nil && c.Restorer.SecretKey != ""
}

// Trust is the set of TrustedKeys.
func (c AgentConfig) Trust() (signature.Trust, error) {
	t, err := signature.NewTrust(c.TrustedKeys...)
	if err != nil {
		return signature.Trust{}, fmt.Errorf("trusted_keys: %w", err)
	}
	return t, nil
}

// ErrInsecureConfig means a configuration file holds a secret but other
// accounts can read it.
var ErrInsecureConfig = errors.New("configuration file with a secret is readable by other users")

// InsecureConfigError says which file and mode were refused.
type InsecureConfigError struct {
	Path string
	Mode fs.FileMode
	// Holds names the secret (default: secret_key).
	Holds string
}

func (e *InsecureConfigError) Error() string {
	if e.Holds != "" {
		return fmt.Sprintf("%s holds %s but has mode %04o (readable by group or others): run `chmod 600 %s`",
			e.Path, e.Holds, e.Mode.Perm(), e.Path)
	}
	return fmt.Sprintf("%s holds secret_key but has mode %04o (readable by group or others): run `chmod 600 %s`, or drop secret_key and use the AWS credential chain",
		e.Path, e.Mode.Perm(), e.Path)
}

// Unwrap lets errors.Is(err, ErrInsecureConfig) match.
func (e *InsecureConfigError) Unwrap() error { return ErrInsecureConfig }

// KeySafe reports whether name may be one segment of a repository key (a
// cluster, a drill schedule, a restore point): 1-128 letters, digits, '.',
// '_' or '-', starting with a letter or digit.
//
// NOTE: a loop, not the regular expression ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$:
// compiling that one (127 copies of the class) took half a millisecond of
// every process start, archive_command's included.
func KeySafe(name string) bool {
	if len(name) == 0 || len(name) > 128 {
		return false
	}
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case (c == '.' || c == '_' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

// Load reads and validates the configuration file at path. A file holding
// secret_key whose mode lets group or others read it is refused with an
// *InsecureConfigError, before its content is used.
func Load(path string) (AgentConfig, error) {
	if path == "" {
		return AgentConfig{}, fmt.Errorf("no agent configuration: pass --config or set %s", EnvConfig)
	}
	f, err := os.Open(path)
	if err != nil {
		return AgentConfig{}, fmt.Errorf("reading agent configuration: %w", err)
	}
	defer f.Close()
	// NOTE: Stat the open file, not the path, so the mode checked is the
	// mode of the bytes read.
	st, err := f.Stat()
	if err != nil {
		return AgentConfig{}, fmt.Errorf("reading agent configuration: %w", err)
	}
	dec := json.NewDecoder(f)
	// Unknown fields are typos ("secretkey") that would otherwise silently
	// fall back to other credentials.
	dec.DisallowUnknownFields()
	var c AgentConfig
	if err := dec.Decode(&c); err != nil {
		return AgentConfig{}, fmt.Errorf("parsing agent configuration %s: %w", path, err)
	}
	if c.hasSecret() && st.Mode().Perm()&0o077 != 0 {
		return AgentConfig{}, &InsecureConfigError{Path: path, Mode: st.Mode()}
	}
	if err := c.Validate(); err != nil {
		return AgentConfig{}, fmt.Errorf("agent configuration %s: %w", path, err)
	}
	return c, nil
}

// Validate checks the fields an agent cannot work without.
func (c AgentConfig) Validate() error {
	var errs []error
	if c.Bucket == "" {
		errs = append(errs, errors.New("bucket is required"))
	}
	if !KeySafe(c.Cluster) {
		errs = append(errs, fmt.Errorf("cluster %q must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit", c.Cluster))
	}
	if _, err := compression.Lookup(c.Compression); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.Trust(); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.Recipients(); err != nil {
		errs = append(errs, err)
	}
	if (c.AccessKey == "") != (c.SecretKey == "") {
		errs = append(errs, errors.New("access_key and secret_key must be set together"))
	}
	for name, e := range c.Stores {
		if name == "" {
			errs = append(errs, errors.New(`stores: a store needs a name ("" is the top-level store)`))
		}
		if (e.AccessKey == "") != (e.SecretKey == "") {
			errs = append(errs, fmt.Errorf("stores.%s: access_key and secret_key must be set together", name))
		}
	}
	if c.Host != "" && !KeySafe(c.Host) {
		errs = append(errs, fmt.Errorf("host %q must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit", c.Host))
	}
	for name, e := range c.Redis {
		if !KeySafe(name) {
			errs = append(errs, fmt.Errorf("redis: instance name %q must be 1-128 letters, digits, '.', '_' or '-'", name))
		}
		if e.Address == "" && e.Password == "" && e.Username == "" {
			errs = append(errs, fmt.Errorf("redis.%s: needs an address, or the password of an instance whose target lifeboat_redis_persistence declares", name))
		}
	}
	if r := c.Restorer; r != nil {
		keys := r.AccessKey != "" || r.SecretKey != ""
		switch {
		case keys && (r.AccessKey == "" || r.SecretKey == ""):
			errs = append(errs, errors.New("restorer: access_key and secret_key must be set together"))
		case keys && r.Profile != "":
			errs = append(errs, errors.New("restorer: give access_key and secret_key, or a profile, not both"))
		case !keys && r.Profile == "":
			errs = append(errs, errors.New("restorer: needs a profile, or access_key and secret_key"))
		}
	}
	if c.WALSettingsMaxAge != "" {
		if d, err := time.ParseDuration(c.WALSettingsMaxAge); err != nil || d < 0 {
			errs = append(errs, fmt.Errorf("wal_settings_max_age %q: want a duration such as 30s", c.WALSettingsMaxAge))
		}
	}
	if strings.Contains(c.Prefix, "//") {
		errs = append(errs, fmt.Errorf("prefix %q must not contain empty path segments", c.Prefix))
	}
	return errors.Join(errs...)
}

// Marshal renders the configuration file (indented JSON with the
// compression made explicit). The provider's wal_archive resource uses it
// for its agent_config attribute; a caller that writes it to disk must use
// mode 0600 when it holds secret_key.
func (c AgentConfig) Marshal() ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	m, _ := compression.Lookup(c.Compression)
	c.Compression = m.Name
	c.Prefix = strings.Trim(c.Prefix, "/")
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Redacted returns a copy safe to print or log: the secret key is masked.
func (c AgentConfig) Redacted() AgentConfig {
	if c.SecretKey != "" {
		c.SecretKey = "<redacted>"
	}
	if len(c.Stores) > 0 {
		stores := make(map[string]StoreEntry, len(c.Stores))
		for name, e := range c.Stores {
			if e.SecretKey != "" {
				e.SecretKey = "<redacted>"
			}
			stores[name] = e
		}
		c.Stores = stores // a copy: the caller's map keeps its secrets
	}
	if len(c.Redis) > 0 {
		rs := make(map[string]RedisEntry, len(c.Redis))
		for name, e := range c.Redis {
			if e.Password != "" {
				e.Password = "<redacted>"
			}
			rs[name] = e
		}
		c.Redis = rs
	}
	if c.Restorer != nil && c.Restorer.SecretKey != "" {
		r := *c.Restorer
		r.SecretKey = "<redacted>"
		c.Restorer = &r
	}
	return c
}

// String prints the configuration without its secret, so an accidental
// %v in a log line never leaks it.
func (c AgentConfig) String() string {
	b, _ := json.Marshal(c.Redacted())
	return string(b)
}

// GoString keeps %#v from printing the secret too.
func (c AgentConfig) GoString() string { return "repo.AgentConfig" + c.String() }

// ObjectStore is the objectstore client configuration this file describes.
func (c AgentConfig) ObjectStore() objectstore.Config {
	return objectstore.Config{
		Endpoint:  c.Endpoint,
		Region:    c.Region,
		AccessKey: c.AccessKey,
		SecretKey: c.SecretKey,
		PathStyle: c.PathStyle,
		Insecure:  c.SkipTLSVerify,
		Profile:   c.Profile,
	}
}

// Layout is where this cluster's repository lives in the bucket.
func (c AgentConfig) Layout() Layout {
	return Layout{Prefix: c.Prefix, Cluster: c.Cluster}
}
