package backup

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// FormatVersion is the manifest format this package writes and reads.
const FormatVersion = 1

// Kinds of backup.
const (
	KindPhysical = "physical"
	KindTenant   = "tenant"
)

// Part is one stored object of a backup.
type Part struct {
	Key string `json:"key"`
	// Size is the stored (compressed) size and SHA256 the hex SHA-256 of
	// the stored bytes.
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Archive is one tablespace's tar stream as PostgreSQL sent it.
type Archive struct {
	// Name is the archive's name: base.tar for the main data directory,
	// <oid>.tar for a tablespace, plus the codec's extension.
	Name string `json:"name"`
	// TablespaceOID and TablespacePath are empty for the main data
	// directory.
	TablespaceOID  string `json:"tablespace_oid,omitempty"`
	TablespacePath string `json:"tablespace_path,omitempty"`
	// Compression is the codec of the stored stream (zstd, lz4, none).
	Compression string `json:"compression"`
	// StoredSize is the sum of the parts' sizes.
	StoredSize int64  `json:"stored_size"`
	Parts      []Part `json:"parts"`
}

// Manifest is the Lifeboat manifest of a physical base backup
// (basebackups/<id>/manifest.json).
type Manifest struct {
	Format           int    `json:"format"`
	Kind             string `json:"kind"`
	ID               string `json:"id"`
	Cluster          string `json:"cluster"`
	SystemIdentifier string `json:"system_identifier"`
	// ServerVersion is server_version_num (150004).
	ServerVersion int    `json:"server_version"`
	Label         string `json:"label"`

	StartTime time.Time `json:"start_time"`
	StopTime  time.Time `json:"stop_time"`
	// StartLSN and StopLSN are PostgreSQL's X/X form.
	StartLSN       string `json:"start_lsn"`
	StopLSN        string `json:"stop_lsn"`
	Timeline       uint32 `json:"timeline"`
	StopTimeline   uint32 `json:"stop_timeline"`
	WALSegmentSize uint64 `json:"wal_segment_size"`
	// WALStart and WALStop are the first and last WAL segment files a
	// restore of this backup needs from the archive; WAL from WALStart on
	// must never be pruned while the backup is kept.
	WALStart string `json:"wal_start"`
	WALStop  string `json:"wal_stop"`

	// Compression is the codec of the archives, and CompressedBy says
	// where it ran ("server": PostgreSQL compressed, "client": the agent).
	Compression  string `json:"compression"`
	CompressedBy string `json:"compressed_by,omitempty"`
	// DataSize is the uncompressed size PostgreSQL reported sending;
	// StoredSize the bytes stored, all parts and the backup_manifest.
	DataSize   int64     `json:"data_size"`
	StoredSize int64     `json:"stored_size"`
	Archives   []Archive `json:"archives"`
	// BackupManifest is PostgreSQL's backup_manifest, stored uncompressed
	// so pg_verifybackup can read it after a restore.
	BackupManifest *Part `json:"backup_manifest,omitempty"`
	// Encryption, when set, says the archives and backup_manifest are
	// encrypted (after compression) to the recipients it names by
	// fingerprint; each archive's name then ends in ".age". Parts' SHA256
	// covers the stored (encrypted) bytes, so they verify without an
	// identity; their content needs one.
	Encryption *crypt.Info `json:"encryption,omitempty"`
}

// TenantManifest is the manifest of one tenant dump
// (tenants/<database>/<id>.json).
type TenantManifest struct {
	Format    int       `json:"format"`
	Kind      string    `json:"kind"`
	ID        string    `json:"id"`
	Cluster   string    `json:"cluster"`
	Database  string    `json:"database"`
	StartTime time.Time `json:"start_time"`
	StopTime  time.Time `json:"stop_time"`
	// LSN is the WAL location of the snapshot the dump was taken from.
	LSN string `json:"lsn,omitempty"`
	// Format of the dump: pg_dump's custom format, restorable with
	// pg_restore; PGDumpVersion is `pg_dump --version`.
	DumpFormat    string `json:"dump_format"`
	PGDumpVersion string `json:"pg_dump_version"`
	ServerVersion int    `json:"server_version,omitempty"`
	// Dump's Size and SHA256 are of the stored bytes: the encrypted ones
	// when Encryption is set.
	Dump Part `json:"dump"`
	// Encryption, when set, says the dump is encrypted to the recipients
	// it names by fingerprint.
	Encryption *crypt.Info `json:"encryption,omitempty"`
}

// IDTimeFormat is the time part of a backup id.
const IDTimeFormat = "20060102T150405Z"

var idPattern = regexp.MustCompile(`^\d{8}T\d{6}Z-[0-9a-f]{4}$`)

// NewID returns a backup id for a backup started at t: ids sort by time.
func NewID(t time.Time) string {
	var b [2]byte
	_, _ = rand.Read(b[:])
	return t.UTC().Format(IDTimeFormat) + "-" + hex.EncodeToString(b[:])
}

// ValidID reports whether id has the form NewID produces.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// IDTime is the start time encoded in an id.
func IDTime(id string) (time.Time, error) {
	if !ValidID(id) {
		return time.Time{}, fmt.Errorf("%q is not a backup id (want %s-xxxx)", id, IDTimeFormat)
	}
	return time.Parse(IDTimeFormat, id[:len(IDTimeFormat)])
}

// ErrNoManifest means the backup has no manifest: it is incomplete (still
// running, failed or killed) or was never taken, and does not exist.
var ErrNoManifest = errors.New("backup has no manifest (incomplete or missing)")

// ReadManifest reads the manifest of base backup id.
func ReadManifest(ctx context.Context, store objectstore.Store, l repo.Layout, id string) (*Manifest, error) {
	var m Manifest
	if err := readJSON(ctx, store, l.BackupManifestKey(id), &m); err != nil {
		return nil, err
	}
	if m.Kind != KindPhysical || m.ID != id {
		return nil, fmt.Errorf("%s: manifest of %s %q, not of physical backup %q", l.BackupManifestKey(id), m.Kind, m.ID, id)
	}
	return &m, nil
}

// ReadTenantManifest reads the manifest of the dump of db with id.
func ReadTenantManifest(ctx context.Context, store objectstore.Store, l repo.Layout, db, id string) (*TenantManifest, error) {
	var m TenantManifest
	if err := readJSON(ctx, store, l.TenantManifestKey(db, id), &m); err != nil {
		return nil, err
	}
	if m.Kind != KindTenant || m.ID != id || m.Database != db {
		return nil, fmt.Errorf("%s: manifest of %s %q/%q, not of tenant dump %q/%q", l.TenantManifestKey(db, id), m.Kind, m.Database, m.ID, db, id)
	}
	return &m, nil
}

func readJSON(ctx context.Context, store objectstore.Store, key string, v any) error {
	body, _, err := store.Get(ctx, key)
	if errors.Is(err, objectstore.ErrNotFound) {
		return fmt.Errorf("%s: %w", key, ErrNoManifest)
	}
	if err != nil {
		return err
	}
	defer body.Close()
	// A manifest is small; a huge object under that name is not one.
	raw, err := io.ReadAll(io.LimitReader(body, 64<<20))
	if err != nil {
		return fmt.Errorf("reading %s: %w", key, err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("parsing %s: %w", key, err)
	}
	return nil
}

// writeManifest stores v at key with If-None-Match. It is the last write of
// every backup: see the package comment.
func writeManifest(ctx context.Context, store objectstore.Store, key string, v any) error {
	raw, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	raw = append(raw, '\n')
	_, err = store.Put(ctx, key, bytes.NewReader(raw), objectstore.PutOptions{
		IfAbsent: true, Size: int64(len(raw)),
		Metadata: map[string]string{"lifeboat-kind": "manifest"},
	})
	if err != nil {
		return fmt.Errorf("writing manifest %s: %w", key, err)
	}
	return nil
}

// validDatabase keeps database names usable as one key segment.
func validDatabase(db string) error {
	if db == "" || strings.ContainsAny(db, "/=\x00") || db != path.Clean(db) || db == "." || db == ".." {
		return fmt.Errorf("database name %q cannot be used in the repository (empty, '/', '=', '.' or '..')", db)
	}
	return nil
}
