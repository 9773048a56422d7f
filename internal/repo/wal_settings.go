package repo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/compression"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

// WALSettings is how wal-push archives the cluster's WAL, as the provider
// declares it (lifeboat_wal_archive) at l.WALSettingsKey(), signed like the
// policy: the compression and the encryption recipients. With it, a
// change reaches every host's archive_command through the repository, with
// no file to rewrite on the database hosts, and credentials that can only
// write into the bucket cannot turn encryption off (the agent verifies the
// signature with its trusted_keys).
type WALSettings struct {
	Format  int       `json:"format"`
	Cluster string    `json:"cluster"`
	Updated time.Time `json:"updated"`
	// Compression is zstd, lz4 or none.
	Compression string `json:"compression"`
	// Encryption, when set, is what new segments are encrypted to; nil
	// archives them unencrypted.
	Encryption *Encryption `json:"encryption,omitempty"`
}

// Validate checks the codec and the recipients.
func (s WALSettings) Validate() error {
	if _, err := compression.Lookup(s.Compression); err != nil {
		return err
	}
	_, err := s.Encryption.Parse()
	return err
}

// WriteWALSettings stores s at l.WALSettingsKey(), replacing the previous
// settings, signed by signer (nil: unsigned; agents that trust a key then
// refuse it).
func WriteWALSettings(ctx context.Context, store objectstore.Store, l Layout, s WALSettings, signer *signature.Signer) error {
	if err := s.Validate(); err != nil {
		return err
	}
	s.Format, s.Cluster = 1, l.Cluster
	if s.Updated.IsZero() {
		s.Updated = time.Now().UTC()
	}
	return WriteSigned(ctx, store, l.WALSettingsKey(), "WAL archiving settings", s, signer, objectstore.PutOptions{})
}

// ReadWALSettings reads the cluster's WAL settings; a missing document
// wraps objectstore.ErrNotFound, and one without a valid signature of a key
// of trust (when it holds one) is refused with a *signature.Error.
func ReadWALSettings(ctx context.Context, store objectstore.Store, l Layout, trust signature.Trust) (*WALSettings, error) {
	s, _, err := readWALSettings(ctx, store, l, trust)
	return s, err
}

// ReadWALSettingsSigned reads the settings and reports which key of trust
// signed them ("" when unsigned, forged or signed by another key), without
// refusing them: the provider's refresh plans a rewrite.
func ReadWALSettingsSigned(ctx context.Context, store objectstore.Store, l Layout, trust signature.Trust) (*WALSettings, string, error) {
	s, body, meta, err := ReadDoc[WALSettings](ctx, store, l.WALSettingsKey(), "WAL archiving settings")
	if err != nil {
		return nil, "", err
	}
	signer, _ := trust.Signed(l.WALSettingsKey(), body, meta)
	return s, signer, nil
}

func readWALSettings(ctx context.Context, store objectstore.Store, l Layout, trust signature.Trust) (*WALSettings, cachedDoc, error) {
	key := l.WALSettingsKey()
	s, body, meta, err := ReadDoc[WALSettings](ctx, store, key, "WAL archiving settings")
	if err != nil {
		return nil, cachedDoc{}, err
	}
	if err := trust.Check(key, body, meta); err != nil {
		return nil, cachedDoc{}, fmt.Errorf("refusing WAL archiving settings: %w", err)
	}
	return s, cachedDoc{Key: key, Body: body, Meta: meta}, nil
}

// WALPushSettings is what one wal-push archives with, and where that came
// from.
type WALPushSettings struct {
	Compression string
	Recipients  *crypt.Recipients
	// Source says where the settings came from: "repository" (read now),
	// "cache" (the local verified copy), "bootstrap" (no document in the
	// repository: the agent configuration's own).
	Source string
	// Refused, when set, is why the repository's document was not used
	// (a forged or unsigned document): the settings are the last verified
	// ones, or the bootstrap's. The caller logs it.
	Refused error
}

// DefaultWALSettingsMaxAge is how long wal-push uses its local copy of the
// WAL settings before reading the repository again.
const DefaultWALSettingsMaxAge = 30 * time.Second

// cachedDoc is the local copy of a signed document: the exact bytes and
// metadata the signature covers, so it is verified again on every read and
// a local edit cannot change what is used.
type cachedDoc struct {
	Key  string            `json:"key"`
	Body []byte            `json:"body,omitempty"`
	Meta map[string]string `json:"meta,omitempty"`
	// Absent records that the repository had no document (the bootstrap's
	// settings apply), so a host without one does not read on every push.
	Absent bool `json:"absent,omitempty"`
	// Checked is when the repository was last read (or the agent
	// refreshed the copy).
	Checked time.Time `json:"checked"`
}

// walSettingsCachePath is where the local copy of c's WAL settings lives:
// one file per repository in the state directory.
func (c AgentConfig) walSettingsCachePath() (string, error) {
	dir, err := c.StateDirectory()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(c.Endpoint + "\x00" + c.Bucket + "\x00" + c.Layout().Root()))
	return filepath.Join(dir, "wal-settings-"+hex.EncodeToString(sum[:8])+".json"), nil
}

// StateDirectory is StateDir, or the user cache directory's lifeboat/.
func (c AgentConfig) StateDirectory() (string, error) {
	if c.StateDir != "" {
		return c.StateDir, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no state_dir in the agent configuration and no cache directory: %w", err)
	}
	return filepath.Join(d, "lifeboat"), nil
}

// walSettingsMaxAge is WALSettingsMaxAge parsed, or the default.
func (c AgentConfig) walSettingsMaxAge() time.Duration {
	if d, err := time.ParseDuration(c.WALSettingsMaxAge); err == nil && c.WALSettingsMaxAge != "" {
		return d
	}
	return DefaultWALSettingsMaxAge
}

// readCache reads the local copy at path; ok is false when there is none
// or it cannot be parsed (it is then read from the repository again).
func readCache(path string) (cachedDoc, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return cachedDoc{}, false
	}
	var d cachedDoc
	if json.Unmarshal(b, &d) != nil {
		return cachedDoc{}, false
	}
	return d, true
}

// writeCache replaces the local copy at path atomically, mode 0600. Run as
// root (an agent daemon), the file goes to the owner of the state
// directory: the account PostgreSQL runs archive_command as. Nothing is
// synced: every read checks the copy's signature and reads the repository
// again when it is damaged or missing, so a crash costs one read, where a
// sync would cost every push that refreshes the copy milliseconds.
func writeCache(path string, d cachedDoc) error {
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return WriteFileAtomic(path, b, Unsynced, func(tmp string) error {
		if os.Getuid() == 0 {
			if st, err := os.Stat(dir); err == nil {
				if sys, ok := st.Sys().(*syscall.Stat_t); ok {
					_ = os.Chown(tmp, int(sys.Uid), int(sys.Gid))
				}
			}
		}
		return nil
	})
}

// decode verifies d's signature against trust again and decodes it.
func (d cachedDoc) decode(trust signature.Trust) (*WALSettings, error) {
	if err := trust.Check(d.Key, d.Body, d.Meta); err != nil {
		return nil, err
	}
	var s WALSettings
	if err := json.Unmarshal(d.Body, &s); err != nil {
		return nil, err
	}
	return &s, s.Validate()
}

// ResolveWALPushSettings is what wal-push archives with: the signed WAL
// settings of the repository, from the local verified copy while it is
// younger than wal_settings_max_age (no request per segment), else read
// from the repository and kept. A copy edited locally fails its signature
// check and is read again. A document the trust refuses (forged,
// unsigned) is never used: the last verified settings stay in force, or
// the bootstrap's when there were none, and Refused says why. Without a
// document in the repository, the bootstrap file's compression and
// encryption apply (a single host configured by its file alone).
func ResolveWALPushSettings(ctx context.Context, c AgentConfig, store objectstore.Store, now time.Time) (WALPushSettings, error) {
	s, _, err := resolveWALPushSettings(ctx, c, store, now, false)
	return s, err
}

// ResolveWALPushSettingsAhead is ResolveWALPushSettings for a push that
// need not wait for the repository's answer to start its work. When the
// local verified copy (or its record that the repository declares none)
// is usable but older than wal_settings_max_age, its settings come at once,
// and confirm reads the repository, refreshes the copy, and returns the
// settings to archive with after all: the caller compresses meanwhile and
// writes nothing before confirm has answered with the same settings (a
// change, rare, means starting over with the new ones). Without a usable
// copy, or with a fresh one, it is ResolveWALPushSettings and confirm is
// nil.
func ResolveWALPushSettingsAhead(ctx context.Context, c AgentConfig, store objectstore.Store, now time.Time) (s WALPushSettings, confirm func(context.Context) (WALPushSettings, error), err error) {
	s, stale, err := resolveWALPushSettings(ctx, c, store, now, true)
	if err != nil || !stale {
		return s, nil, err
	}
	return s, func(ctx context.Context) (WALPushSettings, error) { return ResolveWALPushSettings(ctx, c, store, now) }, nil
}

// SameWALPushSettings reports whether a and b archive alike: the same
// compression and the same recipients.
//
// NOTE: every recipient's fingerprint is compared, not the set's id: the
// id is 32 bits of the fingerprints, so a changed set may share it with
// the old one (once in four billion changes, or a set built to), and a
// push that took the two for the same would encrypt to the old keys (a
// revoked one among them) instead of starting over with the new.
func SameWALPushSettings(a, b WALPushSettings) bool {
	if a.Compression != b.Compression || (a.Recipients == nil) != (b.Recipients == nil) {
		return false
	}
	if a.Recipients == nil {
		return true
	}
	ia, ib := a.Recipients.Info(), b.Recipients.Info()
	return ia.Scheme == ib.Scheme && slices.Equal(ia.Recipients, ib.Recipients)
}

// resolveWALPushSettings is ResolveWALPushSettings; with staleOK, a usable
// copy older than the max age is returned as is, stale, without a read.
func resolveWALPushSettings(ctx context.Context, c AgentConfig, store objectstore.Store, now time.Time, staleOK bool) (WALPushSettings, bool, error) {
	trust, err := c.Trust()
	if err != nil {
		return WALPushSettings{}, false, err
	}
	l := c.Layout()
	bootstrap := func(src string, refused error) (WALPushSettings, error) {
		r, err := c.Recipients()
		return WALPushSettings{Compression: c.Compression, Recipients: r, Source: src, Refused: refused}, err
	}
	fromDoc := func(s *WALSettings, src string, refused error) (WALPushSettings, error) {
		r, err := s.Encryption.Parse()
		if err != nil {
			return WALPushSettings{}, fmt.Errorf("%s: %w", l.WALSettingsKey(), err)
		}
		return WALPushSettings{Compression: s.Compression, Recipients: r, Source: src, Refused: refused}, nil
	}
	path, perr := c.walSettingsCachePath()
	var cached cachedDoc
	var have bool
	if perr == nil {
		cached, have = readCache(path)
		have = have && cached.Key == l.WALSettingsKey()
	}
	var last *WALSettings // the copy's settings, verified again
	var copyErr error
	if have && !cached.Absent {
		last, copyErr = cached.decode(trust)
	}
	fresh := have && now.Sub(cached.Checked) < c.walSettingsMaxAge() && now.Sub(cached.Checked) >= -time.Minute
	switch {
	case (fresh || staleOK && have) && cached.Absent:
		s, err := bootstrap("cache", nil)
		return s, !fresh, err
	case (fresh || staleOK && have) && copyErr == nil:
		s, err := fromDoc(last, "cache", nil)
		return s, !fresh, err
	}
	keep := func(d cachedDoc) {
		if perr == nil {
			d.Checked = now
			_ = writeCache(path, d) // best effort: without it, the next push reads again
		}
	}
	// read is the answer after a read of the repository: never stale.
	read := func(s WALPushSettings, err error) (WALPushSettings, bool, error) { return s, false, err }
	s, doc, err := readWALSettings(ctx, store, l, trust)
	var refused *signature.Error
	switch {
	case err == nil:
		keep(doc)
		return read(fromDoc(s, "repository", nil))
	case errors.Is(err, objectstore.ErrNotFound):
		keep(cachedDoc{Key: l.WALSettingsKey(), Absent: true})
		return read(bootstrap("bootstrap", nil))
	case errors.As(err, &refused):
		if last != nil && copyErr == nil {
			// The last verified settings stay; checked again after the
			// max age, so a forged document costs no read per segment.
			keep(cached)
			return read(fromDoc(last, "cache", err))
		}
		keep(cachedDoc{Key: l.WALSettingsKey(), Absent: true})
		return read(bootstrap("bootstrap", err))
	case last != nil && copyErr == nil:
		// The repository cannot be read now: the push itself will tell;
		// the last verified settings are the best known.
		return read(fromDoc(last, "cache", nil))
	default:
		return WALPushSettings{}, false, fmt.Errorf("reading WAL archiving settings: %w", err)
	}
}

// RefreshWALSettingsCache reads the repository's WAL settings and replaces
// the local copy wal-push reads: an agent daemon on the host calls it on
// every refresh, so archive_command rarely reads the repository itself. A
// document the trust refuses leaves the copy as it is.
func RefreshWALSettingsCache(ctx context.Context, c AgentConfig, store objectstore.Store, now time.Time) error {
	trust, err := c.Trust()
	if err != nil {
		return err
	}
	path, err := c.walSettingsCachePath()
	if err != nil {
		return err
	}
	l := c.Layout()
	_, doc, err := readWALSettings(ctx, store, l, trust)
	switch {
	case err == nil:
	case errors.Is(err, objectstore.ErrNotFound):
		doc = cachedDoc{Key: l.WALSettingsKey(), Absent: true}
	default:
		return err
	}
	doc.Checked = now
	return writeCache(path, doc)
}
