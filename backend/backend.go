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
//
// Methods are safe for concurrent use by many goroutines and, for shared
// backends such as Redis, by many processes.
type Backend interface {
	// Enqueue stores new tasks. The caller fills in every field of each
	// task (ID, State pending or scheduled, CreatedAt, RunAt …). A task
	// whose UniqueKey is held by another task inside its window is not
	// stored; its result carries the holder's ID and Duplicate set. The
	// others are stored together: all of them, or none when err != nil.
	Enqueue(ctx context.Context, tasks []*Task) ([]EnqueueResult, error)

	// Lease hands out up to req.Max pending tasks, taking from req.Queues
	// in the order given (paused queues skipped), highest priority first
	// and FIFO within a priority. Each leased task is processing, its
	// attempt counted, and carries a fresh LeaseToken. Due scheduled and
	// retrying tasks are promoted first. When nothing is ready and
	// req.Wait > 0, Lease blocks until work arrives, req.Wait passes or
	// ctx ends, and then returns what it has (possibly nothing).
	Lease(ctx context.Context, req LeaseRequest) ([]*Task, error)

	// Extend pushes the lease expiry of tasks the worker holds to
	// now+leaseFor and reports, per task, whether the lease is still held.
	Extend(ctx context.Context, workerID string, leases []LeaseRef, leaseFor time.Duration) ([]ExtendResult, error)

	// Ack completes a task with its result. ErrLeaseLost when the token is
	// not the current lease (the task was reclaimed, canceled or finished).
	Ack(ctx context.Context, lease LeaseRef, result json.RawMessage) error

	// Fail records a failed attempt. The task becomes retrying at
	// f.RetryAt when f.Retries says so (attempts left, f.Final false, the
	// retry before the task's deadline), otherwise failed (the dead-letter
	// queue). ErrLeaseLost as for Ack.
	Fail(ctx context.Context, lease LeaseRef, f Failure) error

	// Release hands a leased task back to pending without counting the
	// attempt (graceful shutdown). ErrLeaseLost as for Ack.
	Release(ctx context.Context, lease LeaseRef) error

	// SetProgress stores a running task's progress. ErrLeaseLost as for Ack.
	SetProgress(ctx context.Context, lease LeaseRef, p Progress) error

	// Cancel moves a task that is not final to canceled and returns it.
	// A processing task's lease is void from then on; its worker learns
	// it at its next Extend. ErrFinal when the task is already final.
	Cancel(ctx context.Context, id string) (*Task, error)

	// Retry moves a failed or canceled task back to pending with a fresh
	// set of attempts, keeping its attempt history. ErrNotFinal otherwise.
	Retry(ctx context.Context, id string) (*Task, error)

	// Delete removes a final task. ErrNotFinal when it is not final.
	Delete(ctx context.Context, id string) error

	// Purge deletes up to max tasks that are in the final state s and
	// finished before the given time, oldest first, and reports how many
	// it deleted. Retention runs it so that the store does not grow
	// without bound. Like Delete it frees the tasks' unique keys; it sends
	// no event per task (a queue_update per queue it touched instead). A
	// state that is not final is an error.
	Purge(ctx context.Context, s State, before time.Time, max int) (int, error)

	// Reclaim returns tasks whose lease expired before now to pending (or
	// to failed when that was their last attempt) and reports how many.
	Reclaim(ctx context.Context, now time.Time) (int, error)

	// Get returns one task, or ErrNotFound.
	Get(ctx context.Context, id string) (*Task, error)

	// List returns tasks matching f, newest first (by ID), one page at a
	// time. An empty NextCursor means the last page.
	List(ctx context.Context, f Filter) (Page, error)

	// Queues returns every known queue with its counts per state.
	Queues(ctx context.Context) ([]QueueInfo, error)

	// PauseQueue stops Lease from taking tasks from the queue;
	// ResumeQueue lets it again. Submits to a paused queue still succeed.
	PauseQueue(ctx context.Context, queue string) error
	ResumeQueue(ctx context.Context, queue string) error

	// History returns per-minute counts of finished tasks since the given
	// time, oldest first; queue "" means all queues.
	History(ctx context.Context, queue string, since time.Time) ([]HistoryBucket, error)

	// Heartbeat registers or refreshes a worker for ttl. The reply says
	// whether someone asked the worker to stop.
	Heartbeat(ctx context.Context, w WorkerInfo, ttl time.Duration) (HeartbeatReply, error)
	// Unregister removes a worker from the registry.
	Unregister(ctx context.Context, workerID string) error
	// Workers lists the live workers (those whose heartbeat has not run out).
	Workers(ctx context.Context) ([]WorkerInfo, error)
	// RequestStop asks a worker to drain and stop; it sees the request at
	// its next heartbeat. ErrNotFound when no such worker is alive.
	RequestStop(ctx context.Context, workerID string) error

	// Subscribe streams events of every transition, from every process
	// sharing the backend, until ctx ends. A subscriber that falls behind
	// loses events and receives one EventResync in their place.
	Subscribe(ctx context.Context) (<-chan Event, error)

	// Ping reports whether the backend is reachable.
	Ping(ctx context.Context) error
	// Close releases the backend's resources.
	Close() error
}

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
	Queues   []string      // in the order to take from
	Max      int           // at most this many tasks; at least 1
	LeaseFor time.Duration // lease duration
	Wait     time.Duration // how long to block when nothing is ready
}

// LeaseRef names one lease: the task and the fencing token it was leased with.
type LeaseRef struct {
	TaskID string `json:"task_id"`
	Token  uint64 `json:"token"`
}

// Ref returns the lease reference of a leased task.
func (t *Task) Ref() LeaseRef { return LeaseRef{TaskID: t.ID, Token: t.LeaseToken} }

// ExtendResult says whether one lease survived an Extend.
type ExtendResult struct {
	TaskID string
	// Held is false when the lease is gone: the task was canceled,
	// reclaimed after expiry, or deleted. The worker must stop the handler
	// and must not report a result.
	Held bool
	// Canceled is true when the lease is gone because the task was canceled.
	Canceled bool
}

// Failure describes a failed attempt.
type Failure struct {
	Error   string
	RetryAt time.Time // when to run again if attempts are left
	Final   bool      // do not retry whatever attempts are left
}

// Retries reports whether Fail with f sends t — the task as leased, its
// attempt counted — to retrying rather than failed: attempts are left, f
// is not final, and the retry comes before t's deadline. Backends follow
// this rule, and callers use it to know the outcome without reading the
// task back.
func (f Failure) Retries(t *Task) bool {
	return !f.Final && t.Attempt < t.MaxAttempts && (t.Deadline.IsZero() || f.RetryAt.Before(t.Deadline))
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
	// OldestPendingAt is when the oldest pending task became ready.
	OldestPendingAt time.Time `json:"oldest_pending_at,omitzero"`
}

// HistoryBucket counts tasks that finished in one minute.
type HistoryBucket struct {
	Minute    time.Time `json:"minute"`
	Completed int       `json:"completed"`
	Failed    int       `json:"failed"` // attempts that failed, retried or not
}

// WorkerInfo describes a worker process in the registry.
type WorkerInfo struct {
	ID            string    `json:"id"`
	Host          string    `json:"host"`
	PID           int       `json:"pid"`
	Queues        []string  `json:"queues"`
	Types         []string  `json:"types,omitempty"` // task types it can run
	Concurrency   int       `json:"concurrency"`
	Running       []string  `json:"running"` // ids of tasks it is running
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
