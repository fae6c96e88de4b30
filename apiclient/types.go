package apiclient

import (
	"encoding/json"
	"time"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/backend"
)

// The JSON shapes of the HTTP API. The server encodes and decodes these
// very types and its OpenAPI document is generated from them, so a client
// built on them cannot drift from the server.

// Task is a task as the API shows it: the stored record without the lease
// token, which only the worker holding the lease sees.
type Task = backend.Task

// TaskRequest is the body of POST /api/tasks.
type TaskRequest = taskmill.TaskRequest

// TaskList is one page of GET /api/tasks, newest first.
type TaskList = backend.Page

// Event is one message of the GET /api/events WebSocket.
type Event = backend.Event

// WorkerInfo describes a live worker.
type WorkerInfo = backend.WorkerInfo

// HistoryBucket counts the attempts that finished in one bucket of time.
type HistoryBucket = backend.HistoryBucket

// ErrorBody is the body of every error answer.
type ErrorBody struct {
	Error *Error `json:"error"`
}

// Error is an API error: Code is stable for scripts to branch on (the
// table in docs/api.md), Field names the offending input, Message is for
// people. Status is the HTTP status it came with.
type Error struct {
	Status     int    `json:"-"`
	Code       string `json:"code"`
	Message    string `json:"message"`
	Field      string `json:"field,omitempty"`
	ExistingID string `json:"existing_id,omitempty"`
}

func (e *Error) Error() string {
	msg := e.Code
	if e.Field != "" {
		msg += " (" + e.Field + ")"
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// BatchRequest is the body of POST /api/tasks/batch.
type BatchRequest struct {
	Tasks []TaskRequest `json:"tasks"`
}

// BatchResult answers a batch: one entry per task, in order. A task
// refused for its unique key is not stored and carries the holder's id.
type BatchResult struct {
	Results []BatchItem `json:"results"`
}

// BatchItem is the outcome of one task of a batch.
type BatchItem struct {
	ID        string `json:"id"`
	Duplicate bool   `json:"duplicate,omitempty"`
}

// BulkRequest is the body of POST /api/tasks/bulk: one action applied to
// every task a filter selects, at most Limit tasks per call.
type BulkRequest struct {
	Action string     `json:"action"`
	Filter BulkFilter `json:"filter"`
	Limit  int        `json:"limit,omitempty"`
	DryRun bool       `json:"dry_run,omitempty"`
}

// BulkFilter selects the tasks of a bulk action. IDs, when given, name
// the tasks outright; the other fields narrow further. At least one field
// must be set, so that no call acts on every task by accident.
type BulkFilter struct {
	IDs   []string      `json:"ids,omitempty"`
	State backend.State `json:"state,omitempty"`
	Queue string        `json:"queue,omitempty"`
	Type  string        `json:"type,omitempty"`
	Query string        `json:"q,omitempty"`
	// OlderThan keeps tasks that finished (or, when not final, were
	// created) longer ago than this.
	OlderThan backend.Duration `json:"older_than,omitempty"`
	// Cursor continues a scan that an earlier call stopped early.
	Cursor string `json:"cursor,omitempty"`
}

// BulkResult reports what a bulk action did.
type BulkResult struct {
	Action    string        `json:"action"`
	DryRun    bool          `json:"dry_run,omitempty"`
	Matched   int           `json:"matched"`
	Succeeded int           `json:"succeeded"`
	Failed    []BulkFailure `json:"failed"`
	// IDs lists the tasks acted on (or, for a dry run, that would be).
	IDs        []string `json:"ids"`
	NextCursor string   `json:"next_cursor,omitempty"`
}

// BulkFailure is one task the action could not be applied to.
type BulkFailure struct {
	ID      string `json:"id"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// QueueView is a queue with its counts and recent statistics.
type QueueView struct {
	Name            string                `json:"name"`
	Paused          bool                  `json:"paused"`
	Counts          map[backend.State]int `json:"counts"`
	OldestPendingAt time.Time             `json:"oldest_pending_at,omitzero"`
	// Size counts the tasks that are not final.
	Size      int   `json:"size"`
	LatencyMS int64 `json:"latency_ms"`
	// Completed and Failed count attempts that ended in the stats window.
	Completed        int     `json:"completed"`
	Failed           int     `json:"failed"`
	ThroughputPerMin float64 `json:"throughput_per_min"`
	FailureRate      float64 `json:"failure_rate"`
	WindowMinutes    int     `json:"window_minutes"`
	// Served is true when a live worker takes from the queue.
	Served bool `json:"served"`
	// UnservedTypes lists the types of the queue's pending tasks that no
	// live worker taking from the queue runs: they wait until one comes
	// (among the newest 1000 pending tasks; empty when all are served).
	UnservedTypes []string `json:"unserved_types"`
}

// QueueLoad answers GET /api/queues/{name}/load: the work a queue asks
// of workers right now, for autoscalers such as KEDA's metrics-api
// scaler. A queue that has no tasks (never used, or emptied by
// retention) answers zeros, never 404, so an autoscaler reading it keeps
// working.
type QueueLoad struct {
	Name   string `json:"name"`
	Paused bool   `json:"paused"`
	// Pending tasks wait for a worker now; Processing ones hold one.
	Pending    int `json:"pending"`
	Processing int `json:"processing"`
	// Active is Processing plus Pending (Pending only while the queue is
	// not paused): the worker slots the queue could use now. It counts
	// running tasks so that an autoscaler does not take workers away
	// from under them; scheduled and retrying tasks are left out until
	// they are due.
	Active int `json:"active"`
}

// QueueList answers GET /api/queues.
type QueueList struct {
	Queues []QueueView `json:"queues"`
}

// QueueActionReply answers a pause or resume.
type QueueActionReply struct {
	Name   string `json:"name"`
	Paused bool   `json:"paused"`
}

// HistoryView answers GET /api/history. Without step, Buckets holds only
// the minutes in which something finished; with step, every bucket of
// the window is present, zeros included.
type HistoryView struct {
	Buckets     []HistoryBucket `json:"buckets"`
	StepMinutes int             `json:"step_minutes,omitempty"`
}

// TaskTypeView describes a task type for forms and docs.
type TaskTypeView struct {
	Name        string           `json:"name"`
	Description string           `json:"description,omitempty"`
	Schema      json.RawMessage  `json:"schema,omitempty"`
	MaxAttempts int              `json:"max_attempts,omitempty"`
	Timeout     backend.Duration `json:"timeout,omitempty"`
}

// TaskTypeList answers GET /api/task-types.
type TaskTypeList struct {
	TaskTypes []TaskTypeView `json:"task_types"`
}

// StatsView answers GET /api/stats: the whole system at a glance.
type StatsView struct {
	Counts           map[backend.State]int `json:"counts"`
	Total            int                   `json:"total"`
	Queues           int                   `json:"queues"`
	PausedQueues     int                   `json:"paused_queues"`
	Workers          int                   `json:"workers"`
	WorkerSlots      int                   `json:"worker_slots"`
	BusySlots        int                   `json:"busy_slots"`
	Completed        int                   `json:"completed"`
	Failed           int                   `json:"failed"`
	ThroughputPerMin float64               `json:"throughput_per_min"`
	FailureRate      float64               `json:"failure_rate"`
	WindowMinutes    int                   `json:"window_minutes"`
	OldestPendingAt  time.Time             `json:"oldest_pending_at,omitzero"`
	LatencyMS        int64                 `json:"latency_ms"`
	Health           string                `json:"health"`
	Backend          string                `json:"backend"`
	StartedAt        time.Time             `json:"started_at"`
	UptimeSeconds    int64                 `json:"uptime_seconds"`
}

// WorkerList answers GET /api/workers.
type WorkerList struct {
	Workers []WorkerInfo `json:"workers"`
}

// StartWorkerRequest is the body of POST /api/workers.
type StartWorkerRequest struct {
	Concurrency *int           `json:"concurrency,omitempty"`
	Queues      map[string]int `json:"queues,omitempty"`
}

// WorkerStopReply answers DELETE /api/workers/{id}.
type WorkerStopReply struct {
	ID       string `json:"id"`
	Stopping bool   `json:"stopping"`
}

// HealthStatus answers /healthz and /readyz.
type HealthStatus struct {
	Status string `json:"status"`
}

// HeartbeatRequest registers or refreshes an HTTP worker.
type HeartbeatRequest struct {
	Host        string           `json:"host,omitempty"`
	PID         int              `json:"pid,omitempty"`
	Queues      []string         `json:"queues"`
	Types       []string         `json:"types,omitempty"`
	Concurrency int              `json:"concurrency"`
	Running     []string         `json:"running,omitempty"`
	TTL         backend.Duration `json:"ttl,omitempty"`
	// StartedAt is when the worker started; the registry shows it. Send
	// the same time with every heartbeat. Without it the server keeps the
	// time of the first heartbeat it saw.
	StartedAt time.Time `json:"started_at,omitzero"`
	// Secret, a random string the worker makes once at start (16 to 128
	// characters) and sends with every heartbeat and its unregister,
	// binds the worker id to this process: while it lives, a heartbeat or
	// unregister of the id with another secret is refused (409
	// worker_taken). The registry never shows it.
	Secret string `json:"secret,omitempty"`
}

// UnregisterRequest removes an HTTP worker from the registry; the body is
// optional for a worker that registered without a secret.
type UnregisterRequest struct {
	Secret string `json:"secret,omitempty"`
}

// HeartbeatReply tells a worker whether it was asked to drain and stop.
type HeartbeatReply struct {
	StopRequested bool `json:"stop_requested"`
}

// LeaseRequest asks for tasks to run.
type LeaseRequest struct {
	Queues   []string         `json:"queues"`
	Types    []string         `json:"types,omitempty"`
	Max      int              `json:"max,omitempty"`
	Wait     backend.Duration `json:"wait,omitempty"`
	LeaseFor backend.Duration `json:"lease_for,omitempty"`
}

// LeaseReply hands out leased tasks (possibly none).
type LeaseReply struct {
	Tasks []LeasedTask `json:"tasks"`
}

// LeasedTask is a task with the credential of the lease just taken on it.
// LeaseToken is an opaque string (the fencing counter and the lease's
// random secret): send it back unchanged with extend, ack, fail, progress
// and release. Only the worker that leased the task ever sees it.
type LeasedTask struct {
	*Task
	LeaseToken string `json:"lease_token"`
}

// LeaseToken names one lease in an extend request.
type LeaseToken struct {
	TaskID string `json:"task_id"`
	Token  string `json:"token"`
}

// ExtendRequest pushes the expiry of leases the worker holds.
type ExtendRequest struct {
	Leases   []LeaseToken     `json:"leases"`
	LeaseFor backend.Duration `json:"lease_for,omitempty"`
}

// ExtendReply says, per lease, whether the worker still holds it. When
// Held is false the worker must stop the task and report nothing.
type ExtendReply struct {
	Leases []ExtendResult `json:"leases"`
}

// ExtendResult is the fate of one lease.
type ExtendResult struct {
	TaskID   string `json:"task_id"`
	Held     bool   `json:"held"`
	Canceled bool   `json:"canceled"`
}

// AckRequest completes a leased task.
type AckRequest struct {
	Token string `json:"token"`
	// WorkerID, when sent, must be the worker holding the lease.
	WorkerID string          `json:"worker_id,omitempty"`
	Result   json.RawMessage `json:"result,omitempty"`
}

// FailRequest records a failed attempt.
type FailRequest struct {
	Token string `json:"token"`
	// WorkerID, when sent, must be the worker holding the lease.
	WorkerID   string           `json:"worker_id,omitempty"`
	Error      string           `json:"error"`
	RetryAfter backend.Duration `json:"retry_after,omitempty"`
	// Final fails the task at once, whatever attempts are left.
	Final bool `json:"final,omitempty"`
}

// ProgressRequest reports how far a running task has come.
type ProgressRequest struct {
	Token   string  `json:"token"`
	Percent float64 `json:"percent"`
	Message string  `json:"message,omitempty"`
}

// ReleaseRequest hands a leased task back without counting the attempt.
type ReleaseRequest struct {
	Token string `json:"token"`
}

// AttemptOutcome says where a task went after an ack or a fail.
type AttemptOutcome struct {
	ID    string        `json:"id"`
	State backend.State `json:"state"`
	RunAt time.Time     `json:"run_at,omitzero"`
}

// ScheduleStatus is one periodic schedule a server runs, with its next
// and last firing.
type ScheduleStatus = taskmill.ScheduleStatus

// ScheduleList is the answer of GET /api/schedules.
type ScheduleList struct {
	Schedules []ScheduleStatus `json:"schedules"`
}
