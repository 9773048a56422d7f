package wal

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/compression"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// FetchResult reports what Fetch restored.
type FetchResult struct {
	Key    string
	Size   int64
	SHA256 string
}

// Fetch restores WAL file name into destPath: it finds the object whatever
// codec it was pushed with, decompresses it by its extension, verifies the
// checksum recorded at push time, and only then moves the file into place
// (temporary file in the same directory, fsync, rename), so PostgreSQL never
// sees a partial or corrupt file. A name the archive does not hold returns
// an error wrapping ErrSegmentNotFound.
func Fetch(ctx context.Context, store objectstore.Store, cfg Config, name, destPath string) (FetchResult, error) {
	tli, err := Timeline(name)
	if err != nil {
		return FetchResult{}, err
	}
	objs, err := locate(ctx, store, cfg.Layout, tli, name)
	if err != nil {
		return FetchResult{}, err
	}
	if len(objs) == 0 {
		return FetchResult{}, fmt.Errorf("%s in s3://%s/%s: %w", name, store.Bucket(), cfg.Layout.WALDir(), ErrSegmentNotFound)
	}
	key := objs[0].Key

	dir := filepath.Dir(destPath)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(destPath)+".lifeboat-*")
	if err != nil {
		return FetchResult{}, err
	}
	committed := false
	defer func() {
		if !committed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	res, err := readVerified(ctx, store, key, cfg.Identities, tmp)
	if err != nil {
		return FetchResult{}, err
	}
	if err := tmp.Sync(); err != nil {
		return FetchResult{}, err
	}
	if err := tmp.Close(); err != nil {
		return FetchResult{}, err
	}
	if err := os.Rename(tmp.Name(), destPath); err != nil {
		return FetchResult{}, err
	}
	committed = true
	// The rename is durable only once the directory is synced.
	_ = repo.SyncDir(dir) // best effort: the file itself was synced before the rename
	return res, nil
}

// Verify reads the archived WAL object at key, decompresses it by its
// extension and checks the result against the size and SHA-256 recorded at
// push time, exactly as Fetch would before handing it to PostgreSQL, but
// without writing it anywhere. A mismatch (or an undecodable stream) is a
// *ChecksumError; an object without a recorded checksum is refused. An
// encrypted object needs an identity (VerifyWith).
func Verify(ctx context.Context, store objectstore.Store, key string) (FetchResult, error) {
	return readVerified(ctx, store, key, nil, io.Discard)
}

// VerifyWith is Verify with identities to decrypt an encrypted object: its
// checksum covers the original file, so it is checked after decryption
// (which itself authenticates every 64 KiB of the stored bytes).
func VerifyWith(ctx context.Context, store objectstore.Store, key string, identities *crypt.Keyring) (FetchResult, error) {
	return readVerified(ctx, store, key, identities, io.Discard)
}

// readVerified streams the decrypted and decompressed object at key into
// dst and checks it against the checksum recorded at push time.
func readVerified(ctx context.Context, store objectstore.Store, key string, ids *crypt.Keyring, dst io.Writer) (FetchResult, error) {
	k, ok := repo.ParseWALKey(key)
	if !ok {
		return FetchResult{}, fmt.Errorf("%s is not an archived WAL file", key)
	}
	method, _ := compression.ByExt(k.Ext)
	body, info, err := store.Get(ctx, key)
	if errors.Is(err, objectstore.ErrNotFound) {
		// Deleted between List and Get (prune): the same as never archived.
		return FetchResult{}, fmt.Errorf("%s: %w: %w", key, ErrSegmentNotFound, err)
	}
	if err != nil {
		return FetchResult{}, fmt.Errorf("fetching %s: %w", key, err)
	}
	defer body.Close()
	wantSum := info.Metadata[MetaSHA256]
	if wantSum == "" {
		return FetchResult{}, fmt.Errorf("%s has no %s metadata: not written by lifeboat wal-push, refusing to restore unverifiable WAL", key, MetaSHA256)
	}
	wantSize, _ := strconv.ParseInt(info.Metadata[MetaSize], 10, 64)

	src := &errReader{r: body}
	var plain io.Reader = src
	if k.RecipientSet != "" {
		encInfo := crypt.InfoFromMetadata(info.Metadata)
		if encInfo == nil {
			return FetchResult{}, fmt.Errorf("%s is named encrypted but has no %s metadata", key, crypt.MetaRecipients)
		}
		plain, err = ids.NewReader(src, encInfo, "WAL file "+key)
		if err != nil && errors.Is(err, crypt.ErrCorrupt) && src.err == nil {
			return FetchResult{}, &ChecksumError{Key: store.Bucket() + "/" + key, Want: wantSum, Got: "undecryptable (" + err.Error() + ")", WantSize: wantSize}
		}
		if err != nil {
			return FetchResult{}, err
		}
	}
	zr, err := method.NewReader(plain)
	if err != nil {
		return FetchResult{}, fmt.Errorf("decompressing %s: %w", key, err)
	}
	defer zr.Close()
	h := sha256.New()
	w := &errWriter{w: io.MultiWriter(dst, h)}
	n, err := io.Copy(w, zr)
	if err != nil && src.err == nil && w.err == nil {
		// Neither the download nor the disk failed: the decoder rejected
		// the stream, which is corruption just like a checksum mismatch.
		return FetchResult{}, &ChecksumError{Key: store.Bucket() + "/" + key, Want: wantSum, Got: "undecodable (" + err.Error() + ")", WantSize: wantSize, Size: n}
	}
	if err != nil {
		return FetchResult{}, fmt.Errorf("restoring %s: %w", key, err)
	}
	got := hex.EncodeToString(h.Sum(nil))
	if got != wantSum || (info.Metadata[MetaSize] != "" && n != wantSize) {
		return FetchResult{}, &ChecksumError{Key: store.Bucket() + "/" + key, Want: wantSum, Got: got, WantSize: wantSize, Size: n}
	}
	return FetchResult{Key: key, Size: n, SHA256: got}, nil
}

// errReader and errWriter remember the error of their side of a copy, to
// tell a network or disk failure from a corrupt stream.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if err != nil {
		e.err = err
	}
	return n, err
}
