package taskmill_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/taskmill/taskmill"
)

// TestFailureOf pins the one failure rule the Go worker and the HTTP
// worker protocol share.
func TestFailureOf(t *testing.T) {
	fixed := func(d time.Duration) taskmill.BackoffFunc {
		return func(int, error) time.Duration { return d }
	}
	var gotAttempt int
	counting := func(n int, _ error) time.Duration { gotAttempt = n; return time.Minute }
	task := &taskmill.TaskInfo{Attempt: 2, MaxAttempts: 5}
	for _, c := range []struct {
		name      string
		err       error
		retryIn   time.Duration
		backoff   taskmill.BackoffFunc
		final     bool
		wantRetry time.Duration // 0: check only the range of DefaultBackoff
	}{
		{"plain error uses the backoff", errors.New("x"), 0, fixed(7 * time.Second), false, 7 * time.Second},
		{"the worker's wait wins over the backoff", errors.New("x"), 3 * time.Second, fixed(7 * time.Second), false, 3 * time.Second},
		{"skip retry is final", taskmill.SkipRetry(errors.New("x")), 0, fixed(time.Second), true, time.Second},
		{"no backoff means DefaultBackoff", errors.New("x"), 0, nil, false, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := taskmill.FailureOf(task, c.err, c.retryIn, c.backoff)
			if f.Final != c.final || f.Error != c.err.Error() {
				t.Fatalf("failure %+v, want final %v and the error's text", f, c.final)
			}
			got := f.RetryIn
			if c.wantRetry > 0 && (got > c.wantRetry || got < c.wantRetry-time.Second) {
				t.Fatalf("retry in %s, want %s", got, c.wantRetry)
			}
			if c.wantRetry == 0 && (got > 2*time.Second || got < 0) { // DefaultBackoff before attempt 3: 1s..2s
				t.Fatalf("retry in %s, want DefaultBackoff's 1s..2s", got)
			}
		})
	}
	taskmill.FailureOf(task, errors.New("x"), 0, counting)
	if gotAttempt != 3 {
		t.Fatalf("backoff asked for attempt %d, want the next one, 3", gotAttempt)
	}

	mux := taskmill.NewServeMux()
	mux.Register(taskmill.TaskType{Name: "own", Backoff: fixed(time.Hour), Handler: taskmill.HandlerFunc(nil)})
	mux.HandleFunc("plain", func(context.Context, *taskmill.Task) (any, error) { return nil, nil })
	if d := mux.BackoffFor("own", fixed(time.Second))(2, nil); d != time.Hour {
		t.Errorf("type's own backoff: %s", d)
	}
	if d := mux.BackoffFor("plain", fixed(time.Second))(2, nil); d != time.Second {
		t.Errorf("fallback backoff: %s", d)
	}
	var none *taskmill.ServeMux
	if d := none.BackoffFor("plain", nil)(2, nil); d < time.Second/2 || d > time.Second {
		t.Errorf("nil mux, nil fallback: %s, want DefaultBackoff", d)
	}
}
