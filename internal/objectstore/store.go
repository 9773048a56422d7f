package objectstore

import (
	"context"
	"errors"
	"io"
	"time"
)

// Sentinel errors. Every error returned by a Store or a Client that means one
// of these wraps it, so callers can use errors.Is.
var (
	// ErrNotFound: the object (or object version) does not exist.
	ErrNotFound = errors.New("object not found")
	// ErrExists: a conditional put (PutOptions.IfAbsent) found the key taken.
	ErrExists = errors.New("object already exists")
	// ErrObjectLocked: the object version is protected by object lock (WORM)
	// or a legal hold and cannot be deleted or overwritten in place.
	ErrObjectLocked = errors.New("object is protected by object lock")
	// ErrBucketNotFound: the bucket does not exist.
	ErrBucketNotFound = errors.New("bucket not found")
	// ErrBucketNotEmpty: the bucket still holds object versions.
	ErrBucketNotEmpty = errors.New("bucket not empty")
	// ErrUnreachable: the object store endpoint could not be reached at all.
	ErrUnreachable = errors.New("object store unreachable")
	// ErrAccessDenied: the store rejected the credentials or the request was
	// not authorised.
	ErrAccessDenied = errors.New("object store access denied")
	// ErrNoObjectLock: a put asked for a retention, but the bucket has no
	// object lock; nothing was written.
	ErrNoObjectLock = errors.New("bucket has no object lock")
	// ErrChecksumMismatch: a put asked the store to check the body's
	// SHA-256 (PutOptions.VerifySHA256) and the bytes the store received
	// do not have it; nothing was written. Also returned when the store
	// answers with another digest than the one sent.
	ErrChecksumMismatch = errors.New("the store received other bytes than were sent (SHA-256 checksum mismatch)")
)

// ObjectInfo describes one object (or one version of it).
type ObjectInfo struct {
	Key          string
	Size         int64
	ETag         string
	LastModified time.Time
	// VersionID is empty on stores or buckets without versioning.
	VersionID string
	// IsLatest is true for the current version of a key.
	IsLatest bool
	// DeleteMarker is true when this version is a delete marker.
	DeleteMarker bool
	// Metadata holds user metadata (lower-case keys, without the x-amz-meta- prefix).
	Metadata map[string]string
	// SHA256 is the object's SHA-256 (hex) when known: from HeadSHA256
	// (ChecksumHeader), the full-object SHA-256 checksum the store keeps
	// for it (objects written with one; "" otherwise, and for multipart
	// objects, whose checksum is a checksum of their parts); from a Put
	// with VerifySHA256, the digest of the body sent.
	SHA256 string
	// CRC32C is the object's CRC32C (hex) when known: from HeadSHA256,
	// the full-object CRC32C checksum the store keeps (objects written
	// with one); from a Put with VerifyCRC32C, the checksum of the body
	// sent (and SHA256 is that body's SHA-256).
	CRC32C string
	// CRC32CChecked, from a Put with VerifyCRC32C, means the store
	// answered with CRC32C as the checksum it checked the received bytes
	// against.
	CRC32CChecked bool
	// SHA256Checked, from a Put with VerifySHA256, means the store
	// answered with SHA256 as the checksum it checked the received bytes
	// against. False when it answered none (a store without S3 additional
	// checksums): then nothing says what it stored but reading it back.
	SHA256Checked bool
}

// PutOptions controls a Put.
type PutOptions struct {
	// IfAbsent makes the put conditional (If-None-Match: *): when the key
	// already exists the put fails with ErrExists and nothing is written.
	IfAbsent bool
	// Metadata is stored with the object as user metadata.
	Metadata map[string]string
	// Size is the body length when known, or -1. A known size lets the store
	// use a single request; an unknown size streams in parts. With a known
	// size, a body that is not an io.ReadSeeker is sent as it is read, so the
	// upload can start before the body is complete; it must yield exactly
	// Size bytes, else the put fails and nothing is stored.
	Size int64
	// RetainUntil, when set, places an object-lock retention on the written
	// version until that time, in place of the bucket's default retention
	// (shorter or longer). The bucket must have object lock, else the put
	// fails with ErrNoObjectLock.
	RetainUntil time.Time
	// RetentionMode is the mode of RetainUntil: ModeCompliance (the
	// default when empty) or ModeGovernance.
	RetentionMode string
	// VerifySHA256 asks the store to check the body's SHA-256 on arrival
	// and to store nothing (ErrChecksumMismatch) unless the bytes it
	// received have it. The digest is SHA256 when given, sent ahead of the
	// body; otherwise it is computed as the body streams and sent after
	// it (an aws-chunked trailer), so the body is read once. It needs a
	// known Size up to MaxVerifiedPut (one request, never parts). The
	// returned ObjectInfo carries the digest and whether the store
	// confirmed it (SHA256, SHA256Checked).
	VerifySHA256 bool
	// SHA256 is the body's SHA-256 (hex) when known before the put (with
	// VerifySHA256).
	SHA256 string
	// VerifyCRC32C asks the store to check the body's CRC32C on arrival
	// (x-amz-checksum-crc32c, a hardware-accelerated checksum on both
	// sides) and to store nothing (ErrChecksumMismatch) unless the bytes
	// it received have it. The CRC32C is computed as the body streams and
	// sent after it (an aws-chunked trailer), and the body's SHA-256 in
	// the same pass: the returned ObjectInfo carries both (SHA256,
	// CRC32C) and whether the store confirmed the CRC32C (CRC32CChecked),
	// so the caller knows the SHA-256 of exactly the bytes the store
	// checked without the store hashing them. Same limits as
	// VerifySHA256; not with it.
	VerifyCRC32C bool
}

// MaxVerifiedPut is the largest body a put with VerifySHA256 takes: one
// request (S3's limit for a single PUT is 5 GiB).
const MaxVerifiedPut = 5 << 30

// Store is a bucket-scoped object store. Keys are '/'-separated paths without
// a leading slash.
//
// Contracts every implementation keeps (objectstoretest.Run checks them):
//   - Get and Head of a missing key return an error wrapping ErrNotFound.
//   - Put streams the body; it may overwrite an existing key unless
//     PutOptions.IfAbsent is set. A Put that returns an error leaves no object
//     that a later Get could mistake for complete.
//   - Delete of a missing key succeeds. On a versioned bucket it adds a delete
//     marker; the older versions stay readable through GetVersion.
//   - List visits keys under prefix in lexical order, latest versions only.
type Store interface {
	// Bucket names the bucket this store reads and writes.
	Bucket() string
	// Put writes body to key.
	Put(ctx context.Context, key string, body io.Reader, opts PutOptions) (ObjectInfo, error)
	// Get opens the current version of key. The caller closes the reader.
	Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error)
	// GetVersion opens one version of key.
	GetVersion(ctx context.Context, key, versionID string) (io.ReadCloser, ObjectInfo, error)
	// Head describes the current version of key without reading it.
	Head(ctx context.Context, key string) (ObjectInfo, error)
	// List calls fn for every key under prefix, in lexical order; an error
	// from fn stops the walk and is returned.
	List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error
	// ListVersions calls fn for every version and delete marker under
	// prefix, keys in lexical order, newest version of a key first.
	ListVersions(ctx context.Context, prefix string, fn func(ObjectInfo) error) error
	// Delete removes key (a delete marker on a versioned bucket).
	Delete(ctx context.Context, key string) error
	// DeleteVersion permanently removes one version. A version under object
	// lock returns ErrObjectLocked.
	DeleteVersion(ctx context.Context, key, versionID string) error
}

// ChecksumHeader is implemented by stores that keep S3 additional
// checksums: HeadSHA256 is Head with ObjectInfo.SHA256 filled from the
// full-object SHA-256 checksum the store keeps ("" when none). Callers
// fall back to Head, or to reading the object.
type ChecksumHeader interface {
	HeadSHA256(ctx context.Context, key string) (ObjectInfo, error)
}

// RangeReader is implemented by stores that can read a byte range of an
// object's current version, so a large object can be downloaded in
// parallel pieces (restores). Callers fall back to Get when a store does
// not implement it.
type RangeReader interface {
	// GetRange opens length bytes of key starting at offset. A missing
	// key returns an error wrapping ErrNotFound.
	GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
}
