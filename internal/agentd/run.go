package agentd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/schedule"
)

// Results of a run.
const (
	ResultSuccess = repo.JobSuccess
	ResultFailure = repo.JobFailure
)

// Run is the record of a job's last run of a slot; it lives in repo so
// that readers of the records (the provider, the posture engine) need not
// import the agent.
type Run = repo.JobRun

// ReadRun reads the last run of job; nil with no error when there is none.
func ReadRun(ctx context.Context, store objectstore.Store, l repo.Layout, job string) (*Run, error) {
	return repo.ReadJobRun(ctx, store, l, job)
}

// JobRecordRetention is how long each version of a job record stays
// locked (GOVERNANCE) in a bucket with object lock, in place of the
// bucket's default retention.
const JobRecordRetention = 10 * time.Minute

// WriteRun records r as the job's last run. Only the lease holder writes it.
func WriteRun(ctx context.Context, store objectstore.Store, l repo.Layout, r Run) error {
	b, _ := json.MarshalIndent(r, "", "  ")
	if err := putShortLived(ctx, store, l.JobRecordKey(r.Job), b, false, JobRecordRetention); err != nil {
		return fmt.Errorf("recording run of %s: %w", r.Job, err)
	}
	return nil
}

// putShortLived writes a small record that is rewritten often (a lease, a
// job record) at key.
//
// Safety rule: such records must not pile up undeletable versions. In a
// bucket with object lock, every write is a new version that the bucket's
// default retention would hold for its whole period (a lease renewed every
// minute under a 30-day COMPLIANCE default is 43,200 locked versions), so
// each version is written with its own short GOVERNANCE retention (retain).
// The versions it replaced are never deleted here: the agent holds the
// writer role, which may not remove a version; the backup policy's agent.*
// lifecycle rules expire them with the bucket owner's rights.
// A bucket without object lock takes the record without a retention.
func putShortLived(ctx context.Context, store objectstore.Store, key string, b []byte, ifAbsent bool, retain time.Duration) error {
	return putShortLivedMeta(ctx, store, key, b, ifAbsent, retain, nil)
}

// putShortLivedMeta is putShortLived with object metadata (a signature).
func putShortLivedMeta(ctx context.Context, store objectstore.Store, key string, b []byte, ifAbsent bool, retain time.Duration, meta map[string]string) error {
	// NOTE: the real clock, not an injected one: the store compares the
	// retention with its own.
	opts := objectstore.PutOptions{IfAbsent: ifAbsent, Size: int64(len(b)), Metadata: meta,
		RetainUntil: time.Now().Add(retain), RetentionMode: objectstore.ModeGovernance}
	_, err := store.Put(ctx, key, bytes.NewReader(b), opts)
	if errors.Is(err, objectstore.ErrNoObjectLock) {
		opts.RetainUntil, opts.RetentionMode = time.Time{}, ""
		_, err = store.Put(ctx, key, bytes.NewReader(b), opts)
	}
	if err != nil {
		return err
	}
	return nil
}

// Due reports whether a job whose schedule's current slot is slot must run,
// given its last run: when the slot is newer than the last run's, or the
// last run of this very slot failed fewer than maxAttempts times and
// retryDelay has passed since.
func Due(slot time.Time, last *Run, now time.Time, retryDelay time.Duration, maxAttempts int) bool {
	if slot.IsZero() {
		return false
	}
	if last == nil || last.Slot.Before(slot) {
		return true
	}
	if last.Slot.Equal(slot) && last.Result == ResultFailure && !last.Final {
		return last.Attempts < maxAttempts && !now.Before(last.Finished.Add(retryDelay))
	}
	return false
}

// Slot is the time sched last fired at or before now: the slot a run at
// now belongs to, the same for every agent.
//
// GOTCHA: schedule.Prev walks Next from a point before now, which for an
// "@every" schedule (a constant delay from whenever you start counting)
// lands on now itself; every instant would be a new slot. "@every d" slots
// are therefore aligned to the Unix epoch: now truncated to d.
func Slot(sched *schedule.Schedule, now time.Time) time.Time {
	if every, ok := EveryInterval(sched.Expr); ok {
		return now.UTC().Truncate(every)
	}
	return sched.Prev(now)
}

// EveryInterval returns d for an "@every d" expression.
func EveryInterval(expr string) (time.Duration, bool) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(expr), "@every ")
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(strings.TrimSpace(rest))
	if err != nil || d <= 0 {
		return 0, false
	}
	return d, true
}

// MinGap is the shortest schedule the daemon accepts: cron's own
// granularity. Finer "@every" schedules would only pile up runs.
const MinGap = time.Minute
