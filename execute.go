package taskmill

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/taskmill/taskmill/backend"
)

// timeoutError is the cause a handler's context ends with when its
// timeout passes. A type rather than fmt.Errorf, so that the hot path
// does not format a message for every task that finishes in time.
type timeoutError time.Duration

func (e timeoutError) Error() string { return "timed out after " + time.Duration(e).String() }

// errDeadlinePassed is the cause when the task's deadline passes.
var errDeadlinePassed = errors.New("task deadline passed")

// execute runs one leased task and records its outcome under its lease.
func (w *Worker) execute(ctx context.Context, r *run) {
	t := r.task
	timeout := t.Timeout.Std()
	var tt *TaskType
	if w.mux != nil {
		tt, _ = w.mux.Lookup(t.Type)
	}
	if timeout <= 0 && tt != nil && tt.Timeout > 0 {
		timeout = tt.Timeout
	}
	if timeout <= 0 {
		timeout = w.cfg.DefaultTimeout
	}
	ctx, cancelTimeout := context.WithTimeoutCause(ctx, timeout, timeoutError(timeout))
	defer cancelTimeout()
	if !t.Deadline.IsZero() {
		var cancelDeadline context.CancelFunc
		ctx, cancelDeadline = context.WithDeadlineCause(ctx, t.Deadline, errDeadlinePassed)
		defer cancelDeadline()
	}

	obs := w.cfg.Observer
	if obs != nil {
		ctx = obs.AttemptStarted(ctx, t)
	}
	start := time.Now()
	result, err := w.call(ctx, t)
	elapsed := time.Since(start)
	w.freeSlot(r)

	// A context error from the handler is reported as its cause.
	if err != nil && ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		err = context.Cause(ctx)
	}
	w.mu.Lock()
	detached := r.detached
	w.mu.Unlock()
	cause := context.Cause(ctx)
	switch {
	case detached:
		// The lease is gone (canceled, reclaimed, or handed back on
		// shutdown): whatever happened, this worker writes nothing.
		w.log.Debug("task result dropped: lease no longer held", "task", t.ID, "cause", cause)
		if obs != nil {
			obs.AttemptFinished(ctx, t, AttemptResult{Outcome: OutcomeLeaseLost, Err: err, Duration: elapsed})
		}
		return
	case errors.Is(cause, ErrWorkerStopping):
		w.release(t)
		if obs != nil {
			obs.AttemptFinished(ctx, t, AttemptResult{Outcome: OutcomeReleased, Err: err, Duration: elapsed})
		}
		return
	}
	octx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err == nil {
		raw, merr := marshalResult(result)
		if merr != nil {
			err = SkipRetry(merr)
		} else {
			ackErr := w.b.Ack(octx, t.Ref(), raw)
			w.report("ack", t, ackErr)
			if obs != nil {
				obs.AttemptFinished(ctx, t, AttemptResult{Outcome: recordedOutcome(OutcomeCompleted, ackErr), Duration: elapsed})
			}
			if w.log.Enabled(ctx, slog.LevelDebug) { // the arguments would allocate even when dropped
				w.log.Debug("task completed", "task", t.ID, "type", t.Type, "elapsed", elapsed)
			}
			return
		}
	}
	backoff := w.cfg.Backoff
	if tt != nil && tt.Backoff != nil {
		backoff = tt.Backoff
	}
	f := backend.Failure{Error: err.Error(), Final: errors.Is(err, ErrSkipRetry),
		RetryIn: backoff(t.Attempt+1, err)}
	failErr := w.b.Fail(octx, t.Ref(), f)
	w.report("fail", t, failErr)
	if obs != nil {
		obs.AttemptFinished(ctx, t, AttemptResult{Outcome: recordedOutcome(FailOutcome(t, f), failErr), Err: err, Duration: elapsed})
	}
	w.log.Info("task attempt failed", "task", t.ID, "type", t.Type, "attempt", t.Attempt, "err", err)
}

func (w *Worker) release(t *TaskInfo) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	w.report("release", t, w.b.Release(ctx, t.Ref()))
}

func (w *Worker) report(what string, t *TaskInfo, err error) {
	switch {
	case err == nil:
	case errors.Is(err, ErrLeaseLost):
		w.log.Info(what+": lease lost, result not recorded", "task", t.ID)
	default:
		// The lease will expire and the task run again: at-least-once.
		w.log.Error(what, "task", t.ID, "err", err)
	}
}

// call runs the handler, turning a panic into an error with its stack.
func (w *Worker) call(ctx context.Context, info *TaskInfo) (result any, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panicked: %v\n%s", p, debug.Stack())
		}
	}()
	return w.cfg.Handler.ProcessTask(ctx, &Task{info: info, backend: w.b})
}

func marshalResult(v any) (json.RawMessage, error) {
	switch r := v.(type) {
	case nil:
		return nil, nil
	case json.RawMessage:
		if len(r) == 0 { // a nil or empty RawMessage is "no result", like nil
			return nil, nil
		}
		if !json.Valid(r) {
			return nil, errors.New("handler returned a json.RawMessage that is not valid JSON")
		}
		return r, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("marshal result: %w", err)
	}
	return b, nil
}

// heartbeatLoop refreshes the registry entry and extends held leases.
// When the backend cannot be reached, a handler whose lease has run out is
// canceled: the task may already be running elsewhere.
func (w *Worker) heartbeatLoop(ctx context.Context) {
	defer w.bgDone.Done()
	tick := time.NewTicker(w.cfg.HeartbeatInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		w.heartbeat(ctx)
	}
}

func (w *Worker) heartbeat(ctx context.Context) {
	hctx, cancel := context.WithTimeout(ctx, w.cfg.HeartbeatInterval)
	defer cancel()
	reply, err := w.b.Heartbeat(hctx, w.info(), w.cfg.LeaseDuration)
	if err != nil {
		w.log.Warn("heartbeat", "err", err)
	} else if reply.StopRequested {
		w.log.Info("stop requested through the backend; draining")
		go w.Stop(context.Background())
	}
	w.mu.Lock()
	var refs []backend.LeaseRef
	for _, r := range w.running {
		if !r.detached {
			refs = append(refs, r.task.Ref())
		}
	}
	w.mu.Unlock()
	if len(refs) == 0 {
		return
	}
	sent := time.Now()
	results, err := w.b.Extend(hctx, w.cfg.ID, refs, w.cfg.LeaseDuration)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.log.Warn("extend leases", "err", err)
		now := time.Now()
		for _, r := range w.running {
			if !r.detached && !now.Before(r.expires) {
				r.detached = true
				r.cancel(fmt.Errorf("lease expired while the backend was unreachable: %w", ErrLeaseLost))
			}
		}
		return
	}
	for _, res := range results {
		r := w.running[res.TaskID]
		if r == nil {
			continue
		}
		switch {
		case res.Held:
			r.expires = sent.Add(w.cfg.LeaseDuration)
		case res.Canceled:
			r.detached = true
			r.cancel(ErrTaskCanceled)
		default:
			r.detached = true
			r.cancel(ErrLeaseLost)
		}
	}
}

// watchCancels cancels a running handler as soon as its task is canceled,
// instead of waiting for the next heartbeat.
func (w *Worker) watchCancels(ctx context.Context) {
	defer w.bgDone.Done()
	// A backend that streams cancellations alone spares the worker
	// receiving and decoding every event of a busy shared broker.
	if cw, ok := w.b.(backend.CancelWatcher); ok {
		ids, err := cw.WatchCancels(ctx)
		if err != nil {
			w.log.Warn("watch cancellations; they are seen at heartbeats only", "err", err)
			return
		}
		for id := range ids {
			w.cancelRunning(id)
		}
		return
	}
	events, err := w.b.Subscribe(ctx)
	if err != nil {
		w.log.Warn("subscribe to events; cancellations are seen at heartbeats only", "err", err)
		return
	}
	for e := range events {
		if e.Kind != backend.EventTaskUpdate || e.Task == nil || e.Task.State != StateCanceled {
			continue
		}
		w.cancelRunning(e.Task.ID)
	}
}

// cancelRunning cancels the handler of a task canceled elsewhere.
func (w *Worker) cancelRunning(id string) {
	w.mu.Lock()
	if r := w.running[id]; r != nil && !r.detached {
		r.detached = true
		r.cancel(ErrTaskCanceled)
	}
	w.mu.Unlock()
}

// ReclaimLoop returns expired leases to pending every interval until ctx
// ends. Workers run it; a server with no workers should run it too, so
// that any live process recovers a dead worker's tasks.
func ReclaimLoop(ctx context.Context, b backend.Backend, every time.Duration, log *slog.Logger) {
	reclaimLoop(ctx, b, every, log, nil)
}

// ReclaimLoopObserved is ReclaimLoop that also tells obs how many leases
// it reclaimed.
func ReclaimLoopObserved(ctx context.Context, b backend.Backend, every time.Duration, log *slog.Logger, obs Observer) {
	reclaimLoop(ctx, b, every, log, obs)
}

func reclaimLoop(ctx context.Context, b backend.Backend, every time.Duration, log *slog.Logger, obs Observer) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		n, err := b.Reclaim(ctx, 0) // TODO(runtime branch): the upkeep leader's term
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("reclaim expired leases", "err", err)
		case n > 0:
			log.Info("reclaimed expired leases", "tasks", n)
			if obs != nil {
				obs.LeasesReclaimed(n)
			}
		}
	}
}
