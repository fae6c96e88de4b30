package backend

import (
	"context"
	"encoding/json"
	"time"
)

// Backend stores tasks and moves them through the state machine. Every
// method is one atomic transition or one consistent read: a method that
// returns an error has changed nothing, and a method that returns nil has
// made its change as durable as the backend promises (the embedded backend
// fsyncs before returning; Redis is as durable as it is configured).
// Where a backend cannot know whether a change was made (a command was
// sent and the connection broke, or ctx ended while it was on the wire),
// its method's doc comment says so, and an error for a ctx that ended then
// wraps ErrUnknownOutcome.
//
// Methods are safe for concurrent use by many goroutines and, for shared
// backends such as Redis, by many processes. Every method returns when its
// ctx ends (with ctx.Err(), nothing changed unless said otherwise), and
// after Close every method returns an error wrapping ErrClosed.
//
// One clock decides: the backend's (see Now). Every time the backend
// stores — creation, run-at made absolute, lease expiry, retry time,
// finish time, progress time, worker and leader expiry — comes from it,
// never from the caller's host.
//
// The rules are written once, executable, in the reference model
// (package backend/model); its package documentation decides every detail
// these comments leave open, and backendtest.Differential checks a backend
// against it.
type Backend interface {
	// Enqueue stores new tasks. The caller fills in each task's ID (unique
	// in the whole system, every queue), Type, Queue, Priority (0 ..
	// MaxPriority), MaxAttempts (at least 1), State (pending, or
	// scheduled with a RunAt) and the optional fields.
	//
	// Times: the backend sets CreatedAt to its own now. RunAt and
	// UniqueUntil are read relative to the CreatedAt the caller gave (the
	// caller's clock): the backend moves both by (its now − the caller's
	// CreatedAt), so a delay or a window means the same span on the
	// backend's clock whatever the caller's host clock says. With a zero
	// CreatedAt they are taken as absolute backend times. Deadline is an
	// absolute instant, stored as given.
	//
	// A task whose (Queue, UniqueKey) is held by another task inside that
	// task's window (now < holder's UniqueUntil, and the holder not
	// canceled) is not stored; its result carries the holder's ID and
	// Duplicate set. Within one call the first task with a key holds it
	// for the later ones. A task that is completed or failed keeps its key
	// until UniqueUntil; a canceled, deleted or purged one frees it.
	//
	// The others are stored together: all of them, or none when err !=
	// nil. The whole call fails, nothing stored, with ErrDuplicate when an
	// ID exists already (in any queue, or twice in the call) and with
	// ErrInvalid when a task is malformed (empty ID, Type or Queue, a
	// priority outside 0..MaxPriority, MaxAttempts < 1, a state other than
	// pending or scheduled, scheduled without RunAt).
	Enqueue(ctx context.Context, tasks []*Task) ([]EnqueueResult, error)

	// Lease hands out up to req.Max pending tasks. First it promotes the
	// due scheduled and retrying tasks of every queue in req.Queues (as
	// Promote, unfenced). Then it takes from req.Queues in the order
	// given, paused queues skipped, highest priority first and, within a
	// priority, in line order (see Promote, Release, Reclaim, Retry for
	// where a task joins the line). When req.Types is not empty only tasks
	// of those types are taken; the others keep their place. A task whose
	// Deadline has passed is failed ("deadline exceeded before the task
	// could start") instead of leased.
	//
	// Each leased task is processing, its Attempt counted, with a fresh
	// LeaseToken (larger than any token the task had before), a fresh
	// LeaseSecret, WorkerID req.WorkerID, StartedAt now,
	// LeaseExpiresAt now+req.LeaseFor, Progress cleared and a new entry in
	// Attempts. Only tasks returned by Lease carry LeaseSecret.
	//
	// When nothing is ready and req.Wait > 0, Lease blocks until work
	// arrives, req.Wait passes or ctx ends, and then returns what it has
	// (possibly nothing, and a nil error when ctx ended while it waited).
	// ErrInvalid when req.LeaseFor <= 0.
	Lease(ctx context.Context, req LeaseRequest) ([]*Task, error)

	// Extend pushes the lease expiry of tasks the worker holds to
	// now+leaseFor and reports, per lease in the order given, whether it
	// is still held: the task is processing under exactly that TaskID,
	// Token and Secret, by workerID. A lease past its expiry that no
	// Reclaim has taken yet is still held. Extend sends no event.
	// ErrInvalid when leaseFor <= 0.
	Extend(ctx context.Context, workerID string, leases []LeaseRef, leaseFor time.Duration) ([]ExtendResult, error)

	// Ack completes a task with its result: FinishedAt now, LeaseLosses 0,
	// Progress (if any) at 100 percent. ErrLeaseLost when lease is not the
	// task's current lease (TaskID, Token and Secret all match a
	// processing task) — the task was reclaimed, canceled, finished or
	// deleted since.
	Ack(ctx context.Context, lease LeaseRef, result json.RawMessage) error

	// Fail records a failed attempt and resets LeaseLosses to 0. The task
	// becomes retrying at now+f.RetryIn when f.Retries(task, now) says so
	// (attempts left, f.Final false, the retry before the task's
	// deadline), otherwise failed (the dead-letter queue). A retrying task
	// joins the back of its priority when it is promoted. ErrLeaseLost as
	// for Ack.
	Fail(ctx context.Context, lease LeaseRef, f Failure) error

	// Release hands a leased task back to pending without spending the
	// attempt (graceful shutdown): the attempt is recorded with outcome
	// "released", Attempt goes back by one, and the task goes to the FRONT
	// of its priority, ahead of every pending task of that priority.
	// ErrLeaseLost as for Ack.
	Release(ctx context.Context, lease LeaseRef) error

	// SetProgress stores a running task's progress, its At set to the
	// backend's now. ErrLeaseLost as for Ack.
	SetProgress(ctx context.Context, lease LeaseRef, p Progress) error

	// Cancel moves a pending, scheduled, retrying or processing task to
	// canceled (FinishedAt now) and returns it. A processing task's lease
	// is void from then on (its attempt recorded as "canceled"); its
	// worker learns it at its next Extend. ErrFinal when the task is
	// already final, ErrNotFound when there is no such task.
	Cancel(ctx context.Context, id string) (*Task, error)

	// Retry moves a failed or canceled task back to pending at the BACK of
	// its priority with a fresh set of attempts (Attempt and LeaseLosses
	// 0), keeping its attempt history and LastError; Result, Progress,
	// RunAt and FinishedAt are cleared, and a Deadline already passed is
	// dropped (a manual retry is a fresh start). ErrNotFinal for any other
	// state (completed included: callers say so plainly).
	Retry(ctx context.Context, id string) (*Task, error)

	// Delete removes a final task (completed, failed or canceled) and
	// frees its unique key. ErrNotFinal when it is not final.
	Delete(ctx context.Context, id string) error

	// Purge deletes up to max tasks that are in the final state s and
	// finished more than olderThan ago (FinishedAt < now−olderThan),
	// oldest first (by FinishedAt, then ID), and reports how many it
	// deleted. Retention runs it so that the store does not grow without
	// bound. Like Delete it frees the tasks' unique keys; it sends no
	// event per task but one queue_update per queue it touched. A state
	// that is not final is ErrInvalid. Fenced by term (see Lead).
	Purge(ctx context.Context, term uint64, s State, olderThan time.Duration, max int) (int, error)

	// Reclaim takes back every lease that has expired (LeaseExpiresAt <=
	// now) and reports how many. Crash is not failure: the attempt is
	// recorded with outcome "lease_expired" and not spent (Attempt goes
	// back by one), LeaseLosses grows by one, and the task goes to the
	// FRONT of its priority in pending — unless LeaseLosses reaches the
	// backend's MaxLeaseLosses, then it is failed ("lease expired N times
	// in a row"). It also removes workers whose heartbeat ran out. It
	// never promotes. Fenced by term (see Lead).
	Reclaim(ctx context.Context, term uint64) (int, error)

	// Promote moves every scheduled and retrying task that is due (RunAt
	// <= now) of every queue to pending and reports how many. Promoted
	// tasks join the BACK of their priority, ordered among themselves by
	// RunAt then ID. Fenced by term (see Lead).
	Promote(ctx context.Context, term uint64) (int, error)

	// Get returns one task, or ErrNotFound. LeaseSecret is never set.
	Get(ctx context.Context, id string) (*Task, error)

	// List returns tasks matching f, newest first (by ID), one page at a
	// time. Limit <= 0 means 50; more than 1000 means 1000. An empty
	// NextCursor means the last page; a page may be short (even empty)
	// with a NextCursor when the backend bounds its scan. A cursor the
	// backend did not make is ErrBadCursor. LeaseSecret is never set.
	List(ctx context.Context, f Filter) (Page, error)

	// Queues returns every known queue, by name, with its counts per
	// state. A queue becomes known at its first Enqueue, PauseQueue or
	// ResumeQueue, and stops being known by DeleteQueue or ForgetQueues.
	Queues(ctx context.Context) ([]QueueInfo, error)

	// PauseQueue stops Lease from taking tasks from the queue;
	// ResumeQueue lets it again. Submits to a paused queue still succeed.
	// Each sends one queue_update, and counts as a use of the queue.
	// ErrInvalid for an empty name.
	PauseQueue(ctx context.Context, queue string) error
	ResumeQueue(ctx context.Context, queue string) error

	// DeleteQueue forgets a queue that holds no tasks (in any state, final
	// included) and sends one queue_update. ErrNotEmpty when it holds
	// tasks, ErrNotFound when the queue is not known.
	DeleteQueue(ctx context.Context, name string) error

	// ForgetQueues forgets every queue that holds no tasks, is not paused,
	// and saw no Enqueue, Lease taking from it, pause or resume for
	// unusedFor, and reports how many; one queue_update per queue. Upkeep
	// cost follows the tasks that exist, not every queue name ever used.
	// Fenced by term (see Lead).
	ForgetQueues(ctx context.Context, term uint64, unusedFor time.Duration) (int, error)

	// History returns per-minute counts of finished attempts since the
	// given time (buckets whose minute >= since truncated to the minute),
	// oldest first; queue "" means all queues summed.
	History(ctx context.Context, queue string, since time.Time) ([]HistoryBucket, error)

	// PruneHistory removes the per-minute buckets whose minute is older
	// than now−olderThan and reports how many (queue, minute) buckets it
	// removed. Backends never prune on their own; the leader runs it with
	// HistoryKeep by default. Fenced by term (see Lead).
	PruneHistory(ctx context.Context, term uint64, olderThan time.Duration) (int, error)

	// Heartbeat registers or refreshes a worker for ttl (LastHeartbeat
	// now). A live worker (heartbeat not run out) with the same ID and a
	// different Secret is another process: ErrWorkerTaken, nothing
	// changed. A worker_update is sent on registration and on any change
	// of the worker's info other than LastHeartbeat; an identical
	// heartbeat sends none. The reply says whether someone asked the
	// worker to stop. ErrInvalid for an empty ID or ttl <= 0.
	Heartbeat(ctx context.Context, w WorkerInfo, ttl time.Duration) (HeartbeatReply, error)
	// Unregister removes a worker from the registry and sends a
	// worker_update (Stopping set). ErrWorkerTaken when a live worker of
	// that ID has another secret; nil when there is no such worker.
	Unregister(ctx context.Context, workerID, secret string) error
	// Workers lists the live workers (those whose heartbeat has not run
	// out), by ID, without their Secret.
	Workers(ctx context.Context) ([]WorkerInfo, error)
	// RequestStop asks a worker to drain and stop; it sees the request at
	// its next heartbeat. ErrNotFound when no such worker is alive. A
	// worker_update is sent when the request is new.
	RequestStop(ctx context.Context, workerID string) error

	// Lead acquires upkeep leadership for holder when it is free or has
	// expired (a strictly larger Term than any before, Until now+ttl),
	// renews it (same Term, Until now+ttl) when holder holds it unexpired,
	// and otherwise reports the current leadership with Held false. Terms
	// fence the upkeep calls (Promote, Reclaim, Purge, PruneHistory,
	// ForgetQueues): a term other than the current unexpired leadership's
	// fails them with ErrNotLeader, nothing changed; term 0 means
	// unfenced (tests and single-process use). ErrInvalid for an empty
	// holder or ttl <= 0.
	Lead(ctx context.Context, holder string, ttl time.Duration) (Leadership, error)
	// Resign gives up leadership if holder holds it under term, so that
	// another process can take over at once. Resigning a leadership not
	// held (expired, or someone else's) does nothing and returns nil.
	Resign(ctx context.Context, holder string, term uint64) error

	// Now returns the backend's clock: the time every stored time comes
	// from.
	Now(ctx context.Context) (time.Time, error)

	// Subscribe streams events of every transition, from every process
	// sharing the backend, until ctx ends (then the channel is closed).
	// Each transition of a task sends exactly one task_update: enqueue,
	// lease, progress, ack, fail, release, cancel, retry, reclaim,
	// promote, a deadline failure at lease, and delete (State "deleted").
	// Extend and Purge send none (Purge sends queue_update per queue).
	// Pause, resume, DeleteQueue and ForgetQueues send queue_update. A
	// subscriber that falls behind loses events and receives one
	// EventResync in their place before the next event it gets.
	Subscribe(ctx context.Context) (<-chan Event, error)

	// Ping reports whether the backend is reachable.
	Ping(ctx context.Context) error
	// Close releases the backend's resources. Every call after Close
	// returns an error wrapping ErrClosed; Close itself is idempotent.
	Close() error
}

// HistoryKeep is how long the leader keeps per-minute history by default
// (the age it gives PruneHistory).
const HistoryKeep = 7 * 24 * time.Hour

// DefaultMaxLeaseLosses is how many lease expiries in a row send a task to
// the dead-letter queue when a backend's option leaves it unset.
const DefaultMaxLeaseLosses = 3

// Clock is where a backend made for tests takes its time from. Production
// backends use the store's own clock (the process for embedded, the
// server's TIME for Redis, now() for PostgreSQL).
type Clock interface {
	Now() time.Time
}

// SystemClock is the process's own clock, in UTC.
type SystemClock struct{}

// Now returns time.Now in UTC.
func (SystemClock) Now() time.Time { return time.Now().UTC() }

// CancelWatcher is an optional interface of backends that can stream
// cancellations alone. Workers need only those; on a shared broker the
// full event stream of a busy system would cost every worker process CPU
// to receive and decode. A worker uses it when its backend has it, and
// Subscribe otherwise.
type CancelWatcher interface {
	// WatchCancels streams the ids of tasks canceled by any process until
	// ctx ends. Ids are dropped when the receiver falls far behind; a
	// worker still learns of the cancellation at its next Extend.
	WatchCancels(ctx context.Context) (<-chan string, error)
}

// EnqueueResult is the outcome of enqueuing one task.
type EnqueueResult struct {
	ID        string // the new task, or the holder of its unique key
	Duplicate bool   // true when nothing was stored because of the unique key
}

// LeaseRequest says what a worker wants to lease.
type LeaseRequest struct {
	WorkerID string
	Queues   []string // in the order to take from
	// Types, when not empty, limits Lease to tasks of these types; tasks
	// of other types keep their place for a worker that can run them.
	Types    []string
	Max      int           // at most this many tasks; less than 1 means 1
	LeaseFor time.Duration // lease duration; must be > 0
	Wait     time.Duration // how long to block when nothing is ready
}

// LeaseRef names one lease: the task, the fencing token it was leased
// with, and the lease's secret. All three must match for a lease-bound
// call (Extend, Ack, Fail, Release, SetProgress) to act.
type LeaseRef struct {
	TaskID string `json:"task_id"`
	// Token is the fencing counter: larger for every new lease of a task.
	Token uint64 `json:"token"`
	// Secret is a random 128-bit value in hex, made by the backend at
	// each lease: a token can be guessed, the secret cannot.
	Secret string `json:"secret"`
}

// Ref returns the lease reference of a leased task.
func (t *Task) Ref() LeaseRef {
	return LeaseRef{TaskID: t.ID, Token: t.LeaseToken, Secret: t.LeaseSecret}
}

// ExtendResult says whether one lease survived an Extend.
type ExtendResult struct {
	TaskID string
	// Held is false when the lease is gone: the task was canceled,
	// reclaimed after expiry, finished or deleted, or the lease names
	// another token, secret or worker. The worker must stop the handler
	// and must not report a result.
	Held bool
	// Canceled is true when the task is canceled.
	Canceled bool
}

// Failure describes a failed attempt.
type Failure struct {
	Error string
	// RetryIn is how long after the backend's now to run again if the
	// task retries; zero or less means at once (at the next promotion).
	RetryIn time.Duration
	Final   bool // do not retry whatever attempts are left
}

// Retries reports whether Fail with f at backend time now sends t — the
// task as leased, its attempt counted — to retrying rather than failed:
// f is not final, attempts are left (Attempt < MaxAttempts), and the
// retry time now+RetryIn comes before t's deadline. Backends follow this
// rule, and callers use it (with their best idea of now) to know the
// outcome without reading the task back.
func (f Failure) Retries(t *Task, now time.Time) bool {
	return !f.Final && t.Attempt < t.MaxAttempts &&
		(t.Deadline.IsZero() || now.Add(max(f.RetryIn, 0)).Before(t.Deadline))
}

// Leadership is the state of upkeep leadership as Lead reports it.
type Leadership struct {
	Holder string    // who holds it; "" when nobody does
	Term   uint64    // the holder's fencing term
	Held   bool      // true when the caller of Lead holds it now
	Until  time.Time // when it expires unless renewed
}

// Filter selects tasks for List. Empty fields match everything.
type Filter struct {
	State  State
	Queue  string
	Type   string
	Query  string // substring of the ID, the type or the payload
	Cursor string // from Page.NextCursor
	Limit  int    // page size; the backend caps it (default 50, at most 1000)
}

// Page is one page of List.
type Page struct {
	Tasks      []*Task `json:"tasks"`
	NextCursor string  `json:"next_cursor,omitempty"`
}

// QueueInfo describes one queue.
type QueueInfo struct {
	Name   string        `json:"name"`
	Paused bool          `json:"paused"`
	Counts map[State]int `json:"counts"`
	// OldestPendingAt is when the oldest pending task became ready. It
	// is informational: a backend may approximate it.
	OldestPendingAt time.Time `json:"oldest_pending_at,omitzero"`
}

// HistoryBucket counts attempts that finished in one minute.
type HistoryBucket struct {
	Minute    time.Time `json:"minute"`
	Completed int       `json:"completed"`
	// Failed counts attempts that failed, retried or not, and leases
	// that expired.
	Failed int `json:"failed"`
}

// WorkerInfo describes a worker process in the registry.
type WorkerInfo struct {
	ID          string   `json:"id"`
	Host        string   `json:"host"`
	PID         int      `json:"pid"`
	Queues      []string `json:"queues"`
	Types       []string `json:"types,omitempty"` // task types it can run
	Concurrency int      `json:"concurrency"`
	Running     []string `json:"running"` // ids of tasks it is running
	// Secret binds the worker ID to the process that registered it: a
	// heartbeat or unregister with another secret is refused while the
	// worker lives. Backends never return it (Workers, events).
	Secret        string    `json:"secret,omitempty"`
	StartedAt     time.Time `json:"started_at"`
	LastHeartbeat time.Time `json:"last_heartbeat"`
	Stopping      bool      `json:"stopping"`
}

// HeartbeatReply is the backend's answer to a heartbeat.
type HeartbeatReply struct {
	StopRequested bool
}

// Event kinds.
const (
	EventTaskUpdate   = "task_update"
	EventQueueUpdate  = "queue_update"
	EventWorkerUpdate = "worker_update"
	EventResync       = "resync" // events were dropped; reload state
)

// StateDeleted is the State a task_update event carries when the task was
// deleted. It is never a stored task's state.
const StateDeleted State = "deleted"

// Event is one change, as streamed by Subscribe and the WebSocket API.
type Event struct {
	Kind   string      `json:"kind"`
	Task   *TaskEvent  `json:"task,omitempty"`
	Queue  string      `json:"queue,omitempty"`
	Worker *WorkerInfo `json:"worker,omitempty"`
	At     time.Time   `json:"at"`
}

// TaskEvent is the part of a task an update carries: enough for a live
// view, without the payload.
type TaskEvent struct {
	ID       string          `json:"id"`
	Type     string          `json:"type"`
	Queue    string          `json:"queue"`
	State    State           `json:"state"`
	Attempt  int             `json:"attempt"`
	Progress *Progress       `json:"progress,omitempty"`
	Result   json.RawMessage `json:"result,omitempty"`
	Error    string          `json:"error,omitempty"`
	WorkerID string          `json:"worker_id,omitempty"`
}

// EventOf builds the task_update event for t.
func EventOf(t *Task, at time.Time) Event {
	e := &TaskEvent{ID: t.ID, Type: t.Type, Queue: t.Queue, State: t.State, Attempt: t.Attempt,
		Result: t.Result, Error: t.LastError, WorkerID: t.WorkerID}
	if t.Progress != nil {
		p := *t.Progress
		e.Progress = &p
	}
	return Event{Kind: EventTaskUpdate, Task: e, Queue: t.Queue, At: at}
}
