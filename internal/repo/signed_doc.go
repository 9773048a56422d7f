package repo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

// maxDocSize bounds what a configuration document read may hold: these are
// small JSON files, and a larger object is not one the provider wrote.
const maxDocSize = 1 << 20

// ReadDoc reads the JSON document at key into a T, with the bytes and the
// object metadata its signature check needs. what names the document in
// errors ("drill schedule nightly").
func ReadDoc[T any](ctx context.Context, store objectstore.Store, key, what string) (doc *T, body []byte, meta map[string]string, err error) {
	return ReadDocMax[T](ctx, store, key, what, maxDocSize)
}

// ReadDocMax is ReadDoc for a document that may hold up to limit bytes:
// an index the agent writes over every schedule of a cluster is larger
// than a configuration document. A larger object is refused.
func ReadDocMax[T any](ctx context.Context, store objectstore.Store, key, what string, limit int64) (doc *T, body []byte, meta map[string]string, err error) {
	rc, info, err := store.Get(ctx, key)
	if err != nil {
		return nil, nil, nil, err
	}
	defer func() { _ = rc.Close() }()
	body, err = io.ReadAll(io.LimitReader(rc, limit+1))
	if err == nil && int64(len(body)) > limit {
		err = fmt.Errorf("%s: larger than %d bytes", what, limit)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	var d T
	if err := json.Unmarshal(body, &d); err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", what, err)
	}
	return &d, body, info.Metadata, nil
}

// WriteSigned writes doc as indented JSON at key, signed by signer (nil:
// unsigned) over the key and the exact bytes, as ReadTrusted checks them.
// opts adds conditions or retention (its Size and the signature are set
// here; its Metadata is signed along). what names the document in errors
// ("drill schedule nightly").
func WriteSigned(ctx context.Context, store objectstore.Store, key, what string, doc any, signer *signature.Signer, opts objectstore.PutOptions) error {
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", what, err)
	}
	opts.Size, opts.Metadata = int64(len(b)), signer.Sign(key, b, opts.Metadata)
	if _, err := store.Put(ctx, key, bytes.NewReader(b), opts); err != nil {
		return fmt.Errorf("writing %s: %w", what, err)
	}
	return nil
}

// KeepCreated is the creation time of a document about to be written again
// at key: the stored document's (stored reads it), else created when the
// caller set one, else now. A schedule's first slot follows its creation,
// so rewriting a document must not move it. what names the document in
// errors ("drill schedule nightly").
func KeepCreated[T any](ctx context.Context, store objectstore.Store, key, what string, created time.Time, stored func(*T) time.Time) (time.Time, error) {
	prev, _, _, err := ReadDoc[T](ctx, store, key, what)
	switch {
	case err == nil:
		return stored(prev), nil
	case !errors.Is(err, objectstore.ErrNotFound):
		return time.Time{}, fmt.Errorf("reading %s: %w", what, err)
	case created.IsZero():
		return time.Now().UTC(), nil
	default:
		return created, nil
	}
}

// ReadTrusted reads a document the provider signed: when trust holds keys,
// one without a valid signature by one of them is refused, the error
// wrapping a *signature.Error.
func ReadTrusted[T any](ctx context.Context, store objectstore.Store, key, what string, trust signature.Trust) (*T, error) {
	d, body, meta, err := ReadDoc[T](ctx, store, key, what)
	if err != nil {
		return nil, err
	}
	if err := trust.Check(key, body, meta); err != nil {
		return nil, fmt.Errorf("refusing %s: %w", what, err)
	}
	return d, nil
}

// ListTrusted reads every document under dir that Parse names as kind, with
// read (a ReadTrusted of the named document). A document refused by trust is
// left out and its error returned in refused, so one forged document does
// not stop the others; any other error stops the listing.
func ListTrusted[T any](ctx context.Context, store objectstore.Store, l Layout, dir string, kind Kind,
	name func(Key) string, read func(name string) (*T, error)) (docs []T, refused []error, err error) {
	var names []string
	err = store.List(ctx, dir, func(o objectstore.ObjectInfo) error {
		if k, ok := l.Parse(o.Key); ok && k.Kind == kind {
			names = append(names, name(k))
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	for _, n := range names {
		d, err := read(n)
		var se *signature.Error
		if errors.As(err, &se) {
			refused = append(refused, err)
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		docs = append(docs, *d)
	}
	return docs, refused, nil
}
