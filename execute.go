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
	rec, recErr := FinishAttempt(octx, w.b, t.Ref(), t, AttemptReport{Err: err, Result: result,
		Backoff: w.mux.BackoffFor(t.Type, w.cfg.Backoff), MaxResultBytes: w.cfg.MaxResultBytes})
	if rec.Err == nil {
		w.report("ack", t, recErr)
	} else {
		w.report("fail", t, recErr)
	}
	if obs != nil {
		obs.AttemptFinished(ctx, t, AttemptResult{Outcome: rec.Outcome, Err: rec.Err, Duration: elapsed})
	}
	if rec.Err != nil {
		w.log.Info("task attempt failed", "task", t.ID, "type", t.Type, "attempt", t.Attempt, "err", rec.Err)
	} else if w.log.Enabled(ctx, slog.LevelDebug) { // the arguments would allocate even when dropped
		w.log.Debug("task completed", "task", t.ID, "type", t.Type, "elapsed", elapsed)
	}
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
	var runs []*run
	for _, r := range w.running {
		if !r.detached {
			refs = append(refs, r.task.Ref())
			runs = append(runs, r)
		}
	}
	w.mu.Unlock()
	if len(refs) == 0 {
		return
	}
	sent := time.Now()
	results, err := w.b.Extend(hctx, w.cfg.ID, refs, w.cfg.LeaseDuration)
	if err != nil {
		w.log.Warn("extend leases", "err", err)
		w.mu.Lock()
		defer w.mu.Unlock()
		now := time.Now()
		for _, r := range w.running {
			if !r.detached && !now.Before(r.expires) {
				r.detached = true
				r.cancel(fmt.Errorf("lease expired while the backend was unreachable: %w", ErrLeaseLost))
			}
		}
		return
	}
	w.applyExtend(refs, runs, results, sent)
}

// applyExtend applies the answer of an Extend of refs, the leases of runs
// (in the same order), sent at sent: a held lease runs on, a void one
// cancels its handler and detaches the run so that it writes nothing.
func (w *Worker) applyExtend(refs []backend.LeaseRef, runs []*run, results []backend.ExtendResult, sent time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(results) != len(refs) {
		w.log.Error("extend leases: the backend answered for a different number of leases", "sent", len(refs), "got", len(results))
		return
	}
	// Results answer the leases in the order sent, so each one is matched
	// to its own run (its lease, token included), never to another run of
	// the same task.
	for i, res := range results {
		r := runs[i]
		if res.TaskID != refs[i].TaskID || r.detached {
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
			w.cancelRunning(ctx, id)
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
		w.cancelRunning(ctx, e.Task.ID)
	}
}

// cancelRunning cancels the handlers of a task canceled elsewhere. The
// notice is only a hint: it may arrive after the task was retried and
// leased to this worker again, and that newer run must go on. So the
// runs of the task are checked with the backend, lease by lease (Extend
// answers by token), and only those whose lease is void are canceled.
// The scan is over the worker's running tasks, at most its concurrency.
func (w *Worker) cancelRunning(ctx context.Context, id string) {
	w.mu.Lock()
	var refs []backend.LeaseRef
	var runs []*run
	for k, r := range w.running {
		if k.id == id && !r.detached {
			refs = append(refs, r.task.Ref())
			runs = append(runs, r)
		}
	}
	w.mu.Unlock()
	if len(refs) == 0 {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, w.cfg.HeartbeatInterval)
	defer cancel()
	sent := time.Now()
	results, err := w.b.Extend(cctx, w.cfg.ID, refs, w.cfg.LeaseDuration)
	if err != nil {
		// The next heartbeat asks again.
		w.log.Debug("check a canceled task's leases", "task", id, "err", err)
		return
	}
	w.applyExtend(refs, runs, results, sent)
}
