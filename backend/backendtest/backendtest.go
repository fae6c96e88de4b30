// Package backendtest is the conformance suite every taskmill backend must
// pass unchanged. A backend's own test calls Run with a constructor that
// returns a fresh, empty backend for each subtest.
package backendtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskmill/taskmill/backend"
)

// NewBackend returns a fresh, empty backend that takes every time it
// stores from clock (the suite moves it; see Clock). A backend whose
// clock is a server's (Redis TIME, PostgreSQL now()) takes clock.Now()
// in place of the server's time in its tests, e.g. as the "now" argument
// its scripts or statements receive. It should register its own cleanup
// with t.Cleanup.
type NewBackend func(t *testing.T, clock backend.Clock) backend.Backend

// clocks maps each backend under test to the test clock it was made with.
var clocks sync.Map

// clockOf returns the test clock b takes its time from.
func clockOf(b backend.Backend) *Clock {
	c, _ := clocks.Load(b)
	return c.(*Clock)
}

// Run runs the whole conformance suite against backends made by
// newBackend, each with a fresh test Clock that the tests move: no test
// sleeps for a lease to expire, a retry to come due or a window to close.
func Run(t *testing.T, newBackend NewBackend) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b backend.Backend)
	}{
		{"EnqueueGet", testEnqueueGet},
		{"EnqueueDuplicateID", testEnqueueDuplicateID},
		{"LeaseAck", testLeaseAck},
		{"PriorityThenFIFO", testPriorityThenFIFO},
		{"QueueOrder", testQueueOrder},
		{"BatchEnqueueAndLease", testBatchEnqueueAndLease},
		{"ConcurrentLeaseOnce", testConcurrentLeaseOnce},
		{"ScheduledBecomesPendingOnTime", testScheduledOnTime},
		{"LeaseWaitWakesOnEnqueue", testLeaseWaitWakes},
		{"FailRetryThenDeadLetter", testFailRetryDeadLetter},
		{"FailFinalSkipsRetry", testFailFinal},
		{"ManualRetry", testManualRetry},
		{"CancelPending", testCancelPending},
		{"CancelProcessing", testCancelProcessing},
		{"CancelScheduled", testCancelScheduled},
		{"UniqueKey", testUniqueKey},
		{"UniqueKeyWindowEnds", testUniqueWindowEnds},
		{"LeaseExpiryReclaim", testLeaseExpiryReclaim},
		{"ReclaimLossesInARow", testReclaimLossesInARow},
		{"ExtendKeepsLease", testExtendKeepsLease},
		{"FencingStaleToken", testFencing},
		{"Release", testRelease},
		{"Progress", testProgress},
		{"PauseResume", testPauseResume},
		{"ListFilterAndPage", testListFilterPage},
		{"ListBadCursor", testListBadCursor},
		{"QueueCounts", testQueueCounts},
		{"Delete", testDelete},
		{"PurgeFinishedBefore", testPurge},
		{"PurgeKeepsRetriedTasks", testPurgeKeepsRetried},
		{"PurgeOldestFirst", testPurgeOldestFirst},
		{"DeadlinePassedNotLeased", testDeadlinePassed},
		{"History", testHistory},
		{"WorkerRegistry", testWorkerRegistry},
		{"WorkerExpires", testWorkerExpires},
		{"Events", testEvents},
	}
	tests = append(tests, contractTests...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := NewClock(time.Time{})
			b := newBackend(t, clock)
			clocks.Store(b, clock)
			t.Cleanup(func() { clocks.Delete(b) })
			tc.fn(t, b)
		})
	}
}

var idSeq atomic.Uint64

// newID returns ids that sort in creation order, as UUIDv7 ids do.
func newID() string {
	return fmt.Sprintf("%016x-%08d", time.Now().UnixNano(), idSeq.Add(1))
}

type taskOpt func(*backend.Task)

func inQueue(q string) taskOpt         { return func(t *backend.Task) { t.Queue = q } }
func withPriority(p int) taskOpt       { return func(t *backend.Task) { t.Priority = p } }
func withType(typ string) taskOpt      { return func(t *backend.Task) { t.Type = typ } }
func withAttempts(n int) taskOpt       { return func(t *backend.Task) { t.MaxAttempts = n } }
func withPayload(p string) taskOpt     { return func(t *backend.Task) { t.Payload = json.RawMessage(p) } }
func withDeadline(d time.Time) taskOpt { return func(t *backend.Task) { t.Deadline = d } }
func runAt(at time.Time) taskOpt {
	return func(t *backend.Task) { t.RunAt, t.State = at.UTC(), backend.StateScheduled }
}
func unique(key string, window time.Duration) taskOpt {
	// The window is on the caller's clock, counted from CreatedAt.
	return func(t *backend.Task) { t.UniqueKey, t.UniqueUntil = key, t.CreatedAt.Add(window) }
}

// task0Now is the caller's clock: real time, far from the test clock, so
// that every test also checks that the backend moves the caller's times
// onto its own clock.
func task0Now() time.Time { return time.Now().UTC() }

func newTask(opts ...taskOpt) *backend.Task {
	t := &backend.Task{ID: newID(), Type: "echo", Queue: "default", State: backend.StatePending,
		MaxAttempts: 3, CreatedAt: time.Now().UTC(), Payload: json.RawMessage(`{"k":1}`)}
	for _, o := range opts {
		o(t)
	}
	return t
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func enqueue(t *testing.T, b backend.Backend, tasks ...*backend.Task) []backend.EnqueueResult {
	t.Helper()
	res, err := b.Enqueue(ctxT(t), tasks)
	if err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	if len(res) != len(tasks) {
		t.Fatalf("Enqueue returned %d results for %d tasks", len(res), len(tasks))
	}
	return res
}

func lease(t *testing.T, b backend.Backend, max int, queues ...string) []*backend.Task {
	t.Helper()
	return leaseFor(t, b, max, 30*time.Second, queues...)
}

func leaseFor(t *testing.T, b backend.Backend, max int, d time.Duration, queues ...string) []*backend.Task {
	t.Helper()
	if len(queues) == 0 {
		queues = []string{"default"}
	}
	got, err := b.Lease(ctxT(t), backend.LeaseRequest{WorkerID: "w1", Queues: queues, Max: max, LeaseFor: d})
	if err != nil {
		t.Fatalf("Lease: %v", err)
	}
	return got
}

func leaseOne(t *testing.T, b backend.Backend, queues ...string) *backend.Task {
	t.Helper()
	got := lease(t, b, 1, queues...)
	if len(got) != 1 {
		t.Fatalf("Lease: got %d tasks, want 1", len(got))
	}
	return got[0]
}

func get(t *testing.T, b backend.Backend, id string) *backend.Task {
	t.Helper()
	task, err := b.Get(ctxT(t), id)
	if err != nil {
		t.Fatalf("Get %s: %v", id, err)
	}
	return task
}

func wantState(t *testing.T, b backend.Backend, id string, want backend.State) *backend.Task {
	t.Helper()
	task := get(t, b, id)
	if task.State != want {
		t.Fatalf("task %s state = %s, want %s (last error %q)", id, task.State, want, task.LastError)
	}
	return task
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: err = %v, want %v", what, err, target)
	}
}

func ids(tasks []*backend.Task) []string {
	out := make([]string, len(tasks))
	for i, t := range tasks {
		out[i] = t.ID
	}
	return out
}

func testEnqueueGet(t *testing.T, b backend.Backend) {
	in := newTask(withPriority(7), withType("fibonacci"), withPayload(`{"n":35}`), inQueue("math"))
	in.Timeout = backend.Duration(5 * time.Second)
	in.TraceContext = map[string]string{"traceparent": "00-abc-def-01"}
	res := enqueue(t, b, in)
	if res[0].ID != in.ID || res[0].Duplicate {
		t.Fatalf("result = %+v, want id %s not duplicate", res[0], in.ID)
	}
	got := wantState(t, b, in.ID, backend.StatePending)
	if got.Type != "fibonacci" || got.Queue != "math" || got.Priority != 7 || string(got.Payload) != `{"n":35}` ||
		got.MaxAttempts != 3 || got.Timeout.Std() != 5*time.Second || got.TraceContext["traceparent"] != "00-abc-def-01" {
		t.Fatalf("stored task differs: %+v", got)
	}
	// The backend's clock, not the caller's, gives CreatedAt.
	if want := clockOf(b).Now(); !got.CreatedAt.Equal(want) {
		t.Fatalf("created_at = %v, want the backend's now %v", got.CreatedAt, want)
	}
	_, err := b.Get(ctxT(t), "no-such-task")
	wantErr(t, "Get unknown", err, backend.ErrNotFound)
}

func testEnqueueDuplicateID(t *testing.T, b backend.Backend) {
	task := newTask()
	enqueue(t, b, task)
	_, err := b.Enqueue(ctxT(t), []*backend.Task{newTask(), {ID: task.ID, Type: "echo", Queue: "default", State: backend.StatePending, MaxAttempts: 1, CreatedAt: time.Now()}})
	wantErr(t, "Enqueue with an existing id", err, backend.ErrDuplicate)
	page, err := b.List(ctxT(t), backend.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Tasks) != 1 {
		t.Fatalf("a failed batch stored %d tasks, want only the first enqueue's 1", len(page.Tasks))
	}
}

func testLeaseAck(t *testing.T, b backend.Backend) {
	task := newTask()
	enqueue(t, b, task)
	l := leaseOne(t, b)
	if l.ID != task.ID || l.State != backend.StateProcessing || l.Attempt != 1 || l.LeaseToken == 0 || l.WorkerID != "w1" {
		t.Fatalf("leased task = %+v", l)
	}
	if string(l.Payload) != `{"k":1}` {
		t.Fatalf("leased payload = %s", l.Payload)
	}
	if want := clockOf(b).Now().Add(30 * time.Second); !l.LeaseExpiresAt.Equal(want) {
		t.Fatalf("lease expires at %v, want %v (30s from the backend's now)", l.LeaseExpiresAt, want)
	}
	wantState(t, b, task.ID, backend.StateProcessing)
	if more := lease(t, b, 1); len(more) != 0 {
		t.Fatalf("leased a processing task again: %v", ids(more))
	}
	if err := b.Ack(ctxT(t), l.Ref(), json.RawMessage(`{"value":"9227465"}`)); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	done := wantState(t, b, task.ID, backend.StateCompleted)
	if string(done.Result) != `{"value":"9227465"}` || done.FinishedAt.IsZero() || done.Attempt != 1 {
		t.Fatalf("completed task = %+v", done)
	}
	if len(done.Attempts) != 1 || done.Attempts[0].Outcome != "completed" || done.Attempts[0].WorkerID != "w1" {
		t.Fatalf("attempts = %+v", done.Attempts)
	}
	wantErr(t, "second Ack", b.Ack(ctxT(t), l.Ref(), nil), backend.ErrLeaseLost)
}

func testPriorityThenFIFO(t *testing.T, b backend.Backend) {
	a, bb, c, d, e := newTask(), newTask(withPriority(5)), newTask(), newTask(withPriority(5)), newTask(withPriority(1000))
	enqueue(t, b, a)
	enqueue(t, b, bb)
	enqueue(t, b, c, d)
	enqueue(t, b, e)
	var got []string
	for range 5 {
		got = append(got, leaseOne(t, b).ID)
	}
	want := []string{e.ID, bb.ID, d.ID, a.ID, c.ID}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("lease order = %v, want %v", got, want)
	}
}

func testQueueOrder(t *testing.T, b backend.Backend) {
	low, high := newTask(inQueue("low")), newTask(inQueue("high"))
	enqueue(t, b, low, high)
	if got := leaseOne(t, b, "high", "low"); got.ID != high.ID {
		t.Fatalf("first lease from [high low] took %s (queue %s), want the high task", got.ID, got.Queue)
	}
	if got := leaseOne(t, b, "high", "low"); got.ID != low.ID {
		t.Fatalf("second lease took %s, want the low task", got.ID)
	}
	other := newTask(inQueue("other"))
	enqueue(t, b, other)
	if got := lease(t, b, 1, "high", "low"); len(got) != 0 {
		t.Fatalf("leased from a queue not asked for: %v", ids(got))
	}
}

func testBatchEnqueueAndLease(t *testing.T, b backend.Backend) {
	var tasks []*backend.Task
	for range 100 {
		tasks = append(tasks, newTask())
	}
	enqueue(t, b, tasks...)
	got := lease(t, b, 10)
	if len(got) != 10 {
		t.Fatalf("Lease Max=10 got %d", len(got))
	}
	for i, task := range got {
		if task.ID != tasks[i].ID {
			t.Fatalf("batch lease[%d] = %s, want %s (FIFO)", i, task.ID, tasks[i].ID)
		}
	}
	rest := lease(t, b, 1000)
	if len(rest) != 90 {
		t.Fatalf("second lease got %d, want the remaining 90", len(rest))
	}
}

func testConcurrentLeaseOnce(t *testing.T, b backend.Backend) {
	const n = 200
	var tasks []*backend.Task
	for range n {
		tasks = append(tasks, newTask())
	}
	enqueue(t, b, tasks...)
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				got, err := b.Lease(context.Background(), backend.LeaseRequest{WorkerID: fmt.Sprint("w", w), Queues: []string{"default"}, Max: 3, LeaseFor: time.Minute})
				if err != nil {
					t.Errorf("Lease: %v", err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, task := range got {
					seen[task.ID]++
				}
				mu.Unlock()
				for _, task := range got {
					if err := b.Ack(context.Background(), task.Ref(), nil); err != nil {
						t.Errorf("Ack: %v", err)
					}
				}
			}
		}()
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("leased %d distinct tasks, want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Fatalf("task %s leased %d times", id, c)
		}
	}
}

func testScheduledOnTime(t *testing.T, b backend.Backend) {
	clock := clockOf(b)
	// Run-at is read on the caller's clock (CreatedAt is real time here)
	// and lands 300ms after the backend's now.
	callerNow := task0Now()
	task := newTask(runAt(callerNow.Add(300 * time.Millisecond)))
	task.CreatedAt = callerNow
	enqueue(t, b, task)
	s := wantState(t, b, task.ID, backend.StateScheduled)
	if want := clock.Now().Add(300 * time.Millisecond); !s.RunAt.Equal(want) {
		t.Fatalf("run_at = %v, want %v", s.RunAt, want)
	}
	clock.Advance(299 * time.Millisecond)
	if got := lease(t, b, 1); len(got) != 0 {
		t.Fatalf("leased a scheduled task before its time")
	}
	clock.Advance(time.Millisecond) // due at the instant itself
	if got := lease(t, b, 1); len(got) != 1 || got[0].ID != task.ID {
		t.Fatalf("scheduled task not leased when due: %v", ids(got))
	}
}

func testLeaseWaitWakes(t *testing.T, b backend.Backend) {
	type result struct {
		tasks []*backend.Task
		err   error
		after time.Duration
	}
	ch := make(chan result, 1)
	start := time.Now()
	go func() {
		got, err := b.Lease(context.Background(), backend.LeaseRequest{WorkerID: "w1", Queues: []string{"default"}, Max: 1, LeaseFor: time.Minute, Wait: 10 * time.Second})
		ch <- result{got, err, time.Since(start)}
	}()
	// Give the Lease time to block, so that the enqueue wakes it (if it
	// has not blocked yet it finds the task at once: the test passes
	// either way, it only checks more when it waited).
	time.Sleep(150 * time.Millisecond)
	task := newTask()
	enqueue(t, b, task)
	r := <-ch
	if r.err != nil || len(r.tasks) != 1 || r.tasks[0].ID != task.ID {
		t.Fatalf("blocked Lease returned %v, %v", r.err, ids(r.tasks))
	}
	if r.after > 2*time.Second {
		t.Fatalf("blocked Lease woke %v after start, want soon after the 150ms enqueue", r.after)
	}
	// A Lease that waits and sees nothing returns empty after its wait.
	start = time.Now()
	got, err := b.Lease(ctxT(t), backend.LeaseRequest{WorkerID: "w1", Queues: []string{"default"}, Max: 1, LeaseFor: time.Minute, Wait: 200 * time.Millisecond})
	if err != nil || len(got) != 0 || time.Since(start) < 150*time.Millisecond {
		t.Fatalf("empty wait: %v, %d tasks after %v", err, len(got), time.Since(start))
	}
}

func testFailRetryDeadLetter(t *testing.T, b backend.Backend) {
	task := newTask(withAttempts(2))
	enqueue(t, b, task)
	l := leaseOne(t, b)
	clock := clockOf(b)
	retryAt := clock.Now().Add(200 * time.Millisecond)
	if err := b.Fail(ctxT(t), l.Ref(), backend.Failure{Error: "boom 1", RetryIn: 200 * time.Millisecond}); err != nil {
		t.Fatalf("Fail: %v", err)
	}
	r := wantState(t, b, task.ID, backend.StateRetrying)
	if r.LastError != "boom 1" || !r.RunAt.Equal(retryAt) {
		t.Fatalf("retrying task: last_error %q run_at %v", r.LastError, r.RunAt)
	}
	if got := lease(t, b, 1); len(got) != 0 {
		t.Fatalf("leased a retrying task before its backoff ended")
	}
	wantErr(t, "Fail twice", b.Fail(ctxT(t), l.Ref(), backend.Failure{Error: "x"}), backend.ErrLeaseLost)
	clock.Advance(200 * time.Millisecond)
	got, err := b.Lease(ctxT(t), backend.LeaseRequest{WorkerID: "w2", Queues: []string{"default"}, Max: 1, LeaseFor: time.Minute})
	if err != nil || len(got) != 1 {
		t.Fatalf("lease after backoff: %v %d", err, len(got))
	}
	if got[0].Attempt != 2 || got[0].LeaseToken == l.LeaseToken {
		t.Fatalf("second attempt: attempt %d token %d (first token %d)", got[0].Attempt, got[0].LeaseToken, l.LeaseToken)
	}
	if err := b.Fail(ctxT(t), got[0].Ref(), backend.Failure{Error: "boom 2"}); err != nil {
		t.Fatal(err)
	}
	dead := wantState(t, b, task.ID, backend.StateFailed)
	if dead.LastError != "boom 2" || len(dead.Attempts) != 2 || dead.Attempts[0].Error != "boom 1" ||
		dead.Attempts[1].WorkerID != "w2" || dead.FinishedAt.IsZero() {
		t.Fatalf("dead-lettered task = %+v", dead)
	}
}

func testFailFinal(t *testing.T, b backend.Backend) {
	task := newTask(withAttempts(5))
	enqueue(t, b, task)
	l := leaseOne(t, b)
	if err := b.Fail(ctxT(t), l.Ref(), backend.Failure{Error: "bad payload", Final: true}); err != nil {
		t.Fatal(err)
	}
	wantState(t, b, task.ID, backend.StateFailed)
}

func testManualRetry(t *testing.T, b backend.Backend) {
	task := newTask(withAttempts(1))
	enqueue(t, b, task)
	l := leaseOne(t, b)
	if err := b.Fail(ctxT(t), l.Ref(), backend.Failure{Error: "boom"}); err != nil {
		t.Fatal(err)
	}
	wantState(t, b, task.ID, backend.StateFailed)
	r, err := b.Retry(ctxT(t), task.ID)
	if err != nil || r.State != backend.StatePending || r.Attempt != 0 {
		t.Fatalf("Retry: %v %+v", err, r)
	}
	_, err = b.Retry(ctxT(t), task.ID)
	wantErr(t, "Retry of a pending task", err, backend.ErrNotFinal)
	l2 := leaseOne(t, b)
	if l2.ID != task.ID || l2.Attempt != 1 || len(l2.Attempts) != 2 {
		t.Fatalf("leased after manual retry: attempt %d, %d attempt records", l2.Attempt, len(l2.Attempts))
	}
	_, err = b.Retry(ctxT(t), "missing")
	wantErr(t, "Retry unknown", err, backend.ErrNotFound)
}

func testCancelPending(t *testing.T, b backend.Backend) {
	task := newTask()
	enqueue(t, b, task)
	c, err := b.Cancel(ctxT(t), task.ID)
	if err != nil || c.State != backend.StateCanceled {
		t.Fatalf("Cancel: %v %+v", err, c)
	}
	if got := lease(t, b, 1); len(got) != 0 {
		t.Fatalf("leased a canceled task")
	}
	_, err = b.Cancel(ctxT(t), task.ID)
	wantErr(t, "Cancel twice", err, backend.ErrFinal)
	_, err = b.Cancel(ctxT(t), "missing")
	wantErr(t, "Cancel unknown", err, backend.ErrNotFound)
}

func testCancelProcessing(t *testing.T, b backend.Backend) {
	task := newTask()
	enqueue(t, b, task)
	l := leaseOne(t, b)
	if _, err := b.Cancel(ctxT(t), task.ID); err != nil {
		t.Fatal(err)
	}
	res, err := b.Extend(ctxT(t), "w1", []backend.LeaseRef{l.Ref()}, time.Minute)
	if err != nil || len(res) != 1 || res[0].Held || !res[0].Canceled {
		t.Fatalf("Extend after cancel: %v %+v, want not held and canceled", err, res)
	}
	wantErr(t, "Ack after cancel", b.Ack(ctxT(t), l.Ref(), nil), backend.ErrLeaseLost)
	wantState(t, b, task.ID, backend.StateCanceled)
	if n, err := b.Reclaim(ctxT(t), 0); err != nil || n != 0 {
		t.Fatalf("Reclaim after cancel: %d %v, want 0", n, err)
	}
}

func testCancelScheduled(t *testing.T, b backend.Backend) {
	task := newTask(runAt(time.Now().Add(100 * time.Millisecond)))
	enqueue(t, b, task)
	if _, err := b.Cancel(ctxT(t), task.ID); err != nil {
		t.Fatal(err)
	}
	clockOf(b).Advance(150 * time.Millisecond)
	if got := lease(t, b, 1); len(got) != 0 {
		t.Fatalf("a canceled scheduled task was leased")
	}
	wantState(t, b, task.ID, backend.StateCanceled)
}

func testUniqueKey(t *testing.T, b backend.Backend) {
	first := newTask(unique("report:42", time.Hour))
	enqueue(t, b, first)
	second := newTask(unique("report:42", time.Hour))
	other := newTask(unique("report:43", time.Hour))
	res := enqueue(t, b, second, other)
	if !res[0].Duplicate || res[0].ID != first.ID {
		t.Fatalf("duplicate result = %+v, want holder %s", res[0], first.ID)
	}
	if res[1].Duplicate {
		t.Fatalf("a different key was refused")
	}
	if _, err := b.Get(ctxT(t), second.ID); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("the duplicate was stored: %v", err)
	}
	// Within one batch the second of two equal keys is the duplicate.
	x, y := newTask(unique("k", time.Hour)), newTask(unique("k", time.Hour))
	res = enqueue(t, b, x, y)
	if res[0].Duplicate || !res[1].Duplicate || res[1].ID != x.ID {
		t.Fatalf("batch with equal keys: %+v", res)
	}
	// Canceling the holder frees the key.
	if _, err := b.Cancel(ctxT(t), first.ID); err != nil {
		t.Fatal(err)
	}
	third := newTask(unique("report:42", time.Hour))
	if res := enqueue(t, b, third); res[0].Duplicate {
		t.Fatalf("key still held after its holder was canceled")
	}
}

func testUniqueWindowEnds(t *testing.T, b backend.Backend) {
	first := newTask(unique("short", 150*time.Millisecond))
	enqueue(t, b, first)
	clockOf(b).Advance(250 * time.Millisecond)
	second := newTask(unique("short", time.Hour))
	if res := enqueue(t, b, second); res[0].Duplicate {
		t.Fatalf("key still held after its window ended")
	}
}

func testLeaseExpiryReclaim(t *testing.T, b backend.Backend) {
	clock := clockOf(b)
	task := newTask(withAttempts(1))
	enqueue(t, b, task)
	l := leaseFor(t, b, 1, 100*time.Millisecond)[0]
	clock.Advance(99 * time.Millisecond)
	if n, err := b.Reclaim(ctxT(t), 0); err != nil || n != 0 {
		t.Fatalf("Reclaim before expiry: %d %v", n, err)
	}
	clock.Advance(time.Millisecond) // expired at the instant itself
	n, err := b.Reclaim(ctxT(t), 0)
	if err != nil || n != 1 {
		t.Fatalf("Reclaim: %d %v, want 1", n, err)
	}
	// Crash is not failure: the attempt is recorded but not spent, even
	// for a task allowed one attempt.
	r := wantState(t, b, task.ID, backend.StatePending)
	if r.Attempt != 0 || r.LeaseLosses != 1 || len(r.Attempts) != 1 || r.Attempts[0].Outcome != "lease_expired" ||
		r.WorkerID != "" || r.LeaseToken != 0 || r.LastError == "" {
		t.Fatalf("reclaimed task: attempt %d losses %d attempts %+v worker %q token %d", r.Attempt, r.LeaseLosses, r.Attempts, r.WorkerID, r.LeaseToken)
	}
	l2 := leaseOne(t, b)
	if l2.ID != task.ID || l2.Attempt != 1 || len(l2.Attempts) != 2 {
		t.Fatalf("re-lease: %s attempt %d, %d attempt records", l2.ID, l2.Attempt, len(l2.Attempts))
	}
	wantErr(t, "Ack with the expired lease", b.Ack(ctxT(t), l.Ref(), nil), backend.ErrLeaseLost)
	if err := b.Ack(ctxT(t), l2.Ref(), json.RawMessage(`1`)); err != nil {
		t.Fatal(err)
	}
	if done := wantState(t, b, task.ID, backend.StateCompleted); done.LeaseLosses != 0 {
		t.Fatalf("lease losses after an ack = %d, want 0", done.LeaseLosses)
	}
}

// testReclaimLossesInARow: only MaxLeaseLosses (default 3) expiries in a
// row fail a task; a handler outcome in between starts the count again.
func testReclaimLossesInARow(t *testing.T, b backend.Backend) {
	clock := clockOf(b)
	task := newTask(withAttempts(5))
	enqueue(t, b, task)
	expire := func() {
		t.Helper()
		leaseFor(t, b, 1, time.Second)
		clock.Advance(time.Second)
		if n, err := b.Reclaim(ctxT(t), 0); err != nil || n != 1 {
			t.Fatalf("Reclaim: %d %v, want 1", n, err)
		}
	}
	expire()
	expire()
	// A failure in between resets the count.
	l := leaseOne(t, b)
	if err := b.Fail(ctxT(t), l.Ref(), backend.Failure{Error: "boom"}); err != nil {
		t.Fatal(err)
	}
	if r := wantState(t, b, task.ID, backend.StateRetrying); r.LeaseLosses != 0 || r.Attempt != 1 {
		t.Fatalf("after a failure: losses %d attempt %d, want 0 and 1", r.LeaseLosses, r.Attempt)
	}
	if _, err := b.Promote(ctxT(t), 0); err != nil {
		t.Fatal(err)
	}
	expire()
	expire()
	if r := wantState(t, b, task.ID, backend.StatePending); r.LeaseLosses != 2 {
		t.Fatalf("lease losses = %d, want 2", r.LeaseLosses)
	}
	expire()
	f := wantState(t, b, task.ID, backend.StateFailed)
	if f.LeaseLosses != backend.DefaultMaxLeaseLosses || f.LastError != fmt.Sprintf("lease expired %d times in a row", backend.DefaultMaxLeaseLosses) || f.FinishedAt.IsZero() {
		t.Fatalf("task failed by lease losses: losses %d error %q", f.LeaseLosses, f.LastError)
	}
}

func testExtendKeepsLease(t *testing.T, b backend.Backend) {
	task := newTask()
	enqueue(t, b, task)
	l := leaseFor(t, b, 1, 200*time.Millisecond)[0]
	res, err := b.Extend(ctxT(t), "w1", []backend.LeaseRef{l.Ref(), {TaskID: "missing", Token: 1}}, 10*time.Second)
	if err != nil || len(res) != 2 || !res[0].Held || res[1].Held {
		t.Fatalf("Extend: %v %+v", err, res)
	}
	clockOf(b).Advance(300 * time.Millisecond)
	if n, err := b.Reclaim(ctxT(t), 0); err != nil || n != 0 {
		t.Fatalf("Reclaim reclaimed an extended lease: %d %v", n, err)
	}
	if err := b.Ack(ctxT(t), l.Ref(), nil); err != nil {
		t.Fatalf("Ack after extend: %v", err)
	}
}

func testFencing(t *testing.T, b backend.Backend) {
	task := newTask()
	enqueue(t, b, task)
	l := leaseOne(t, b)
	stale := backend.LeaseRef{TaskID: l.ID, Token: l.LeaseToken + 1000}
	wantErr(t, "Ack stale", b.Ack(ctxT(t), stale, nil), backend.ErrLeaseLost)
	wantErr(t, "Fail stale", b.Fail(ctxT(t), stale, backend.Failure{Error: "x"}), backend.ErrLeaseLost)
	wantErr(t, "Release stale", b.Release(ctxT(t), stale), backend.ErrLeaseLost)
	wantErr(t, "SetProgress stale", b.SetProgress(ctxT(t), stale, backend.Progress{Percent: 5}), backend.ErrLeaseLost)
	res, err := b.Extend(ctxT(t), "w1", []backend.LeaseRef{stale}, time.Minute)
	if err != nil || res[0].Held {
		t.Fatalf("Extend stale: %v %+v", err, res)
	}
	wantErr(t, "Ack unknown task", b.Ack(ctxT(t), backend.LeaseRef{TaskID: "missing", Token: 1}, nil), backend.ErrLeaseLost)
	wantState(t, b, task.ID, backend.StateProcessing)
}

func testRelease(t *testing.T, b backend.Backend) {
	task := newTask()
	enqueue(t, b, task)
	l := leaseOne(t, b)
	if err := b.Release(ctxT(t), l.Ref()); err != nil {
		t.Fatal(err)
	}
	r := wantState(t, b, task.ID, backend.StatePending)
	if r.Attempt != 0 {
		t.Fatalf("released task has attempt %d, want 0 (not counted)", r.Attempt)
	}
	if l2 := leaseOne(t, b); l2.Attempt != 1 {
		t.Fatalf("re-leased attempt %d, want 1", l2.Attempt)
	}
}

func testProgress(t *testing.T, b backend.Backend) {
	task := newTask()
	enqueue(t, b, task)
	l := leaseOne(t, b)
	if err := b.SetProgress(ctxT(t), l.Ref(), backend.Progress{Percent: 42.5, Message: "half", At: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	p := get(t, b, task.ID).Progress
	if p == nil || p.Percent != 42.5 || p.Message != "half" {
		t.Fatalf("progress = %+v", p)
	}
}

func testPauseResume(t *testing.T, b backend.Backend) {
	task := newTask(inQueue("emails"))
	enqueue(t, b, task)
	if err := b.PauseQueue(ctxT(t), "emails"); err != nil {
		t.Fatal(err)
	}
	if got := lease(t, b, 1, "emails"); len(got) != 0 {
		t.Fatalf("leased from a paused queue")
	}
	qs, err := b.Queues(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if q := findQueue(qs, "emails"); q == nil || !q.Paused {
		t.Fatalf("queue not shown paused: %+v", qs)
	}
	// Submits to a paused queue still succeed.
	enqueue(t, b, newTask(inQueue("emails")))
	if err := b.ResumeQueue(ctxT(t), "emails"); err != nil {
		t.Fatal(err)
	}
	if got := lease(t, b, 5, "emails"); len(got) != 2 {
		t.Fatalf("after resume leased %d, want 2", len(got))
	}
}

func findQueue(qs []backend.QueueInfo, name string) *backend.QueueInfo {
	for i := range qs {
		if qs[i].Name == name {
			return &qs[i]
		}
	}
	return nil
}

func testListFilterPage(t *testing.T, b backend.Backend) {
	var all []*backend.Task
	for i := range 25 {
		q, typ := "a", "echo"
		if i%2 == 1 {
			q = "b"
		}
		if i%5 == 0 {
			typ = "fibonacci"
		}
		task := newTask(inQueue(q), withType(typ), withPayload(fmt.Sprintf(`{"i":%d,"tag":"x%d"}`, i, i)))
		enqueue(t, b, task)
		all = append(all, task)
	}
	// Newest first, pages of 10 that cover everything exactly once.
	var seen []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatalf("paging does not end")
		}
		page, err := b.List(ctxT(t), backend.Filter{Limit: 10, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, ids(page.Tasks)...)
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	if len(seen) != 25 {
		t.Fatalf("paged through %d tasks, want 25", len(seen))
	}
	for i, id := range seen {
		if id != all[24-i].ID {
			t.Fatalf("list[%d] = %s, want %s (newest first)", i, id, all[24-i].ID)
		}
	}
	check := func(f backend.Filter, want int) {
		t.Helper()
		page, err := b.List(ctxT(t), f)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Tasks) != want {
			t.Fatalf("List %+v: %d tasks, want %d", f, len(page.Tasks), want)
		}
	}
	check(backend.Filter{Queue: "a"}, 13)
	check(backend.Filter{Type: "fibonacci"}, 5)
	check(backend.Filter{Queue: "b", Type: "fibonacci"}, 2)
	check(backend.Filter{Query: "x17"}, 1)
	check(backend.Filter{Query: all[3].ID}, 1)
	// Filter by state, after moving some tasks.
	for range 3 {
		l := leaseOne(t, b, "a")
		if err := b.Ack(ctxT(t), l.Ref(), nil); err != nil {
			t.Fatal(err)
		}
	}
	check(backend.Filter{State: backend.StateCompleted}, 3)
	check(backend.Filter{State: backend.StatePending}, 22)
	check(backend.Filter{State: backend.StatePending, Queue: "a"}, 10)
	page, err := b.List(ctxT(t), backend.Filter{State: backend.StatePending, Limit: 20})
	if err != nil || len(page.Tasks) != 20 || page.NextCursor == "" {
		t.Fatalf("state page: %v %d %q", err, len(page.Tasks), page.NextCursor)
	}
	page2, err := b.List(ctxT(t), backend.Filter{State: backend.StatePending, Limit: 20, Cursor: page.NextCursor})
	if err != nil || len(page2.Tasks) != 2 || page2.NextCursor != "" {
		t.Fatalf("second state page: %v %d %q", err, len(page2.Tasks), page2.NextCursor)
	}
}

func testListBadCursor(t *testing.T, b backend.Backend) {
	enqueue(t, b, newTask())
	_, err := b.List(ctxT(t), backend.Filter{Cursor: "!!not a cursor!!"})
	wantErr(t, "List with a bad cursor", err, backend.ErrBadCursor)
}

func testQueueCounts(t *testing.T, b backend.Backend) {
	enqueue(t, b, newTask(), newTask(), newTask(), newTask(runAt(time.Now().Add(time.Hour))), newTask(inQueue("other")))
	l := leaseOne(t, b)
	if err := b.Ack(ctxT(t), l.Ref(), nil); err != nil {
		t.Fatal(err)
	}
	leaseOne(t, b)
	qs, err := b.Queues(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	q := findQueue(qs, "default")
	if q == nil {
		t.Fatalf("no default queue in %+v", qs)
	}
	want := map[backend.State]int{backend.StatePending: 1, backend.StateProcessing: 1, backend.StateCompleted: 1, backend.StateScheduled: 1}
	for s, n := range want {
		if q.Counts[s] != n {
			t.Fatalf("default %s = %d, want %d (counts %v)", s, q.Counts[s], n, q.Counts)
		}
	}
	if q.OldestPendingAt.IsZero() {
		t.Fatalf("oldest pending time missing")
	}
	if o := findQueue(qs, "other"); o == nil || o.Counts[backend.StatePending] != 1 {
		t.Fatalf("other queue: %+v", o)
	}
}

func testDelete(t *testing.T, b backend.Backend) {
	task := newTask(unique("del", time.Hour))
	enqueue(t, b, task)
	wantErr(t, "Delete pending", b.Delete(ctxT(t), task.ID), backend.ErrNotFinal)
	l := leaseOne(t, b)
	if err := b.Ack(ctxT(t), l.Ref(), nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctxT(t), task.ID); err != nil {
		t.Fatal(err)
	}
	_, err := b.Get(ctxT(t), task.ID)
	wantErr(t, "Get deleted", err, backend.ErrNotFound)
	wantErr(t, "Delete missing", b.Delete(ctxT(t), task.ID), backend.ErrNotFound)
	qs, _ := b.Queues(ctxT(t))
	if q := findQueue(qs, "default"); q != nil && q.Counts[backend.StateCompleted] != 0 {
		t.Fatalf("completed count after delete = %d", q.Counts[backend.StateCompleted])
	}
	if res := enqueue(t, b, newTask(unique("del", time.Hour))); res[0].Duplicate {
		t.Fatalf("unique key still held after its holder was deleted")
	}
}

func testDeadlinePassed(t *testing.T, b backend.Backend) {
	late := newTask(withDeadline(clockOf(b).Now().Add(50 * time.Millisecond)))
	ok := newTask()
	enqueue(t, b, late, ok)
	clockOf(b).Advance(100 * time.Millisecond)
	got := lease(t, b, 2)
	if len(got) != 1 || got[0].ID != ok.ID {
		t.Fatalf("leased %v, want only the task without a passed deadline", ids(got))
	}
	f := wantState(t, b, late.ID, backend.StateFailed)
	if f.LastError == "" {
		t.Fatalf("deadline failure has no error")
	}
}

func testHistory(t *testing.T, b backend.Backend) {
	since := clockOf(b).Now().Add(-time.Minute)
	enqueue(t, b, newTask(), newTask(), newTask(withAttempts(1)))
	for range 2 {
		l := leaseOne(t, b)
		if err := b.Ack(ctxT(t), l.Ref(), nil); err != nil {
			t.Fatal(err)
		}
	}
	l := leaseOne(t, b)
	if err := b.Fail(ctxT(t), l.Ref(), backend.Failure{Error: "x"}); err != nil {
		t.Fatal(err)
	}
	hist, err := b.History(ctxT(t), "", since)
	if err != nil {
		t.Fatal(err)
	}
	completed, failed := 0, 0
	for _, h := range hist {
		completed += h.Completed
		failed += h.Failed
	}
	if completed != 2 || failed != 1 {
		t.Fatalf("history: %d completed %d failed, want 2 and 1 (%+v)", completed, failed, hist)
	}
	other, err := b.History(ctxT(t), "no-such-queue", since)
	if err != nil || len(other) != 0 {
		t.Fatalf("history of an unused queue: %v %+v", err, other)
	}
}

func testWorkerRegistry(t *testing.T, b backend.Backend) {
	w := backend.WorkerInfo{ID: "worker-1", Host: "h1", PID: 42, Queues: []string{"default"}, Types: []string{"echo"}, Concurrency: 4, StartedAt: time.Now().UTC()}
	reply, err := b.Heartbeat(ctxT(t), w, time.Minute)
	if err != nil || reply.StopRequested {
		t.Fatalf("Heartbeat: %v %+v", err, reply)
	}
	ws, err := b.Workers(ctxT(t))
	if err != nil || len(ws) != 1 || ws[0].ID != "worker-1" || ws[0].PID != 42 || ws[0].Concurrency != 4 || ws[0].LastHeartbeat.IsZero() {
		t.Fatalf("Workers: %v %+v", err, ws)
	}
	if err := b.RequestStop(ctxT(t), "worker-1"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "RequestStop unknown", b.RequestStop(ctxT(t), "nobody"), backend.ErrNotFound)
	reply, err = b.Heartbeat(ctxT(t), w, time.Minute)
	if err != nil || !reply.StopRequested {
		t.Fatalf("Heartbeat after stop request: %v %+v", err, reply)
	}
	if ws, _ := b.Workers(ctxT(t)); len(ws) != 1 || !ws[0].Stopping {
		t.Fatalf("worker not shown stopping: %+v", ws)
	}
	if err := b.Unregister(ctxT(t), "worker-1", ""); err != nil {
		t.Fatal(err)
	}
	if ws, _ := b.Workers(ctxT(t)); len(ws) != 0 {
		t.Fatalf("worker still listed after Unregister: %+v", ws)
	}
}

func testWorkerExpires(t *testing.T, b backend.Backend) {
	w := backend.WorkerInfo{ID: "short-lived", Host: "h", PID: 1, StartedAt: time.Now()}
	if _, err := b.Heartbeat(ctxT(t), w, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	clockOf(b).Advance(250 * time.Millisecond)
	if _, err := b.Reclaim(ctxT(t), 0); err != nil {
		t.Fatal(err)
	}
	if ws, _ := b.Workers(ctxT(t)); len(ws) != 0 {
		t.Fatalf("worker listed after its heartbeat ran out: %+v", ws)
	}
}

func testEvents(t *testing.T, b backend.Backend) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, err := b.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Subscriptions may take a moment to become live (pub/sub). The
	// sleep does not decide the result: events must then arrive.
	time.Sleep(100 * time.Millisecond)
	task := newTask()
	enqueue(t, b, task)
	l := leaseOne(t, b)
	if err := b.Ack(ctxT(t), l.Ref(), json.RawMessage(`{"ok":true}`)); err != nil {
		t.Fatal(err)
	}
	var states []backend.State
	timeout := time.After(5 * time.Second)
	for len(states) < 3 {
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatalf("event stream closed early")
			}
			if e.Kind == backend.EventTaskUpdate && e.Task.ID == task.ID {
				states = append(states, e.Task.State)
				if e.Task.State == backend.StateCompleted && string(e.Task.Result) != `{"ok":true}` {
					t.Fatalf("completed event result = %s", e.Task.Result)
				}
			}
		case <-timeout:
			t.Fatalf("events seen for the task: %v, want pending, processing, completed", states)
		}
	}
	if fmt.Sprint(states) != "[pending processing completed]" {
		t.Fatalf("event states = %v", states)
	}
	cancel()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-events:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("event channel not closed after ctx ended")
		}
	}
}

// finishAll leases and finishes every pending task of the queues: acked,
// failed for good, or canceled.
func finishAll(t *testing.T, b backend.Backend, how backend.State, queues ...string) []string {
	t.Helper()
	var done []string
	for {
		got := lease(t, b, 100, queues...)
		if len(got) == 0 {
			return done
		}
		for _, l := range got {
			var err error
			switch how {
			case backend.StateCompleted:
				err = b.Ack(ctxT(t), l.Ref(), json.RawMessage(`{"ok":true}`))
			case backend.StateFailed:
				err = b.Fail(ctxT(t), l.Ref(), backend.Failure{Error: "boom", Final: true})
			case backend.StateCanceled:
				_, err = b.Cancel(ctxT(t), l.ID)
			}
			if err != nil {
				t.Fatal(err)
			}
			done = append(done, l.ID)
		}
	}
}

func testPurge(t *testing.T, b backend.Backend) {
	// Three completed tasks in two queues finish first; then the cutoff;
	// then two more completed, two failed and one canceled.
	enqueue(t, b, newTask(inQueue("a"), unique("old-a", time.Hour)), newTask(inQueue("a")), newTask(inQueue("b")))
	old := finishAll(t, b, backend.StateCompleted, "a", "b")
	clockOf(b).Advance(20 * time.Millisecond)
	cutoff := clockOf(b).Now()
	clockOf(b).Advance(20 * time.Millisecond)
	enqueue(t, b, newTask(inQueue("a")), newTask(inQueue("b")))
	recent := finishAll(t, b, backend.StateCompleted, "a", "b")
	enqueue(t, b, newTask(inQueue("a")), newTask(inQueue("a")))
	failed := finishAll(t, b, backend.StateFailed, "a")
	enqueue(t, b, newTask(inQueue("b")))
	canceled := finishAll(t, b, backend.StateCanceled, "b")
	pending := newTask(inQueue("a"))
	enqueue(t, b, pending)

	if _, err := b.Purge(ctxT(t), 0, backend.StatePending, -time.Hour, 100); err == nil {
		t.Fatal("Purge of a state that is not final succeeded")
	}
	// At most max per call, oldest first.
	if n, err := b.Purge(ctxT(t), 0, backend.StateCompleted, clockOf(b).Now().Sub(cutoff), 2); err != nil || n != 2 {
		t.Fatalf("Purge(completed, cutoff, 2) = %d, %v; want 2", n, err)
	}
	if n, err := b.Purge(ctxT(t), 0, backend.StateCompleted, clockOf(b).Now().Sub(cutoff), 100); err != nil || n != 1 {
		t.Fatalf("second Purge(completed, cutoff) = %d, %v; want the 1 left", n, err)
	}
	if n, err := b.Purge(ctxT(t), 0, backend.StateCompleted, clockOf(b).Now().Sub(cutoff), 100); err != nil || n != 0 {
		t.Fatalf("third Purge(completed, cutoff) = %d, %v; want 0", n, err)
	}
	for _, id := range old {
		_, err := b.Get(ctxT(t), id)
		wantErr(t, "Get purged task", err, backend.ErrNotFound)
	}
	for _, id := range recent {
		wantState(t, b, id, backend.StateCompleted)
	}
	for _, id := range failed {
		wantState(t, b, id, backend.StateFailed)
	}
	for _, id := range canceled {
		wantState(t, b, id, backend.StateCanceled)
	}
	wantState(t, b, pending.ID, backend.StatePending)
	qs, _ := b.Queues(ctxT(t))
	if qa, qb := findQueue(qs, "a"), findQueue(qs, "b"); qa == nil || qb == nil ||
		qa.Counts[backend.StateCompleted] != 1 || qb.Counts[backend.StateCompleted] != 1 || qa.Counts[backend.StateFailed] != 2 {
		t.Fatalf("counts after purge: %+v", qs)
	}
	if res := enqueue(t, b, newTask(inQueue("a"), unique("old-a", time.Hour))); res[0].Duplicate {
		t.Fatal("the unique key of a purged task is still held")
	}

	// Each final state on its own.
	later := clockOf(b).Now().Add(time.Second)
	if n, err := b.Purge(ctxT(t), 0, backend.StateFailed, clockOf(b).Now().Sub(later), 100); err != nil || n != 2 {
		t.Fatalf("Purge(failed) = %d, %v; want 2", n, err)
	}
	if n, err := b.Purge(ctxT(t), 0, backend.StateCanceled, clockOf(b).Now().Sub(later), 100); err != nil || n != 1 {
		t.Fatalf("Purge(canceled) = %d, %v; want 1", n, err)
	}
	if n, err := b.Purge(ctxT(t), 0, backend.StateCompleted, clockOf(b).Now().Sub(later), 100); err != nil || n != 2 {
		t.Fatalf("Purge(completed, later) = %d, %v; want 2", n, err)
	}
	page, err := b.List(ctxT(t), backend.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range page.Tasks {
		if tk.State.Final() {
			t.Fatalf("task %s still %s after purging every final state", tk.ID, tk.State)
		}
	}
}

// testPurgeKeepsRetriedTasks: a failed task retried by hand is no longer
// failed, and a purge of failed tasks must leave it alone — and purge it
// once it has failed again and that finish is old enough.
func testPurgeKeepsRetried(t *testing.T, b backend.Backend) {
	enqueue(t, b, newTask())
	ids := finishAll(t, b, backend.StateFailed)
	if _, err := b.Retry(ctxT(t), ids[0]); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Purge(ctxT(t), 0, backend.StateFailed, -time.Hour, 100); err != nil || n != 0 {
		t.Fatalf("Purge(failed) after a manual retry = %d, %v; want 0", n, err)
	}
	wantState(t, b, ids[0], backend.StatePending)
	finishAll(t, b, backend.StateFailed)
	if n, err := b.Purge(ctxT(t), 0, backend.StateFailed, -time.Hour, 100); err != nil || n != 1 {
		t.Fatalf("Purge(failed) after it failed again = %d, %v; want 1", n, err)
	}
}

// testPurgeOldestFirst: when more tasks are due than max, the ones that
// finished first go first — across queues.
func testPurgeOldestFirst(t *testing.T, b backend.Backend) {
	enqueue(t, b, newTask(inQueue("a")), newTask(inQueue("b")))
	first := finishAll(t, b, backend.StateCompleted, "a", "b")
	clockOf(b).Advance(20 * time.Millisecond)
	enqueue(t, b, newTask(inQueue("b")), newTask(inQueue("a")))
	second := finishAll(t, b, backend.StateCompleted, "a", "b")
	if n, err := b.Purge(ctxT(t), 0, backend.StateCompleted, -time.Hour, 2); err != nil || n != 2 {
		t.Fatalf("Purge(completed, max 2) = %d, %v; want 2", n, err)
	}
	for _, id := range first {
		_, err := b.Get(ctxT(t), id)
		wantErr(t, "Get a task that finished first", err, backend.ErrNotFound)
	}
	for _, id := range second {
		wantState(t, b, id, backend.StateCompleted)
	}
}
