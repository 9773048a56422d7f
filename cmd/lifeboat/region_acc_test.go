package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access/accesstest"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/agentd"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/region"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestAccAgent_killedMidRegionCopy: the real `lifeboat agent` copies a
// repository to a second MinIO server (the recovery region) with the copy
// role's credentials; it is SIGKILLed mid-copy and another agent takes the
// slot over. The destination's version history proves that no base backup
// manifest was ever written there before every part and WAL segment it
// names, nor the timeline history before the parent timeline's segments —
// neither by the killed agent nor by its successor; the copy completes,
// every object byte-identical, and Verify finds nothing wrong.
func TestAccAgent_killedMidRegionCopy(t *testing.T) {
	env := testenv.Require(t)
	f := setupAgentRepo(t, env, "agent-acc-region-kill")
	ctx := context.Background()
	l := f.cfg.Layout()

	// The recovery region: a second MinIO server, a locked bucket, and a
	// user created from the copy role's document.
	drDir, err := os.MkdirTemp("", "lifeboat-region-kill-")
	if err != nil {
		t.Fatal(err)
	}
	dr, err := testenv.StartMinIO(ctx, drDir, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dr.Stop(); os.RemoveAll(drDir) })
	const dstBucket = "agent-acc-region-dr"
	admin, err := objectstore.NewClient(ctx, objectstore.Config{Endpoint: dr.Endpoint, AccessKey: dr.AccessKey, SecretKey: dr.SecretKey, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.CreateBucket(ctx, objectstore.BucketSpec{Name: dstBucket, Retention: &objectstore.Retention{Mode: objectstore.ModeGovernance, Days: 1}}); err != nil {
		t.Fatal(err)
	}
	dst := admin.Store(dstBucket)
	copyAK, copySK := accesstest.User(t, dr, "region-copy", access.RoleCopy, dstBucket, l)
	f.cfg.Stores = map[string]repo.StoreEntry{"dr": {Endpoint: dr.Endpoint, PathStyle: true, AccessKey: copyAK, SecretKey: copySK}}
	body, err := f.cfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.cfgPath, body, 0o600); err != nil {
		t.Fatal(err)
	}

	// The repository: WAL on two timelines with the history between them,
	// and base backups whose manifests name their parts and WAL. Big
	// enough that a pass takes a while.
	putRandom := func(key string, n int) string {
		b := make([]byte, n)
		_, _ = rand.Read(b)
		if _, err := f.store.Put(ctx, key, bytes.NewReader(b), objectstore.PutOptions{Size: int64(n)}); err != nil {
			t.Fatal(err)
		}
		s := sha256.Sum256(b)
		return hex.EncodeToString(s[:])
	}
	const segs = 80
	for i := 1; i <= segs; i++ {
		putRandom(l.WALKey("00000001", fmt.Sprintf("00000001000000000000%04X", i), "zst"), 1<<20)
	}
	for i := segs + 1; i <= segs+8; i++ {
		putRandom(l.WALKey("00000002", fmt.Sprintf("00000002000000000000%04X", i), "zst"), 1<<20)
	}
	history := l.WALKey("00000002", "00000002.history", "zst")
	putRandom(history, 200)
	type part struct {
		Key    string `json:"key"`
		SHA256 string `json:"sha256"`
	}
	manifests := map[string][]string{} // manifest key -> what it refers to
	for b := 0; b < 4; b++ {
		id := fmt.Sprintf("20261130T07%02d00Z-ab%02d", b, b)
		var parts []part
		var refs []string
		for i := 0; i < 6; i++ {
			k := l.BackupArchiveDir(id, "base.tar.zst") + fmt.Sprintf("%06d", i)
			parts = append(parts, part{Key: k, SHA256: putRandom(k, 4<<20)})
			refs = append(refs, k)
		}
		start, stop := 10*b+1, 10*b+3
		ws, we := fmt.Sprintf("00000001000000000000%04X", start), fmt.Sprintf("00000001000000000000%04X", stop)
		refs = append(refs, l.WALKey("00000001", ws, "zst"), l.WALKey("00000001", we, "zst"))
		m, _ := json.Marshal(map[string]any{"id": id, "wal_start": ws, "wal_stop": we,
			"archives": []any{map[string]any{"name": "base.tar.zst", "parts": parts}}})
		key := l.BackupManifestKey(id)
		if _, err := f.store.Put(ctx, key, bytes.NewReader(m), objectstore.PutOptions{Size: int64(len(m))}); err != nil {
			t.Fatal(err)
		}
		manifests[key] = refs
	}
	for i := 1; i <= segs; i++ {
		manifests[history] = append(manifests[history], l.WALKey("00000001", fmt.Sprintf("00000001000000000000%04X", i), "zst"))
	}
	const name = "eu2"
	if err := region.WriteConfig(ctx, f.store, l, region.ConfigDoc{Name: name, Cluster: l.Cluster, IntervalSeconds: 60, MaxLagSeconds: 900,
		Destination: region.Destination{Bucket: dstBucket, Endpoint: dr.Endpoint, Store: "dr"}}, nil); err != nil {
		t.Fatal(err)
	}

	// firstWritten is the first version's time of every key at the
	// destination: when it first appeared there.
	firstWritten := func() map[string]time.Time {
		out := map[string]time.Time{}
		err := dst.ListVersions(ctx, l.RootDir(), func(o objectstore.ObjectInfo) error {
			if o.DeleteMarker {
				return nil
			}
			if was, ok := out[o.Key]; !ok || o.LastModified.Before(was) {
				out[o.Key] = o.LastModified
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	// neverBefore checks that each manifest (and the history) first
	// appeared no earlier than everything it refers to.
	neverBefore := func(when string, seen map[string]time.Time) {
		t.Helper()
		for m, refs := range manifests {
			tm, ok := seen[m]
			if !ok {
				continue
			}
			for _, r := range refs {
				tr, ok := seen[r]
				if !ok || tr.After(tm) {
					t.Fatalf("%s: %s was at the destination (%s) before %s (%v, present %v)", when, m, tm.Format(time.RFC3339Nano), r, tr.Format(time.RFC3339Nano), ok)
				}
			}
		}
	}

	waitForSecondBelow(30)
	a := startAgent(t, f, "A")
	var atKill map[string]time.Time
	waitFor(t, 60*time.Second, "agent A mid-copy", func() bool {
		atKill = firstWritten()
		return len(atKill) >= 20
	})
	if code := a.stop(t, syscall.SIGKILL, 10*time.Second); code != -1 {
		t.Fatalf("SIGKILLed agent exited %d", code)
	}
	atKill = firstWritten()
	total := 0
	_ = f.store.List(ctx, l.RootDir(), func(o objectstore.ObjectInfo) error {
		if region.Copyable(l, o.Key) {
			total++
		}
		return nil
	})
	if len(atKill) >= total {
		t.Fatalf("the copy was complete (%d of %d objects) before the kill: make the repository bigger", len(atKill), total)
	}
	neverBefore("after the kill", atKill)
	t.Logf("killed with %d of %d objects at the destination", len(atKill), total)

	// B takes the slot over once A's lease expires.
	b := startAgent(t, f, "B")
	var run *agentd.Run
	waitFor(t, 120*time.Second, "B completes the copy", func() bool {
		run, _ = agentd.ReadRun(ctx, f.store, l, agentd.RegionJobPrefix+name)
		return run != nil && run.Result == agentd.ResultSuccess
	})
	if run.Holder != "B" {
		t.Fatalf("copy run %+v", run)
	}
	neverBefore("after the copy", firstWritten())

	// Complete and byte-identical, and Verify agrees.
	opts := region.Options{Name: name, Layout: l, Source: f.store, Dest: dst}
	var keys []string
	_ = f.store.List(ctx, l.RootDir(), func(o objectstore.ObjectInfo) error {
		if region.Copyable(l, o.Key) {
			keys = append(keys, o.Key)
		}
		return nil
	})
	sort.Strings(keys)
	for _, k := range keys {
		if digestOf(t, f.store, k) != digestOf(t, dst, k) {
			t.Fatalf("%s differs at the destination", k)
		}
	}
	rep, err := region.Verify(ctx, opts)
	if err != nil || len(rep.Problems) != 0 || rep.Checked < len(keys) {
		t.Fatalf("verify after the resumed copy: %+v, %v (want %d checked)", rep, err, len(keys))
	}
	st, err := region.Measure(ctx, opts)
	if err != nil || st.PendingObjects != 0 {
		t.Fatalf("measure: %+v, %v", st, err)
	}
	if code := b.stop(t, syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("agent B exited %d:\n%s", code, b.out.String())
	}
}

func digestOf(t *testing.T, s objectstore.Store, key string) string {
	t.Helper()
	rc, _, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("%s in %s: %v", key, s.Bucket(), err)
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}
