package objectstore

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestBufferPoolCap: Get waits at the cap until a buffer comes back or the
// cap rises, and gives up when its context ends; returned buffers are
// reused, not reallocated. Engine logic only; the uploads through it are
// tested against MinIO (TestS3StreamedPutsShareCappedBuffers).
func TestBufferPoolCap(t *testing.T) {
	p := &bufferPool{size: 8, perStream: 2, idle: time.Hour}
	ctx := context.Background()
	a, _ := p.Get(ctx)
	b, _ := p.Get(ctx)

	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if got, err := p.Get(short); !errors.Is(err, context.DeadlineExceeded) || got != nil {
		t.Fatalf("Get at the cap: %v, %v; want it to wait until its context ends", got, err)
	}

	got := make(chan *[]byte)
	go func() {
		c, _ := p.Get(ctx)
		got <- c
	}()
	p.Put(a)
	if c := <-got; c != a {
		t.Fatal("the waiting Get did not get the buffer put back")
	}

	// At the cap (2 taken) a third Get waits: reserving two streams raises
	// the cap to 4 and wakes it.
	go func() {
		c, _ := p.Get(ctx)
		got <- c
	}()
	release := p.reserveFor(2)
	if c := <-got; c == nil || c == a || c == b {
		t.Fatal("the Get woken by a raised cap did not get a new buffer")
	}
	release()
	// Waits: the one that gave up; the other two may have found a buffer
	// put back or the cap raised before they looked.
	if s := p.stats(); s.Peak != 3 || s.Allocated != 3 || s.InUse != 3 || s.Limit != 2 || s.Waits < 1 || s.Waits > 3 || s.Waited < 20*time.Millisecond {
		t.Fatalf("stats %+v, want peak 3, 3 allocated, 3 in use, limit 2, 1 to 3 waits of at least 20ms in all", s)
	}
}

func (p *bufferPool) reserveFor(n int) func() {
	p.reserve(n)
	return func() { p.reserve(-n) }
}

// TestUploadFillsAllItsBuffers: an upload takes a new buffer from the pool
// while it holds fewer than streamBuffers, even with one of its own back
// already, so every upload of that many parts reaches the same peak; at
// its share, or at the process's cap, it goes on with its own.
func TestUploadFillsAllItsBuffers(t *testing.T) {
	p := &bufferPool{size: 8, perStream: 3, idle: time.Hour}
	ctx := context.Background()
	first, _ := p.Get(ctx)
	own := make(chan *[]byte, 3)
	own <- first
	if b, fromPool, err := p.getOr(ctx, own, true); err != nil || !fromPool || b == first {
		t.Fatalf("growing with a buffer of its own back: %v, %v; want a new one from the pool", fromPool, err)
	}
	if b, fromPool, _ := p.getOr(ctx, own, false); fromPool || b != first {
		t.Fatal("at its share, the upload did not go on with its own buffer")
	}
	// At the cap (3 taken), growing waits for the pool or its own.
	third, _ := p.Get(ctx)
	own <- third
	if b, fromPool, _ := p.getOr(ctx, own, true); fromPool || b != third {
		t.Fatal("at the process's cap, the upload did not go on with its own buffer")
	}
}
