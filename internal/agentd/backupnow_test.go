package agentd

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

// backups stands in for the base backup: it names each backup
// "<holder>-<n>", records the most backups that ever ran at once, and
// takes d long.
type backups struct {
	d       time.Duration
	running atomic.Int32
	most    atomic.Int32
	mu      sync.Mutex
	taken   []string
	started chan string
}

func newBackups(d time.Duration) *backups {
	return &backups{d: d, started: make(chan string, 16)}
}

func (b *backups) fn(holder string) BackupFunc {
	return func(ctx context.Context, _ *repo.Policy) (string, error) {
		n := b.running.Add(1)
		defer b.running.Add(-1)
		for {
			m := b.most.Load()
			if n <= m || b.most.CompareAndSwap(m, n) {
				break
			}
		}
		b.mu.Lock()
		id := fmt.Sprintf("%s-%d", holder, len(b.taken)+1)
		b.taken = append(b.taken, id)
		b.mu.Unlock()
		b.started <- id
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(b.d):
		}
		return "backup " + id + ", tenant acme/" + id, nil
	}
}

// yearlyBackups is a repository whose yearly backup slot is due, and the
// backups its agents take, each lasting d.
func yearlyBackups(t *testing.T, d time.Duration) (objectstore.Store, *backups) {
	t.Helper()
	store := objectstore.NewMemory("b")
	writePolicy(t, store, "0 0 1 1 *")
	return store, newBackups(d)
}

func (b *backups) all() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.taken...)
}

// TestBackupNowAndScheduleNeverOverlap: the policy's slot is due when
// agent A starts, so A starts the scheduled backup. "Backup now" requests
// on A and on a second agent B arrive while it runs: each waits for the
// backup job's lease (and says so), so one backup runs at a time across
// both agents; each request's output names the backup it took, never the
// scheduled one; and the last request is recorded as the slot's run, so
// the schedule takes no backup after them.
func TestBackupNowAndScheduleNeverOverlap(t *testing.T) {
	store, b := yearlyBackups(t, 400*time.Millisecond)
	a := testDaemon(t, store, "A", WithBackup(b.fn("A")))
	other := testDaemon(t, store, "B", WithBackup(b.fn("B")))
	// No agent dies here: leases of a second keep a loaded machine's
	// scheduling delays from losing one.
	a.cfg.LeaseRenew, other.cfg.LeaseRenew = 500*time.Millisecond, 500*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.Run(ctx) }()

	scheduled := receive(t, b.started, 5*time.Second, "the due slot did not start")
	type answer struct {
		out     string
		err     error
		waited  bool
		elapsed time.Duration
	}
	answers := map[string]*answer{}
	var wg sync.WaitGroup
	for _, c := range []struct {
		id string
		d  *Daemon
	}{{"backup-req-a", a}, {"backup-req-b", other}} {
		ans := &answer{}
		answers[c.id] = ans
		wg.Add(1)
		go func() {
			defer wg.Done()
			began := time.Now()
			ans.out, ans.err = c.d.BackupNow(ctx, BackupRequest{ID: c.id, Waiting: func(string) { ans.waited = true }})
			ans.elapsed = time.Since(began)
		}()
	}
	wg.Wait()
	// Several whole ticks of A (each looks for due jobs) after the
	// requests: no scheduled backup follows. Counted, not slept: a loaded
	// machine may not tick A at all within a fixed second.
	waitTicks(t, a, 5)
	cancel()
	<-done

	if got := b.most.Load(); got != 1 {
		t.Errorf("%d backups ran at once, want 1", got)
	}
	taken := b.all()
	if len(taken) != 3 {
		t.Fatalf("backups taken %v, want the scheduled one and one per request", taken)
	}
	seen := map[string]string{}
	for id, ans := range answers {
		if ans.err != nil {
			t.Fatalf("%s: %v", id, ans.err)
		}
		got := BackupIDOf(ans.out)
		if got == "" || got == scheduled || seen[got] != "" {
			t.Errorf("%s names backup %q (output %q): want its own, not the scheduled %s nor another request's", id, got, ans.out, scheduled)
		}
		seen[got] = id
		if !ans.waited {
			t.Errorf("%s never reported waiting for the running backup", id)
		}
	}
	last, err := ReadRun(context.Background(), store, testLayout, BackupJob)
	if err != nil || last == nil {
		t.Fatalf("run record %+v, %v", last, err)
	}
	if last.Result != ResultSuccess || answers[last.Request] == nil || BackupIDOf(last.Output) != BackupIDOf(answers[last.Request].out) {
		t.Errorf("run record %+v: want the last request's backup as the slot's run", last)
	}
}

// TestBackupNowServesTheSlot: a backup now taken while the slot is due
// counts for it: the daemon started afterwards takes no backup in that
// slot. BackupIDOf reads the id the output names.
func TestBackupNowServesTheSlot(t *testing.T) {
	store, b := yearlyBackups(t, 10*time.Millisecond)
	d := testDaemon(t, store, "A", WithBackup(b.fn("A")))
	out, err := d.BackupNow(context.Background(), BackupRequest{ID: "backup-x"})
	if err != nil || BackupIDOf(out) != "A-1" {
		t.Fatalf("BackupNow: %q, %v", out, err)
	}
	r, err := ReadRun(context.Background(), store, testLayout, BackupJob)
	if err != nil || r == nil || r.Request != "backup-x" || r.Holder != "A" || r.Result != ResultSuccess ||
		!r.Slot.Equal(time.Date(time.Now().UTC().Year(), 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("run record %+v, %v: want this year's slot served by the request", r, err)
	}
	runFor(t, d, 700*time.Millisecond)
	if got := b.all(); len(got) != 1 {
		t.Fatalf("backups %v: the schedule ran the slot the request served", got)
	}
	// Released: the lease is free for the next one at once.
	if _, err := AcquireLease(context.Background(), store, testLayout, BackupJob, "B", time.Now(), time.Minute, nil); err != nil {
		t.Fatalf("lease after backup now: %v", err)
	}
	if got := BackupIDOf("pruned 2"); got != "" {
		t.Errorf("BackupIDOf(pruned 2) = %q", got)
	}
}

// TestBackupNowTakenOverFindsItsBackup: the agent that took a request's
// backup lost its claim on the request before writing the result; the
// agent that takes the request over finds the backup in the run record
// and returns it without taking another.
func TestBackupNowTakenOverFindsItsBackup(t *testing.T) {
	store, b := yearlyBackups(t, 10*time.Millisecond)
	first := testDaemon(t, store, "A", WithBackup(b.fn("A")))
	second := testDaemon(t, store, "B", WithBackup(b.fn("B")))
	ctx := context.Background()
	out1, err := first.BackupNow(ctx, BackupRequest{ID: "backup-req-1"})
	if err != nil {
		t.Fatal(err)
	}
	out2, err := second.BackupNow(ctx, BackupRequest{ID: "backup-req-1"})
	if err != nil || out2 != out1 {
		t.Fatalf("the request taken over: %q, %v; want %q again", out2, err, out1)
	}
	// Another request is another backup.
	out3, err := second.BackupNow(ctx, BackupRequest{ID: "backup-req-2"})
	if err != nil || BackupIDOf(out3) != "B-2" {
		t.Fatalf("a second request: %q, %v", out3, err)
	}
	if got := b.all(); strings.Join(got, ",") != "A-1,B-2" {
		t.Fatalf("backups taken %v, want A-1 and B-2", got)
	}
}

// TestSlotBeforePolicyIsNotDue: a new policy's first scheduled backup is
// the first slot after it was created, not the slot current when it was
// written (today's 02:00 for a daily policy written in the afternoon). A
// policy without a created time starts when the agent first saw it, but
// only until the job first ran: a restarted agent still runs a slot it
// owes.
func TestSlotBeforePolicyIsNotDue(t *testing.T) {
	run := func(t *testing.T, store objectstore.Store, within time.Duration) []string {
		t.Helper()
		b := newBackups(10 * time.Millisecond)
		d := testDaemon(t, store, "A", WithBackup(b.fn("A")))
		runFor(t, d, within)
		return b.all()
	}
	t.Run("created_after_the_slot", func(t *testing.T) {
		store := objectstore.NewMemory("b")
		writeNewPolicy(t, store, "0 0 1 1 *")
		if got := run(t, store, 600*time.Millisecond); len(got) != 0 {
			t.Fatalf("a policy created after this year's slot ran it: %v", got)
		}
		if r, _ := ReadRun(context.Background(), store, testLayout, BackupJob); r != nil {
			t.Fatalf("run recorded: %+v", r)
		}
	})
	t.Run("the_first_slot_after_creation_runs", func(t *testing.T) {
		store := objectstore.NewMemory("b")
		writeNewPolicy(t, store, "@every 1s")
		p, err := repo.ReadPolicy(context.Background(), store, testLayout, signature.Trust{})
		if err != nil {
			t.Fatal(err)
		}
		if got := run(t, store, 2500*time.Millisecond); len(got) == 0 {
			t.Fatal("no slot after the policy's creation ran")
		}
		r, err := ReadRun(context.Background(), store, testLayout, BackupJob)
		if err != nil || r == nil {
			t.Fatalf("run record %+v, %v", r, err)
		}
		if first := p.Created.Truncate(time.Second).Add(time.Second); r.Slot.Before(first) {
			t.Fatalf("slot %s run, before the first slot after the policy's creation (%s)", r.Slot, first)
		}
	})
	t.Run("created_before_the_slot", func(t *testing.T) {
		store := objectstore.NewMemory("b")
		writePolicy(t, store, "0 0 1 1 *")
		if got := run(t, store, 600*time.Millisecond); len(got) != 1 {
			t.Fatalf("backups %v, want the slot that began after the policy", got)
		}
	})
	unknownCreated := func(t *testing.T, store objectstore.Store) {
		t.Helper()
		b := []byte(`{"format":1,"cluster":"` + testLayout.Cluster + `","schedule":"0 0 1 1 *"}`)
		if _, err := store.Put(context.Background(), testLayout.PolicyKey(), strings.NewReader(string(b)), objectstore.PutOptions{Size: int64(len(b))}); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("no_created_never_ran", func(t *testing.T) {
		store := objectstore.NewMemory("b")
		unknownCreated(t, store)
		if got := run(t, store, 600*time.Millisecond); len(got) != 0 {
			t.Fatalf("a policy first seen now ran a slot that began before: %v", got)
		}
	})
	t.Run("no_created_ran_before", func(t *testing.T) {
		store := objectstore.NewMemory("b")
		unknownCreated(t, store)
		// The job ran last year's slot: this year's is owed, restart or not.
		lastYear := time.Date(time.Now().UTC().Year()-1, 1, 1, 0, 0, 0, 0, time.UTC)
		if err := WriteRun(context.Background(), store, testLayout, Run{Job: BackupJob, Slot: lastYear, Result: ResultSuccess,
			Attempts: 1, Holder: "old", Started: lastYear, Finished: lastYear}); err != nil {
			t.Fatal(err)
		}
		if got := run(t, store, 600*time.Millisecond); len(got) != 1 {
			t.Fatalf("backups %v, want the owed slot run once", got)
		}
	})
}
