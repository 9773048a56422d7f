package region

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
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
	doc, err := access.Policy(access.RoleCopy, dstAdmin.Bucket(), l)
	if err != nil {
		t.Fatal(err)
	}
	ak, sk := "copy-"+dstAdmin.Bucket(), "secret-copy-"+dstAdmin.Bucket()
	if err := dr.CreateUser(ctx, ak, sk, "copy-"+dstAdmin.Bucket(), doc.JSON()); err != nil {
		t.Fatalf("creating the copy user from its document: %v", err)
	}
	cc, err := objectstore.NewClient(ctx, objectstore.Config{Endpoint: dr.Endpoint, Region: "us-east-1", AccessKey: ak, SecretKey: sk, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
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
