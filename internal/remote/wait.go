package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/agentd"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// ErrNotClaimed means no agent executed the request within the claim
// timeout, and it was withdrawn: nothing was done.
var ErrNotClaimed = errors.New("no agent claimed the request")

// NotClaimedError says which request waited for whom, and which agents of
// the cluster are alive.
type NotClaimedError struct {
	Key    string
	Agent  string
	Waited time.Duration
	// Live are the cluster's live agents (by heartbeat); Abandoned is the
	// last progress of an agent that claimed the request and then stopped
	// renewing its claim (nil when none ever did).
	Live      []Heartbeat
	Abandoned *Progress
}

func (e *NotClaimedError) Error() string {
	var b strings.Builder
	who := "any agent of the cluster"
	if e.Agent != "" {
		who = fmt.Sprintf("an agent on host %q", e.Agent)
	}
	if e.Abandoned != nil {
		fmt.Fprintf(&b, "request %s was claimed by %s (host %s) and abandoned at phase %q; no agent took it over within %s",
			e.Key, e.Abandoned.Holder, e.Abandoned.Host, e.Abandoned.Phase, e.Waited)
	} else {
		fmt.Fprintf(&b, "%s claimed request %s within %s", "no agent", e.Key, e.Waited)
	}
	fmt.Fprintf(&b, " (it waited for %s); ", who)
	if len(e.Live) == 0 {
		b.WriteString("live agents of the cluster: none")
	} else {
		var hosts []string
		for _, h := range e.Live {
			hosts = append(hosts, fmt.Sprintf("%s (%s, last seen %s)", h.Host, h.Holder, h.LastSeen.Format(time.RFC3339)))
		}
		b.WriteString("live agents of the cluster: " + strings.Join(hosts, ", "))
	}
	b.WriteString("; the request was withdrawn and nothing was left half done")
	return b.String()
}

// Unwrap lets errors.Is(err, ErrNotClaimed) match.
func (e *NotClaimedError) Unwrap() error { return ErrNotClaimed }

// ErrFailed means the agent executed the request and it failed (or refused it).
var ErrFailed = errors.New("request failed on the agent")

// FailedError carries the failed request's result.
type FailedError struct {
	Key    string
	Result *Result
}

func (e *FailedError) Error() string {
	return fmt.Sprintf("request %s %s on host %s (%s, attempt %d): %s", e.Key, e.Result.Status, e.Result.Host, e.Result.Holder,
		e.Result.Attempt, e.Result.Error)
}

// Unwrap lets errors.Is(err, ErrFailed) match.
func (e *FailedError) Unwrap() error { return ErrFailed }

// WaitOptions tune Wait.
type WaitOptions struct {
	// ClaimTimeout is how long the request may go without a live claim
	// (since Wait started, or since the last claim expired) before it is
	// withdrawn (default 5m).
	ClaimTimeout time.Duration
	// Poll is how often the repository is read (default 1s).
	Poll time.Duration
	// OnProgress is called with each new progress report.
	OnProgress func(Progress)
}

// Wait waits for req's result. It returns the result of a succeeded
// request, a *FailedError for a failed or refused one, and a
// *NotClaimedError after withdrawing a request no agent held a live claim
// on for ClaimTimeout. When ctx ends first, an unclaimed request is
// withdrawn too; a claimed one is left to its agent (a retried apply waits
// for it again) and the error says so.
func Wait(ctx context.Context, store objectstore.Store, l repo.Layout, req *Request, opts WaitOptions) (*Result, error) {
	if opts.ClaimTimeout <= 0 {
		opts.ClaimTimeout = 5 * time.Minute
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	key := l.RequestKey(req.ID)
	lastLive := time.Now()
	seq, attempt := -1, uint64(0)
	var last *Progress
	for {
		res, err := ReadResult(ctx, store, l, req.ID)
		if err == nil {
			return finished(key, res)
		}
		if !errors.Is(err, ErrNotFound) && ctx.Err() == nil {
			return nil, err
		}
		if p, err := ReadProgress(ctx, store, l, req.ID); err == nil && (p.Seq != seq || p.Attempt != attempt) {
			seq, attempt, last = p.Seq, p.Attempt, p
			if opts.OnProgress != nil {
				opts.OnProgress(*p)
			}
		}
		claim, err := liveClaim(ctx, store, l, req.ID)
		if err != nil && ctx.Err() == nil {
			return nil, err
		}
		if claim != nil {
			lastLive = time.Now()
		}
		if ctx.Err() != nil {
			if claim != nil {
				return nil, fmt.Errorf("stopped waiting for request %s, still executed by %s: a retried apply waits for the same request: %w",
					key, claim.Holder, context.Cause(ctx))
			}
			return nil, withdrawn(store, l, req, time.Since(lastLive), last, context.Cause(ctx))
		}
		if claim == nil && time.Since(lastLive) >= opts.ClaimTimeout {
			return nil, withdrawn(store, l, req, time.Since(lastLive), last, nil)
		}
		select {
		case <-ctx.Done():
		case <-time.After(opts.Poll):
		}
	}
}

func finished(key string, res *Result) (*Result, error) {
	if res.Status == StatusSucceeded {
		return res, nil
	}
	return nil, &FailedError{Key: key, Result: res}
}

// withdrawn withdraws req and says why; when an agent finished or claimed
// it in the meantime, that is the answer instead.
func withdrawn(store objectstore.Store, l repo.Layout, req *Request, waited time.Duration, last *Progress, cause error) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Withdraw(ctx, store, l, req.ID, fmt.Sprintf("no agent claimed it within %s", waited.Truncate(time.Second)))
	if errors.Is(err, agentd.ErrLeaseHeld) {
		return fmt.Errorf("request %s was claimed just as the wait ended; a retried apply waits for it: %w", l.RequestKey(req.ID), err)
	}
	if err != nil {
		return err
	}
	if res.Status != StatusWithdrawn {
		_, err := finished(l.RequestKey(req.ID), res)
		if err == nil {
			return fmt.Errorf("request %s finished as the wait ended; a retried apply reads its result", l.RequestKey(req.ID))
		}
		return err
	}
	live, lerr := LiveAgents(ctx, store, l, time.Now())
	e := &NotClaimedError{Key: l.RequestKey(req.ID), Agent: req.Agent, Waited: waited.Truncate(time.Second), Live: live, Abandoned: last}
	if cause != nil {
		return fmt.Errorf("%w (stopped by %w)", e, cause)
	}
	if lerr != nil {
		return fmt.Errorf("%w (listing agents: %w)", e, lerr)
	}
	return e
}

// Withdraw makes sure no agent will ever execute request id: it takes the
// request's lease itself (so no agent holds it now), then records the
// result withdrawn. It returns the result there is: the withdrawal, or what
// an agent recorded first. An error wrapping agentd.ErrLeaseHeld means an
// agent holds it: it is not withdrawn.
func Withdraw(ctx context.Context, store objectstore.Store, l repo.Layout, id, reason string) (*Result, error) {
	lease, err := agentd.AcquireLease(ctx, store, l, l.RequestLeaseJob(id), "provider-withdrawal", time.Now(), time.Minute, nil)
	if err != nil {
		return nil, err
	}
	defer func() { _ = lease.Release(context.WithoutCancel(ctx)) }()
	if res, err := ReadResult(ctx, store, l, id); err == nil {
		return res, nil
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	res := Result{Request: id, Status: StatusWithdrawn, Error: reason, Finished: time.Now().UTC()}
	if err := writeResult(ctx, store, l, res); err != nil {
		if errors.Is(err, objectstore.ErrExists) {
			return ReadResult(ctx, store, l, id)
		}
		return nil, err
	}
	return &res, nil
}

// liveClaim is the live lease on request id, nil when there is none.
func liveClaim(ctx context.Context, store objectstore.Store, l repo.Layout, id string) (*agentd.LeaseDoc, error) {
	job := l.RequestLeaseJob(id)
	var gens []uint64
	err := store.List(ctx, l.LeaseDir(job), func(o objectstore.ObjectInfo) error {
		if k, ok := l.Parse(o.Key); ok && k.Kind == repo.KindLease && k.Job == job {
			gens = append(gens, k.Generation)
		}
		return nil
	})
	if err != nil || len(gens) == 0 {
		return nil, err
	}
	sort.Slice(gens, func(i, j int) bool { return gens[i] < gens[j] })
	b, _, err := get(ctx, store, l.LeaseKey(job, gens[len(gens)-1]))
	if errors.Is(err, objectstore.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var d agentd.LeaseDoc
	// NOTE: an unreadable lease excludes nobody (AcquireLease takes it for
	// expired), so it is no claim.
	if uerr := json.Unmarshal(b, &d); uerr != nil || d.Released || !time.Now().Before(d.ExpiresAt) {
		return nil, nil //nolint:nilerr // see NOTE
	}
	return &d, nil
}
