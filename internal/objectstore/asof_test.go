package objectstore_test

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// asOfStory writes a repository, notes the time, then plays an attacker:
// a new version over an old key, a delete marker, a new object. The view
// as of the noted time sees the repository as it was.
func asOfStory(t *testing.T, s objectstore.Store, pause func()) {
	t.Helper()
	ctx := context.Background()
	put := func(key, body string) {
		t.Helper()
		if _, err := s.Put(ctx, key, strings.NewReader(body), objectstore.PutOptions{Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
	}
	put("r/wal/1", "segment one")
	put("r/wal/2", "segment two")
	put("r/manifest", "good manifest")
	pause()
	before := time.Now()
	pause()
	put("r/manifest", "forged manifest")
	if err := s.Delete(ctx, "r/wal/2"); err != nil {
		t.Fatal(err)
	}
	put("r/wal/3", "planted segment")

	v := objectstore.AsOf(s, before)
	read := func(key string) string {
		t.Helper()
		rc, _, err := v.Get(ctx, key)
		if err != nil {
			t.Fatalf("Get %s as of before: %v", key, err)
		}
		defer rc.Close()
		b, _ := io.ReadAll(rc)
		return string(b)
	}
	if got := read("r/manifest"); got != "good manifest" {
		t.Fatalf("manifest as of before the attack: %q", got)
	}
	if got := read("r/wal/2"); got != "segment two" {
		t.Fatalf("deleted segment as of before the attack: %q", got)
	}
	if _, _, err := v.Get(ctx, "r/wal/3"); !errors.Is(err, objectstore.ErrNotFound) {
		t.Fatalf("planted segment visible as of before: %v", err)
	}
	if info, err := v.Head(ctx, "r/manifest"); err != nil || info.Size != int64(len("good manifest")) {
		t.Fatalf("Head: %+v %v", info, err)
	}
	var keys []string
	if err := v.List(ctx, "r/", func(o objectstore.ObjectInfo) error { keys = append(keys, o.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(keys, ",") != "r/manifest,r/wal/1,r/wal/2" {
		t.Fatalf("List as of before: %v", keys)
	}
	if rr, ok := v.(objectstore.RangeReader); !ok {
		t.Fatal("the view reads ranges")
	} else {
		rc, err := rr.GetRange(ctx, "r/manifest", 5, 8)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if string(b) != "manifest" {
			t.Fatalf("GetRange as of before: %q", b)
		}
	}
	if _, err := v.Put(ctx, "r/x", strings.NewReader("x"), objectstore.PutOptions{Size: 1}); !errors.Is(err, objectstore.ErrReadOnlyView) {
		t.Fatalf("Put through the view: %v", err)
	}
	// Now, the same store shows the attack.
	if got := func() string {
		rc, _, err := s.Get(ctx, "r/manifest")
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		b, _ := io.ReadAll(rc)
		return string(b)
	}(); got != "forged manifest" {
		t.Fatalf("current manifest %q", got)
	}
}

func TestAsOfMemory(t *testing.T) {
	m := objectstore.NewMemory("b")
	clock := time.Now().Add(-time.Hour)
	m.SetClock(func() time.Time { clock = clock.Add(time.Millisecond); return clock })
	// The memory clock runs an hour behind: "before" is real now, so
	// step the clock past it at the pause.
	paused := 0
	asOfStory(t, m, func() {
		paused++
		if paused == 2 {
			clock = time.Now().Add(time.Second)
		}
	})
}

// TestAsOfS3: the same story on MinIO, whose versions carry the times the
// view compares (to the millisecond, or the second on some stores: hence
// the pauses).
func TestAsOfS3(t *testing.T) {
	c := newMinIOClient(t)
	name := newBucket(t, c, "asof")
	asOfStory(t, c.Store(name), func() { time.Sleep(1100 * time.Millisecond) })
}

// TestS3Profile: a client configured with a profile signs with that
// profile's keys from the AWS shared credentials file (the agent's
// agent_credentials { profile }).
func TestS3Profile(t *testing.T) {
	c := newMinIOClient(t)
	name := newBucket(t, c, "profile")
	env := testenv.Require(t).MinIO[0]
	dir := t.TempDir()
	creds := dir + "/credentials"
	body := "[lifeboat-writer]\naws_access_key_id = " + env.AccessKey + "\naws_secret_access_key = " + env.SecretKey + "\n"
	if err := os.WriteFile(creds, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", creds)
	t.Setenv("AWS_CONFIG_FILE", dir+"/none")
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	pc, err := objectstore.NewClient(context.Background(), objectstore.Config{Endpoint: env.Endpoint, PathStyle: true, Profile: "lifeboat-writer"})
	if err != nil {
		t.Fatal(err)
	}
	if got := pc.AccessKeyID(context.Background()); got != env.AccessKey {
		t.Fatalf("profile client signs as %q", got)
	}
	if _, err := pc.Store(name).Put(context.Background(), "k", strings.NewReader("v"), objectstore.PutOptions{Size: 1}); err != nil {
		t.Fatalf("put with the profile's keys: %v", err)
	}
}
