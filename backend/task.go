// Package backend defines the storage contract every taskmill broker
// implements: the task record, the state machine's transitions as one
// interface, and the sentinel errors callers branch on.
//
// Nothing in this package knows about a particular store. The embedded
// (bbolt) and Redis backends live in subpackages and both pass the shared
// conformance suite in backendtest.
package backend

import (
	"encoding/json"
	"time"
)

// State is where a task is in its lifecycle. The string values are the
// wire names used by the HTTP API, the CLI and the dashboard.
type State string

// The task states. Completed, Failed and Canceled are final.
const (
	StatePending    State = "pending"    // ready to be leased
	StateScheduled  State = "scheduled"  // waiting for its run-at time
	StateProcessing State = "processing" // leased by a worker
	StateRetrying   State = "retrying"   // failed an attempt, waiting for its backoff
	StateCompleted  State = "completed"  // handler returned a result
	StateFailed     State = "failed"     // out of attempts: in the dead-letter queue
	StateCanceled   State = "canceled"   // canceled before it finished
)

// States lists every state in lifecycle order.
var States = []State{StatePending, StateScheduled, StateProcessing, StateRetrying, StateCompleted, StateFailed, StateCanceled}

// Final reports whether no transition leads out of s except a manual retry.
func (s State) Final() bool {
	return s == StateCompleted || s == StateFailed || s == StateCanceled
}

// Valid reports whether s is one of the defined states.
func (s State) Valid() bool {
	for _, v := range States {
		if s == v {
			return true
		}
	}
	return false
}

// Task is the stored record of one task. Backends return copies; changing
// a returned Task changes nothing in the store.
type Task struct {
	ID       string          `json:"id"`
	Type     string          `json:"type"`
	Queue    string          `json:"queue"`
	Payload  json.RawMessage `json:"payload,omitempty"`
	Priority int             `json:"priority"`
	State    State           `json:"state"`
	// Attempt counts the attempts spent against MaxAttempts: a lease
	// that expired (Reclaim) or was handed back (Release) gives its
	// attempt back, so Attempts (the history) may hold more runs.
	Attempt     int `json:"attempt"`
	MaxAttempts int `json:"max_attempts"` // attempts allowed in all
	// LeaseLosses counts the lease expiries in a row (crash is not
	// failure); Ack, Fail and a manual Retry reset it to 0. At the
	// backend's MaxLeaseLosses, Reclaim fails the task.
	LeaseLosses int `json:"lease_losses,omitempty"`
	// Timeout bounds one attempt; zero means the worker's default.
	Timeout Duration `json:"timeout,omitempty"`
	// Deadline bounds the whole task: no attempt runs past it.
	Deadline    time.Time `json:"deadline,omitzero"`
	UniqueKey   string    `json:"unique_key,omitempty"`
	UniqueUntil time.Time `json:"unique_until,omitzero"`

	RunAt      time.Time `json:"run_at,omitzero"` // when a scheduled or retrying task becomes pending
	CreatedAt  time.Time `json:"created_at"`
	StartedAt  time.Time `json:"started_at,omitzero"` // start of the current or last attempt
	FinishedAt time.Time `json:"finished_at,omitzero"`

	Result    json.RawMessage `json:"result,omitempty"`
	LastError string          `json:"last_error,omitempty"`
	Attempts  []Attempt       `json:"attempts,omitempty"` // one entry per attempt started
	Progress  *Progress       `json:"progress,omitempty"`

	WorkerID   string `json:"worker_id,omitempty"` // holder of the current lease
	LeaseToken uint64 `json:"lease_token,omitempty"`
	// LeaseSecret is the current lease's secret (see LeaseRef). Only tasks
	// returned by Lease carry it; the API never shows it.
	LeaseSecret    string    `json:"lease_secret,omitempty"`
	LeaseExpiresAt time.Time `json:"lease_expires_at,omitzero"`

	// TraceContext carries W3C trace headers from submit to every attempt.
	TraceContext map[string]string `json:"trace_context,omitempty"`
}

// Attempt records one run of a task.
type Attempt struct {
	Number     int       `json:"number"`
	WorkerID   string    `json:"worker_id"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// Outcome is "completed", "failed", "lease_expired", "released" or
	// "canceled"; empty while the attempt runs.
	Outcome string `json:"outcome,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Progress is what a running handler last reported about itself.
type Progress struct {
	Percent float64   `json:"percent"`
	Message string    `json:"message,omitempty"`
	At      time.Time `json:"at"`
}

// Clone returns a deep copy of t.
func (t *Task) Clone() *Task {
	if t == nil {
		return nil
	}
	c := *t
	c.Payload = cloneRaw(t.Payload)
	c.Result = cloneRaw(t.Result)
	if t.Attempts != nil {
		c.Attempts = append([]Attempt(nil), t.Attempts...)
	}
	if t.Progress != nil {
		p := *t.Progress
		c.Progress = &p
	}
	if t.TraceContext != nil {
		c.TraceContext = make(map[string]string, len(t.TraceContext))
		for k, v := range t.TraceContext {
			c.TraceContext[k] = v
		}
	}
	return &c
}

func cloneRaw(b json.RawMessage) json.RawMessage {
	if b == nil {
		return nil
	}
	return append(json.RawMessage(nil), b...)
}

// MaxPriority is the highest priority. Priorities run 0..MaxPriority on
// every backend, ordered exactly over the whole range (higher first);
// Enqueue refuses any other with ErrInvalid.
const MaxPriority = 1000
