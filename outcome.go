package taskmill

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/taskmill/taskmill/backend"
)

// The outcome of an attempt is decided here once, for every kind of
// worker: the Go worker (execute.go) and the HTTP worker protocol
// (server/workerproto.go) both finish attempts with FinishAttempt, so that
// the skip-retry rule, the choice of backoff and the retry-or-dead-letter
// decision (backend.Failure.Retries, which the backends follow) are not
// restated anywhere else.

// AttemptReport is what a worker says about one finished attempt.
type AttemptReport struct {
	// Err is the handler's error; nil means the attempt succeeded. An
	// error wrapping ErrSkipRetry fails the task without retry.
	Err error
	// Final, with Err, fails the task without retry, as an Err wrapping
	// ErrSkipRetry does (a worker over HTTP says so with a flag).
	Final bool
	// Result is the handler's result when Err is nil: any value that
	// marshals to JSON, or a json.RawMessage taken as is (it must be
	// valid JSON; nil or empty means no result). A result that does not
	// marshal fails the task without retry.
	Result any
	// RetryIn, when positive, is the wait before the next attempt that
	// the worker asks for; otherwise Backoff decides.
	RetryIn time.Duration
	// Backoff chooses the wait from the next attempt's number and the
	// error when RetryIn is not set. Default DefaultBackoff; use
	// ServeMux.BackoffFor to take the task type's own.
	Backoff BackoffFunc
	// MaxResultBytes, when positive, bounds the marshalled result: a
	// larger one is not stored and fails the task without retry, since
	// the same handler would make the same result again.
	MaxResultBytes int
}

// AttemptRecord is what FinishAttempt recorded.
type AttemptRecord struct {
	// Outcome is completed, retrying or failed, as recorded; lease_lost
	// when the lease was gone and nothing was recorded.
	Outcome Outcome
	// Err is the error the attempt failed with (for a result that did
	// not marshal, that error); nil when it completed.
	Err error
	// RetryIn is the wait before the next attempt, when Outcome is retrying.
	RetryIn time.Duration
}

// FinishAttempt records one finished attempt of t under the lease ref:
// Ack with the result when rep.Err is nil, otherwise Fail with the
// failure FailureOf makes. t is the task as leased (its attempt counted);
// it may be nil for a success. The error is the backend's (ErrLeaseLost
// when the lease is no longer held: nothing was recorded); the record
// says what happened either way.
func FinishAttempt(ctx context.Context, b backend.Backend, ref backend.LeaseRef, t *TaskInfo, rep AttemptReport) (AttemptRecord, error) {
	err := rep.Err
	if err == nil {
		raw, merr := marshalResult(rep.Result)
		if merr == nil && rep.MaxResultBytes > 0 && len(raw) > rep.MaxResultBytes {
			merr = fmt.Errorf("the result is %d bytes of JSON; the limit is %d (the worker's MaxResultBytes)", len(raw), rep.MaxResultBytes)
		}
		if merr == nil {
			ackErr := b.Ack(ctx, ref, raw)
			return AttemptRecord{Outcome: recordedOutcome(OutcomeCompleted, ackErr)}, ackErr
		}
		err = SkipRetry(merr)
	}
	if t == nil {
		return AttemptRecord{Outcome: OutcomeLeaseLost, Err: err}, errors.New("finish attempt: a failed attempt needs its task")
	}
	f := FailureOf(t, err, rep.RetryIn, rep.Backoff)
	f.Final = f.Final || rep.Final
	failErr := b.Fail(ctx, ref, f)
	rec := AttemptRecord{Outcome: recordedOutcome(FailOutcome(t, f), failErr), Err: err}
	if rec.Outcome == OutcomeRetrying {
		rec.RetryIn = f.RetryIn
	}
	return rec, failErr
}

// FailureOf is the failure an attempt of t (as leased) that failed with
// err is recorded with: final when err wraps ErrSkipRetry; the retry
// after retryIn when positive, otherwise after backoff(t.Attempt+1, err)
// (DefaultBackoff when backoff is nil).
func FailureOf(t *TaskInfo, err error, retryIn time.Duration, backoff BackoffFunc) backend.Failure {
	if retryIn <= 0 {
		if backoff == nil {
			backoff = DefaultBackoff
		}
		retryIn = backoff(t.Attempt+1, err)
	}
	return backend.Failure{Error: err.Error(), Final: errors.Is(err, ErrSkipRetry), RetryIn: retryIn}
}

// BackoffFor returns the backoff of the task type typ when it sets one,
// else fallback (DefaultBackoff when fallback is nil). A nil mux has no
// types.
func (m *ServeMux) BackoffFor(typ string, fallback BackoffFunc) BackoffFunc {
	if m != nil {
		if tt, ok := m.Lookup(typ); ok && tt.Backoff != nil {
			return tt.Backoff
		}
	}
	if fallback == nil {
		return DefaultBackoff
	}
	return fallback
}
