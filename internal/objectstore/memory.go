package objectstore

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Memory is an in-memory, always-versioned Store for unit tests of engine
// logic. It keeps the same contracts as S3; it is never used where a user
// would use a real object store.
type Memory struct {
	bucket string

	mu      sync.Mutex
	seq     int
	objects map[string][]*memVersion // newest last
	now     func() time.Time
}

type memVersion struct {
	info        ObjectInfo
	data        []byte
	retainUntil time.Time
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store for bucket.
func NewMemory(bucket string) *Memory {
	return &Memory{bucket: bucket, objects: map[string][]*memVersion{}, now: time.Now}
}

// Bucket implements Store.
func (m *Memory) Bucket() string { return m.bucket }

// Put implements Store.
func (m *Memory) Put(ctx context.Context, key string, body io.Reader, opts PutOptions) (ObjectInfo, error) {
	// Read the whole body before taking the lock: a failing reader must leave
	// nothing behind, exactly as an aborted upload does on S3.
	data, err := io.ReadAll(body)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("put %s: reading body: %w", key, err)
	}
	if opts.Size >= 0 && int64(len(data)) != opts.Size {
		// As S3 refuses a body that differs from its Content-Length.
		return ObjectInfo{}, fmt.Errorf("put %s: body of %d bytes, %d announced", key, len(data), opts.Size)
	}
	if err := ctx.Err(); err != nil {
		return ObjectInfo{}, err
	}
	var sha, crc, bodySHA string
	if opts.VerifyCRC32C {
		// As S3 with a CRC32C trailer: the checksum of what arrived, kept
		// with the version; the sender learns the body's SHA-256.
		if opts.Size < 0 || opts.Size > MaxVerifiedPut || opts.VerifySHA256 {
			return ObjectInfo{}, fmt.Errorf("put %s: a put checked on arrival needs a known size up to %d bytes (and one checksum), got %d", key, int64(MaxVerifiedPut), opts.Size)
		}
		crc = hex.EncodeToString(binary.BigEndian.AppendUint32(nil, crc32.Checksum(data, castagnoli)))
		s := sha256.Sum256(data)
		bodySHA = hex.EncodeToString(s[:])
	}
	if opts.VerifySHA256 {
		// As S3 with a checksum: the digest of what arrived, checked
		// against the one sent ahead, kept with the version.
		if opts.Size < 0 || opts.Size > MaxVerifiedPut {
			return ObjectInfo{}, fmt.Errorf("put %s: a put checked on arrival needs a known size up to %d bytes, got %d", key, int64(MaxVerifiedPut), opts.Size)
		}
		s := sha256.Sum256(data)
		sha = hex.EncodeToString(s[:])
		if opts.SHA256 != "" && opts.SHA256 != sha {
			return ObjectInfo{}, fmt.Errorf("put %s: %w: received %s, sent %s", key, ErrChecksumMismatch, sha, opts.SHA256)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if opts.IfAbsent {
		if v := m.latest(key); v != nil && !v.info.DeleteMarker {
			return ObjectInfo{}, fmt.Errorf("put %s: %w", key, ErrExists)
		}
	}
	sum := md5.Sum(data)
	m.seq++
	v := &memVersion{
		info: ObjectInfo{
			Key:          key,
			Size:         int64(len(data)),
			ETag:         hex.EncodeToString(sum[:]),
			LastModified: m.now().UTC(),
			VersionID:    strconv.Itoa(m.seq),
			Metadata:     lowerKeys(opts.Metadata),
			SHA256:       sha,
			CRC32C:       crc,
		},
		data:        data,
		retainUntil: opts.RetainUntil,
	}
	m.objects[key] = append(m.objects[key], v)
	info := v.info
	info.SHA256Checked = sha != ""
	info.CRC32CChecked = crc != ""
	if bodySHA != "" {
		info.SHA256 = bodySHA
	}
	return info, nil
}

// Get implements Store.
func (m *Memory) Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v := m.latest(key)
	if v == nil || v.info.DeleteMarker {
		return nil, ObjectInfo{}, fmt.Errorf("get %s: %w", key, ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(v.data)), m.describe(key, v), nil
}

// GetVersion implements Store.
func (m *Memory) GetVersion(ctx context.Context, key, versionID string) (io.ReadCloser, ObjectInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, v := range m.objects[key] {
		if v.info.VersionID == versionID && !v.info.DeleteMarker {
			return io.NopCloser(bytes.NewReader(v.data)), m.describe(key, v), nil
		}
	}
	return nil, ObjectInfo{}, fmt.Errorf("get %s version %s: %w", key, versionID, ErrNotFound)
}

// Head implements Store.
func (m *Memory) Head(ctx context.Context, key string) (ObjectInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v := m.latest(key)
	if v == nil || v.info.DeleteMarker {
		return ObjectInfo{}, fmt.Errorf("head %s: %w", key, ErrNotFound)
	}
	return m.describe(key, v), nil
}

var _ ChecksumHeader = (*Memory)(nil)

// HeadSHA256 implements ChecksumHeader.
func (m *Memory) HeadSHA256(ctx context.Context, key string) (ObjectInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v := m.latest(key)
	if v == nil || v.info.DeleteMarker {
		return ObjectInfo{}, fmt.Errorf("head %s: %w", key, ErrNotFound)
	}
	info := m.describe(key, v)
	info.SHA256, info.CRC32C = v.info.SHA256, v.info.CRC32C
	return info, nil
}

// List implements Store.
func (m *Memory) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	m.mu.Lock()
	var infos []ObjectInfo
	for _, key := range m.keys(prefix) {
		if v := m.latest(key); v != nil && !v.info.DeleteMarker {
			infos = append(infos, m.describe(key, v))
		}
	}
	m.mu.Unlock()
	for _, info := range infos {
		if err := fn(info); err != nil {
			return err
		}
	}
	return nil
}

// ListVersions implements Store.
func (m *Memory) ListVersions(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	m.mu.Lock()
	var infos []ObjectInfo
	for _, key := range m.keys(prefix) {
		vs := m.objects[key]
		for i := len(vs) - 1; i >= 0; i-- {
			infos = append(infos, m.describe(key, vs[i]))
		}
	}
	m.mu.Unlock()
	for _, info := range infos {
		if err := fn(info); err != nil {
			return err
		}
	}
	return nil
}

// Delete implements Store.
func (m *Memory) Delete(ctx context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v := m.latest(key); v == nil || v.info.DeleteMarker {
		return nil
	}
	m.seq++
	m.objects[key] = append(m.objects[key], &memVersion{info: ObjectInfo{
		Key: key, LastModified: m.now().UTC(), VersionID: strconv.Itoa(m.seq), DeleteMarker: true,
	}})
	return nil
}

// DeleteVersion implements Store.
func (m *Memory) DeleteVersion(ctx context.Context, key, versionID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	vs := m.objects[key]
	for i, v := range vs {
		if v.info.VersionID != versionID {
			continue
		}
		if m.now().Before(v.retainUntil) {
			return fmt.Errorf("delete %s version %s: %w until %s", key, versionID, ErrObjectLocked, v.retainUntil.UTC().Format(time.RFC3339))
		}
		m.objects[key] = append(vs[:i:i], vs[i+1:]...)
		if len(m.objects[key]) == 0 {
			delete(m.objects, key)
		}
		return nil
	}
	return nil
}

// Retention reports the object-lock retention of one object version, as
// S3.Retention does: ok is false when the version has none.
func (m *Memory) Retention(_ context.Context, key, versionID string) (until time.Time, mode string, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, v := range m.objects[key] {
		if v.info.VersionID == versionID && !v.retainUntil.IsZero() {
			return v.retainUntil, ModeCompliance, true
		}
	}
	return time.Time{}, "", false
}

func (m *Memory) latest(key string) *memVersion {
	vs := m.objects[key]
	if len(vs) == 0 {
		return nil
	}
	return vs[len(vs)-1]
}

func (m *Memory) describe(key string, v *memVersion) ObjectInfo {
	info := v.info
	info.Metadata = maps.Clone(v.info.Metadata)
	info.IsLatest = m.latest(key) == v
	// As S3: the checksum only when asked for (HeadSHA256).
	info.SHA256, info.CRC32C = "", ""
	return info
}

func (m *Memory) keys(prefix string) []string {
	var keys []string
	for k := range m.objects {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

func lowerKeys(in map[string]string) map[string]string {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[strings.ToLower(k)] = v
	}
	return out
}

var _ RangeReader = (*Memory)(nil)

// GetRange implements RangeReader.
func (m *Memory) GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v := m.latest(key)
	if v == nil || v.info.DeleteMarker {
		return nil, fmt.Errorf("get %s: %w", key, ErrNotFound)
	}
	if offset < 0 || length < 0 || offset > int64(len(v.data)) {
		return nil, fmt.Errorf("get %s: range %d+%d outside %d bytes", key, offset, length, len(v.data))
	}
	end := min(offset+length, int64(len(v.data)))
	return io.NopCloser(bytes.NewReader(v.data[offset:end])), nil
}
