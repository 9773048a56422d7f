package region

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access/accesstest"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore/objectstoretest"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.Spec{MinIO: 2}))
}

// twoRegions makes a locked bucket on each MinIO server, the first as the
// primary, the second as the recovery region.
func twoRegions(t *testing.T) (src, dst *objectstore.S3, primary, dr *testenv.MinIO) {
	t.Helper()
	env := testenv.Require(t)
	ctx := context.Background()
	primary, dr = env.MinIO[0], env.MinIO[1]
	name := strings.ToLower(strings.ReplaceAll(t.Name(), "_", "-"))
	if len(name) > 40 {
		name = name[:40]
	}
	mk := func(m *testenv.MinIO, bucket string) *objectstore.S3 {
		c, err := objectstore.NewClient(ctx, objectstore.Config{Endpoint: m.Endpoint, Region: "us-east-1",
			AccessKey: m.AccessKey, SecretKey: m.SecretKey, PathStyle: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.CreateBucket(ctx, objectstore.BucketSpec{Name: bucket,
			Retention: &objectstore.Retention{Mode: objectstore.ModeGovernance, Days: 1}}); err != nil {
			t.Fatal(err)
		}
		return c.Store(bucket)
	}
	// NOTE: the same bucket name on both servers: two regions, one name.
	return mk(primary, name), mk(dr, name), primary, dr
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// Between two MinIO servers: a pass copies a repository byte-identical
// under the destination's object lock; with the destination down the pass
// fails and loses nothing, and once it is back the next pass catches up;
// an object changed at the destination is found by Verify and copied again.
func TestCopyBetweenTwoMinIOServers(t *testing.T) {
	ctx := context.Background()
	src, dst, _, dr := twoRegions(t)
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	o := Options{Name: "eu2", Layout: l, Source: src, Dest: dst}

	var keys []string
	for i := 1; i <= 20; i++ {
		k := l.WALKey("00000001", fmt.Sprintf("0000000100000000000000%02X", i), "zst")
		put(t, src, k, randomBytes(t, 64<<10))
		keys = append(keys, k)
	}
	id := "20261130T070000Z-ab12"
	var parts []part
	for i := 0; i < 4; i++ {
		k := l.BackupArchiveDir(id, "base.tar.zst") + fmt.Sprintf("%06d", i)
		parts = append(parts, part{Key: k, SHA256: put(t, src, k, randomBytes(t, 3<<20))})
		keys = append(keys, k)
	}
	man := fmt.Sprintf(`{"id":%q,"wal_start":"000000010000000000000002","wal_stop":"000000010000000000000003","archives":[{"parts":[`, id)
	for i, p := range parts {
		if i > 0 {
			man += ","
		}
		man += fmt.Sprintf(`{"key":%q,"sha256":%q}`, p.Key, p.SHA256)
	}
	man += `]}]}`
	put(t, src, l.BackupManifestKey(id), []byte(man))
	keys = append(keys, l.BackupManifestKey(id))
	if _, err := src.Put(ctx, l.PolicyKey(), bytes.NewReader([]byte(`{}`)), objectstore.PutOptions{Size: 2,
		Metadata: map[string]string{"lifeboat-signature": "k:sig"}}); err != nil {
		t.Fatal(err)
	}

	st, err := Copy(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if st.Copied != len(keys)+1 || st.PendingObjects != 0 {
		t.Fatalf("first pass %+v, want %d copied", st, len(keys)+1)
	}
	for _, k := range keys {
		sameBytes(t, src, dst, k)
		// Under the destination's own lock.
		info, err := dst.Head(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, locked := dst.Retention(ctx, k, info.VersionID); !locked {
			t.Fatalf("%s is not under object lock at the destination", k)
		}
	}
	if info, err := dst.Head(ctx, l.PolicyKey()); err != nil || info.Metadata["lifeboat-signature"] != "k:sig" {
		t.Fatalf("policy's signature did not travel: %+v, %v", info.Metadata, err)
	}

	// Destination down: the pass fails, nothing is lost at the source.
	dr.Stop()
	more := l.WALKey("00000001", "000000010000000000000015", "zst")
	put(t, src, more, randomBytes(t, 64<<10))
	if _, err := Copy(ctx, o); !errors.Is(err, objectstore.ErrUnreachable) {
		t.Fatalf("copy with the destination down: %v, want ErrUnreachable", err)
	}
	if err := dr.Start(ctx); err != nil {
		t.Fatal(err)
	}
	st, err = Copy(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if st.Copied != 1 || st.PendingObjects != 0 {
		t.Fatalf("catch-up pass %+v, want the one new segment", st)
	}
	sameBytes(t, src, dst, more)

	// Someone with the destination's keys overwrites a part: Verify sees it.
	put(t, dst, parts[2].Key, []byte("not the part"))
	rep, err := Verify(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 1 || rep.Problems[0].Key != parts[2].Key || !errors.Is(rep.Problems[0].Err, ErrMismatch) {
		t.Fatalf("verify: %+v", rep)
	}
	st, err = Copy(ctx, o)
	if err != nil || st.Copied != 1 {
		t.Fatalf("repair pass %+v, %v", st, err)
	}
	sameBytes(t, src, dst, parts[2].Key)
	m, err := Measure(ctx, o)
	if err != nil || m.PendingObjects != 0 {
		t.Fatalf("measure %+v, %v", m, err)
	}
}

// TestCopyWithTheCopyRole: the copy runs with a MinIO user of the
// destination created from the copy role's document (access.RoleCopy):
// every object arrives verified under the bucket's default lock, Verify
// reads it back, and with those same keys the probe finds deleting,
// bypassing governance, and changing the bucket's lifecycle, lock or policy
// denied.
func TestCopyWithTheCopyRole(t *testing.T) {
	ctx := context.Background()
	src, dstAdmin, _, dr := twoRegions(t)
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	cc := accesstest.Client(t, dr, "copy-"+dstAdmin.Bucket(), access.RoleCopy, dstAdmin.Bucket(), l)
	dst := cc.Store(dstAdmin.Bucket())

	var keys []string
	for i := 1; i <= 6; i++ {
		k := l.WALKey("00000001", fmt.Sprintf("0000000100000000000000%02X", i), "zst")
		put(t, src, k, randomBytes(t, 32<<10))
		keys = append(keys, k)
	}
	id := "20261130T070000Z-cd34"
	pk := l.BackupArchiveDir(id, "base.tar.zst") + "000000"
	// NOTE: over the multipart threshold, so the role's multipart actions
	// are exercised too.
	sum := put(t, src, pk, randomBytes(t, 9<<20))
	keys = append(keys, pk)
	put(t, src, l.BackupManifestKey(id), []byte(fmt.Sprintf(`{"id":%q,"wal_start":"000000010000000000000002","wal_stop":"000000010000000000000003","archives":[{"parts":[{"key":%q,"sha256":%q}]}]}`, id, pk, sum)))
	keys = append(keys, l.BackupManifestKey(id))
	put(t, src, l.PolicyKey(), []byte(`{}`))
	keys = append(keys, l.PolicyKey())

	o := Options{Name: "eu2", Layout: l, Source: src, Dest: dst}
	st, err := Copy(ctx, o)
	if err != nil {
		t.Fatalf("copy with the copy role: %v", err)
	}
	if st.PendingObjects != 0 || st.Copied != len(keys) {
		t.Fatalf("pass %+v, want %d copied and none pending", st, len(keys))
	}
	for _, k := range keys {
		sameBytes(t, src, dstAdmin, k)
		info, err := dstAdmin.Head(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, locked := dstAdmin.Retention(ctx, k, info.VersionID); !locked {
			t.Errorf("%s written by the copy role is not under the destination's lock", k)
		}
	}
	if rep, err := Verify(ctx, o); err != nil || len(rep.Problems) != 0 || rep.Checked != len(keys) {
		t.Fatalf("verify with the copy role: %+v, %v", rep, err)
	}
	// The copy role cannot remove what it copied.
	if err := dst.Delete(ctx, keys[0]); !errors.Is(err, objectstore.ErrAccessDenied) {
		t.Fatalf("delete with the copy role: %v, want access denied", err)
	}
	rep := access.ProbeRole(ctx, cc, dst.Bucket(), l, access.RoleCopy)
	if len(rep.Results) != len(access.ChecksFor(access.RoleCopy)) {
		t.Fatalf("probe: %d results", len(rep.Results))
	}
	for _, r := range rep.Results {
		if r.Outcome != access.Denied || r.By != access.ByPolicy {
			t.Errorf("probe as the copy role: %s: %s (%s) %s, want denied by policy", r.Check, r.Outcome, r.By, r.Detail)
		}
	}
}

// tamperingProxy stands between the copy and the destination MinIO, as a
// faulty network, store or middlebox would: it can flip a byte of the
// bodies of data puts (WAL, base backups), answer another checksum than
// the one the store checked, or hide the checksum the store answered.
type tamperingProxy struct {
	*httptest.Server
	flip, lie, hide atomic.Bool
	flipped         atomic.Int64
}

func newTamperingProxy(t *testing.T, target string) *tamperingProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &tamperingProxy{}
	data := func(r *http.Request) bool {
		return r.Method == http.MethodPut && (strings.Contains(r.URL.Path, "/wal/") || strings.Contains(r.URL.Path, "/basebackups/"))
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			// NOTE: the signature covers the Host header: keep the one the
			// client signed.
			pr.Out.Host = pr.In.Host
			if p.flip.Load() && data(pr.In) && pr.In.ContentLength > 64 {
				pr.Out.Body = &flipAt{r: pr.Out.Body, at: 40, done: &p.flipped}
			}
		},
		ModifyResponse: func(resp *http.Response) error {
			if !data(resp.Request) {
				return nil
			}
			if p.hide.Load() {
				resp.Header.Del("X-Amz-Checksum-Sha256")
				resp.Header.Del("X-Amz-Checksum-Crc32c")
			}
			if p.lie.Load() && resp.Header.Get("X-Amz-Checksum-Sha256") != "" {
				sum := sha256.Sum256([]byte("not what was stored"))
				resp.Header.Set("X-Amz-Checksum-Sha256", base64.StdEncoding.EncodeToString(sum[:]))
			}
			if p.lie.Load() && resp.Header.Get("X-Amz-Checksum-Crc32c") != "" {
				resp.Header.Set("X-Amz-Checksum-Crc32c", base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, crc32.Checksum([]byte("not what was stored"), crc32.MakeTable(crc32.Castagnoli)))))
			}
			return nil
		},
	}
	p.Server = httptest.NewServer(rp)
	t.Cleanup(p.Close)
	return p
}

// flipAt inverts the byte at offset at of a body.
type flipAt struct {
	r    io.ReadCloser
	at   int64
	off  int64
	done *atomic.Int64
}

func (f *flipAt) Read(b []byte) (int, error) {
	n, err := f.r.Read(b)
	if f.off <= f.at && f.at < f.off+int64(n) {
		b[f.at-f.off] ^= 0xff
		f.done.Add(1)
	}
	f.off += int64(n)
	return n, err
}

func (f *flipAt) Close() error { return f.r.Close() }

// TestCopyRefusesWhatTheDestinationDidNotStore: a destination that
// receives other bytes than the copy read (a byte flipped on the way: its
// SHA-256 or CRC32C check fails), or that answers another checksum than the one sent,
// fails the copy of those objects: they are never recorded as verified,
// their backup manifest is not copied, and a refused put leaves nothing
// stored. The next pass through a clean path resumes what the lying
// destination did store (the checksum it keeps against the source's, not
// written again); a destination that answers no checksum has the new
// object read back instead; the destination keeps the checksum of the
// bytes whose SHA-256 the index records (the manifest's SHA-256 for the
// part it names, a CRC32C for the rest), and Verify agrees.
func TestCopyRefusesWhatTheDestinationDidNotStore(t *testing.T) {
	ctx := context.Background()
	src, dst, _, dr := twoRegions(t)
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	proxy := newTamperingProxy(t, dr.Endpoint)
	pc, err := objectstore.NewClient(ctx, objectstore.Config{Endpoint: proxy.URL, Region: "us-east-1", AccessKey: dr.AccessKey, SecretKey: dr.SecretKey, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	viaProxy := Options{Name: "eu2", Layout: l, Source: src, Dest: pc.Store(dst.Bucket())}
	direct := Options{Name: "eu2", Layout: l, Source: src, Dest: dst}

	// Two segments (hashed by the copy as they stream) and a backup part
	// named by its manifest (checked against the manifest's digest).
	var data []string
	for i := 2; i <= 3; i++ {
		k := l.WALKey("00000001", fmt.Sprintf("0000000100000000000000%02X", i), "zst")
		put(t, src, k, randomBytes(t, 200<<10))
		data = append(data, k)
	}
	id := "20261130T070000Z-ef56"
	pk := l.BackupArchiveDir(id, "base.tar.zst") + "000000"
	sum := put(t, src, pk, randomBytes(t, 1<<20+3))
	data = append(data, pk)
	man := l.BackupManifestKey(id)
	put(t, src, man, []byte(fmt.Sprintf(`{"id":%q,"wal_start":"000000010000000000000002","wal_stop":"000000010000000000000003","archives":[{"parts":[{"key":%q,"sha256":%q}]}]}`, id, pk, sum)))

	notRecorded := func(what string) {
		t.Helper()
		idx, err := ReadIndex(ctx, dst, l, "eu2")
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range append(data, man) {
			if _, ok := idx.Entries[k]; ok {
				t.Fatalf("%s: %s recorded as verified", what, k)
			}
		}
		if _, err := dst.Head(ctx, man); !errors.Is(err, objectstore.ErrNotFound) {
			t.Fatalf("%s: the manifest was copied before its parts: %v", what, err)
		}
	}
	mismatch := func(what string, err error) {
		t.Helper()
		var ce *CopyError
		if !errors.As(err, &ce) || ce.Failed != len(data) || !errors.Is(err, ErrMismatch) {
			t.Fatalf("%s: %v, want a mismatch for each of the %d data objects", what, err, len(data))
		}
	}

	// A byte flipped on the way: the destination refuses, keeps nothing.
	proxy.flip.Store(true)
	_, err = Copy(ctx, viaProxy)
	mismatch("flipped byte", err)
	if proxy.flipped.Load() < int64(len(data)) {
		t.Fatalf("the proxy flipped %d bodies, want %d", proxy.flipped.Load(), len(data))
	}
	notRecorded("flipped byte")
	for _, k := range data {
		if _, err := dst.Head(ctx, k); !errors.Is(err, objectstore.ErrNotFound) {
			t.Fatalf("the destination kept %s, refused on arrival: %v", k, err)
		}
	}

	// Bytes intact, another checksum answered than the one checked.
	proxy.flip.Store(false)
	proxy.lie.Store(true)
	_, err = Copy(ctx, viaProxy)
	mismatch("another checksum answered", err)
	notRecorded("another checksum answered")

	// Directly: what the lying destination stored is resumed, by the
	// checksum it keeps (the part's SHA-256, the segments' CRC32C),
	// without being written again.
	versions := map[string]string{}
	for _, k := range data {
		h, err := dst.HeadSHA256(ctx, k)
		if err != nil || (h.CRC32C == "") == (h.SHA256 == "") {
			t.Fatalf("%s at the destination: %+v, %v", k, h, err)
		}
		versions[k] = h.VersionID
	}
	st, err := Copy(ctx, direct)
	if err != nil || st.PendingObjects != 0 || st.Copied != len(data)+1 {
		t.Fatalf("clean pass %+v, %v", st, err)
	}
	for _, k := range data {
		if h, err := dst.Head(ctx, k); err != nil || h.VersionID != versions[k] {
			t.Fatalf("%s written again (%v): version %s, was %s", k, err, h.VersionID, versions[k])
		}
		sameBytes(t, src, dst, k)
	}
	sameBytes(t, src, dst, man)

	// No checksum answered: the new segment is read back, and recorded.
	proxy.lie.Store(false)
	proxy.hide.Store(true)
	more := l.WALKey("00000001", "000000010000000000000004", "zst")
	put(t, src, more, randomBytes(t, 300<<10))
	if st, err := Copy(ctx, viaProxy); err != nil || st.Copied != 1 {
		t.Fatalf("pass with no checksum answered %+v, %v", st, err)
	}
	sameBytes(t, src, dst, more)

	idx, err := ReadIndex(ctx, dst, l, "eu2")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range append(data, man, more) {
		body, _ := objectstoretest.Read(t, src, k)
		sum := sha256.Sum256(body)
		crc := hex.EncodeToString(binary.BigEndian.AppendUint32(nil, crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli))))
		h, err := dst.HeadSHA256(ctx, k)
		want := hex.EncodeToString(sum[:])
		kept := h.CRC32C == crc
		if k == pk {
			// Named by the manifest: checked by its SHA-256.
			kept = h.SHA256 == want
		}
		if err != nil || !kept || idx.Entries[k].SHA256 != want {
			t.Fatalf("%s: the destination keeps CRC32C %q, SHA-256 %q (%v), the source's are %s, %s; the index records SHA-256 %q", k, h.CRC32C, h.SHA256, err, crc, want, idx.Entries[k].SHA256)
		}
	}
	if rep, err := Verify(ctx, direct); err != nil || len(rep.Problems) != 0 || rep.Checked != len(data)+2 {
		t.Fatalf("verify: %+v, %v", rep, err)
	}
}

// TestCopyRefusesASourceThatIsNotItsManifest: a base backup part whose
// bytes in the source are not the ones its manifest names (the SHA-256 the
// copy computes as it streams differs from the manifest's) is never
// recorded as verified, in this pass nor the next, and its manifest is not
// copied; the WAL beside it is. The destination refuses the bytes on
// arrival (the manifest's SHA-256 goes ahead of them) and stores nothing;
// once the source holds the right bytes, the next pass copies them and
// the backup.
func TestCopyRefusesASourceThatIsNotItsManifest(t *testing.T) {
	ctx := context.Background()
	src, dst, _, _ := twoRegions(t)
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	o := Options{Name: "eu2", Layout: l, Source: src, Dest: dst}
	seg := l.WALKey("00000001", "000000010000000000000002", "zst")
	put(t, src, seg, randomBytes(t, 100<<10))
	id := "20261130T070000Z-aa11"
	pk := l.BackupArchiveDir(id, "base.tar.zst") + "000000"
	good := randomBytes(t, 1<<20+7)
	sum := sha256.Sum256(good)
	bad := append([]byte{}, good...)
	bad[len(bad)/2] ^= 0x01
	put(t, src, pk, bad)
	man := l.BackupManifestKey(id)
	put(t, src, man, []byte(fmt.Sprintf(`{"id":%q,"wal_start":"000000010000000000000002","wal_stop":"000000010000000000000002","archives":[{"parts":[{"key":%q,"sha256":"%x"}]}]}`, id, pk, sum)))

	for pass := 1; pass <= 2; pass++ {
		_, err := Copy(ctx, o)
		var ce *CopyError
		var me *MismatchError
		if !errors.As(err, &ce) || ce.Failed != 1 || !errors.Is(err, ErrMismatch) || !errors.As(err, &me) || me.Key != pk || me.Want != hex.EncodeToString(sum[:]) {
			t.Fatalf("pass %d: %v, want the part refused as not its manifest's", pass, err)
		}
		// The manifest's digest went ahead: the destination refused
		// the bytes and stored nothing.
		if _, err := dst.Head(ctx, pk); !errors.Is(err, objectstore.ErrNotFound) {
			t.Fatalf("pass %d: the destination stored the refused part: %v", pass, err)
		}
		idx, err := ReadIndex(ctx, dst, l, "eu2")
		if err != nil {
			t.Fatal(err)
		}
		if e, ok := idx.Entries[pk]; ok {
			t.Fatalf("pass %d: the part is recorded as verified: %+v", pass, e)
		}
		if _, ok := idx.Entries[seg]; !ok {
			t.Fatalf("pass %d: the segment is not recorded", pass)
		}
		if _, err := dst.Head(ctx, man); !errors.Is(err, objectstore.ErrNotFound) {
			t.Fatalf("pass %d: the manifest was copied: %v", pass, err)
		}
	}
	put(t, src, pk, good)
	st, err := Copy(ctx, o)
	if err != nil || st.PendingObjects != 0 {
		t.Fatalf("pass with the right bytes %+v, %v", st, err)
	}
	sameBytes(t, src, dst, pk)
	sameBytes(t, src, dst, man)
	if rep, err := Verify(ctx, o); err != nil || len(rep.Problems) != 0 {
		t.Fatalf("verify: %+v, %v", rep, err)
	}
}
