package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/agentd"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// backupAgent is a daemon and a worker of one agent executing backup
// requests with BackupNow; the base backup is replaced by a wait of d,
// named "<holder>-<n>" in taken.
type backupAgent struct {
	d *agentd.Daemon
	w *Worker
}

type takenBackups struct {
	mu    sync.Mutex
	taken []string
}

func (b *takenBackups) all() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.taken...)
}

func newBackupAgent(t *testing.T, store objectstore.Store, holder string, d time.Duration, b *takenBackups) *backupAgent {
	t.Helper()
	daemon, err := agentd.New(agentd.Config{Store: store, Agent: repo.AgentConfig{Bucket: "b", Prefix: layout.Prefix, Cluster: layout.Cluster},
		Holder: holder, Tick: 50 * time.Millisecond, LeaseRenew: 100 * time.Millisecond, Logger: quiet()},
		agentd.WithBackup(func(ctx context.Context, _ *repo.Policy) (string, error) {
			b.mu.Lock()
			id := fmt.Sprintf("%s-%d", holder, len(b.taken)+1)
			b.taken = append(b.taken, id)
			b.mu.Unlock()
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case <-time.After(d):
			}
			return "backup " + id, nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	h := &Host{Store: store, Layout: layout, Backup: daemon.BackupNow}
	return &backupAgent{d: daemon, w: worker(store, "db1", holder, h.Exec)}
}

func writeBackupPolicy(t *testing.T, store objectstore.Store) {
	t.Helper()
	// Created long ago: this year's slot is due, as on a running cluster.
	if err := repo.WritePolicy(context.Background(), store, layout, repo.Policy{Cluster: layout.Cluster, Schedule: "0 0 1 1 *",
		Created: time.Now().AddDate(-2, 0, 0)}, nil); err != nil {
		t.Fatal(err)
	}
}

// backupHost is a repository whose backup policy's slot is due, the
// backups its agents take, and the workers that run until the test ends.
type backupHost struct {
	store objectstore.Store
	taken *takenBackups
	ctx   context.Context
	wg    sync.WaitGroup
}

func newBackupHost(t *testing.T) *backupHost {
	t.Helper()
	store := objectstore.NewMemory("b")
	writeBackupPolicy(t, store)
	ctx, cancel := context.WithCancel(context.Background())
	h := &backupHost{store: store, taken: &takenBackups{}, ctx: ctx}
	t.Cleanup(func() { cancel(); h.wg.Wait() })
	return h
}

// run runs w until the test ends.
func (h *backupHost) run(w *Worker) {
	h.wg.Add(1)
	go func() { defer h.wg.Done(); _ = w.Run(h.ctx) }()
}

// submit submits a backup request for db1.
func (h *backupHost) submit(t *testing.T) *Request {
	t.Helper()
	req, _, err := Submit(h.ctx, h.store, layout, Request{Kind: KindBackup, Agent: "db1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// wait waits for req's result.
func (h *backupHost) wait(t *testing.T, req *Request) *Result {
	t.Helper()
	res, err := Wait(h.ctx, h.store, layout, req, WaitOptions{ClaimTimeout: 5 * time.Second, Poll: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestBackupRequestClaimOutlivesItsLease: a backup request whose backup
// runs many times longer than the claim's lease (200 ms) stays with the
// agent that claimed it, which renews the claim for as long as the work
// runs: the other agent of the host never takes it, one backup is taken,
// and the result names it.
func TestBackupRequestClaimOutlivesItsLease(t *testing.T) {
	h := newBackupHost(t)
	for _, holder := range []string{"A", "B"} {
		h.run(newBackupAgent(t, h.store, holder, 1500*time.Millisecond, h.taken).w)
	}
	req := h.submit(t)
	res := h.wait(t, req)
	taken := h.taken.all()
	if len(taken) != 1 || res.BackupID != taken[0] || res.Backup != "backup "+taken[0] || res.Attempt != 1 {
		t.Fatalf("result %+v, backups taken %v: want one backup, named by the first attempt's result", res, taken)
	}
	last, err := agentd.ReadRun(h.ctx, h.store, layout, agentd.BackupJob)
	if err != nil || last == nil || last.Request != req.ID || last.Holder != res.Holder {
		t.Fatalf("run record %+v, %v: want the request's run of the slot", last, err)
	}
}

// partitioned fails every call while cut is set: an agent that lost the
// repository (or hangs) and so stops renewing its claim.
type partitioned struct {
	objectstore.Store
	cut atomic.Bool
}

var errCut = errors.New("partitioned from the repository")

func (p *partitioned) Put(ctx context.Context, key string, body io.Reader, opts objectstore.PutOptions) (objectstore.ObjectInfo, error) {
	if p.cut.Load() {
		return objectstore.ObjectInfo{}, errCut
	}
	return p.Store.Put(ctx, key, body, opts)
}

func (p *partitioned) Get(ctx context.Context, key string) (io.ReadCloser, objectstore.ObjectInfo, error) {
	if p.cut.Load() {
		return nil, objectstore.ObjectInfo{}, errCut
	}
	return p.Store.Get(ctx, key)
}

func (p *partitioned) Head(ctx context.Context, key string) (objectstore.ObjectInfo, error) {
	if p.cut.Load() {
		return objectstore.ObjectInfo{}, errCut
	}
	return p.Store.Head(ctx, key)
}

func (p *partitioned) List(ctx context.Context, prefix string, fn func(objectstore.ObjectInfo) error) error {
	if p.cut.Load() {
		return errCut
	}
	return p.Store.List(ctx, prefix, fn)
}

// TestBackupRequestTakenOverRunsOnce: agent A takes the request's backup
// (recorded as the slot's run) and then loses the repository before it
// writes the result; its claim expires. Agent B takes the request over and
// finds the backup A took: no second backup, and the result (attempt 2,
// by B) names A's backup.
func TestBackupRequestTakenOverRunsOnce(t *testing.T) {
	h := newBackupHost(t)
	cutA := &partitioned{Store: h.store}
	a := newBackupAgent(t, cutA, "A", 50*time.Millisecond, h.taken)
	abandoned := make(chan error, 1)
	exec := a.w.Exec
	a.w.Exec = func(ctx context.Context, req *Request, report func(Progress)) (*Result, error) {
		res, err := exec(ctx, req, report)
		cutA.cut.Store(true) // the backup is done and recorded; the result is not
		<-ctx.Done()         // the claim is lost: the worker abandons the request
		abandoned <- context.Cause(ctx)
		return res, err
	}
	h.run(a.w)
	req := h.submit(t)
	select {
	case cause := <-abandoned:
		if !errors.Is(cause, agentd.ErrLeaseLost) {
			t.Fatalf("A's work ended by %v, want its claim lost", cause)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("A never lost its claim")
	}
	if _, err := ReadResult(h.ctx, h.store, layout, req.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a result after A lost its claim: %v", err)
	}
	h.run(newBackupAgent(t, h.store, "B", 50*time.Millisecond, h.taken).w)
	res := h.wait(t, req)
	if taken := h.taken.all(); len(taken) != 1 || taken[0] != "A-1" {
		t.Fatalf("backups taken %v, want A's only", taken)
	}
	if res.Holder != "B" || res.Attempt != 2 || res.BackupID != "A-1" {
		t.Fatalf("result %+v: want B's second attempt naming A's backup", res)
	}
}
