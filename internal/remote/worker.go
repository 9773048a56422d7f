package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/agentd"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

// ExecFunc does the work of one request, reporting progress with report.
// It fills in what the result carries (a restore's outcome, a drill's
// evidence); an error is the request's failure.
type ExecFunc func(ctx context.Context, req *Request, report func(Progress)) (*Result, error)

// Worker is the agent side: it publishes the agent's heartbeat and
// executes the requests addressed to its host (or to any agent of its
// cluster). Create it with its fields set, then Run.
type Worker struct {
	Store  objectstore.Store
	Layout repo.Layout
	// Host is the agent's host name; Holder its id in claims.
	Host   string
	Holder string
	// Trust holds the provider's keys: a request without their signature
	// is refused (none: any request is accepted).
	Trust signature.Trust
	Exec  ExecFunc
	// Present, when set, tells whether the copy a succeeded restore
	// request of this host made still exists; the heartbeat then lists
	// the ones that do (Heartbeat.Restores).
	Present func(ctx context.Context, r *RestoreResult) (bool, error)
	Version string
	// Identities are the fingerprints of the age identities the agent
	// holds, published in its heartbeat.
	Identities []string
	// Poll is how often requests are looked for (default 2s); LeaseRenew
	// how often a claim is renewed (it expires after twice that; default
	// 15s); Heartbeat how often the heartbeat is written (default 30s).
	Poll       time.Duration
	LeaseRenew time.Duration
	Heartbeat  time.Duration
	Logger     *slog.Logger

	mu      sync.Mutex
	running map[string]bool
	wg      sync.WaitGroup
	started time.Time
}

func (w *Worker) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&w.Poll, 2*time.Second)
	def(&w.LeaseRenew, 15*time.Second)
	def(&w.Heartbeat, DefaultHeartbeat)
	if w.Logger == nil {
		w.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if w.Holder == "" {
		w.Holder = agentd.DefaultHolder()
	}
	if w.Host == "" {
		w.Host, _ = os.Hostname()
	}
	w.running = map[string]bool{}
	w.started = time.Now().UTC()
}

// Run publishes heartbeats and executes requests until ctx is done, then
// cancels running requests (a cancelled request records nothing: its claim
// expires and another agent takes it over) and returns.
func (w *Worker) Run(ctx context.Context) error {
	w.defaults()
	log := w.Logger.With("host", w.Host, "holder", w.Holder)
	log.Info("executing requests", "requests", w.Layout.RequestsDir(), "poll", w.Poll)
	beat := time.NewTicker(w.Heartbeat)
	defer beat.Stop()
	poll := time.NewTicker(w.Poll)
	defer poll.Stop()
	w.beat(ctx, log)
	for {
		w.Scan(ctx)
		select {
		case <-ctx.Done():
			w.wg.Wait()
			return nil
		case <-beat.C:
			w.beat(ctx, log)
		case <-poll.C:
		}
	}
}

func (w *Worker) beat(ctx context.Context, log *slog.Logger) {
	hb := Heartbeat{Host: w.Host, Holder: w.Holder, Cluster: w.Layout.Cluster, Version: w.Version,
		Executes: []string{string(KindRestore), string(KindTeardown), string(KindDrill), string(KindBackup)}, Identities: w.Identities,
		Started: w.started, IntervalSeconds: w.Heartbeat.Seconds()}
	if w.Present != nil {
		listed := time.Now().UTC()
		held, err := w.held(ctx)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("listing the restores held on this host (the heartbeat omits them)", "err", err)
			}
		} else {
			hb.HoldsRestores, hb.Restores, hb.RestoresListed = true, held, listed
		}
	}
	err := PublishHeartbeat(ctx, w.Store, w.Layout, hb)
	if err != nil && ctx.Err() == nil {
		log.Warn("heartbeat", "err", err)
	}
}

// held lists the succeeded restore requests executed on this host whose
// copy still exists (Present).
func (w *Worker) held(ctx context.Context) ([]string, error) {
	var ids []string
	err := w.Store.List(ctx, w.Layout.RequestsDir(), func(o objectstore.ObjectInfo) error {
		if k, ok := w.Layout.Parse(o.Key); ok && k.Kind == repo.KindRequestResult && strings.HasPrefix(k.Request, string(KindRestore)+"-") {
			ids = append(ids, k.Request)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	held := []string{}
	for _, id := range ids {
		res, err := ReadResult(ctx, w.Store, w.Layout, id)
		if err != nil {
			return nil, err
		}
		if res.Status != StatusSucceeded || res.Host != w.Host || res.Restore == nil {
			continue
		}
		ok, err := w.Present(ctx, res.Restore)
		if err != nil {
			return nil, fmt.Errorf("request %s: %w", id, err)
		}
		if ok {
			held = append(held, id)
		}
	}
	return held, nil
}

// Scan looks for pending requests once and starts each one this agent
// claims. Run calls it every Poll.
func (w *Worker) Scan(ctx context.Context) {
	if w.running == nil {
		w.defaults()
	}
	pending := map[string]bool{}
	done := map[string]bool{}
	err := w.Store.List(ctx, w.Layout.RequestsDir(), func(o objectstore.ObjectInfo) error {
		k, ok := w.Layout.Parse(o.Key)
		switch {
		case !ok:
		case k.Kind == repo.KindRequest:
			pending[k.Request] = true
		case k.Kind == repo.KindRequestResult:
			done[k.Request] = true
		}
		return nil
	})
	if err != nil {
		if ctx.Err() == nil {
			w.Logger.Warn("listing requests", "err", err)
		}
		return
	}
	var ids []string
	for id := range pending {
		if !done[id] {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		w.mu.Lock()
		busy := w.running[id]
		w.mu.Unlock()
		if !busy && ctx.Err() == nil {
			w.try(ctx, id)
		}
	}
}

// try claims request id when it is this agent's to execute, and starts it.
func (w *Worker) try(ctx context.Context, id string) {
	log := w.Logger.With("request", id, "host", w.Host, "holder", w.Holder)
	raw, err := ReadRequest(ctx, w.Store, w.Layout, id, signature.Trust{})
	if err != nil {
		log.Warn("reading request", "err", err)
		return
	}
	if raw.Agent != "" && raw.Agent != w.Host {
		return // another host's
	}
	lease, err := agentd.AcquireLease(ctx, w.Store, w.Layout, w.Layout.RequestLeaseJob(id), w.Holder, raw.Created, 2*w.LeaseRenew, nil)
	if errors.Is(err, agentd.ErrLeaseHeld) {
		log.Debug("not claiming", "reason", err)
		return
	}
	if err != nil {
		log.Warn("claiming request", "err", err)
		return
	}
	// Another agent may have finished it, or the provider withdrawn it,
	// between the listing and the claim: read the result under the claim.
	if _, err := ReadResult(ctx, w.Store, w.Layout, id); !errors.Is(err, ErrNotFound) {
		if err != nil {
			log.Warn("reading result", "err", err)
		}
		w.release(lease, log)
		return
	}
	attempt := lease.Doc().Generation
	req, err := ReadRequest(ctx, w.Store, w.Layout, id, w.Trust)
	if err == nil && req.Cluster != w.Layout.Cluster {
		err = fmt.Errorf("request is for cluster %q, this agent serves %q", req.Cluster, w.Layout.Cluster)
	}
	if err != nil {
		log.Error("refusing request", "err", err)
		w.record(ctx, Result{Request: id, Status: StatusRefused, Error: err.Error(), Host: w.Host, Holder: w.Holder, Attempt: attempt,
			Finished: time.Now().UTC()}, log)
		w.release(lease, log)
		return
	}
	w.mu.Lock()
	w.running[id] = true
	w.mu.Unlock()
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer func() {
			w.mu.Lock()
			delete(w.running, id)
			w.mu.Unlock()
		}()
		w.execute(ctx, req, lease, log.With("kind", req.Kind, "attempt", attempt))
	}()
}

// execute runs req under lease, renewing it, and records its result.
func (w *Worker) execute(ctx context.Context, req *Request, lease *agentd.Lease, log *slog.Logger) {
	attempt := lease.Doc().Generation
	log.Info("request claimed")
	// The claim is renewed for as long as the work runs (a long backup, a
	// wait for the running scheduled backup), so no other agent takes the
	// request over while this one is alive; a lost claim cancels the work.
	jobCtx, stop := agentd.KeepLease(ctx, lease, w.LeaseRenew, log)
	defer stop()
	rep := &reporter{w: w, id: req.ID, attempt: attempt, log: log}
	rep.send(jobCtx, Progress{Phase: "claimed"}, true)
	started := time.Now().UTC()
	res, err := w.Exec(jobCtx, req, func(p Progress) { rep.send(jobCtx, p, false) })
	stop()

	cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer ccancel()
	if ctx.Err() != nil || errors.Is(context.Cause(jobCtx), agentd.ErrLeaseLost) {
		// Shutdown or claim lost: record nothing. The claim expires and
		// another agent (or the provider's withdrawal) decides; the work
		// is never reported done.
		log.Warn("request abandoned", "err", err, "cause", context.Cause(jobCtx))
		w.release(lease, log)
		return
	}
	if res == nil {
		res = &Result{}
	}
	res.Request, res.Host, res.Holder, res.Attempt = req.ID, w.Host, w.Holder, attempt
	res.Started, res.Finished = started, time.Now().UTC()
	res.Status = StatusSucceeded
	phase := "done"
	if err != nil {
		res.Status, res.Error, phase = StatusFailed, err.Error(), "failed"
		log.Error("request failed", "err", err)
	} else {
		log.Info("request done", "duration", res.Finished.Sub(started))
	}
	rep.send(cctx, Progress{Phase: phase, Detail: res.Error}, true)
	w.record(cctx, *res, log)
	w.release(lease, log)
}

func (w *Worker) record(ctx context.Context, res Result, log *slog.Logger) {
	if err := writeResult(ctx, w.Store, w.Layout, res); err != nil {
		log.Error("recording the result", "err", err)
	}
}

func (w *Worker) release(lease *agentd.Lease, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := lease.Release(ctx); err != nil {
		log.Warn("releasing the claim (it will expire)", "err", err)
	}
}

// reporter writes progress.json: every phase change, and otherwise at most
// once a second.
type reporter struct {
	w       *Worker
	id      string
	attempt uint64
	log     *slog.Logger

	mu    sync.Mutex
	seq   int
	phase string
	last  time.Time
}

func (r *reporter) send(ctx context.Context, p Progress, force bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !force && p.Phase == r.phase && time.Since(r.last) < time.Second {
		return
	}
	r.seq++
	r.phase, r.last = p.Phase, time.Now()
	p.Request, p.Host, p.Holder, p.Attempt, p.Seq, p.Updated = r.id, r.w.Host, r.w.Holder, r.attempt, r.seq, time.Now().UTC()
	b, _ := json.MarshalIndent(p, "", "  ")
	if err := agentd.PutRecord(ctx, r.w.Store, r.w.Layout.RequestProgressKey(r.id), b, false, 10*time.Minute); err != nil && ctx.Err() == nil {
		r.log.Warn("reporting progress", "err", err)
	}
}
