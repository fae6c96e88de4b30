package backendtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/taskmill/taskmill/backend"
)

// contractTests pin the rules issue #10 decided (see backend/model).
var contractTests = []struct {
	name string
	fn   func(t *testing.T, b backend.Backend)
}{
	{"PriorityRangeOrderedAndRefused", testPriorityRange},
	{"IDsUniqueAcrossQueues", testIDsAcrossQueues},
	{"UniqueKeysPerQueue", testUniquePerQueue},
	{"EnqueueOnlyPendingOrScheduled", testEnqueueStates},
	{"CallersClockMovedToBackends", testCallersClock},
	{"ReleaseGoesToTheFront", testReleaseFront},
	{"ReclaimGoesToTheFrontInExpiryOrder", testReclaimFront},
	{"RetryAfterBackoffJoinsTheBack", testRetryBack},
	{"ManualRetryJoinsTheBack", testManualRetryBack},
	{"ReclaimNeverPromotes", testReclaimNoPromote},
	{"LeasePromotesItsOwnQueues", testLeasePromotesItsOwnQueues},
	{"PromoteFencedAndOrdered", testPromote},
	{"CancelRetrying", testCancelRetrying},
	{"RetryCanceledAndCompleted", testRetryCanceled},
	{"DeleteFailedAndCanceled", testDeleteFinals},
	{"RetryPastDeadlineFails", testRetryPastDeadline},
	{"LeaseSecretBindsTheLease", testLeaseSecret},
	{"ExtendChecksTheWorker", testExtendWorker},
	{"TypesFilter", testTypesFilter},
	{"Leadership", testLeadership},
	{"UpkeepFenced", testUpkeepFenced},
	{"HistoryPruned", testHistoryPruned},
	{"DeleteAndForgetQueues", testQueueLifecycle},
	{"WorkerSecretAndEvents", testWorkerSecret},
	{"EventsForEveryTransition", testEventsEveryTransition},
	{"ResyncOnOverflow", testResync},
	{"CanceledContextChangesNothing", testCanceledContext},
	{"ListLimitsAndCursors", testListLimits},
	{"NowIsTheBackendsClock", testNow},
	{"ClosedBackend", testClosed},
}

// leaseW leases for a given worker.
func leaseW(t *testing.T, b backend.Backend, req backend.LeaseRequest) []*backend.Task {
	t.Helper()
	if req.LeaseFor == 0 {
		req.LeaseFor = 30 * time.Second
	}
	if req.Max == 0 {
		req.Max = 1
	}
	if len(req.Queues) == 0 {
		req.Queues = []string{"default"}
	}
	got, err := b.Lease(ctxT(t), req)
	if err != nil {
		t.Fatalf("Lease: %v", err)
	}
	return got
}

// drainOrder leases every pending task of the default queue one by one
// and returns their ids in the order leased.
func drainOrder(t *testing.T, b backend.Backend) []string {
	t.Helper()
	var order []string
	for {
		got := lease(t, b, 1)
		if len(got) == 0 {
			return order
		}
		order = append(order, got[0].ID)
	}
}

func wantOrder(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s: order %v, want %v", what, got, want)
	}
}

func testPriorityRange(t *testing.T, b backend.Backend) {
	top, next := newTask(withPriority(backend.MaxPriority)), newTask(withPriority(backend.MaxPriority-1))
	enqueue(t, b, next, top)
	wantOrder(t, "priorities 1000 and 999", drainOrder(t, b), top.ID, next.ID)
	for _, p := range []int{-1, backend.MaxPriority + 1, 5000} {
		ok, bad := newTask(), newTask(withPriority(p))
		_, err := b.Enqueue(ctxT(t), []*backend.Task{ok, bad})
		wantErr(t, fmt.Sprintf("Enqueue priority %d", p), err, backend.ErrInvalid)
		_, err = b.Get(ctxT(t), ok.ID)
		wantErr(t, "the call's other task", err, backend.ErrNotFound)
	}
}

func testIDsAcrossQueues(t *testing.T, b backend.Backend) {
	a := newTask(inQueue("a"))
	enqueue(t, b, a)
	again := newTask(inQueue("b"))
	again.ID = a.ID
	other := newTask(inQueue("b"))
	_, err := b.Enqueue(ctxT(t), []*backend.Task{other, again})
	wantErr(t, "an id reused in another queue", err, backend.ErrDuplicate)
	_, err = b.Get(ctxT(t), other.ID)
	wantErr(t, "the call's other task", err, backend.ErrNotFound)
	if got := get(t, b, a.ID); got.Queue != "a" {
		t.Fatalf("task %s moved to queue %s", a.ID, got.Queue)
	}
	twice := newTask()
	_, err = b.Enqueue(ctxT(t), []*backend.Task{twice, twice.Clone()})
	wantErr(t, "one id twice in a call", err, backend.ErrDuplicate)
}

func testUniquePerQueue(t *testing.T, b backend.Backend) {
	a := newTask(inQueue("a"), unique("k", time.Hour))
	bq := newTask(inQueue("b"), unique("k", time.Hour))
	res := enqueue(t, b, a, bq)
	if res[0].Duplicate || res[1].Duplicate {
		t.Fatalf("one key in two queues: %+v, want both stored", res)
	}
	dup := newTask(inQueue("a"), unique("k", time.Hour))
	if res := enqueue(t, b, dup); !res[0].Duplicate || res[0].ID != a.ID {
		t.Fatalf("same queue, same key: %+v, want duplicate of %s", res[0], a.ID)
	}
	// A completed holder keeps its key until its window ends.
	l := leaseOne(t, b, "a")
	if err := b.Ack(ctxT(t), l.Ref(), nil); err != nil {
		t.Fatal(err)
	}
	if res := enqueue(t, b, newTask(inQueue("a"), unique("k", time.Hour))); !res[0].Duplicate {
		t.Fatalf("a completed holder's key was free inside its window")
	}
	clockOf(b).Advance(time.Hour)
	if res := enqueue(t, b, newTask(inQueue("a"), unique("k", time.Hour))); res[0].Duplicate {
		t.Fatalf("key still held at the end of its window")
	}
}

func testEnqueueStates(t *testing.T, b backend.Backend) {
	for _, s := range []backend.State{backend.StateProcessing, backend.StateRetrying, backend.StateCompleted,
		backend.StateFailed, backend.StateCanceled, "bogus"} {
		task := newTask()
		task.State = s
		_, err := b.Enqueue(ctxT(t), []*backend.Task{task})
		wantErr(t, "Enqueue in state "+string(s), err, backend.ErrInvalid)
	}
	noRunAt := newTask()
	noRunAt.State = backend.StateScheduled
	_, err := b.Enqueue(ctxT(t), []*backend.Task{noRunAt})
	wantErr(t, "scheduled without run_at", err, backend.ErrInvalid)
	for _, bad := range []*backend.Task{newTask(withAttempts(0)), newTask(withType("")), newTask(inQueue(""))} {
		_, err := b.Enqueue(ctxT(t), []*backend.Task{bad})
		wantErr(t, "a malformed task", err, backend.ErrInvalid)
	}
	page, err := b.List(ctxT(t), backend.Filter{})
	if err != nil || len(page.Tasks) != 0 {
		t.Fatalf("refused enqueues stored %d tasks (%v)", len(page.Tasks), err)
	}
}

func testCallersClock(t *testing.T, b backend.Backend) {
	now := clockOf(b).Now()
	// A caller whose clock runs an hour fast: its delay and window keep
	// their length on the backend's clock; the deadline is absolute.
	fast := now.Add(time.Hour)
	task := newTask(runAt(fast.Add(10*time.Second)), withDeadline(now.Add(time.Minute)))
	task.CreatedAt = fast
	task.UniqueKey, task.UniqueUntil = "u", fast.Add(30*time.Second)
	enqueue(t, b, task)
	got := get(t, b, task.ID)
	if !got.CreatedAt.Equal(now) || !got.RunAt.Equal(now.Add(10*time.Second)) ||
		!got.UniqueUntil.Equal(now.Add(30*time.Second)) || !got.Deadline.Equal(now.Add(time.Minute)) {
		t.Fatalf("times: created %v run_at %v unique_until %v deadline %v; want now %v +10s +30s +1m",
			got.CreatedAt, got.RunAt, got.UniqueUntil, got.Deadline, now)
	}
	// No CreatedAt: the times are the backend's already.
	abs := newTask(runAt(now.Add(5 * time.Second)))
	abs.CreatedAt = time.Time{}
	enqueue(t, b, abs)
	if got := get(t, b, abs.ID); !got.RunAt.Equal(now.Add(5*time.Second)) || !got.CreatedAt.Equal(now) {
		t.Fatalf("absolute times: run_at %v created %v", got.RunAt, got.CreatedAt)
	}
}

func testReleaseFront(t *testing.T, b backend.Backend) {
	high, x, y := newTask(withPriority(5)), newTask(), newTask()
	enqueue(t, b, x, y)
	lx := leaseOne(t, b)
	if lx.ID != x.ID {
		t.Fatalf("leased %s, want %s", lx.ID, x.ID)
	}
	enqueue(t, b, high)
	if err := b.Release(ctxT(t), lx.Ref()); err != nil {
		t.Fatal(err)
	}
	r := wantState(t, b, x.ID, backend.StatePending)
	if r.Attempt != 0 || r.Attempts[0].Outcome != "released" {
		t.Fatalf("released: attempt %d attempts %+v", r.Attempt, r.Attempts)
	}
	// Front of its own priority: behind the higher one, ahead of y.
	wantOrder(t, "after release", drainOrder(t, b), high.ID, x.ID, y.ID)
}

func testReclaimFront(t *testing.T, b backend.Backend) {
	clock := clockOf(b)
	x, y, z := newTask(), newTask(), newTask()
	enqueue(t, b, x, y)
	lx := leaseFor(t, b, 1, time.Second)[0]
	clock.Advance(time.Millisecond)
	ly := leaseFor(t, b, 1, time.Second)[0]
	if lx.ID != x.ID || ly.ID != y.ID {
		t.Fatalf("leased %s %s", lx.ID, ly.ID)
	}
	enqueue(t, b, z)
	clock.Advance(2 * time.Second)
	if n, err := b.Reclaim(ctxT(t), 0); err != nil || n != 2 {
		t.Fatalf("Reclaim: %d %v", n, err)
	}
	// Both ahead of z, the first to expire first.
	wantOrder(t, "after reclaim", drainOrder(t, b), x.ID, y.ID, z.ID)
}

func testRetryBack(t *testing.T, b backend.Backend) {
	clock := clockOf(b)
	x, y := newTask(), newTask()
	enqueue(t, b, x)
	l := leaseOne(t, b)
	if err := b.Fail(ctxT(t), l.Ref(), backend.Failure{Error: "e", RetryIn: time.Second}); err != nil {
		t.Fatal(err)
	}
	enqueue(t, b, y)
	clock.Advance(time.Second)
	wantOrder(t, "retry after backoff", drainOrder(t, b), y.ID, x.ID)
}

func testManualRetryBack(t *testing.T, b backend.Backend) {
	x, y := newTask(withAttempts(1)), newTask()
	enqueue(t, b, x)
	l := leaseOne(t, b)
	if err := b.Fail(ctxT(t), l.Ref(), backend.Failure{Error: "e"}); err != nil {
		t.Fatal(err)
	}
	enqueue(t, b, y)
	r, err := b.Retry(ctxT(t), x.ID)
	if err != nil || r.State != backend.StatePending || r.Attempt != 0 || r.LeaseLosses != 0 || len(r.Attempts) != 1 || r.LastError != "e" {
		t.Fatalf("Retry: %v %+v", err, r)
	}
	wantOrder(t, "manual retry", drainOrder(t, b), y.ID, x.ID)
}

func testReclaimNoPromote(t *testing.T, b backend.Backend) {
	task := newTask(runAt(task0Now().Add(time.Second)))
	enqueue(t, b, task)
	clockOf(b).Advance(time.Second)
	if _, err := b.Reclaim(ctxT(t), 0); err != nil {
		t.Fatal(err)
	}
	wantState(t, b, task.ID, backend.StateScheduled)
	if n, err := b.Promote(ctxT(t), 0); err != nil || n != 1 {
		t.Fatalf("Promote: %d %v, want 1", n, err)
	}
	wantState(t, b, task.ID, backend.StatePending)
}

func testLeasePromotesItsOwnQueues(t *testing.T, b backend.Backend) {
	now := clockOf(b).Now()
	mine, other := newTask(runAt(now)), newTask(inQueue("other"), runAt(now))
	mine.CreatedAt, other.CreatedAt = time.Time{}, time.Time{}
	enqueue(t, b, mine, other)
	// Due already, yet scheduled until something promotes them.
	wantState(t, b, mine.ID, backend.StateScheduled)
	if got := lease(t, b, 1); len(got) != 1 || got[0].ID != mine.ID {
		t.Fatalf("Lease did not promote and take its queue's due task: %v", ids(got))
	}
	wantState(t, b, other.ID, backend.StateScheduled)
}

func testPromote(t *testing.T, b backend.Backend) {
	clock := clockOf(b)
	now := clock.Now()
	late, early, other := newTask(runAt(now.Add(2*time.Second))), newTask(runAt(now.Add(time.Second))), newTask(inQueue("other"), runAt(now.Add(time.Second)))
	for _, task := range []*backend.Task{late, early, other} {
		task.CreatedAt = time.Time{}
	}
	enqueue(t, b, late, early, other)
	clock.Advance(2 * time.Second)
	if n, err := b.Promote(ctxT(t), 0); err != nil || n != 3 {
		t.Fatalf("Promote: %d %v, want 3 (every queue)", n, err)
	}
	wantOrder(t, "promoted by run_at", drainOrder(t, b), early.ID, late.ID)
	wantState(t, b, other.ID, backend.StatePending)
}

func testCancelRetrying(t *testing.T, b backend.Backend) {
	task := newTask()
	enqueue(t, b, task)
	l := leaseOne(t, b)
	if err := b.Fail(ctxT(t), l.Ref(), backend.Failure{Error: "e", RetryIn: time.Second}); err != nil {
		t.Fatal(err)
	}
	c, err := b.Cancel(ctxT(t), task.ID)
	if err != nil || c.State != backend.StateCanceled || c.FinishedAt.IsZero() {
		t.Fatalf("Cancel of a retrying task: %v %+v", err, c)
	}
	clockOf(b).Advance(time.Minute)
	if got := lease(t, b, 1); len(got) != 0 {
		t.Fatalf("a canceled retrying task was leased")
	}
	_, err = b.Cancel(ctxT(t), task.ID)
	wantErr(t, "Cancel twice", err, backend.ErrFinal)
}

func testRetryCanceled(t *testing.T, b backend.Backend) {
	task := newTask()
	enqueue(t, b, task)
	if _, err := b.Cancel(ctxT(t), task.ID); err != nil {
		t.Fatal(err)
	}
	if r, err := b.Retry(ctxT(t), task.ID); err != nil || r.State != backend.StatePending || !r.FinishedAt.IsZero() {
		t.Fatalf("Retry of a canceled task: %v %+v", err, r)
	}
	l := leaseOne(t, b)
	if err := b.Ack(ctxT(t), l.Ref(), nil); err != nil {
		t.Fatal(err)
	}
	_, err := b.Retry(ctxT(t), task.ID)
	wantErr(t, "Retry of a completed task", err, backend.ErrNotFinal)
}

func testDeleteFinals(t *testing.T, b backend.Backend) {
	failed, canceled, running := newTask(withAttempts(1)), newTask(), newTask()
	enqueue(t, b, failed)
	l := leaseOne(t, b)
	if err := b.Fail(ctxT(t), l.Ref(), backend.Failure{Error: "e"}); err != nil {
		t.Fatal(err)
	}
	enqueue(t, b, canceled, running)
	if _, err := b.Cancel(ctxT(t), canceled.ID); err != nil {
		t.Fatal(err)
	}
	leaseOne(t, b)
	for _, id := range []string{failed.ID, canceled.ID} {
		if err := b.Delete(ctxT(t), id); err != nil {
			t.Fatalf("Delete %s: %v", id, err)
		}
		_, err := b.Get(ctxT(t), id)
		wantErr(t, "Get deleted", err, backend.ErrNotFound)
	}
	wantErr(t, "Delete processing", b.Delete(ctxT(t), running.ID), backend.ErrNotFinal)
}

func testRetryPastDeadline(t *testing.T, b backend.Backend) {
	deadline := clockOf(b).Now().Add(10 * time.Second)
	task := newTask(withAttempts(5), withDeadline(deadline))
	enqueue(t, b, task)
	l := leaseOne(t, b)
	f := backend.Failure{Error: "e", RetryIn: 10 * time.Second} // lands on the deadline: not before it
	if f.Retries(l, clockOf(b).Now()) {
		t.Fatalf("Failure.Retries says a retry at the deadline retries")
	}
	if err := b.Fail(ctxT(t), l.Ref(), f); err != nil {
		t.Fatal(err)
	}
	wantState(t, b, task.ID, backend.StateFailed)
}

func testLeaseSecret(t *testing.T, b backend.Backend) {
	task := newTask()
	enqueue(t, b, task)
	l := leaseOne(t, b)
	if len(l.LeaseSecret) != 32 {
		t.Fatalf("lease secret %q, want 32 hex digits", l.LeaseSecret)
	}
	if got := get(t, b, task.ID); got.LeaseSecret != "" {
		t.Fatalf("Get shows the lease secret")
	}
	if page, err := b.List(ctxT(t), backend.Filter{}); err != nil || page.Tasks[0].LeaseSecret != "" {
		t.Fatalf("List shows the lease secret (%v)", err)
	}
	bad := l.Ref()
	bad.Secret = "00000000000000000000000000000000"
	noSecret := l.Ref()
	noSecret.Secret = ""
	for _, ref := range []backend.LeaseRef{bad, noSecret} {
		wantErr(t, "Ack without the secret", b.Ack(ctxT(t), ref, nil), backend.ErrLeaseLost)
		wantErr(t, "Fail without the secret", b.Fail(ctxT(t), ref, backend.Failure{Error: "x"}), backend.ErrLeaseLost)
		wantErr(t, "Release without the secret", b.Release(ctxT(t), ref), backend.ErrLeaseLost)
		wantErr(t, "SetProgress without the secret", b.SetProgress(ctxT(t), ref, backend.Progress{Percent: 1}), backend.ErrLeaseLost)
		if res, err := b.Extend(ctxT(t), "w1", []backend.LeaseRef{ref}, time.Minute); err != nil || res[0].Held {
			t.Fatalf("Extend without the secret: %v %+v", err, res)
		}
	}
	wantState(t, b, task.ID, backend.StateProcessing)
	if err := b.Ack(ctxT(t), l.Ref(), nil); err != nil {
		t.Fatalf("Ack with the secret: %v", err)
	}
}

func testExtendWorker(t *testing.T, b backend.Backend) {
	clock := clockOf(b)
	enqueue(t, b, newTask())
	l := leaseFor(t, b, 1, time.Second)[0]
	res, err := b.Extend(ctxT(t), "someone-else", []backend.LeaseRef{l.Ref()}, time.Minute)
	if err != nil || res[0].Held {
		t.Fatalf("Extend by another worker: %v %+v, want not held", err, res)
	}
	if got := get(t, b, l.ID); !got.LeaseExpiresAt.Equal(l.LeaseExpiresAt) {
		t.Fatalf("another worker's Extend moved the lease to %v", got.LeaseExpiresAt)
	}
	res, err = b.Extend(ctxT(t), "w1", []backend.LeaseRef{l.Ref()}, time.Minute)
	if err != nil || !res[0].Held {
		t.Fatalf("Extend by the holder: %v %+v", err, res)
	}
	if got := get(t, b, l.ID); !got.LeaseExpiresAt.Equal(clock.Now().Add(time.Minute)) {
		t.Fatalf("extended lease expires at %v, want %v", got.LeaseExpiresAt, clock.Now().Add(time.Minute))
	}
	_, err = b.Extend(ctxT(t), "w1", []backend.LeaseRef{l.Ref()}, 0)
	wantErr(t, "Extend for 0", err, backend.ErrInvalid)
}

func testTypesFilter(t *testing.T, b backend.Backend) {
	a1, bb, a2 := newTask(withType("a")), newTask(withType("b")), newTask(withType("a"))
	enqueue(t, b, a1, bb, a2)
	got := leaseW(t, b, backend.LeaseRequest{WorkerID: "wb", Types: []string{"b"}, Max: 3})
	if len(got) != 1 || got[0].ID != bb.ID {
		t.Fatalf("a worker for b leased %v", ids(got))
	}
	got = leaseW(t, b, backend.LeaseRequest{WorkerID: "wa", Types: []string{"a", "z"}, Max: 3})
	if !slices.Equal(ids(got), []string{a1.ID, a2.ID}) {
		t.Fatalf("a worker for a leased %v, want %v in order", ids(got), []string{a1.ID, a2.ID})
	}
}

func testLeadership(t *testing.T, b backend.Backend) {
	clock := clockOf(b)
	l1, err := b.Lead(ctxT(t), "p1", 10*time.Second)
	if err != nil || !l1.Held || l1.Holder != "p1" || l1.Term == 0 || !l1.Until.Equal(clock.Now().Add(10*time.Second)) {
		t.Fatalf("first Lead: %v %+v", err, l1)
	}
	other, err := b.Lead(ctxT(t), "p2", 10*time.Second)
	if err != nil || other.Held || other.Holder != "p1" || other.Term != l1.Term {
		t.Fatalf("Lead while p1 holds it: %v %+v", err, other)
	}
	clock.Advance(5 * time.Second)
	renew, err := b.Lead(ctxT(t), "p1", 10*time.Second)
	if err != nil || !renew.Held || renew.Term != l1.Term || !renew.Until.Equal(clock.Now().Add(10*time.Second)) {
		t.Fatalf("renew: %v %+v", err, renew)
	}
	clock.Advance(10 * time.Second) // expired at the instant itself
	l2, err := b.Lead(ctxT(t), "p2", 10*time.Second)
	if err != nil || !l2.Held || l2.Holder != "p2" || l2.Term <= l1.Term {
		t.Fatalf("takeover after expiry: %v %+v (old term %d)", err, l2, l1.Term)
	}
	if err := b.Resign(ctxT(t), "p1", l1.Term); err != nil {
		t.Fatalf("Resign of a lost term: %v", err)
	}
	if again, _ := b.Lead(ctxT(t), "p1", time.Second); again.Held {
		t.Fatalf("a stale Resign freed p2's leadership")
	}
	if err := b.Resign(ctxT(t), "p2", l2.Term); err != nil {
		t.Fatal(err)
	}
	l3, err := b.Lead(ctxT(t), "p1", time.Second)
	if err != nil || !l3.Held || l3.Term <= l2.Term {
		t.Fatalf("Lead after resign: %v %+v", err, l3)
	}
	_, err = b.Lead(ctxT(t), "", time.Second)
	wantErr(t, "Lead without a holder", err, backend.ErrInvalid)
}

func testUpkeepFenced(t *testing.T, b backend.Backend) {
	clock := clockOf(b)
	l1, err := b.Lead(ctxT(t), "p1", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	due := newTask(runAt(task0Now().Add(time.Second)))
	enqueue(t, b, due)
	clock.Advance(10 * time.Second)
	l2, err := b.Lead(ctxT(t), "p2", 10*time.Second)
	if err != nil || !l2.Held {
		t.Fatalf("takeover: %v %+v", err, l2)
	}
	// The paused old leader wakes up and acts with its term: refused,
	// nothing changed.
	calls := map[string]func(term uint64) error{
		"Promote":      func(term uint64) error { _, err := b.Promote(ctxT(t), term); return err },
		"Reclaim":      func(term uint64) error { _, err := b.Reclaim(ctxT(t), term); return err },
		"Purge":        func(term uint64) error { _, err := b.Purge(ctxT(t), term, backend.StateCompleted, 0, 10); return err },
		"PruneHistory": func(term uint64) error { _, err := b.PruneHistory(ctxT(t), term, 0); return err },
		"ForgetQueues": func(term uint64) error { _, err := b.ForgetQueues(ctxT(t), term, 0); return err },
	}
	for name, call := range calls {
		wantErr(t, name+" with the old term", call(l1.Term), backend.ErrNotLeader)
		wantErr(t, name+" with a term never granted", call(l2.Term+7), backend.ErrNotLeader)
	}
	wantState(t, b, due.ID, backend.StateScheduled)
	for name, call := range calls {
		if err := call(l2.Term); err != nil {
			t.Fatalf("%s with the current term: %v", name, err)
		}
	}
	wantState(t, b, due.ID, backend.StatePending)
	if err := calls["Promote"](0); err != nil {
		t.Fatalf("Promote unfenced: %v", err)
	}
	clock.Advance(10 * time.Second)
	wantErr(t, "Promote with an expired term", calls["Promote"](l2.Term), backend.ErrNotLeader)
}

func testHistoryPruned(t *testing.T, b backend.Backend) {
	clock := clockOf(b)
	enqueue(t, b, newTask())
	l := leaseOne(t, b)
	if err := b.Ack(ctxT(t), l.Ref(), nil); err != nil {
		t.Fatal(err)
	}
	since := clock.Now().Add(-time.Hour)
	if h, err := b.History(ctxT(t), "", since); err != nil || len(h) != 1 {
		t.Fatalf("History: %v %+v", err, h)
	}
	clock.Advance(2 * time.Minute)
	if n, err := b.PruneHistory(ctxT(t), 0, time.Hour); err != nil || n != 0 {
		t.Fatalf("PruneHistory of nothing old: %d %v", n, err)
	}
	clock.Advance(backend.HistoryKeep)
	if n, err := b.PruneHistory(ctxT(t), 0, backend.HistoryKeep); err != nil || n != 1 {
		t.Fatalf("PruneHistory: %d %v, want 1", n, err)
	}
	if h, err := b.History(ctxT(t), "", since); err != nil || len(h) != 0 {
		t.Fatalf("History after pruning: %v %+v", err, h)
	}
}

func testQueueLifecycle(t *testing.T, b backend.Backend) {
	clock := clockOf(b)
	wantErr(t, "DeleteQueue unknown", b.DeleteQueue(ctxT(t), "nope"), backend.ErrNotFound)
	task := newTask(inQueue("q1"))
	enqueue(t, b, task)
	wantErr(t, "DeleteQueue with a task", b.DeleteQueue(ctxT(t), "q1"), backend.ErrNotEmpty)
	l := leaseOne(t, b, "q1")
	if err := b.Ack(ctxT(t), l.Ref(), nil); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "DeleteQueue with a final task", b.DeleteQueue(ctxT(t), "q1"), backend.ErrNotEmpty)
	if err := b.Delete(ctxT(t), task.ID); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteQueue(ctxT(t), "q1"); err != nil {
		t.Fatalf("DeleteQueue of an empty queue: %v", err)
	}
	if qs, _ := b.Queues(ctxT(t)); findQueue(qs, "q1") != nil {
		t.Fatalf("deleted queue still listed")
	}
	// ForgetQueues: empty, unpaused and unused for the given time.
	if err := b.ResumeQueue(ctxT(t), "idle"); err != nil {
		t.Fatal(err)
	}
	if err := b.PauseQueue(ctxT(t), "held"); err != nil {
		t.Fatal(err)
	}
	enqueue(t, b, newTask(inQueue("busy")))
	clock.Advance(time.Hour)
	if err := b.ResumeQueue(ctxT(t), "recent"); err != nil {
		t.Fatal(err)
	}
	n, err := b.ForgetQueues(ctxT(t), 0, time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("ForgetQueues: %d %v, want 1 (idle)", n, err)
	}
	qs, _ := b.Queues(ctxT(t))
	for name, want := range map[string]bool{"idle": false, "held": true, "busy": true, "recent": true} {
		if (findQueue(qs, name) != nil) != want {
			t.Fatalf("queue %s listed = %v, want %v", name, !want, want)
		}
	}
}

func testWorkerSecret(t *testing.T, b backend.Backend) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, err := b.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // pub/sub joins; the result does not depend on it
	w := backend.WorkerInfo{ID: "wk", Host: "h", PID: 1, Queues: []string{"default"}, Secret: "s1", StartedAt: clockOf(b).Now()}
	for range 3 {
		if _, err := b.Heartbeat(ctxT(t), w, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	impostor := w
	impostor.Secret = "s2"
	_, err = b.Heartbeat(ctxT(t), impostor, time.Minute)
	wantErr(t, "Heartbeat with another secret", err, backend.ErrWorkerTaken)
	wantErr(t, "Unregister with another secret", b.Unregister(ctxT(t), "wk", "s2"), backend.ErrWorkerTaken)
	ws, _ := b.Workers(ctxT(t))
	if len(ws) != 1 || ws[0].Secret != "" {
		t.Fatalf("Workers: %+v (secret must not show)", ws)
	}
	w.Running = []string{"x"}
	if _, err := b.Heartbeat(ctxT(t), w, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := b.Unregister(ctxT(t), "wk", "s1"); err != nil {
		t.Fatal(err)
	}
	// Registration, the change of Running, unregister: three events.
	var got []backend.WorkerInfo
	timeout := time.After(10 * time.Second)
	for len(got) < 3 {
		select {
		case e := <-events:
			if e.Kind == backend.EventWorkerUpdate {
				got = append(got, *e.Worker)
			}
		case <-timeout:
			t.Fatalf("worker events: %+v, want 3", got)
		}
	}
	if len(got[1].Running) != 1 || !got[2].Stopping || got[0].Secret+got[1].Secret+got[2].Secret != "" {
		t.Fatalf("worker events: %+v", got)
	}
	// After the unregister the id is free for another process.
	impostor.Running = nil
	if _, err := b.Heartbeat(ctxT(t), impostor, time.Minute); err != nil {
		t.Fatalf("Heartbeat of a new process after unregister: %v", err)
	}
	select {
	case e := <-events:
		if e.Kind != backend.EventWorkerUpdate || e.Worker.ID != "wk" {
			t.Fatalf("event after re-registration: %+v", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no event for the re-registration (and an identical heartbeat must have sent none before it)")
	}
}

// nextTaskEvents collects n task_update events.
func nextTaskEvents(t *testing.T, events <-chan backend.Event, n int) []string {
	t.Helper()
	var got []string
	timeout := time.After(10 * time.Second)
	for len(got) < n {
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatalf("event stream closed; got %v", got)
			}
			if e.Kind == backend.EventTaskUpdate {
				got = append(got, string(e.Task.State))
			}
		case <-timeout:
			t.Fatalf("task events: %v, want %d", got, n)
		}
	}
	return got
}

func testEventsEveryTransition(t *testing.T, b backend.Backend) {
	clock := clockOf(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, err := b.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // pub/sub joins; the result does not depend on it
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	task := newTask(withAttempts(1), runAt(task0Now().Add(time.Second)))
	enqueue(t, b, task) // scheduled
	clock.Advance(time.Second)
	l := leaseOne(t, b)                                                                 // pending (promoted), processing
	must("SetProgress", b.SetProgress(ctxT(t), l.Ref(), backend.Progress{Percent: 10})) // processing
	_, err = b.Extend(ctxT(t), "w1", []backend.LeaseRef{l.Ref()}, time.Second)          // none
	must("Extend", err)
	must("Release", b.Release(ctxT(t), l.Ref())) // pending
	leaseFor(t, b, 1, time.Second)               // processing
	clock.Advance(time.Second)
	_, err = b.Reclaim(ctxT(t), 0) // pending
	must("Reclaim", err)
	l = leaseOne(t, b)                                                  // processing
	must("Fail", b.Fail(ctxT(t), l.Ref(), backend.Failure{Error: "e"})) // failed
	_, err = b.Retry(ctxT(t), task.ID)                                  // pending
	must("Retry", err)
	_, err = b.Cancel(ctxT(t), task.ID) // canceled
	must("Cancel", err)
	must("Delete", b.Delete(ctxT(t), task.ID)) // deleted
	want := []string{"scheduled", "pending", "processing", "processing", "pending", "processing", "pending",
		"processing", "failed", "pending", "canceled", "deleted"}
	if got := nextTaskEvents(t, events, len(want)); !slices.Equal(got, want) {
		t.Fatalf("events:\n got %v\nwant %v", got, want)
	}
	// Ack too, and nothing more than asked for: a marker task's event
	// must be the next one.
	enqueue(t, b, newTask())
	l = leaseOne(t, b)
	must("Ack", b.Ack(ctxT(t), l.Ref(), nil))
	if got := nextTaskEvents(t, events, 3); !slices.Equal(got, []string{"pending", "processing", "completed"}) {
		t.Fatalf("events after the sequence: %v (an extra event was sent before)", got)
	}
}

func testResync(t *testing.T, b backend.Backend) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, err := b.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // pub/sub joins; the result does not depend on it
	// Far more events than any subscriber buffers, none read meanwhile.
	const n = 5000
	batch := make([]*backend.Task, 0, 500)
	for range n / 500 {
		batch = batch[:0]
		for range 500 {
			batch = append(batch, newTask())
		}
		enqueue(t, b, batch...)
	}
	// Once the reader catches up, the next event that finds room comes
	// after one resync. The backend may still be handing out the burst
	// while the reader drains it, so the reader can fall behind more
	// than once (a loaded machine): each time it owes one resync, never
	// two in a row. Markers are sent until one arrives; the pauses
	// between them pace the loop, they do not decide the result.
	markers := map[string]bool{}
	resyncs, seen := 0, 0
	lastResync := false
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		marker := newTask(inQueue("marker"))
		markers[marker.ID] = true
		enqueue(t, b, marker)
		pause := time.After(200 * time.Millisecond)
	read:
		for {
			select {
			case e := <-events:
				if e.Kind == backend.EventResync {
					if lastResync {
						t.Fatalf("two resyncs in a row after %d events (want one in place of each run of lost events)", seen)
					}
					resyncs++
					lastResync = true
					continue
				}
				seen++
				lastResync = false
				if e.Task != nil && markers[e.Task.ID] {
					if resyncs == 0 || seen >= n {
						t.Fatalf("after overflow: %d resyncs, %d events (want a resync in place of the lost ones)", resyncs, seen)
					}
					return
				}
			case <-pause:
				break read
			}
		}
	}
	t.Fatalf("no marker event came after the overflow (%d resyncs, %d events)", resyncs, seen)
}

func testCanceledContext(t *testing.T, b backend.Backend) {
	task := newTask()
	enqueue(t, b, task)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.Enqueue(ctx, []*backend.Task{newTask()}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Enqueue on a canceled ctx: %v", err)
	}
	if _, err := b.Cancel(ctx, task.ID); !errors.Is(err, context.Canceled) {
		t.Fatalf("Cancel on a canceled ctx: %v", err)
	}
	if got, err := b.Lease(ctx, backend.LeaseRequest{WorkerID: "w", Queues: []string{"default"}, Max: 1, LeaseFor: time.Minute}); err == nil && len(got) > 0 {
		t.Fatalf("Lease on a canceled ctx leased %v", ids(got))
	}
	wantState(t, b, task.ID, backend.StatePending)
	page, err := b.List(ctxT(t), backend.Filter{})
	if err != nil || len(page.Tasks) != 1 {
		t.Fatalf("after calls on a canceled ctx: %d tasks (%v), want the one", len(page.Tasks), err)
	}
	// A Lease that waits returns when its ctx ends, not when its wait does.
	wctx, wcancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer wcancel()
	start := time.Now()
	if _, err := b.Lease(wctx, backend.LeaseRequest{WorkerID: "w", Queues: []string{"empty"}, Max: 1, LeaseFor: time.Minute, Wait: time.Minute}); err != nil &&
		!errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting Lease: %v", err)
	}
	if el := time.Since(start); el > 20*time.Second {
		t.Fatalf("waiting Lease returned %v after its ctx ended", el)
	}
}

func testListLimits(t *testing.T, b backend.Backend) {
	var all []*backend.Task
	for range 4 {
		batch := make([]*backend.Task, 300)
		for i := range batch {
			batch[i] = newTask()
		}
		enqueue(t, b, batch...)
		all = append(all, batch...)
	}
	for _, c := range []struct{ limit, want int }{{0, 50}, {-3, 50}, {7, 7}, {5000, 1000}} {
		page, err := b.List(ctxT(t), backend.Filter{Limit: c.limit})
		if err != nil || len(page.Tasks) != c.want || page.NextCursor == "" {
			t.Fatalf("List limit %d: %d tasks, cursor %q, %v; want %d and a cursor", c.limit, len(page.Tasks), page.NextCursor, err, c.want)
		}
	}
	// Walking the pages gives every task once, newest first.
	var seen []string
	f := backend.Filter{Limit: 500}
	for {
		page, err := b.List(ctxT(t), f)
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, ids(page.Tasks)...)
		if page.NextCursor == "" {
			break
		}
		f.Cursor = page.NextCursor
	}
	if len(seen) != len(all) || !slices.IsSortedFunc(seen, func(a, b string) int { return -cmpStrings(a, b) }) {
		t.Fatalf("paging saw %d of %d tasks, sorted newest first: %v", len(seen), len(all), slices.IsSortedFunc(seen, func(a, b string) int { return -cmpStrings(a, b) }))
	}
	for _, bad := range []string{"!!", "bm90LWEtY3Vyc29y", "AAAA"} {
		_, err := b.List(ctxT(t), backend.Filter{Cursor: bad})
		wantErr(t, "List with cursor "+bad, err, backend.ErrBadCursor)
	}
}

func cmpStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func testNow(t *testing.T, b backend.Backend) {
	clock := clockOf(b)
	clock.Advance(90 * time.Minute)
	got, err := b.Now(ctxT(t))
	if err != nil || !got.Equal(clock.Now()) {
		t.Fatalf("Now = %v, %v; want the test clock's %v", got, err, clock.Now())
	}
}

func testClosed(t *testing.T, b backend.Backend) {
	task := newTask()
	enqueue(t, b, task)
	l := leaseOne(t, b)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	ctx := ctxT(t)
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, backend.ErrClosed) {
			t.Fatalf("%s after Close: %v, want ErrClosed", what, err)
		}
	}
	_, err := b.Enqueue(ctx, []*backend.Task{newTask()})
	check("Enqueue", err)
	_, err = b.Lease(ctx, backend.LeaseRequest{WorkerID: "w", Queues: []string{"default"}, Max: 1, LeaseFor: time.Minute})
	check("Lease", err)
	_, err = b.Extend(ctx, "w1", []backend.LeaseRef{l.Ref()}, time.Minute)
	check("Extend", err)
	check("Ack", b.Ack(ctx, l.Ref(), json.RawMessage(`1`)))
	check("Fail", b.Fail(ctx, l.Ref(), backend.Failure{Error: "e"}))
	check("Release", b.Release(ctx, l.Ref()))
	_, err = b.Cancel(ctx, task.ID)
	check("Cancel", err)
	_, err = b.Get(ctx, task.ID)
	check("Get", err)
	_, err = b.List(ctx, backend.Filter{})
	check("List", err)
	_, err = b.Queues(ctx)
	check("Queues", err)
	_, err = b.Reclaim(ctx, 0)
	check("Reclaim", err)
	_, err = b.Promote(ctx, 0)
	check("Promote", err)
	_, err = b.Heartbeat(ctx, backend.WorkerInfo{ID: "w"}, time.Minute)
	check("Heartbeat", err)
	_, err = b.Lead(ctx, "p", time.Minute)
	check("Lead", err)
	_, err = b.Now(ctx)
	check("Now", err)
	check("Ping", b.Ping(ctx))
}
