package taskmill

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/taskmill/taskmill/backend"
)

// TaskInfo is the stored record of a task, as Client.Get returns it.
type TaskInfo = backend.Task

// State is a task's lifecycle state; see the State constants.
type State = backend.State

// The task states, with their wire names.
const (
	StatePending    = backend.StatePending
	StateScheduled  = backend.StateScheduled
	StateProcessing = backend.StateProcessing
	StateRetrying   = backend.StateRetrying
	StateCompleted  = backend.StateCompleted
	StateFailed     = backend.StateFailed
	StateCanceled   = backend.StateCanceled
)

// Task is what a handler receives: one leased attempt of a task.
type Task struct {
	info    *TaskInfo
	backend backend.Backend // nil for tasks made by NewTask

	mu       sync.Mutex
	progress *backend.Progress
}

// NewTask makes a Task that is not backed by any store, for calling a
// handler directly in tests. ReportProgress records into LastProgress.
func NewTask(typ string, payload json.RawMessage) *Task {
	return &Task{info: &TaskInfo{ID: "test", Type: typ, Queue: DefaultQueue, Payload: payload, Attempt: 1, MaxAttempts: 1, State: StateProcessing}}
}

func (t *Task) ID() string               { return t.info.ID }
func (t *Task) Type() string             { return t.info.Type }
func (t *Task) Queue() string            { return t.info.Queue }
func (t *Task) Payload() json.RawMessage { return t.info.Payload }
func (t *Task) Attempt() int             { return t.info.Attempt }
func (t *Task) MaxAttempts() int         { return t.info.MaxAttempts }

// Info returns a copy of the task's record as it was when leased.
func (t *Task) Info() *TaskInfo { return t.info.Clone() }

// Decode unmarshals the payload into v, refusing unknown fields, and
// returns a *ValidationError naming the field on failure.
func (t *Task) Decode(v any) error { return DecodePayload(t.info.Payload, v) }

// DecodePayload unmarshals a JSON payload strictly into v: unknown fields
// and trailing data are refused, and errors name the offending field as
// "payload.<field>". An empty payload decodes as {}.
func DecodePayload(payload json.RawMessage, v any) error {
	if len(bytes.TrimSpace(payload)) == 0 {
		payload = json.RawMessage("{}")
	}
	return DecodeStrict(payload, v, "payload")
}

// ReportProgress records how far the handler has come (0–100) and a short
// message. It is stored and streamed to watchers; it fails with
// ErrLeaseLost when the task is no longer this worker's.
func (t *Task) ReportProgress(ctx context.Context, percent float64, message string) error {
	if percent < 0 {
		percent = 0
	}
	if percent > 100 {
		percent = 100
	}
	p := backend.Progress{Percent: percent, Message: message, At: time.Now().UTC()}
	t.mu.Lock()
	t.progress = &p
	t.mu.Unlock()
	if t.backend == nil {
		return nil
	}
	if err := t.backend.SetProgress(ctx, t.info.Ref(), p); err != nil {
		return fmt.Errorf("report progress of task %s: %w", t.info.ID, err)
	}
	return nil
}

// LastProgress returns the progress last reported, or nil.
func (t *Task) LastProgress() *backend.Progress {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.progress == nil {
		return nil
	}
	p := *t.progress
	return &p
}
