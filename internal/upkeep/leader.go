// Package upkeep runs the periodic upkeep of a taskmill deployment
// (promotion, reclaim, retention, history pruning, forgetting queues,
// schedule firing) on one elected leader among the processes that share a
// backend.
//
// A backend whose Lead answers errors.ErrUnsupported has no leadership:
// then every candidate runs the jobs unfenced (term 0), and a job the
// backend does not support ends quietly.
//
// Every process runs a candidate: it asks the backend for leadership
// (Backend.Lead) every TTL/3. The one that holds it runs the jobs, each
// call carrying the leadership's term; the backend refuses a term that is
// no longer current (ErrNotLeader), so a leader that was paused past its
// term cannot act. When the leader dies its leadership expires after TTL
// and another candidate takes it at its next try: a new leader within
// TTL + TTL/3. A leader that cannot renew stops its jobs when its term may
// have run out (TTL after its last successful renewal was sent), before
// any other process can have taken over.
package upkeep

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/taskmill/taskmill/backend"
)

// Elector is the part of backend.Backend that leadership needs.
type Elector interface {
	Lead(ctx context.Context, holder string, ttl time.Duration) (backend.Leadership, error)
	Resign(ctx context.Context, holder string, term uint64) error
}

// Job is one piece of upkeep the leader runs.
type Job struct {
	// Name names the job in logs.
	Name string
	// Every is how often Run is called while leading, the first time as
	// soon as leadership is taken. Zero means Run is called once per
	// term and runs until its context ends (a loop of its own, such as a
	// scheduler).
	Every time.Duration
	// Run does one round under term. An error wrapping ErrNotLeader ends
	// this process's leadership at once; other errors are logged.
	Run func(ctx context.Context, term uint64) error
}

// Config configures a Runner.
type Config struct {
	// Holder names this candidate; it must differ between processes.
	// Required.
	Holder string
	// TTL is how long leadership lasts without a renewal. Default 15s.
	TTL time.Duration
	// Jobs are run by the leader.
	Jobs []Job
	// OnChange, when set, is called with each change of this process's
	// leadership: held and the term, or not held and 0.
	OnChange func(held bool, term uint64)
	// Logger receives the runner's logs. Default slog.Default().
	Logger *slog.Logger
}

// Runner is one candidate for upkeep leadership. Run it with Run.
type Runner struct {
	e   Elector
	cfg Config
	log *slog.Logger

	mu   sync.Mutex
	term uint64 // the term held, 0 when not leading

	lost chan struct{} // a job saw ErrNotLeader
}

// New returns a candidate over e. It does nothing until Run.
func New(e Elector, cfg Config) *Runner {
	if cfg.TTL <= 0 {
		cfg.TTL = 15 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Runner{e: e, cfg: cfg, log: cfg.Logger.With("upkeep", cfg.Holder), lost: make(chan struct{}, 1)}
}

// Leading reports the term this process leads under, and whether it does.
func (r *Runner) Leading() (uint64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.term, r.term != 0
}

// Run campaigns for leadership and runs the jobs while it holds it, until
// ctx ends; then it stops the jobs, waits for them and resigns so that
// another candidate can take over at once.
func (r *Runner) Run(ctx context.Context) {
	renew := r.cfg.TTL / 3
	var (
		term     uint64
		lastSent time.Time // when the last successful Lead was sent
		stopJobs func()
	)
	stop := func(why string) {
		if stopJobs == nil {
			return
		}
		stopJobs()
		stopJobs = nil
		r.log.Info("upkeep leadership ended", "term", term, "why", why)
		r.set(0)
	}
	defer func() {
		was := term
		stop("stopping")
		if was != 0 {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.TTL/3)
			defer cancel()
			if err := r.e.Resign(rctx, r.cfg.Holder, was); err != nil {
				r.log.Warn("resign upkeep leadership", "err", err)
			}
		}
	}()
	tick := time.NewTimer(0)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.lost:
			stop("a newer leader holds the term")
			term = 0
		case <-tick.C:
		}
		sent := time.Now()
		// A leader whose renewal hangs must still stop in time: the call
		// gets no longer than this process's term may last.
		timeout := renew
		if stopJobs != nil {
			timeout = min(timeout, max(time.Until(lastSent.Add(r.cfg.TTL-renew)), time.Millisecond))
		}
		lctx, cancel := context.WithTimeout(ctx, timeout)
		l, err := r.e.Lead(lctx, r.cfg.Holder, r.cfg.TTL)
		cancel()
		switch {
		case errors.Is(err, errors.ErrUnsupported):
			// A backend without leadership: every process does the upkeep,
			// unfenced (term 0), as before leadership existed.
			r.log.Warn("the backend has no upkeep leadership; this process runs upkeep unfenced", "err", err)
			stop("no leadership")
			term = 0
			stopJobs = r.startJobs(ctx, 0)
			<-ctx.Done()
			return
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			r.log.Warn("upkeep leadership", "err", err)
			// The term may run out on the backend TTL after the last
			// renewal was sent; stop acting before anyone can take over.
			if stopJobs != nil && time.Since(lastSent) >= r.cfg.TTL-renew {
				stop("could not renew")
				term = 0
			}
		case !l.Held:
			stop("held by " + l.Holder)
			term = 0
		case l.Term != term || stopJobs == nil:
			stop("new term")
			term, lastSent = l.Term, sent
			stopJobs = r.startJobs(ctx, term)
			r.set(term)
			r.log.Info("upkeep leadership taken", "term", term)
		default:
			lastSent = sent
		}
		tick.Reset(renew)
	}
}

func (r *Runner) set(term uint64) {
	r.mu.Lock()
	r.term = term
	r.mu.Unlock()
	if r.cfg.OnChange != nil {
		r.cfg.OnChange(term != 0, term)
	}
}

// startJobs runs every job under term until the returned stop is called;
// stop waits for them.
func (r *Runner) startJobs(ctx context.Context, term uint64) func() {
	jctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, j := range r.cfg.Jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.runJob(jctx, j, term)
		}()
	}
	return func() { cancel(); wg.Wait() }
}

func (r *Runner) runJob(ctx context.Context, j Job, term uint64) {
	if j.Every <= 0 {
		r.check(ctx, j, j.Run(ctx, term))
		return
	}
	tick := time.NewTicker(j.Every)
	defer tick.Stop()
	for {
		if !r.check(ctx, j, j.Run(ctx, term)) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// check reports whether the job may go on after err.
func (r *Runner) check(ctx context.Context, j Job, err error) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, backend.ErrNotLeader):
		select {
		case r.lost <- struct{}{}:
		default:
		}
		return false
	case ctx.Err() != nil:
		return false
	case errors.Is(err, errors.ErrUnsupported):
		r.log.Info("upkeep job not supported by the backend; it stops", "job", j.Name, "err", err)
		return false
	}
	r.log.Warn("upkeep job", "job", j.Name, "err", err)
	return true
}
