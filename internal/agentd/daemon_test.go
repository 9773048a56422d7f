package agentd

import (
	"context"
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
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	time.Sleep(within)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("the daemon stopped with %v", err)
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
// one-second schedule and a job that takes a third of it: every slot runs
// exactly once, by one of them.
func TestTwoDaemonsRunEachSlotOnce(t *testing.T) {
	store := objectstore.NewMemory("b")
	writePolicy(t, store, "@every 1s")
	var mu sync.Mutex
	runs := map[time.Time][]string{}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var ds []*Daemon
	for _, holder := range []string{"A", "B"} {
		d := testDaemon(t, store, holder, WithBackup(func(ctx context.Context, _ *repo.Policy) (string, error) {
			slot := time.Now().UTC().Truncate(time.Second)
			mu.Lock()
			runs[slot] = append(runs[slot], holder)
			mu.Unlock()
			time.Sleep(300 * time.Millisecond)
			return "ok", nil
		}))
		ds = append(ds, d)
		wg.Add(1)
		go func() { defer wg.Done(); _ = d.Run(ctx) }()
	}
	time.Sleep(4500 * time.Millisecond)
	cancel()
	wg.Wait()

	if len(runs) < 3 {
		t.Fatalf("%d slots run in 4.5s, want at least 3: %v", len(runs), runs)
	}
	for slot, by := range runs {
		if len(by) != 1 {
			t.Errorf("slot %s run %d times: %v", slot.Format(time.TimeOnly), len(by), by)
		}
	}
	total := 0.0
	for _, d := range ds {
		// The run in progress at the end is cancelled.
		total += testutil.ToFloat64(d.Metrics().JobRuns.WithLabelValues(BackupJob, ResultSuccess)) +
			testutil.ToFloat64(d.Metrics().JobRuns.WithLabelValues(BackupJob, "canceled"))
	}
	if int(total) != len(runs) {
		t.Errorf("lifeboat_job_runs_total{result=success|canceled} sums to %v, %d runs", total, len(runs))
	}
	last, err := ReadRun(context.Background(), store, testLayout, BackupJob)
	if err != nil || last == nil || last.Result != ResultSuccess || last.Output != "ok" {
		t.Fatalf("last run %+v, %v", last, err)
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
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("the due job did not start")
	}
	time.Sleep(300 * time.Millisecond) // a few renewals
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
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
	time.Sleep(600 * time.Millisecond)
	if len(ran) != 0 {
		t.Fatal("a 10s schedule ran")
	}
	writePolicy(t, store, "* * * * *")
	select {
	case <-ran:
	case <-time.After(3 * time.Second):
		t.Fatal("policy change not picked up")
	}
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
