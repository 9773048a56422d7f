// Package objectstoretest is the conformance suite every objectstore.Store
// implementation runs, so the in-memory store used by engine unit tests
// cannot drift from the S3 behaviour users get.
package objectstoretest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
)

// NewStore returns an empty store on a fresh, versioned bucket with object
// lock enabled (no default retention).
type NewStore func(t *testing.T) objectstore.Store

// Run runs every contract check against stores made by newStore.
func Run(t *testing.T, newStore NewStore) {
	ctx := context.Background()

	t.Run("MissingKeyIsNotFound", func(t *testing.T) {
		s := newStore(t)
		if _, _, err := s.Get(ctx, "nope"); !errors.Is(err, objectstore.ErrNotFound) {
			t.Fatalf("Get missing: want ErrNotFound, got %v", err)
		}
		if _, err := s.Head(ctx, "nope"); !errors.Is(err, objectstore.ErrNotFound) {
			t.Fatalf("Head missing: want ErrNotFound, got %v", err)
		}
		if err := s.Delete(ctx, "nope"); err != nil {
			t.Fatalf("Delete missing: want success, got %v", err)
		}
	})

	t.Run("PutGetRoundTrip", func(t *testing.T) {
		s := newStore(t)
		body := []byte("segment bytes")
		if _, err := s.Put(ctx, "a/b", bytes.NewReader(body), objectstore.PutOptions{Size: int64(len(body)), Metadata: map[string]string{"Sha256": "abc"}}); err != nil {
			t.Fatal(err)
		}
		got, info := Read(t, s, "a/b")
		if !bytes.Equal(got, body) {
			t.Fatalf("Get = %q, want %q", got, body)
		}
		if info.Metadata["sha256"] != "abc" {
			t.Fatalf("metadata = %v, want sha256=abc (lower-cased key)", info.Metadata)
		}
		h, err := s.Head(ctx, "a/b")
		if err != nil || h.Size != int64(len(body)) {
			t.Fatalf("Head = %+v, %v; want size %d", h, err, len(body))
		}
	})

	t.Run("StreamOfUnknownSizeAcrossParts", func(t *testing.T) {
		s := newStore(t)
		body := make([]byte, 17<<20+123)
		if _, err := rand.Read(body); err != nil {
			t.Fatal(err)
		}
		// io.MultiReader hides Seek: the store must stream, not rewind.
		if _, err := s.Put(ctx, "big", io.MultiReader(bytes.NewReader(body)), objectstore.PutOptions{Size: -1}); err != nil {
			t.Fatal(err)
		}
		got, _ := Read(t, s, "big")
		if !bytes.Equal(got, body) {
			t.Fatalf("streamed object differs: got %d bytes, want %d", len(got), len(body))
		}
	})

	t.Run("StreamOfKnownSizeSentAsProduced", func(t *testing.T) {
		s := newStore(t)
		body := make([]byte, 5<<20+7)
		if _, err := rand.Read(body); err != nil {
			t.Fatal(err)
		}
		// A pipe: the body is still being produced when the put starts.
		pr, pw := io.Pipe()
		go func() {
			for off := 0; off < len(body); off += 1 << 20 {
				if _, err := pw.Write(body[off:min(off+1<<20, len(body))]); err != nil {
					return
				}
			}
			pw.Close()
		}()
		if _, err := s.Put(ctx, "streamed", pr, objectstore.PutOptions{IfAbsent: true, Size: int64(len(body)), Metadata: map[string]string{"sha256": "x"}}); err != nil {
			t.Fatal(err)
		}
		got, info := Read(t, s, "streamed")
		if !bytes.Equal(got, body) || info.Metadata["sha256"] != "x" {
			t.Fatalf("streamed object differs: got %d bytes, metadata %v", len(got), info.Metadata)
		}
		// Conditional, it never overwrites either.
		_, err := s.Put(ctx, "streamed", io.MultiReader(bytes.NewReader([]byte("other"))), objectstore.PutOptions{IfAbsent: true, Size: 5})
		if !errors.Is(err, objectstore.ErrExists) {
			t.Fatalf("conditional streamed put over an existing key: want ErrExists, got %v", err)
		}
	})

	t.Run("StreamOfKnownSizeThatFailsLeavesNothing", func(t *testing.T) {
		s := newStore(t)
		pr, pw := io.Pipe()
		go func() {
			pw.Write(make([]byte, 1<<20)) //nolint:errcheck // the put reports the failure
			pw.CloseWithError(errors.New("compressor failed"))
		}()
		if _, err := s.Put(ctx, "failed", pr, objectstore.PutOptions{Size: 2 << 20}); err == nil {
			t.Fatal("put of a failing stream succeeded")
		}
		short := io.MultiReader(bytes.NewReader(make([]byte, 1000)))
		if _, err := s.Put(ctx, "short", short, objectstore.PutOptions{Size: 2000}); err == nil {
			t.Fatal("put of a stream shorter than its size succeeded")
		}
		for _, k := range []string{"failed", "short"} {
			if _, _, err := s.Get(ctx, k); !errors.Is(err, objectstore.ErrNotFound) {
				t.Fatalf("after a failed streamed put, %s: want ErrNotFound, got %v", k, err)
			}
		}
	})

	t.Run("ConditionalPutNeverOverwrites", func(t *testing.T) {
		s := newStore(t)
		put(t, s, "lease", "first", objectstore.PutOptions{IfAbsent: true, Size: -1})
		_, err := s.Put(ctx, "lease", bytes.NewReader([]byte("second")), objectstore.PutOptions{IfAbsent: true, Size: 6})
		if !errors.Is(err, objectstore.ErrExists) {
			t.Fatalf("second conditional put: want ErrExists, got %v", err)
		}
		if got, _ := Read(t, s, "lease"); string(got) != "first" {
			t.Fatalf("after refused put: content %q, want %q", got, "first")
		}
		put(t, s, "lease", "third", objectstore.PutOptions{Size: -1})
		if got, _ := Read(t, s, "lease"); string(got) != "third" {
			t.Fatalf("unconditional put: content %q, want %q", got, "third")
		}
	})

	// A body that fails after some bytes leaves no object behind.
	for _, c := range []struct {
		name   string
		before int // bytes read before the failure
	}{
		{"FailedPutLeavesNothing", 1 << 20},
		// Two full parts of the S3 store's uploads stored, then the body fails.
		{"StreamAcrossPartsThatFailsLeavesNothing", 33 << 20},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t)
			r := io.MultiReader(bytes.NewReader(make([]byte, c.before)), failingReader{})
			if _, err := s.Put(ctx, "half", r, objectstore.PutOptions{Size: -1}); err == nil {
				t.Fatal("put from a failing reader succeeded")
			}
			if _, _, err := s.Get(ctx, "half"); !errors.Is(err, objectstore.ErrNotFound) {
				t.Fatalf("after failed put: want ErrNotFound, got %v", err)
			}
		})
	}

	t.Run("ConditionalStreamAcrossPartsNeverOverwrites", func(t *testing.T) {
		s := newStore(t)
		first := make([]byte, 17<<20)
		if _, err := rand.Read(first); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Put(ctx, "part", io.MultiReader(bytes.NewReader(first)), objectstore.PutOptions{IfAbsent: true, Size: -1}); err != nil {
			t.Fatal(err)
		}
		_, err := s.Put(ctx, "part", io.MultiReader(bytes.NewReader(make([]byte, 17<<20))), objectstore.PutOptions{IfAbsent: true, Size: -1})
		if !errors.Is(err, objectstore.ErrExists) {
			t.Fatalf("second conditional streamed put: want ErrExists, got %v", err)
		}
		if got, _ := Read(t, s, "part"); !bytes.Equal(got, first) {
			t.Fatal("a refused streamed put changed the object")
		}
	})

	t.Run("ListIsOrderedAndPrefixed", func(t *testing.T) {
		s := newStore(t)
		for _, k := range []string{"p/2", "p/1", "q/1", "p/10"} {
			put(t, s, k, k, objectstore.PutOptions{Size: -1})
		}
		var keys []string
		if err := s.List(ctx, "p/", func(o objectstore.ObjectInfo) error { keys = append(keys, o.Key); return nil }); err != nil {
			t.Fatal(err)
		}
		want := []string{"p/1", "p/10", "p/2"}
		if len(keys) != len(want) {
			t.Fatalf("List = %v, want %v", keys, want)
		}
		for i := range want {
			if keys[i] != want[i] {
				t.Fatalf("List = %v, want %v", keys, want)
			}
		}
	})

	t.Run("DeleteKeepsOldVersions", func(t *testing.T) {
		s := newStore(t)
		v1 := put(t, s, "doc", "v1", objectstore.PutOptions{Size: -1})
		put(t, s, "doc", "v2", objectstore.PutOptions{Size: -1})
		if err := s.Delete(ctx, "doc"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Get(ctx, "doc"); !errors.Is(err, objectstore.ErrNotFound) {
			t.Fatalf("Get after delete: want ErrNotFound, got %v", err)
		}
		var versions, markers int
		var firstIsMarker bool
		if err := s.ListVersions(ctx, "doc", func(o objectstore.ObjectInfo) error {
			if versions+markers == 0 {
				firstIsMarker = o.DeleteMarker && o.IsLatest
			}
			if o.DeleteMarker {
				markers++
			} else {
				versions++
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if versions != 2 || markers != 1 || !firstIsMarker {
			t.Fatalf("versions=%d markers=%d firstIsLatestMarker=%v; want 2, 1, true", versions, markers, firstIsMarker)
		}
		rc, _, err := s.GetVersion(ctx, "doc", v1.VersionID)
		if err != nil {
			t.Fatalf("GetVersion of v1: %v", err)
		}
		defer rc.Close()
		if b, _ := io.ReadAll(rc); string(b) != "v1" {
			t.Fatalf("GetVersion = %q, want v1", b)
		}
	})

	t.Run("LockedVersionCannotBeDeleted", func(t *testing.T) {
		s := newStore(t)
		info := put(t, s, "evidence", "drill passed", objectstore.PutOptions{Size: -1, RetainUntil: time.Now().Add(24 * time.Hour)})
		err := s.DeleteVersion(ctx, "evidence", info.VersionID)
		if !errors.Is(err, objectstore.ErrObjectLocked) {
			t.Fatalf("DeleteVersion of a locked version: want ErrObjectLocked, got %v", err)
		}
		if got, _ := Read(t, s, "evidence"); string(got) != "drill passed" {
			t.Fatalf("locked object changed: %q", got)
		}
		unlocked := put(t, s, "scratch", "x", objectstore.PutOptions{Size: -1})
		if err := s.DeleteVersion(ctx, "scratch", unlocked.VersionID); err != nil {
			t.Fatalf("DeleteVersion of an unlocked version: %v", err)
		}
		if _, _, err := s.GetVersion(ctx, "scratch", unlocked.VersionID); !errors.Is(err, objectstore.ErrNotFound) {
			t.Fatalf("deleted version still readable: %v", err)
		}
	})
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("disk read error") }

func put(t *testing.T, s objectstore.Store, key, body string, opts objectstore.PutOptions) objectstore.ObjectInfo {
	t.Helper()
	info, err := s.Put(context.Background(), key, bytes.NewReader([]byte(body)), opts)
	if err != nil {
		t.Fatalf("Put %s: %v", key, err)
	}
	return info
}

// Read returns the current version of key in s and its description,
// failing the test when it cannot be read whole.
func Read(t *testing.T, s objectstore.Store, key string) ([]byte, objectstore.ObjectInfo) {
	t.Helper()
	rc, info, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get %s: %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %s: %v", key, err)
	}
	return b, info
}
