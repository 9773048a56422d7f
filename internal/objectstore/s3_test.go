package objectstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore/objectstoretest"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.Spec{MinIO: 1}))
}

func newMinIOClient(t *testing.T) *objectstore.Client {
	t.Helper()
	env := testenv.Require(t)
	c, err := objectstore.NewClient(context.Background(), objectstore.Config{
		Endpoint: env.MinIO[0].Endpoint, AccessKey: env.MinIO[0].AccessKey, SecretKey: env.MinIO[0].SecretKey, PathStyle: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func randomBucket(prefix string) string {
	return fmt.Sprintf("%s-%08x", prefix, rand.Uint32())
}

// newBucket creates an empty bucket named after prefix, destroyed with
// whatever it holds when the test ends, and returns its name.
func newBucket(t *testing.T, c *objectstore.Client, prefix string) string {
	t.Helper()
	name := randomBucket(prefix)
	if err := c.CreateBucket(context.Background(), objectstore.BucketSpec{Name: name}); err != nil {
		t.Fatal(err)
	}
	// Versions locked by a test stay until their retention ends; MinIO's
	// data folder is removed with the environment anyway.
	t.Cleanup(func() { _ = c.DestroyBucket(context.Background(), name, true) })
	return name
}

// newStore is a store on a bucket of the test's own (newBucket).
func newStore(t *testing.T, prefix string) *objectstore.S3 {
	t.Helper()
	c := newMinIOClient(t)
	return c.Store(newBucket(t, c, prefix))
}

// patterned returns size bytes of a pattern that differs from one offset
// to the next, so a misplaced or dropped byte changes the checksums.
func patterned(size int) []byte {
	body := make([]byte, size)
	for i := range body {
		body[i] = byte(i * 7)
	}
	return body
}

// piped returns body as a pipe, as a copy's source body is: read once, no
// seeking, no length.
func piped(body []byte) io.Reader {
	pr, pw := io.Pipe()
	go func() { _, err := pw.Write(body); pw.CloseWithError(err) }()
	return pr
}

// putPiped puts size patterned bytes at streamed/<size> through a pipe,
// checked as opts asks, and returns the key, the body and its hex SHA-256.
func putPiped(t *testing.T, s objectstore.Store, size int, opts objectstore.PutOptions) (key string, body []byte, sum string, info objectstore.ObjectInfo) {
	t.Helper()
	body = patterned(size)
	key = fmt.Sprintf("streamed/%d", size)
	opts.Size = int64(size)
	info, err := s.Put(context.Background(), key, piped(body), opts)
	if err != nil {
		t.Fatalf("%d bytes: %v", size, err)
	}
	return key, body, sha256Hex(body), info
}

// checkedPutSizes are the body sizes a checked put is tried with: empty,
// one byte, one part, and more than one part with a short last one.
var checkedPutSizes = []int{0, 1, 1 << 20, 3<<20 + 5}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// shortPutStoresNothing puts a body shorter than the size it announces,
// checked as opts asks: the put must fail and store nothing.
func shortPutStoresNothing(t *testing.T, s objectstore.Store, opts objectstore.PutOptions) {
	t.Helper()
	ctx := context.Background()
	opts.Size = 10
	if _, err := s.Put(ctx, "short", strings.NewReader("short"), opts); err == nil {
		t.Fatal("a short body went through")
	}
	if _, err := s.Head(ctx, "short"); !errors.Is(err, objectstore.ErrNotFound) {
		t.Fatalf("short put left an object: %v", err)
	}
}

func TestS3Conformance(t *testing.T) {
	c := newMinIOClient(t)
	objectstoretest.Run(t, func(t *testing.T) objectstore.Store {
		return c.Store(newBucket(t, c, "conf"))
	})
}

func TestS3ClassifiesBadCredentials(t *testing.T) {
	env := testenv.Require(t)
	c, err := objectstore.NewClient(context.Background(), objectstore.Config{
		Endpoint: env.MinIO[0].Endpoint, AccessKey: "wrong", SecretKey: "wrong-secret", PathStyle: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ReadBucket(context.Background(), "anything")
	if !errors.Is(err, objectstore.ErrAccessDenied) {
		t.Fatalf("want ErrAccessDenied, got %v", err)
	}
	if !strings.Contains(err.Error(), env.MinIO[0].Endpoint) {
		t.Fatalf("error does not name the endpoint: %v", err)
	}
}

func TestS3ClassifiesUnreachableEndpoint(t *testing.T) {
	testenv.Require(t)
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	c, err := objectstore.NewClient(context.Background(), objectstore.Config{Endpoint: endpoint, AccessKey: "a", SecretKey: "b", PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ReadBucket(context.Background(), "anything")
	if !errors.Is(err, objectstore.ErrUnreachable) || !strings.Contains(err.Error(), endpoint) {
		t.Fatalf("want ErrUnreachable naming %s, got %v", endpoint, err)
	}
}

// A backup policy's lifecycle rules and the bucket's own tiers live side by
// side: each side replaces only its own rules.
func TestS3PolicyTiersAndBucketTiersCoexist(t *testing.T) {
	c := newMinIOClient(t)
	ctx := context.Background()
	name := randomBucket("tiers")
	spec := objectstore.BucketSpec{Name: name, Lifecycle: []objectstore.LifecycleTier{{Name: "attachments", Prefix: "attachments/", NoncurrentVersionExpirationDays: 30}}}
	if err := c.CreateBucket(ctx, spec); err != nil {
		t.Fatal(err)
	}
	defer c.DestroyBucket(ctx, name, true)
	policy := []objectstore.LifecycleTier{{Name: "transactional", Prefix: "pg/main/", ExpirationDays: 40}}
	if err := c.SetPolicyTiers(ctx, name, "pg/main", policy); err != nil {
		t.Fatal(err)
	}
	// The bucket's own update keeps the policy's rule...
	changed := spec
	changed.Lifecycle = []objectstore.LifecycleTier{{Name: "attachments", Prefix: "attachments/", NoncurrentVersionExpirationDays: 60}}
	if err := c.UpdateBucket(ctx, spec, changed); err != nil {
		t.Fatal(err)
	}
	got, err := c.PolicyTiers(ctx, name, "pg/main")
	if err != nil || len(got) != 1 || got[0].Name != "transactional" || got[0].ExpirationDays != 40 || got[0].Prefix != "pg/main/" {
		t.Fatalf("policy tiers after a bucket update = %+v, %v", got, err)
	}
	// ...and the bucket does not see it as its own.
	st, err := c.ReadBucket(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Spec.Lifecycle) != 1 || st.Spec.Lifecycle[0].NoncurrentVersionExpirationDays != 60 {
		t.Fatalf("bucket tiers = %+v", st.Spec.Lifecycle)
	}
	// A policy update keeps the bucket's rule.
	if err := c.SetPolicyTiers(ctx, name, "pg/main", nil); err != nil {
		t.Fatal(err)
	}
	st, _ = c.ReadBucket(ctx, name)
	if got, _ := c.PolicyTiers(ctx, name, "pg/main"); len(got) != 0 || len(st.Spec.Lifecycle) != 1 {
		t.Fatalf("after clearing the policy: policy %+v, bucket %+v", got, st.Spec.Lifecycle)
	}
}

// A put checked on arrival: MinIO hashes what it receives against the
// SHA-256 sent after the body (computed as it streams) or ahead of it
// (given), answers it, and keeps it (Head). A wrong given digest stores
// nothing; so does a body shorter than its size.
func TestS3PutVerifiedSHA256(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, "sha")
	for _, size := range checkedPutSizes {
		key, body, want, info := putPiped(t, s, size, objectstore.PutOptions{VerifySHA256: true})
		if info.SHA256 != want || !info.SHA256Checked {
			t.Fatalf("%d bytes: put answered %+v, want SHA-256 %s checked", size, info, want)
		}
		if h, err := s.Head(ctx, key); err != nil || h.SHA256 != "" {
			t.Fatalf("%d bytes: a plain head reports a checksum: %+v, %v", size, h, err)
		}
		h, err := s.HeadSHA256(ctx, key)
		if err != nil || h.SHA256 != want || h.Size != int64(size) {
			t.Fatalf("%d bytes: head %+v, %v: want the stored SHA-256 %s", size, h, err, want)
		}
		if got, _ := objectstoretest.Read(t, s, key); !bytes.Equal(got, body) {
			t.Fatalf("%d bytes: stored bytes differ", size)
		}
		// The same, the digest given ahead.
		info, err = s.Put(ctx, "given/"+key, bytes.NewReader(body), objectstore.PutOptions{Size: int64(size), VerifySHA256: true, SHA256: want})
		if err != nil || !info.SHA256Checked || info.SHA256 != want {
			t.Fatalf("%d bytes, digest given: %+v, %v", size, info, err)
		}
	}
	_, err := s.Put(ctx, "wrong", strings.NewReader("payload"), objectstore.PutOptions{Size: 7, VerifySHA256: true, SHA256: sha256Hex([]byte("other"))})
	if !errors.Is(err, objectstore.ErrChecksumMismatch) {
		t.Fatalf("put with another digest: %v, want ErrChecksumMismatch", err)
	}
	if _, err := s.Head(ctx, "wrong"); !errors.Is(err, objectstore.ErrNotFound) {
		t.Fatalf("refused put left an object: %v", err)
	}
	shortPutStoresNothing(t, s, objectstore.PutOptions{VerifySHA256: true})
	// A plain put keeps no SHA-256 to report.
	if _, err := s.Put(ctx, "plain", strings.NewReader("plain"), objectstore.PutOptions{Size: 5}); err != nil {
		t.Fatal(err)
	}
	if h, err := s.HeadSHA256(ctx, "plain"); err != nil || h.SHA256 != "" {
		t.Fatalf("plain put: %+v, %v", h, err)
	}
}

// A put checked on arrival by a CRC32C: MinIO computes the CRC32C of what
// it receives against the one sent after the body, answers it and keeps
// it (HeadSHA256 reports it, and no SHA-256); the put returns the SHA-256
// of exactly the bytes sent, computed as they streamed. A body shorter
// than its size stores nothing.
func TestS3PutVerifiedCRC32C(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, "crc")
	for _, size := range checkedPutSizes {
		key, body, want, info := putPiped(t, s, size, objectstore.PutOptions{VerifyCRC32C: true})
		crc := hex.EncodeToString(binary.BigEndian.AppendUint32(nil, crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli))))
		if info.SHA256 != want || info.CRC32C != crc || !info.CRC32CChecked || info.SHA256Checked {
			t.Fatalf("%d bytes: put answered %+v, want SHA-256 %s and CRC32C %s checked", size, info, want, crc)
		}
		h, err := s.HeadSHA256(ctx, key)
		if err != nil || h.CRC32C != crc || h.SHA256 != "" || h.Size != int64(size) {
			t.Fatalf("%d bytes: head %+v, %v: want the stored CRC32C %s", size, h, err, crc)
		}
		if got, _ := objectstoretest.Read(t, s, key); !bytes.Equal(got, body) {
			t.Fatalf("%d bytes: stored bytes differ", size)
		}
	}
	shortPutStoresNothing(t, s, objectstore.PutOptions{VerifyCRC32C: true})
	if _, err := s.Put(ctx, "both", strings.NewReader("both"), objectstore.PutOptions{Size: 4, VerifyCRC32C: true, VerifySHA256: true}); err == nil {
		t.Fatal("a put asking for both checksums went through")
	}
}

// TestS3SmallStreamsTakeNoPartBuffer: many small streams at once (tenant
// dumps, up to 32 side by side) are stored from small buffers. Each used to
// take a 16 MiB part buffer, and beyond the few the pool keeps, zero a fresh
// one: most of the CPU of 500 small tenant dumps, and 255 MiB of RSS.
func TestS3SmallStreamsTakeNoPartBuffer(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, "small")
	body := bytes.Repeat([]byte("a small tenant dump "), 2000) // 40 kB
	const parallel = 8
	putAll := func(round int) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make([]error, parallel)
		for i := range parallel {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// io.MultiReader hides ReadAt and Seek, as a pipe does.
				_, errs[i] = s.Put(ctx, fmt.Sprintf("r%d/t%d", round, i), io.MultiReader(bytes.NewReader(body)), objectstore.PutOptions{IfAbsent: true, Size: -1})
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
	}
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	putAll(0)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for r := 1; r <= 3; r++ {
		putAll(r)
	}
	runtime.ReadMemStats(&after)
	// With part buffers: 3 rounds × (8 − 3 kept) × 16 MiB = 240 MiB.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Fatalf("%d small streamed puts (%d at once) allocated %d MiB: they take part buffers", 3*parallel, parallel, alloc>>20)
	}
	for i := range parallel {
		got, info := objectstoretest.Read(t, s, fmt.Sprintf("r3/t%d", i))
		if !bytes.Equal(got, body) || info.Size != int64(len(body)) {
			t.Fatalf("stored %d bytes (size %d), differing from the %d put", len(got), info.Size, len(body))
		}
	}
	// A stream longer than the small buffer continues into a part buffer
	// from where the small one ended.
	long := make([]byte, 1<<20+7)
	for i := range long {
		long[i] = byte(i % 253)
	}
	if _, err := s.Put(ctx, "long", io.MultiReader(bytes.NewReader(long)), objectstore.PutOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
	if got, _ := objectstoretest.Read(t, s, "long"); !bytes.Equal(got, long) {
		t.Fatalf("stored %d bytes, differing from the %d put", len(got), len(long))
	}
}

// TestS3StreamedPutsReuseTheirBuffers: streams of unknown size (base backup
// parts, WAL segments) are uploaded from part buffers the next upload
// reuses. With a fresh set per upload, as the SDK's upload manager
// allocates, a backup's garbage and its peak RSS grew with the number of
// parts, that is with the database's size. Also: a stream that fails after
// parts were stored leaves no incomplete upload behind.
func TestS3StreamedPutsReuseTheirBuffers(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, "reuse")
	const size = 40 << 20 // three parts of 16 MiB, the last one short
	body := make([]byte, size)
	for i := range body {
		body[i] = byte(i % 251)
	}
	putStream := func(key string) {
		t.Helper()
		// io.MultiReader hides ReadAt and Seek, as a pipe does.
		if _, err := s.Put(ctx, key, io.MultiReader(bytes.NewReader(body)), objectstore.PutOptions{IfAbsent: true, Size: -1}); err != nil {
			t.Fatal(err)
		}
	}
	// No collection while measuring: it may empty the buffer pool, which
	// is what lets an idle agent give the buffers back.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	putStream("warm")
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range 3 {
		putStream(fmt.Sprintf("p%d", i))
	}
	runtime.ReadMemStats(&after)
	// 3 uploads of 40 MiB through fresh buffers allocate at least 3 × 48 MiB.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
		t.Fatalf("3 streamed puts of %d MiB allocated %d MiB: the part buffers are not reused", size>>20, alloc>>20)
	}
	if got, _ := objectstoretest.Read(t, s, "p2"); !bytes.Equal(got, body) {
		t.Fatalf("stored %d bytes, differing from the %d put", len(got), len(body))
	}

	r := io.MultiReader(bytes.NewReader(body), iotest.ErrReader(errors.New("disk read error")))
	if _, err := s.Put(ctx, "failed", r, objectstore.PutOptions{Size: -1}); err == nil || !strings.Contains(err.Error(), "disk read error") {
		t.Fatalf("put of a failing stream: %v, want its read error", err)
	}
	if keys, err := objectstore.IncompleteUploads(ctx, s); err != nil || len(keys) != 0 {
		t.Fatalf("incomplete uploads after a failed stream: %v, %v; want none", keys, err)
	}
}

// TestS3StreamedPutsShareCappedBuffers: part buffers are capped across all
// streamed uploads of the process, not per upload, and each upload fills
// the same number of them whatever the store's pace. A backup's peak RSS
// grew with the database's size because an upload took its last buffer
// only when a part's upload outlasted filling the next one, which a longer
// backup met more often. More uploads side by side than the cap allows wait
// for a free buffer rather than allocating. Counted with the pool's
// high-water mark, not timed.
func TestS3StreamedPutsShareCappedBuffers(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, "capped")
	body := patterned(40 << 20) // three parts of 16 MiB, the last one short
	// puts streams n bodies side by side, each through a pipe-like reader.
	puts := func(prefix string, n int) {
		t.Helper()
		errs := make(chan error, n)
		for i := range n {
			go func() {
				_, err := s.Put(ctx, fmt.Sprintf("%s%d", prefix, i), io.MultiReader(bytes.NewReader(body)), objectstore.PutOptions{IfAbsent: true, Size: -1})
				errs <- err
			}()
		}
		for range n {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	}
	check := func(key string) {
		t.Helper()
		if got, _ := objectstoretest.Read(t, s, key); !bytes.Equal(got, body) {
			t.Fatalf("%s: stored %d bytes, differing from the %d put", key, len(got), len(body))
		}
	}

	// One upload alone fills three buffers, one per part, even when the
	// store took each part before the next is read, where reusing the
	// first would do: a fast store must not keep the peak lower on a
	// short backup than the one a slow part raises it to on a long one.
	base := objectstore.StreamBuffers()
	if base.InUse != 0 || base.Limit != 3 {
		t.Fatalf("before: %+v, want none in use and a limit of 3", base)
	}
	objectstore.ResetStreamBufferPeak()
	if _, err := s.Put(ctx, "one", &partGate{t: t, s: s, key: "one", body: body}, objectstore.PutOptions{IfAbsent: true, Size: -1}); err != nil {
		t.Fatal(err)
	}
	if got := objectstore.StreamBuffers(); got.Peak != 3 || got.InUse != 0 {
		t.Fatalf("one streamed put of 3 parts, each stored before the next was read: %+v, want a peak of 3 and none left in use", got)
	}
	check("one")

	// No stream reserved: four uploads side by side share one stream's
	// three buffers.
	base = objectstore.StreamBuffers()
	objectstore.ResetStreamBufferPeak()
	puts("four", 4)
	after := objectstore.StreamBuffers()
	// Each of the four takes a buffer at once: uncapped, the peak is 4 or more.
	if after.Peak != 3 {
		t.Fatalf("4 streamed puts side by side held at most %d buffers at once, want the cap of 3", after.Peak)
	}
	if made := after.Allocated - base.Allocated; made > 3 {
		t.Fatalf("4 streamed puts side by side allocated %d buffers, want at most the cap of 3", made)
	}
	if after.InUse != 0 {
		t.Fatalf("%d buffers still taken after the puts", after.InUse)
	}
	for i := range 4 {
		check(fmt.Sprintf("four%d", i))
	}

	// Three streams reserved: nine buffers; withdrawn, three again.
	release := objectstore.ReserveStreams(3)
	if got := objectstore.StreamBuffers().Limit; got != 9 {
		release()
		t.Fatalf("limit with 3 streams reserved: %d, want 9", got)
	}
	objectstore.ResetStreamBufferPeak()
	puts("six", 6)
	reserved := objectstore.StreamBuffers()
	release()
	release() // a second call withdraws nothing more
	if reserved.Peak > 9 || reserved.Peak <= 3 {
		t.Fatalf("6 streamed puts with 3 streams reserved held at most %d buffers at once, want more than 3 and at most 9", reserved.Peak)
	}
	if got := objectstore.StreamBuffers().Limit; got != 3 {
		t.Fatalf("limit after the reservation was withdrawn: %d, want 3", got)
	}

	// A stream holding a buffer while its body waits for another upload
	// to end (a reader that waits) leaves that upload enough to finish:
	// it goes on with the buffers left.
	objectstore.ResetStreamBufferPeak()
	pr, pw := io.Pipe()
	waiting := make(chan error, 1)
	go func() {
		_, err := s.Put(ctx, "waiter", pr, objectstore.PutOptions{IfAbsent: true, Size: -1})
		waiting <- err
	}()
	if _, err := pw.Write(body[:1]); err != nil { // the waiter has its buffer
		t.Fatal(err)
	}
	puts("beside", 1)
	if _, err := pw.Write(body[1:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if err := <-waiting; err != nil {
		t.Fatal(err)
	}
	check("beside0")
	check("waiter")
	if got := objectstore.StreamBuffers(); got.Peak > 3 || got.InUse != 0 {
		t.Fatalf("buffers beside a waiting stream: %+v, want a peak of at most 3 and none left in use", got)
	}
}

// partGate reads body, but nothing of a part until the store holds every
// part before it: a producer slower than the store.
type partGate struct {
	t    *testing.T
	s    objectstore.Store
	key  string
	body []byte
	off  int
}

func (g *partGate) Read(p []byte) (int, error) {
	if g.off == len(g.body) {
		return 0, io.EOF
	}
	part := g.off / objectstore.PartSize
	if g.off%objectstore.PartSize == 0 && part > 0 {
		for {
			n, err := objectstore.UploadedParts(context.Background(), g.s, g.key)
			if err != nil {
				return 0, err
			}
			if n >= part {
				break
			}
			time.Sleep(5 * time.Millisecond) // polling the store
		}
	}
	end := min(len(g.body), (part+1)*objectstore.PartSize, g.off+len(p))
	n := copy(p, g.body[g.off:end])
	g.off += n
	return n, nil
}

// panicAfter reads r until more than n bytes were asked for, then panics:
// a body whose own code fails the hard way.
type panicAfter struct {
	r    io.Reader
	n    int
	read int
}

func (p *panicAfter) Read(b []byte) (int, error) {
	if p.read+len(b) > p.n {
		panic("the body panicked")
	}
	n, err := p.r.Read(b)
	p.read += n
	return n, err
}

// TestS3StreamedPutPanickingBodyPanics: a body that panics while the
// upload fills its second part (the first in flight) panics out of Put,
// as a panic ends the process, and the upload gives every part buffer back
// on the way. Its clean-up used to wait for all the buffers it held to
// come back from their part uploads, the one being filled among them,
// which never would: the panic hung the upload for ever (a backup that
// never ends, its lease renewed) instead of ending the process.
func TestS3StreamedPutPanickingBodyPanics(t *testing.T) {
	s := newStore(t, "panic")
	base := objectstore.StreamBuffers()
	recovered := make(chan any, 1)
	go func() {
		defer func() { recovered <- recover() }()
		body := &panicAfter{r: bytes.NewReader(patterned(20 << 20)), n: 17 << 20}
		_, err := s.Put(context.Background(), "panics", body, objectstore.PutOptions{Size: -1})
		t.Errorf("Put returned %v, want a panic", err)
	}()
	select {
	case r := <-recovered:
		if r != "the body panicked" {
			t.Fatalf("recovered %v, want the body's panic", r)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the upload hung after its body panicked: the panic never left Put")
	}
	if got := objectstore.StreamBuffers(); got.InUse != base.InUse {
		t.Fatalf("%d part buffers in use after the panic, %d before", got.InUse, base.InUse)
	}
}
