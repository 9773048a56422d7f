package agentd

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/drill"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// testDaemon is a fast-ticking daemon on store that accepts
// second-granularity schedules; opts come after, so a test can restore
// MinGap.
func testDaemon(t *testing.T, store objectstore.Store, holder string, opts ...Option) *Daemon {
	t.Helper()
	d, err := New(Config{
		Store: store, Agent: repo.AgentConfig{Bucket: "b", Prefix: testLayout.Prefix, Cluster: testLayout.Cluster},
		Holder: holder, Refresh: 200 * time.Millisecond, Tick: 50 * time.Millisecond, LeaseRenew: 100 * time.Millisecond,
		StatsInterval: time.Hour, DSN: "host=/nonexistent",
		Logger: discardLogger(),
	}, append([]Option{WithMinGap(time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// runFor runs d for within, then stops it and waits for it to return.
func runFor(t *testing.T, d *Daemon, within time.Duration) {
	t.Helper()
	stop := start(t, d)
	time.Sleep(within)
	stop(time.Minute)
}

// start runs d until the test calls stop, which cancels it and fails the
// test unless Run returns nil within the time stop is given.
func start(t *testing.T, d *Daemon) (stop func(within time.Duration)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	return func(within time.Duration) {
		t.Helper()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("the daemon stopped with %v", err)
			}
		case <-time.After(within):
			t.Fatalf("Run did not return within %s after cancel", within)
		}
	}
}

// receive waits for a value from ch (or its close) and returns it; it
// fails the test, saying what did not happen, if none came within.
func receive[T any](t *testing.T, ch <-chan T, within time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(within):
		t.Fatalf("%s within %s", what, within)
	}
	var zero T
	return zero
}

// waitTicks waits, 30 seconds at most, until d's loop began n+1 ticks
// after the call: n whole ticks (each a look for due jobs) ran since.
func waitTicks(t *testing.T, d *Daemon, n int) {
	t.Helper()
	seen := time.Now()
	for i := 0; i <= n; i++ {
		waitUntil(t, 30*time.Second, "the daemon's next tick", func() bool {
			d.mu.Lock()
			defer d.mu.Unlock()
			if d.lastTick.After(seen) {
				seen = d.lastTick
				return true
			}
			return false
		})
	}
}

// discardLogger is a test daemon's logger: its log is not what is tested.
func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// writePolicy writes a policy on sched created a year and a day ago:
// every slot of the tests' schedules (a yearly one included) began after
// it, so the slot current at start is due. writeNewPolicy writes one
// created now.
func writePolicy(t *testing.T, store objectstore.Store, sched string) {
	t.Helper()
	writePolicyCreated(t, store, sched, time.Now().AddDate(-1, 0, -1))
}

func writeNewPolicy(t *testing.T, store objectstore.Store, sched string) {
	t.Helper()
	writePolicyCreated(t, store, sched, time.Time{})
}

func writePolicyCreated(t *testing.T, store objectstore.Store, sched string, created time.Time) {
	t.Helper()
	if err := repo.WritePolicy(context.Background(), store, testLayout, repo.Policy{Cluster: testLayout.Cluster, Schedule: sched,
		Created: created}, nil); err != nil {
		t.Fatal(err)
	}
}

// TestTwoDaemonsRunEachSlotOnce runs two daemons on one repository with a
// one-second schedule and a job that takes a third of it: every slot is
// recorded exactly once, by one of them.
//
// The oracle is the repository's history of run records (each version of
// the job record), not the wall clock at the job's start: on a loaded
// machine a job may start well after its slot began, and a holder starved
// of CPU may miss its renewals and lose the 200 ms test lease to the other
// daemon, which then redoes the slot (by design: the loser records
// nothing, its run counts as canceled). The test waits for three recorded
// slots instead of sleeping a fixed time.
func TestTwoDaemonsRunEachSlotOnce(t *testing.T) {
	store := objectstore.NewMemory("b")
	writePolicy(t, store, "@every 1s")
	var mu sync.Mutex
	calls := 0
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var ds []*Daemon
	for _, holder := range []string{"A", "B"} {
		d := testDaemon(t, store, holder, WithBackup(func(ctx context.Context, _ *repo.Policy) (string, error) {
			mu.Lock()
			calls++
			mu.Unlock()
			time.Sleep(300 * time.Millisecond)
			return "ok", nil
		}))
		ds = append(ds, d)
		wg.Add(1)
		go func() { defer wg.Done(); _ = d.Run(ctx) }()
	}
	var recorded map[time.Time][]Run
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		recorded = recordedRuns(t, store, BackupJob)
		if len(recorded) >= 3 || time.Now().After(deadline) {
			break
		}
	}
	cancel()
	wg.Wait()
	recorded = recordedRuns(t, store, BackupJob)

	if len(recorded) < 3 {
		t.Fatalf("%d slots recorded in 30s, want at least 3: %v", len(recorded), recorded)
	}
	successes := 0
	for slot, rs := range recorded {
		if len(rs) != 1 || rs[0].Result != ResultSuccess {
			t.Errorf("slot %s recorded %d times: %+v", slot.Format(time.TimeOnly), len(rs), rs)
		}
		successes += len(rs)
	}
	var succeeded, canceled float64
	for _, d := range ds {
		succeeded += testutil.ToFloat64(d.Metrics().JobRuns.WithLabelValues(BackupJob, ResultSuccess))
		canceled += testutil.ToFloat64(d.Metrics().JobRuns.WithLabelValues(BackupJob, "canceled"))
	}
	if int(succeeded) != successes {
		t.Errorf("lifeboat_job_runs_total{result=success} sums to %v, %d runs recorded", succeeded, successes)
	}
	// Every call of the job either was recorded or is counted canceled
	// (the run in progress at the end, a run whose lease was lost).
	mu.Lock()
	defer mu.Unlock()
	if int(succeeded+canceled) != calls {
		t.Errorf("lifeboat_job_runs_total{result=success|canceled} sums to %v, %d calls of the job", succeeded+canceled, calls)
	}
	last, err := ReadRun(context.Background(), store, testLayout, BackupJob)
	if err != nil || last == nil || last.Result != ResultSuccess || last.Output != "ok" {
		t.Fatalf("last run %+v, %v", last, err)
	}
}

// recordedRuns reads every version of job's run record in store, by slot.
func recordedRuns(t *testing.T, store objectstore.Store, job string) map[time.Time][]Run {
	t.Helper()
	ctx := context.Background()
	key := testLayout.JobRecordKey(job)
	out := map[time.Time][]Run{}
	err := store.ListVersions(ctx, key, func(o objectstore.ObjectInfo) error {
		if o.Key != key || o.DeleteMarker {
			return nil
		}
		rc, _, err := store.GetVersion(ctx, key, o.VersionID)
		if err != nil {
			return err
		}
		defer rc.Close()
		var r Run
		if err := json.NewDecoder(rc).Decode(&r); err != nil {
			return err
		}
		out[r.Slot] = append(out[r.Slot], r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRunFinishedAfterATakeoverIsNotRecorded: a job that runs to its end
// while its renewals fell behind (a starved process) and another agent
// took the lease over meanwhile is not recorded beside the taker's run:
// it counts as canceled and the slot stays with the taker.
func TestRunFinishedAfterATakeoverIsNotRecorded(t *testing.T) {
	store := objectstore.NewMemory("b")
	writePolicy(t, store, "0 0 1 1 *") // once a year: one slot for the whole test
	done := make(chan struct{})
	d := testDaemon(t, store, "A", WithBackup(func(ctx context.Context, _ *repo.Policy) (string, error) {
		defer close(done)
		// B's clock is past A's lease: as if A had not renewed for that
		// long. (A's renewals run every hour here, so none happens.)
		later := func() time.Time { return time.Now().Add(3 * time.Hour) }
		if _, err := AcquireLease(context.Background(), store, testLayout, BackupJob, "B", later(), time.Hour, later); err != nil {
			return "", err
		}
		return "ok", nil
	}))
	d.cfg.LeaseRenew = time.Hour
	stop := start(t, d)
	receive(t, done, 30*time.Second, "the due job did not run")
	count := func(result string) float64 {
		return testutil.ToFloat64(d.Metrics().JobRuns.WithLabelValues(BackupJob, result))
	}
	waitUntil(t, 30*time.Second, "the run's end", func() bool { return count("canceled")+count(ResultSuccess) > 0 })
	if c, s := count("canceled"), count(ResultSuccess); c != 1 || s != 0 {
		t.Fatalf("the run after the takeover counted %v canceled and %v successful, want it canceled", c, s)
	}
	stop(time.Minute)
	if r, err := ReadRun(context.Background(), store, testLayout, BackupJob); r != nil || err != nil {
		t.Fatalf("the run after the takeover was recorded: %+v, %v", r, err)
	}
}

// TestShutdownAbandonsTheRunningJob: cancelling the daemon cancels the job,
// records nothing (the slot stays due) and releases the lease.
func TestShutdownAbandonsTheRunningJob(t *testing.T) {
	store := objectstore.NewMemory("b")
	writePolicy(t, store, "* * * * *")
	started := make(chan struct{})
	jobErr := make(chan error, 1)
	d := testDaemon(t, store, "A", WithBackup(func(ctx context.Context, _ *repo.Policy) (string, error) {
		close(started)
		<-ctx.Done()
		jobErr <- ctx.Err()
		return "", ctx.Err()
	}))
	stop := start(t, d)
	receive(t, started, 5*time.Second, "the due job did not start")
	time.Sleep(300 * time.Millisecond) // a few renewals
	stop(5 * time.Second)
	if err := <-jobErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("job context: %v", err)
	}
	if r, err := ReadRun(context.Background(), store, testLayout, BackupJob); r != nil || err != nil {
		t.Fatalf("abandoned run recorded: %+v, %v", r, err)
	}
	if got := testutil.ToFloat64(d.Metrics().JobRuns.WithLabelValues(BackupJob, "canceled")); got != 1 {
		t.Fatalf("canceled runs %v", got)
	}
	// Released: another agent takes the lease at once, without waiting.
	if _, err := AcquireLease(context.Background(), store, testLayout, BackupJob, "B", time.Now(), time.Minute, nil); err != nil {
		t.Fatalf("lease not released: %v", err)
	}
}

// TestFailedSlotIsRetriedThenGivenUp: a failing job is recorded as a
// failure, retried after RetryDelay, at most MaxAttempts times per slot.
func TestFailedSlotIsRetriedThenGivenUp(t *testing.T) {
	store := objectstore.NewMemory("b")
	writePolicy(t, store, "0 0 1 1 *") // once a year: one slot for the whole test
	var mu sync.Mutex
	calls := 0
	d := testDaemon(t, store, "A", WithBackup(func(ctx context.Context, _ *repo.Policy) (string, error) {
		mu.Lock()
		calls++
		mu.Unlock()
		return "", errors.New("server unreachable")
	}))
	d.cfg.RetryDelay = 100 * time.Millisecond
	d.cfg.MaxAttempts = 3
	runFor(t, d, 1500*time.Millisecond)
	if calls != 3 {
		t.Fatalf("%d attempts, want 3", calls)
	}
	r, err := ReadRun(context.Background(), store, testLayout, BackupJob)
	if err != nil || r.Result != ResultFailure || r.Attempts != 3 || r.Error != "server unreachable" {
		t.Fatalf("last run %+v, %v", r, err)
	}
	if got := testutil.ToFloat64(d.Metrics().JobFailures.WithLabelValues(BackupJob)); got != 3 {
		t.Fatalf("lifeboat_job_failures_total %v", got)
	}
}

// TestPolicyChangesApplyWithoutRestart: a policy written after start is
// picked up at the next refresh; one finer than a minute is refused.
func TestPolicyChangesApplyWithoutRestart(t *testing.T) {
	store := objectstore.NewMemory("b")
	ran := make(chan struct{}, 10)
	d := testDaemon(t, store, "A", WithMinGap(MinGap),
		WithBackup(func(ctx context.Context, _ *repo.Policy) (string, error) { ran <- struct{}{}; return "", nil }))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = d.Run(ctx) }()
	writePolicy(t, store, "@every 10s")
	// The daemon read that policy and looked for due jobs a few times
	// since (waited for, not slept: a loaded machine may do neither in a
	// fixed 600 ms).
	// Two refreshes end after the write: the second began after it.
	seen := time.Now()
	for range 2 {
		waitUntil(t, 30*time.Second, "a refresh after the policy was written", func() bool {
			d.mu.Lock()
			defer d.mu.Unlock()
			if d.lastRefresh.After(seen) {
				seen = d.lastRefresh
				return true
			}
			return false
		})
	}
	waitTicks(t, d, 3)
	if len(ran) != 0 {
		t.Fatal("a 10s schedule ran")
	}
	writePolicy(t, store, "* * * * *")
	receive(t, ran, 30*time.Second, "policy change not picked up")
}

// TestFailedDrillIsNotRetriedInItsSlot: a drill that ran and failed is
// recorded as final; the next slot runs it again.
func TestFailedDrillIsNotRetriedInItsSlot(t *testing.T) {
	store := objectstore.NewMemory("b")
	if err := drill.WriteSchedule(context.Background(), store, testLayout, drill.ScheduleDoc{Name: "nightly", Cluster: testLayout.Cluster,
		Schedule: "0 0 1 1 *", Kind: "cluster", RTOTargetSeconds: 600}, nil); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	calls := 0
	d := testDaemon(t, store, "A", WithDrill(func(ctx context.Context, doc drill.ScheduleDoc) (string, error) {
		mu.Lock()
		calls++
		mu.Unlock()
		return "evidence x", &FinalError{Err: errors.New("check rows failed")}
	}))
	d.cfg.RetryDelay = time.Millisecond
	runFor(t, d, 800*time.Millisecond)
	if calls != 1 {
		t.Fatalf("failed drill run %d times in its slot, want 1", calls)
	}
	r, err := ReadRun(context.Background(), store, testLayout, DrillJobPrefix+"nightly")
	if err != nil || r == nil || !r.Final || r.Result != ResultFailure {
		t.Fatalf("last run %+v, %v", r, err)
	}
	if got := testutil.ToFloat64(d.Metrics().DrillRTOTarget.WithLabelValues("nightly")); got != 600 {
		t.Fatalf("lifeboat_drill_rto_target_seconds = %v", got)
	}
}

// The agent keeps the drill index: written at its first refresh with every
// schedule, rewritten when a schedule is added, and after a drill ran.
func TestDaemonKeepsTheDrillIndex(t *testing.T) {
	ctx := context.Background()
	store := objectstore.NewMemory("b")
	write := func(name string) {
		t.Helper()
		if err := drill.WriteSchedule(ctx, store, testLayout, drill.ScheduleDoc{Name: name, Cluster: testLayout.Cluster,
			Schedule: "0 0 1 1 *", Kind: "tenant", Database: name}, nil); err != nil {
			t.Fatal(err)
		}
	}
	write("tenant-a")
	write("tenant-b")
	d := testDaemon(t, store, "A")
	indexed := func() []string {
		t.Helper()
		x, err := drill.ReadIndex(ctx, store, testLayout)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range x.Schedules {
			names = append(names, e.Name)
		}
		return names
	}
	d.refresh(ctx)
	if got := indexed(); !slices.Equal(got, []string{"tenant-a", "tenant-b"}) {
		t.Fatalf("index after the first refresh: %v", got)
	}
	write("tenant-c")
	d.refresh(ctx)
	if got := indexed(); !slices.Equal(got, []string{"tenant-a", "tenant-b", "tenant-c"}) {
		t.Fatalf("index after a schedule was added: %v", got)
	}
	// Nothing changed: no rewrite (the index is rewritten only when stale).
	before, err := store.Head(ctx, testLayout.DrillIndexKey())
	if err != nil {
		t.Fatal(err)
	}
	d.refresh(ctx)
	after, _ := store.Head(ctx, testLayout.DrillIndexKey())
	if after.VersionID != before.VersionID || !after.LastModified.Equal(before.LastModified) {
		t.Fatal("the index was rewritten although nothing changed")
	}
	d.mu.Lock()
	d.drillIndexDirty = true // what a drill run sets
	d.mu.Unlock()
	d.refresh(ctx)
	again, _ := store.Head(ctx, testLayout.DrillIndexKey())
	if again.LastModified.Equal(before.LastModified) && again.VersionID == before.VersionID {
		t.Fatal("the index was not rewritten after a drill ran")
	}
}
