package agentd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// ErrLeaseHeld means another agent holds a live lease on the job (or won
// the race for it).
var ErrLeaseHeld = errors.New("job lease held by another agent")

// ErrLeaseLost means a lease this agent held expired before it could renew
// it, or another agent took a newer generation: the job must stop.
var ErrLeaseLost = errors.New("job lease lost")

// LeaseDoc is the stored form of a lease (<root>/leases/<job>/<generation>.json).
type LeaseDoc struct {
	Job        string    `json:"job"`
	Holder     string    `json:"holder"`
	Generation uint64    `json:"generation"`
	Slot       time.Time `json:"slot"`
	AcquiredAt time.Time `json:"acquired_at"`
	RenewedAt  time.Time `json:"renewed_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	// Released is set when the holder gave the lease up; the object is
	// overwritten rather than deleted so its key is never reused (a
	// conditional put on a key with a delete marker is a corner no store
	// needs to get right for us).
	Released bool `json:"released,omitempty"`
}

// live reports whether the lease still excludes others at now.
func (d LeaseDoc) live(now time.Time) bool { return !d.Released && now.Before(d.ExpiresAt) }

// Lease is a held job lease.
type Lease struct {
	store objectstore.Store
	key   string
	next  string // the next generation's key: its existence means lost
	doc   LeaseDoc
	ttl   time.Duration
	now   func() time.Time
}

// Doc is the lease as last written.
func (le *Lease) Doc() LeaseDoc { return le.doc }

// AcquireLease takes the lease on job for slot, valid for ttl. It lists the
// job's generations, and when the newest is released or expired (or there
// is none) writes the next one with a conditional put. It returns an error
// wrapping ErrLeaseHeld when a live lease exists or another agent won the
// race. Older generations are deleted on success (best effort).
func AcquireLease(ctx context.Context, store objectstore.Store, l repo.Layout, job, holder string, slot time.Time, ttl time.Duration, now func() time.Time) (*Lease, error) {
	if now == nil {
		now = time.Now
	}
	dir := l.LeaseDir(job)
	var gens []uint64
	err := store.List(ctx, dir, func(o objectstore.ObjectInfo) error {
		if k, ok := l.Parse(o.Key); ok && k.Kind == repo.KindLease && k.Job == job {
			gens = append(gens, k.Generation)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing leases of %s: %w", job, err)
	}
	sort.Slice(gens, func(i, j int) bool { return gens[i] < gens[j] })
	var gen uint64 = 1
	if len(gens) > 0 {
		top := gens[len(gens)-1]
		d, err := readLease(ctx, store, l.LeaseKey(job, top))
		switch {
		case err == nil && d.live(now()):
			return nil, fmt.Errorf("%w: %s holds %s (slot %s) until %s", ErrLeaseHeld, d.Holder, job,
				d.Slot.Format(time.RFC3339), d.ExpiresAt.Format(time.RFC3339))
		case err != nil && !errors.Is(err, errBadLease):
			return nil, err
		}
		// NOTE: an unreadable lease (torn by hand, wrong format) is taken
		// for expired: the generation counter still moves on, so two
		// agents cannot both take it over.
		gen = top + 1
	}
	t := now().UTC()
	doc := LeaseDoc{Job: job, Holder: holder, Generation: gen, Slot: slot.UTC(), AcquiredAt: t, RenewedAt: t, ExpiresAt: t.Add(ttl)}
	le := &Lease{store: store, key: l.LeaseKey(job, gen), next: l.LeaseKey(job, gen+1), doc: doc, ttl: ttl, now: now}
	if err := le.write(ctx, true); err != nil {
		if errors.Is(err, objectstore.ErrExists) {
			return nil, fmt.Errorf("%w: another agent took generation %d of %s first", ErrLeaseHeld, gen, job)
		}
		return nil, err
	}
	for _, g := range gens {
		// Best effort: an old generation left behind is only clutter. A
		// delete marker hides it from the next listing (the key is never
		// reused: the newest generation is never deleted); its versions,
		// then the marker, are expired by the backup policy's agent.leases
		// lifecycle rule, never deleted by the agent (the writer role may
		// not delete versions).
		_ = store.Delete(ctx, l.LeaseKey(job, g))
	}
	return le, nil
}

// Renew extends the lease by its ttl. It returns an error wrapping
// ErrLeaseLost when the lease already expired by this agent's clock or a
// newer generation exists; the caller must then stop the job. Other
// errors (the store unreachable) leave the lease as it was: the caller
// retries until the lease expires.
func (le *Lease) Renew(ctx context.Context) error {
	t := le.now().UTC()
	if !t.Before(le.doc.ExpiresAt) {
		return fmt.Errorf("%w: %s expired at %s before it was renewed", ErrLeaseLost, le.doc.Job, le.doc.ExpiresAt.Format(time.RFC3339))
	}
	if taken, err := le.takenOver(ctx); err != nil {
		return err
	} else if taken {
		return fmt.Errorf("%w: another agent took over %s", ErrLeaseLost, le.doc.Job)
	}
	doc := le.doc
	doc.RenewedAt, doc.ExpiresAt = t, t.Add(le.ttl)
	prev := le.doc
	le.doc = doc
	if err := le.write(ctx, false); err != nil {
		le.doc = prev
		return err
	}
	return nil
}

// takenOver reports whether another agent wrote the lease's next
// generation (it found this one expired).
func (le *Lease) takenOver(ctx context.Context) (bool, error) {
	_, err := le.store.Head(ctx, le.next)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, objectstore.ErrNotFound):
		return false, nil
	default:
		return false, err
	}
}

// KeepLease renews lease every `every` while the work it guards runs, and
// returns the context the work runs with: derived from ctx, and cancelled
// with a cause wrapping ErrLeaseLost when the lease is lost (the work must
// stop: another agent may take it over). stop ends the renewals, checks
// that no other agent took the lease over meanwhile, and then cancels the
// context; after it, context.Cause tells whether the lease was lost.
//
// A renewal the store fails (slow, unreachable) is retried every every/8
// rather than at the next period, each try bounded by every/2: a lease
// expires 2×every after its last renewal, so one slow request on a busy
// store must not cost the lease while the work is alive.
func KeepLease(ctx context.Context, lease *Lease, every time.Duration, log *slog.Logger) (workCtx context.Context, stop func()) {
	workCtx, cancel := context.WithCancelCause(ctx)
	stopRenew := make(chan struct{})
	renewDone := make(chan struct{})
	go func() {
		defer close(renewDone)
		// The first renewal is due every after the lease was last
		// written, not after the work started: reading a record under
		// the lease may have taken a while on a busy machine.
		wait := max(lease.doc.RenewedAt.Add(every).Sub(lease.now()), 0)
		t := time.NewTimer(wait)
		defer t.Stop()
		for {
			select {
			case <-stopRenew:
				return
			case <-t.C:
			}
			// NOTE: renew with a context of its own: the work's context is
			// what a lost lease cancels, not what cancels the renewal.
			rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), every/2)
			err := lease.Renew(rctx)
			rcancel()
			switch {
			case errors.Is(err, ErrLeaseLost):
				log.Error("lease lost: cancelling the work", "lease", lease.doc.Job, "err", err)
				cancel(err)
				return
			case err != nil:
				log.Warn("renewing the lease (retrying)", "lease", lease.doc.Job, "err", err)
				wait = max(every/8, time.Millisecond)
			default:
				wait = every
			}
			t.Reset(wait)
		}
	}()
	var once sync.Once
	return workCtx, func() {
		once.Do(func() {
			close(stopRenew)
			<-renewDone
			// A starved process may have missed its renewals while the
			// work ran to its end, and another agent taken the lease over
			// meanwhile and started the same work: this run is then lost
			// (not recorded beside the taker's). An expired lease nobody
			// took still covers the finished work.
			if workCtx.Err() == nil {
				hctx, hcancel := context.WithTimeout(context.WithoutCancel(ctx), every)
				taken, err := lease.takenOver(hctx)
				hcancel()
				if taken {
					lost := fmt.Errorf("%w: another agent took over %s before the work ended", ErrLeaseLost, lease.doc.Job)
					log.Error("lease lost: the finished work does not count", "lease", lease.doc.Job, "err", lost)
					cancel(lost)
					return
				} else if err != nil {
					log.Warn("checking the lease after the work (taken as kept)", "lease", lease.doc.Job, "err", err)
				}
			}
			cancel(nil)
		})
	}
}

// Release gives the lease up, so another agent need not wait for it to
// expire. Releasing a lease already lost is harmless: the taker's
// generation is newer.
func (le *Lease) Release(ctx context.Context) error {
	le.doc.Released = true
	le.doc.RenewedAt = le.now().UTC()
	return le.write(ctx, false)
}

// write stores the lease. Each version is locked for the lease's ttl only
// (see putShortLived): renewals never pile up versions the bucket's
// default retention would hold.
func (le *Lease) write(ctx context.Context, ifAbsent bool) error {
	b, _ := json.MarshalIndent(le.doc, "", "  ")
	if err := putShortLived(ctx, le.store, le.key, b, ifAbsent, le.ttl); err != nil {
		return fmt.Errorf("writing lease %s: %w", le.key, err)
	}
	return nil
}

var errBadLease = errors.New("unreadable lease")

func readLease(ctx context.Context, store objectstore.Store, key string) (LeaseDoc, error) {
	var d LeaseDoc
	rc, _, err := store.Get(ctx, key)
	if errors.Is(err, objectstore.ErrNotFound) {
		// Deleted by the winner of a newer generation since we listed:
		// expired, and the conditional put below decides.
		return d, errBadLease
	}
	if err != nil {
		return d, fmt.Errorf("reading lease %s: %w", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 1<<16))
	if err != nil {
		return d, fmt.Errorf("reading lease %s: %w", key, err)
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return d, fmt.Errorf("%w %s: %w", errBadLease, key, err)
	}
	return d, nil
}
