package remote

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/agentd"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

var layout = repo.Layout{Prefix: "pg", Cluster: "main"}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func worker(store objectstore.Store, host, holder string, exec ExecFunc) *Worker {
	return &Worker{Store: store, Layout: layout, Host: host, Holder: holder, Exec: exec,
		Poll: 20 * time.Millisecond, LeaseRenew: 100 * time.Millisecond, Heartbeat: 100 * time.Millisecond, Logger: quiet()}
}

func drillRequest(name, host string) Request {
	return Request{Kind: KindDrill, Agent: host, Drill: name}
}

// Two agents with the same host name (and one on another host) all look
// for work at once: the request runs exactly once, on the named host.
func TestRequestRunsOnceOnItsHost(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := objectstore.NewMemory("b")
	var runs atomic.Int32
	var ranOn sync.Map
	exec := func(holder string) ExecFunc {
		return func(ctx context.Context, req *Request, report func(Progress)) (*Result, error) {
			runs.Add(1)
			ranOn.Store(holder, true)
			report(Progress{Phase: "working"})
			time.Sleep(300 * time.Millisecond)
			return &Result{Evidence: "e1"}, nil
		}
	}
	req, _, err := Submit(ctx, store, layout, drillRequest("nightly", "db-eu-1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, w := range []*Worker{worker(store, "db-eu-1", "A", exec("A")), worker(store, "db-eu-1", "B", exec("B")), worker(store, "db-us-1", "C", exec("C"))} {
		wg.Add(1)
		go func(w *Worker) { defer wg.Done(); _ = w.Run(ctx) }(w)
	}
	var phases []string
	res, err := Wait(ctx, store, layout, req, WaitOptions{ClaimTimeout: 5 * time.Second, Poll: 10 * time.Millisecond,
		OnProgress: func(p Progress) { phases = append(phases, p.Phase) }})
	if err != nil {
		t.Fatal(err)
	}
	// Let the losers look again after the winner released its claim.
	time.Sleep(300 * time.Millisecond)
	cancel()
	wg.Wait()
	if n := runs.Load(); n != 1 {
		t.Fatalf("request executed %d times, want once", n)
	}
	if _, ok := ranOn.Load("C"); ok || (res.Holder != "A" && res.Holder != "B") {
		t.Fatalf("executed by %s: want an agent of host db-eu-1", res.Holder)
	}
	if res.Evidence != "e1" || res.Host != "db-eu-1" || res.Status != StatusSucceeded {
		t.Fatalf("result %+v", res)
	}
	if len(phases) == 0 {
		t.Fatal("no progress streamed while the request ran")
	}
	if p, err := ReadProgress(context.Background(), store, layout, req.ID); err != nil || p.Phase != "done" || p.Holder != res.Holder {
		t.Fatalf("last progress %+v, %v: want done by %s", p, err, res.Holder)
	}
}

// No agent of the named host: the wait ends after the claim timeout with
// an error naming the request and the live agents, and the request is
// withdrawn, so an agent that starts later never executes it.
func TestUnclaimedRequestIsWithdrawn(t *testing.T) {
	ctx := context.Background()
	store := objectstore.NewMemory("b")
	if err := PublishHeartbeat(ctx, store, layout, Heartbeat{Host: "db-us-1", Holder: "C", Cluster: "main", IntervalSeconds: 30}); err != nil {
		t.Fatal(err)
	}
	req, _, err := Submit(ctx, store, layout, drillRequest("nightly", "db-eu-1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = Wait(ctx, store, layout, req, WaitOptions{ClaimTimeout: 300 * time.Millisecond, Poll: 20 * time.Millisecond})
	var nc *NotClaimedError
	if !errors.As(err, &nc) || !errors.Is(err, ErrNotClaimed) {
		t.Fatalf("Wait: %v, want a NotClaimedError", err)
	}
	if time.Since(start) < 300*time.Millisecond {
		t.Fatalf("gave up after %s, before the claim timeout", time.Since(start))
	}
	for _, want := range []string{layout.RequestKey(req.ID), `host "db-eu-1"`, "db-us-1 (C", "withdrawn"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	var runs atomic.Int32
	w := worker(store, "db-eu-1", "A", func(context.Context, *Request, func(Progress)) (*Result, error) {
		runs.Add(1)
		return &Result{}, nil
	})
	w.Scan(ctx)
	w.wg.Wait()
	if runs.Load() != 0 {
		t.Fatal("a withdrawn request was executed by an agent that started later")
	}
	if res, err := ReadResult(ctx, store, layout, req.ID); err != nil || res.Status != StatusWithdrawn {
		t.Fatalf("result %+v, %v: want withdrawn", res, err)
	}
}

// An agent that claimed a request and died (its claim never renewed) is
// taken over by another agent once the claim expires; the dead agent's
// attempt is never reported done.
func TestAbandonedClaimIsTakenOver(t *testing.T) {
	ctx := context.Background()
	store := objectstore.NewMemory("b")
	req, _, err := Submit(ctx, store, layout, drillRequest("nightly", ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The dead agent: a claim and a progress report, then nothing.
	if _, err := agentd.AcquireLease(ctx, store, layout, layout.RequestLeaseJob(req.ID), "dead", req.Created, 300*time.Millisecond, nil); err != nil {
		t.Fatal(err)
	}
	w := worker(store, "db-eu-1", "B", func(context.Context, *Request, func(Progress)) (*Result, error) { return &Result{Evidence: "e2"}, nil })
	w.Scan(ctx)
	w.wg.Wait()
	if _, err := ReadResult(ctx, store, layout, req.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("result while the dead agent's claim was live: %v", err)
	}
	time.Sleep(350 * time.Millisecond)
	w.Scan(ctx)
	w.wg.Wait()
	res, err := Wait(ctx, store, layout, req, WaitOptions{ClaimTimeout: time.Second, Poll: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Holder != "B" || res.Attempt != 2 {
		t.Fatalf("result %+v: want B's, the second attempt", res)
	}
}

// A retried apply reuses the pending request and a finished one not yet
// acknowledged; a withdrawn, failed or acknowledged one is replaced by the
// next generation.
func TestSubmitReusesOrReplaces(t *testing.T) {
	ctx := context.Background()
	store := objectstore.NewMemory("b")
	def := drillRequest("nightly", "db-eu-1")
	first, reused, err := Submit(ctx, store, layout, def, nil)
	if err != nil || reused {
		t.Fatal(reused, err)
	}
	again, reused, err := Submit(ctx, store, layout, def, nil)
	if err != nil || !reused || again.ID != first.ID {
		t.Fatalf("pending request not reused: %v %v %v", again.ID, reused, err)
	}
	other, _, _ := Submit(ctx, store, layout, drillRequest("weekly", "db-eu-1"), nil)
	if other.ID == first.ID {
		t.Fatal("two definitions share an id")
	}
	if _, err := Withdraw(ctx, store, layout, first.ID, "test"); err != nil {
		t.Fatal(err)
	}
	second, reused, _ := Submit(ctx, store, layout, def, nil)
	if reused || second.ID == first.ID || !strings.HasSuffix(second.ID, "-0002") {
		t.Fatalf("after withdrawal: %s reused=%v, want generation 2", second.ID, reused)
	}
	if err := writeResult(ctx, store, layout, Result{Request: second.ID, Status: StatusSucceeded}); err != nil {
		t.Fatal(err)
	}
	if err := writeResult(ctx, store, layout, Result{Request: second.ID, Status: StatusFailed}); !errors.Is(err, objectstore.ErrExists) {
		t.Fatalf("a second result was written: %v", err)
	}
	if r, reused, _ := Submit(ctx, store, layout, def, nil); !reused || r.ID != second.ID {
		t.Fatalf("done, not acknowledged: %s reused=%v, want %s reused", r.ID, reused, second.ID)
	}
	if err := Ack(ctx, store, layout, second.ID); err != nil {
		t.Fatal(err)
	}
	if r, reused, _ := Submit(ctx, store, layout, def, nil); reused || !strings.HasSuffix(r.ID, "-0003") {
		t.Fatalf("acknowledged: %s reused=%v, want generation 3", r.ID, reused)
	}
}

// An agent that trusts the provider's key refuses an unsigned request
// (say, one written with a host's writer credentials), records the
// refusal, and executes a signed one.
func TestUnsignedRequestRefused(t *testing.T) {
	ctx := context.Background()
	store := objectstore.NewMemory("b")
	key, err := signature.Generate()
	if err != nil {
		t.Fatal(err)
	}
	trust, _ := signature.NewTrust(key.Public().String())
	var runs atomic.Int32
	w := worker(store, "db-eu-1", "A", func(context.Context, *Request, func(Progress)) (*Result, error) {
		runs.Add(1)
		return &Result{}, nil
	})
	w.Trust = trust
	forged, _, _ := Submit(ctx, store, layout, drillRequest("nightly", ""), nil)
	signed, _, _ := Submit(ctx, store, layout, drillRequest("weekly", ""), key)
	w.Scan(ctx)
	w.wg.Wait()
	_, err = Wait(ctx, store, layout, forged, WaitOptions{Poll: 10 * time.Millisecond})
	var fe *FailedError
	if !errors.As(err, &fe) || fe.Result.Status != StatusRefused || !errors.Is(err, ErrFailed) {
		t.Fatalf("unsigned request: %v, want refused", err)
	}
	if _, err := Wait(ctx, store, layout, signed, WaitOptions{Poll: 10 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if runs.Load() != 1 {
		t.Fatalf("%d executions, want the signed request's only", runs.Load())
	}
}

// Heartbeats list every agent; three missed intervals make one not live.
func TestHeartbeats(t *testing.T) {
	ctx := context.Background()
	store := objectstore.NewMemory("b")
	for _, h := range []string{"db-eu-1", "db-eu-2"} {
		if err := PublishHeartbeat(ctx, store, layout, Heartbeat{Host: h, Cluster: "main", IntervalSeconds: 1}); err != nil {
			t.Fatal(err)
		}
	}
	all, err := ListAgents(ctx, store, layout)
	if err != nil || len(all) != 2 || all[0].Host != "db-eu-1" {
		t.Fatalf("%+v %v", all, err)
	}
	if live, _ := LiveAgents(ctx, store, layout, time.Now().Add(2*time.Second)); len(live) != 2 {
		t.Fatalf("live after 2s of a 1s interval: %d, want 2", len(live))
	}
	if live, _ := LiveAgents(ctx, store, layout, time.Now().Add(4*time.Second)); len(live) != 0 {
		t.Fatalf("live after 4s of a 1s interval: %d, want 0", len(live))
	}
}
