package agentd

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var testLayout = repo.Layout{Prefix: "p", Cluster: "c1"}

func TestLeaseExcludesUntilExpiryThenOneTakerWins(t *testing.T) {
	ctx := context.Background()
	store := objectstore.NewMemory("b")
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	slot := clk.t

	a, err := AcquireLease(ctx, store, testLayout, "backup", "A", slot, 30*time.Second, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := AcquireLease(ctx, store, testLayout, "backup", "B", slot, 30*time.Second, clk.now); !errors.Is(err, ErrLeaseHeld) {
		t.Fatalf("B while A's lease is live: %v", err)
	}
	// A renews: still excluded after the first ttl.
	clk.add(20 * time.Second)
	if err := a.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	clk.add(20 * time.Second)
	if _, err := AcquireLease(ctx, store, testLayout, "backup", "B", slot, 30*time.Second, clk.now); !errors.Is(err, ErrLeaseHeld) {
		t.Fatalf("B after A renewed: %v", err)
	}

	// A dies. After expiry, many agents race for the lease: exactly one wins.
	clk.add(31 * time.Second)
	var wins atomic.Int32
	var wg sync.WaitGroup
	var winner *Lease
	var mu sync.Mutex
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			le, err := AcquireLease(ctx, store, testLayout, "backup", string(rune('B'+i)), slot, 30*time.Second, clk.now)
			if err == nil {
				wins.Add(1)
				mu.Lock()
				winner = le
				mu.Unlock()
			} else if !errors.Is(err, ErrLeaseHeld) {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d agents took the expired lease, want 1", wins.Load())
	}
	if winner.Doc().Generation != 2 {
		t.Fatalf("winner generation %d, want 2", winner.Doc().Generation)
	}
	// A wakes up: its renewal fails, as its lease expired (and was taken).
	if err := a.Renew(ctx); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("A renewing an expired lease: %v", err)
	}
	// Old generations are cleared; release lets the next agent in at once.
	n := 0
	_ = store.List(ctx, testLayout.LeaseDir("backup"), func(objectstore.ObjectInfo) error { n++; return nil })
	if n != 1 {
		t.Fatalf("%d lease objects, want 1", n)
	}
	if err := winner.Release(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := AcquireLease(ctx, store, testLayout, "backup", "C", slot, 30*time.Second, clk.now)
	if err != nil || c.Doc().Generation != 3 {
		t.Fatalf("after release: %+v, %v", c, err)
	}
}

func TestLeaseRenewSeesNewerGeneration(t *testing.T) {
	ctx := context.Background()
	store := objectstore.NewMemory("b")
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	a, err := AcquireLease(ctx, store, testLayout, "backup", "A", clk.t, 10*time.Second, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	// B's clock runs ahead (skew): it takes over while A thinks it holds.
	bclk := &clock{t: clk.t.Add(11 * time.Second)}
	if _, err := AcquireLease(ctx, store, testLayout, "backup", "B", clk.t, 10*time.Second, bclk.now); err != nil {
		t.Fatal(err)
	}
	clk.add(5 * time.Second)
	if err := a.Renew(ctx); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("A renewing after B took generation 2: %v", err)
	}
}

func TestLeaseUnreadableIsTakenOver(t *testing.T) {
	ctx := context.Background()
	store := objectstore.NewMemory("b")
	if _, err := store.Put(ctx, testLayout.LeaseKey("backup", 7), stringsReader("not json"), objectstore.PutOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
	le, err := AcquireLease(ctx, store, testLayout, "backup", "A", time.Now(), time.Minute, nil)
	if err != nil || le.Doc().Generation != 8 {
		t.Fatalf("%+v, %v", le, err)
	}
}
