package taskmill

import (
	"context"
	"errors"
	"time"

	"github.com/taskmill/taskmill/backend"
)

// Observer watches what a Worker does, for metrics and tracing (the
// metrics and tracing packages implement it). Its methods run on the hot
// path, in the goroutine of the task: they must be quick, must not block
// and must be safe for concurrent use. A nil Observer costs nothing.
type Observer interface {
	// AttemptStarted is called just before the handler runs, with the
	// handler's context; the context it returns is the one the handler
	// gets (a tracer adds its span there).
	AttemptStarted(ctx context.Context, t *TaskInfo) context.Context
	// AttemptFinished is called once the attempt's outcome is recorded in
	// the backend (or, for OutcomeLeaseLost, dropped), with the context
	// AttemptStarted returned.
	AttemptFinished(ctx context.Context, t *TaskInfo, r AttemptResult)
	// LeasesReclaimed is called when this process returned n expired
	// leases of dead workers to pending (or failed).
	LeasesReclaimed(n int)
}

// Outcome is how one attempt ended.
type Outcome string

// The outcomes of an attempt.
const (
	OutcomeCompleted Outcome = "completed"  // the handler returned a result, now stored
	OutcomeRetrying  Outcome = "retrying"   // it failed and will run again after a backoff
	OutcomeFailed    Outcome = "failed"     // it failed for good: the dead-letter queue
	OutcomeReleased  Outcome = "released"   // handed back unfinished on shutdown, not counted
	OutcomeLeaseLost Outcome = "lease_lost" // canceled or reclaimed: its result was dropped
)

// AttemptResult describes a finished attempt.
type AttemptResult struct {
	Outcome  Outcome
	Err      error         // the handler's error, for retrying and failed
	Duration time.Duration // how long the handler ran
}

// Observers combines observers into one that calls each in order.
func Observers(obs ...Observer) Observer {
	var list multiObserver
	for _, o := range obs {
		if o != nil {
			list = append(list, o)
		}
	}
	switch len(list) {
	case 0:
		return nil
	case 1:
		return list[0]
	}
	return list
}

type multiObserver []Observer

func (m multiObserver) AttemptStarted(ctx context.Context, t *TaskInfo) context.Context {
	for _, o := range m {
		ctx = o.AttemptStarted(ctx, t)
	}
	return ctx
}

func (m multiObserver) AttemptFinished(ctx context.Context, t *TaskInfo, r AttemptResult) {
	for _, o := range m {
		o.AttemptFinished(ctx, t, r)
	}
}

func (m multiObserver) LeasesReclaimed(n int) {
	for _, o := range m {
		o.LeasesReclaimed(n)
	}
}

// FailOutcome is where Backend.Fail sends the attempt t failed with f,
// by backend.Failure.Retries: OutcomeRetrying or OutcomeFailed. The
// backend decides by its own clock; this process's clock stands in for it,
// which matters only for a retry that falls right at the task's deadline.
func FailOutcome(t *TaskInfo, f backend.Failure) Outcome {
	if f.Retries(t, time.Now()) {
		return OutcomeRetrying
	}
	return OutcomeFailed
}

// recordedOutcome is the outcome of an attempt whose ack or fail returned
// err: a lost lease means the outcome was not recorded.
func recordedOutcome(o Outcome, err error) Outcome {
	if errors.Is(err, ErrLeaseLost) {
		return OutcomeLeaseLost
	}
	return o
}
