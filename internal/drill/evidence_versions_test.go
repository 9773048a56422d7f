package drill

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// TestEvidenceIsReadAtItsFirstVersion: a put or a delete marker written over
// evidence after the drill neither changes what is reported nor hides it;
// it is counted.
func TestEvidenceIsReadAtItsFirstVersion(t *testing.T) {
	ctx := context.Background()
	store := objectstore.NewMemory("b")
	l := repo.Layout{Prefix: "pg", Cluster: "main"}
	put := func(key, body string) {
		t.Helper()
		if _, err := store.Put(ctx, key, strings.NewReader(body), objectstore.PutOptions{Size: -1}); err != nil {
			t.Fatal(err)
		}
	}
	dir := l.DrillEvidenceDir("nightly")
	for i, finished := range []string{"2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"} {
		ev := Evidence{ID: string(rune('a' + i)), Schedule: "nightly", Passed: i == 0, RTOSeconds: 42}
		ev.Finished, _ = time.Parse(time.RFC3339, finished)
		b, _ := json.Marshal(ev)
		put(dir+finished[:10]+".json", string(b))
	}
	// Someone makes the failed newest drill look passed, and hides the older one.
	put(dir+"2026-11-02.json", `{"passed":true}`)
	if err := store.Delete(ctx, dir+"2026-11-01.json"); err != nil {
		t.Fatal(err)
	}

	latest, err := Latest(ctx, store, l, "nightly")
	if err != nil {
		t.Fatal(err)
	}
	if latest.Passed || latest.RTOSeconds != 42 || latest.LaterVersions != 1 {
		t.Fatalf("latest = passed %v, rto %v, later versions %d; want the original failed drill, 1 later version", latest.Passed, latest.RTOSeconds, latest.LaterVersions)
	}
	all, err := List(ctx, store, l, "nightly")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || !all[0].Passed || all[0].LaterVersions != 1 || all[1].Passed {
		t.Fatalf("list = %d drills; want both originals, the hidden one counted as written over", len(all))
	}
}
