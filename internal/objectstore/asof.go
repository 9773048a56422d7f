package objectstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// ErrReadOnlyView means a write was attempted through a view made by AsOf.
var ErrReadOnlyView = errors.New("the store is a read-only view of the past")

// AsOf is a read-only view of a versioned store as it was at t: a read or
// a listing returns, for each key, the version that was current at t; what
// was written after t (new objects, new versions over old keys, delete
// markers) does not exist in the view. A clean-room restore reads the
// repository this way as of the declared compromise time, so that an
// attacker holding credentials that can write the bucket can neither
// shadow a backup with a forged version nor hide it behind a delete
// marker. Every write returns ErrReadOnlyView.
//
// NOTE: each Get and Head lists the key's versions first (one request
// more); a listing reads versions rather than keys.
func AsOf(s Store, t time.Time) Store { return &asOf{s: s, t: t} }

type asOf struct {
	s Store
	t time.Time
}

// versionedRanger reads a byte range of one version (the S3 store).
type versionedRanger interface {
	GetVersionRange(ctx context.Context, key, versionID string, offset, length int64) (io.ReadCloser, error)
}

func (a *asOf) Bucket() string { return a.s.Bucket() }

func (a *asOf) Put(context.Context, string, io.Reader, PutOptions) (ObjectInfo, error) {
	return ObjectInfo{}, ErrReadOnlyView
}
func (a *asOf) Delete(context.Context, string) error                { return ErrReadOnlyView }
func (a *asOf) DeleteVersion(context.Context, string, string) error { return ErrReadOnlyView }

// visible reports whether a version existed at a.t.
func (a *asOf) visible(o ObjectInfo) bool { return !o.LastModified.After(a.t) }

// version finds key's version current at a.t.
func (a *asOf) version(ctx context.Context, key string) (ObjectInfo, error) {
	var found *ObjectInfo
	err := a.s.ListVersions(ctx, key, func(o ObjectInfo) error {
		if o.Key != key || found != nil || !a.visible(o) {
			return nil
		}
		found = &o
		return nil
	})
	if err != nil {
		return ObjectInfo{}, err
	}
	if found == nil || found.DeleteMarker {
		return ObjectInfo{}, fmt.Errorf("%s as of %s: %w", key, a.t.UTC().Format(time.RFC3339), ErrNotFound)
	}
	return *found, nil
}

func (a *asOf) Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error) {
	v, err := a.version(ctx, key)
	if err != nil {
		return nil, ObjectInfo{}, err
	}
	return a.s.GetVersion(ctx, key, v.VersionID)
}

func (a *asOf) GetVersion(ctx context.Context, key, versionID string) (io.ReadCloser, ObjectInfo, error) {
	rc, info, err := a.s.GetVersion(ctx, key, versionID)
	if err == nil && !a.visible(info) {
		rc.Close()
		return nil, ObjectInfo{}, fmt.Errorf("%s version %s was written after %s: %w", key, versionID, a.t.UTC().Format(time.RFC3339), ErrNotFound)
	}
	return rc, info, err
}

func (a *asOf) Head(ctx context.Context, key string) (ObjectInfo, error) {
	rc, info, err := a.Get(ctx, key)
	if err != nil {
		return ObjectInfo{}, err
	}
	rc.Close()
	return info, nil
}

func (a *asOf) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	last := ""
	seen := false
	return a.s.ListVersions(ctx, prefix, func(o ObjectInfo) error {
		if seen && o.Key == last {
			return nil // an older version of a key already decided
		}
		if !a.visible(o) {
			return nil
		}
		last, seen = o.Key, true
		if o.DeleteMarker {
			return nil
		}
		o.IsLatest = true
		return fn(o)
	})
}

func (a *asOf) ListVersions(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	last := ""
	return a.s.ListVersions(ctx, prefix, func(o ObjectInfo) error {
		if !a.visible(o) {
			return nil
		}
		o.IsLatest = o.Key != last
		last = o.Key
		return fn(o)
	})
}

// GetRange reads a range of the version current at a.t, when the store can
// read ranges of versions; otherwise the whole version, cut to the range.
func (a *asOf) GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	v, err := a.version(ctx, key)
	if err != nil {
		return nil, err
	}
	if vr, ok := a.s.(versionedRanger); ok {
		return vr.GetVersionRange(ctx, key, v.VersionID, offset, length)
	}
	rc, _, err := a.s.GetVersion(ctx, key, v.VersionID)
	if err != nil {
		return nil, err
	}
	if _, err := io.CopyN(io.Discard, rc, offset); err != nil {
		rc.Close()
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(rc, length), rc}, nil
}

// AccessKeyID names the credentials of the store underneath.
func (a *asOf) AccessKeyID(ctx context.Context) string {
	if s, ok := a.s.(interface{ AccessKeyID(context.Context) string }); ok {
		return s.AccessKeyID(ctx)
	}
	return ""
}
