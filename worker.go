package taskmill

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/taskmill/taskmill/backend"
)

// WorkerConfig configures a Worker. Every field but Handler has a default.
type WorkerConfig struct {
	// ID names the worker in the registry. Default host-pid-random.
	ID string
	// Handler runs the tasks. Required. A *ServeMux also supplies each
	// type's backoff and timeout, and the worker advertises its types so
	// that servers accept submits of them, and leases only tasks of those
	// types. Any other Handler is a catch-all: it is given every type.
	Handler Handler
	// Concurrency is how many tasks run at once. Default runtime.NumCPU().
	Concurrency int
	// Queues maps queue names to weights: a queue with weight 3 is tried
	// first three times as often as one with weight 1. Default {"default": 1}.
	Queues map[string]int
	// StrictOrder, when set, takes from these queues in strict order: a
	// later queue only when every earlier one is empty. Overrides Queues.
	StrictOrder []string
	// LeaseDuration is how long a lease lasts without an extension; a dead
	// worker's tasks run again this long after it died. Default 15s.
	LeaseDuration time.Duration
	// HeartbeatInterval is how often leases are extended and the worker's
	// registry entry refreshed. Default LeaseDuration/3.
	HeartbeatInterval time.Duration
	// ReclaimInterval is how often expired leases of dead workers are
	// taken back while this worker leads upkeep. Every worker is a
	// candidate for upkeep leadership (StartUpkeep with reclaim,
	// promotion and history pruning), so a deployment of workers alone
	// still recovers a dead worker's tasks. Default 1s; negative: this
	// worker is no candidate (its process runs StartUpkeep itself, as
	// taskmill serve and taskmill worker do).
	ReclaimInterval time.Duration
	// ShutdownTimeout is how long Stop waits for running handlers when its
	// context has no deadline. Default 30s.
	ShutdownTimeout time.Duration
	// DefaultTimeout bounds an attempt whose task and type set no timeout.
	// Default 30 minutes.
	DefaultTimeout time.Duration
	// Backoff spaces retries when the task's type sets none. Default DefaultBackoff.
	Backoff BackoffFunc
	// LeaseBatch is the most tasks leased in one backend call. Default 32.
	LeaseBatch int
	// MaxResultBytes bounds a task's result as JSON: a handler that
	// returns more fails its task without retry instead of storing it.
	// Default DefaultMaxResultBytes (16 MiB); negative: no limit.
	MaxResultBytes int
	// Observer sees every attempt, for metrics and tracing. Default nil.
	Observer Observer
	// Logger receives the worker's logs. Default slog.Default().
	Logger *slog.Logger
}

func (c WorkerConfig) withDefaults() WorkerConfig {
	if c.ID == "" {
		host, _ := os.Hostname()
		c.ID = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), uuid.NewString()[:8])
	}
	if c.Concurrency <= 0 {
		c.Concurrency = runtime.NumCPU()
	}
	if len(c.Queues) == 0 && len(c.StrictOrder) == 0 {
		c.Queues = map[string]int{DefaultQueue: 1}
	}
	if c.LeaseDuration <= 0 {
		c.LeaseDuration = 15 * time.Second
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = c.LeaseDuration / 3
	}
	if c.ReclaimInterval == 0 {
		c.ReclaimInterval = time.Second
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.DefaultTimeout <= 0 {
		c.DefaultTimeout = 30 * time.Minute
	}
	if c.Backoff == nil {
		c.Backoff = DefaultBackoff
	}
	if c.MaxResultBytes == 0 {
		c.MaxResultBytes = DefaultMaxResultBytes
	}
	if c.LeaseBatch <= 0 {
		c.LeaseBatch = 32
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c WorkerConfig) validate() error {
	if c.Handler == nil {
		return errors.New("worker config: Handler is required")
	}
	for q, weight := range c.Queues {
		if err := ValidateName("queues", q); err != nil {
			return fmt.Errorf("worker config: %w", err)
		}
		if weight < 1 {
			return fmt.Errorf("worker config: queue %q has weight %d; weights start at 1", q, weight)
		}
	}
	for _, q := range c.StrictOrder {
		if err := ValidateName("strict", q); err != nil {
			return fmt.Errorf("worker config: %w", err)
		}
	}
	if c.LeaseDuration < 100*time.Millisecond {
		return fmt.Errorf("worker config: LeaseDuration %s is below 100ms", c.LeaseDuration)
	}
	if c.HeartbeatInterval >= c.LeaseDuration {
		return fmt.Errorf("worker config: HeartbeatInterval %s must be shorter than LeaseDuration %s", c.HeartbeatInterval, c.LeaseDuration)
	}
	return nil
}

// Errors a running handler's context is canceled with (context.Cause).
var (
	// ErrTaskCanceled: someone canceled the task.
	ErrTaskCanceled = errors.New("task canceled")
	// ErrWorkerStopping: the worker is shutting down and hands the task back.
	ErrWorkerStopping = errors.New("worker stopping")
)

// Worker leases tasks from a backend and runs them. Create it with
// NewWorker, then Start; stop it with Stop. A worker stops by itself when
// asked to through the backend (Client.StopWorker); Done tells when.
type Worker struct {
	b   backend.Backend
	cfg WorkerConfig
	log *slog.Logger
	// secret binds the worker's id in the registry to this process: a
	// heartbeat or unregister of the id with another secret is refused.
	secret string
	mux    *ServeMux // cfg.Handler when it is a mux

	slots chan struct{} // one token per free slot

	mu sync.Mutex
	// running holds the runs by lease, not by task id: a task canceled
	// while its handler ignores its context, then retried, can be leased
	// again by this worker while the first run still runs, and the two
	// runs must not share (or delete) one entry.
	running map[leaseKey]*run
	started time.Time

	runCtx    context.Context // parent of every handler's context
	runCancel context.CancelCauseFunc
	fetchStop context.CancelFunc
	bgStop    context.CancelFunc
	fetchDone chan struct{}
	bgDone    sync.WaitGroup
	handlers  sync.WaitGroup
	stopOnce  sync.Once
	startOnce sync.Once
	done      chan struct{}
	stopErr   error
}

// leaseKey names one lease of a task: its id and fencing token.
type leaseKey struct {
	id    string
	token uint64
}

func keyOf(t *TaskInfo) leaseKey { return leaseKey{id: t.ID, token: t.LeaseToken} }

// run is one task being run by this worker.
type run struct {
	task     *TaskInfo
	cancel   context.CancelCauseFunc
	expires  time.Time // lease expiry as last confirmed by the backend
	detached bool      // the lease is gone or was handed back: write nothing
	slotFree bool      // the handler returned its slot (owned by the run's goroutine)
}

// NewWorker returns a worker over b. It does nothing until Start.
func NewWorker(b backend.Backend, cfg WorkerConfig) (*Worker, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	w := &Worker{b: b, cfg: cfg, log: cfg.Logger.With("worker", cfg.ID), secret: crand.Text(),
		slots: make(chan struct{}, cfg.Concurrency), running: map[leaseKey]*run{},
		done: make(chan struct{}), fetchDone: make(chan struct{})}
	if mux, ok := cfg.Handler.(*ServeMux); ok {
		w.mux = mux
	}
	for range cfg.Concurrency {
		w.slots <- struct{}{}
	}
	return w, nil
}

// ID returns the worker's registry id.
func (w *Worker) ID() string { return w.cfg.ID }

// Done is closed when the worker has stopped, by Stop or by a remote request.
func (w *Worker) Done() <-chan struct{} { return w.done }

// Start registers the worker and starts leasing. It returns at once; the
// worker runs until Stop, a remote stop request, or ctx ends.
func (w *Worker) Start(ctx context.Context) error {
	err := errors.New("worker already started")
	w.startOnce.Do(func() {
		w.started = time.Now().UTC()
		if _, err = w.b.Heartbeat(ctx, w.info(), w.cfg.LeaseDuration); err != nil {
			err = fmt.Errorf("register worker %s: %w", w.cfg.ID, err)
			return
		}
		w.runCtx, w.runCancel = context.WithCancelCause(context.WithoutCancel(ctx))
		var fetchCtx, bgCtx context.Context
		fetchCtx, w.fetchStop = context.WithCancel(ctx)
		bgCtx, w.bgStop = context.WithCancel(context.WithoutCancel(ctx))
		go w.fetchLoop(fetchCtx)
		w.bgDone.Add(2)
		go w.heartbeatLoop(bgCtx)
		go w.watchCancels(bgCtx)
		if w.cfg.ReclaimInterval > 0 {
			up := StartUpkeep(bgCtx, w.b, UpkeepConfig{ID: w.cfg.ID, LeaderTTL: LeaderTTLFor(w.cfg.LeaseDuration),
				ReclaimInterval: w.cfg.ReclaimInterval, Observer: w.cfg.Observer, Logger: w.log})
			w.bgDone.Add(1)
			go func() {
				defer w.bgDone.Done()
				<-bgCtx.Done()
				up.Stop()
			}()
		}
		go func() {
			select {
			case <-ctx.Done():
				w.Stop(context.Background())
			case <-w.done:
			}
		}()
		w.log.Info("worker started", "concurrency", w.cfg.Concurrency, "queues", w.queueNames())
	})
	return err
}

// Stop stops leasing, waits for running handlers until ctx ends (or
// ShutdownTimeout when ctx has no deadline), then cancels the rest and
// hands their tasks back to pending without counting the attempt, and
// leaves the registry. It is safe to call more than once.
func (w *Worker) Stop(ctx context.Context) error {
	w.stopOnce.Do(func() {
		if w.fetchStop == nil { // never started
			close(w.done)
			return
		}
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, w.cfg.ShutdownTimeout)
			defer cancel()
		}
		w.fetchStop()
		<-w.fetchDone
		idle := make(chan struct{})
		go func() { w.handlers.Wait(); close(idle) }()
		select {
		case <-idle:
		case <-ctx.Done():
			w.handBack()
			select {
			case <-idle:
			case <-time.After(time.Second):
				w.log.Warn("handlers still running after their context was canceled")
			}
		}
		w.bgStop()
		w.bgDone.Wait()
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := w.b.Unregister(uctx, w.cfg.ID, w.secret); err != nil {
			w.stopErr = fmt.Errorf("unregister worker %s: %w", w.cfg.ID, err)
		}
		w.log.Info("worker stopped")
		close(w.done)
	})
	<-w.done
	return w.stopErr
}

// handBack cancels every running handler and releases its lease, so the
// tasks run again elsewhere without counting this attempt.
func (w *Worker) handBack() {
	w.runCancel(ErrWorkerStopping)
	w.mu.Lock()
	var refs []backend.LeaseRef
	for _, r := range w.running {
		if !r.detached {
			r.detached = true
			refs = append(refs, r.task.Ref())
		}
	}
	w.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, ref := range refs {
		if err := w.b.Release(ctx, ref); err != nil && !errors.Is(err, ErrLeaseLost) {
			w.log.Warn("hand back task", "task", ref.TaskID, "err", err)
		}
	}
}

func (w *Worker) info() backend.WorkerInfo {
	w.mu.Lock()
	running := make([]string, 0, len(w.running))
	for k := range w.running {
		running = append(running, k.id)
	}
	w.mu.Unlock()
	sort.Strings(running)
	running = slices.Compact(running) // two runs of one task list it once
	host, _ := os.Hostname()
	var types []string
	if w.mux != nil {
		types = w.mux.TypeNames()
	}
	return backend.WorkerInfo{ID: w.cfg.ID, Host: host, PID: os.Getpid(), Queues: w.queueNames(), Types: types,
		Concurrency: w.cfg.Concurrency, Running: running, StartedAt: w.started, Secret: w.secret}
}

func (w *Worker) queueNames() []string {
	if len(w.cfg.StrictOrder) > 0 {
		return append([]string(nil), w.cfg.StrictOrder...)
	}
	names := make([]string, 0, len(w.cfg.Queues))
	for q := range w.cfg.Queues {
		names = append(names, q)
	}
	sort.Strings(names)
	return names
}

// leaseTypes is the types this worker leases: the types registered on its
// ServeMux, read at each lease so that types registered later count; nil
// (every type) when its Handler is not a ServeMux, a catch-all that runs
// whatever it is given. A task of a type no worker runs therefore waits
// for a worker that can run it instead of failing for want of a handler.
func (w *Worker) leaseTypes() []string {
	if w.mux == nil {
		return nil
	}
	return w.mux.TypeNames()
}

// queueOrder returns the order to take from for one lease: the strict
// order, or a weighted random permutation (a queue with twice the weight
// comes first twice as often).
func (w *Worker) queueOrder() []string {
	if len(w.cfg.StrictOrder) > 0 {
		return w.cfg.StrictOrder
	}
	if len(w.cfg.Queues) == 1 {
		for q := range w.cfg.Queues {
			return []string{q}
		}
	}
	type qw struct {
		name string
		key  float64
	}
	order := make([]qw, 0, len(w.cfg.Queues))
	for q, weight := range w.cfg.Queues {
		// Efraimidis–Spirakis: sorting by u^(1/w) draws a weighted permutation.
		order = append(order, qw{q, -math.Pow(rand.Float64(), 1/float64(weight))})
	}
	sort.Slice(order, func(i, j int) bool { return order[i].key < order[j].key })
	out := make([]string, len(order))
	for i, o := range order {
		out[i] = o.name
	}
	return out
}

// fetchLoop leases tasks whenever a slot is free and starts them.
func (w *Worker) fetchLoop(ctx context.Context) {
	defer close(w.fetchDone)
	for {
		// Wait for one free slot, then take every other free one too.
		select {
		case <-w.slots:
		case <-ctx.Done():
			return
		}
		free := 1
	more:
		for free < w.cfg.LeaseBatch {
			select {
			case <-w.slots:
				free++
			default:
				break more
			}
		}
		types := w.leaseTypes()
		if types != nil && len(types) == 0 {
			// A ServeMux with no types yet runs nothing; an empty list
			// would mean every type to the backend.
			for range free {
				w.slots <- struct{}{}
			}
			select {
			case <-time.After(time.Second):
				continue
			case <-ctx.Done():
				return
			}
		}
		tasks, err := w.b.Lease(ctx, backend.LeaseRequest{WorkerID: w.cfg.ID, Queues: w.queueOrder(),
			Types: types, Max: free, LeaseFor: w.cfg.LeaseDuration, Wait: 5 * time.Second})
		if err != nil && ctx.Err() == nil {
			w.log.Warn("lease", "err", err)
		}
		for _, t := range tasks {
			free--
			w.start(t)
		}
		for range free {
			w.slots <- struct{}{}
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			// The backend is unreachable: back off a little before trying again.
			select {
			case <-time.After(500 * time.Millisecond):
			case <-ctx.Done():
				return
			}
		}
	}
}

func (w *Worker) start(t *TaskInfo) {
	ctx, cancel := context.WithCancelCause(w.runCtx)
	r := &run{task: t, cancel: cancel, expires: t.LeaseExpiresAt}
	key := keyOf(t)
	w.mu.Lock()
	w.running[key] = r
	w.mu.Unlock()
	w.handlers.Add(1)
	go func() {
		defer w.handlers.Done()
		defer w.freeSlot(r)
		defer cancel(nil)
		w.execute(ctx, r)
		w.mu.Lock()
		delete(w.running, key)
		w.mu.Unlock()
	}()
}

// freeSlot gives the run's slot back once. It is called as soon as the
// handler returns, before the result is written: the next task can start
// while the ack is on its way, so a slot does not sit idle for a round
// trip. Stop still waits for the write (handlers counts it).
func (w *Worker) freeSlot(r *run) {
	if !r.slotFree {
		r.slotFree = true
		w.slots <- struct{}{}
	}
}
