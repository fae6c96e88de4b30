package taskmill

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/taskmill/taskmill/backend"
)

// Defaults and bounds for submitted tasks.
const (
	DefaultQueue       = "default"
	DefaultMaxAttempts = 5
	MaxNameLength      = 128                 // task type and queue names
	MaxPriority        = backend.MaxPriority // priorities run from 0 (default) to MaxPriority
	MaxAttemptsLimit   = 100                 // the most attempts a task may ask for
	MaxIDLength        = 128                 // caller-chosen ids
	MaxUniqueKeyLength = 256                 // unique keys
	DefaultMaxPayload  = 1 << 20             // 1 MiB
	// DefaultMaxResultBytes bounds a result a Go worker stores (WorkerConfig.MaxResultBytes).
	DefaultMaxResultBytes = 16 << 20 // 16 MiB
	MaxTimeout            = 7 * 24 * time.Hour
	MaxDelay              = 366 * 24 * time.Hour
)

// TaskRequest is one task to submit. It is also the JSON body of
// POST /api/tasks, so its field names are the API's.
type TaskRequest struct {
	Type     string          `json:"type"`
	Payload  json.RawMessage `json:"payload,omitempty"`
	Queue    string          `json:"queue,omitempty"`    // default "default"
	Priority int             `json:"priority,omitempty"` // 0–1000, higher first
	// Delay or RunAt (not both) schedule the task for later.
	Delay       backend.Duration `json:"delay,omitempty"`
	RunAt       time.Time        `json:"run_at,omitzero"`
	MaxAttempts int              `json:"max_attempts,omitempty"` // default 5 (or the type's)
	Timeout     backend.Duration `json:"timeout,omitempty"`      // per attempt; default the type's or the worker's
	Deadline    time.Time        `json:"deadline,omitzero"`      // no attempt runs past it
	// UniqueKey makes the submit a no-op (ErrDuplicate) while another task
	// holds the same key: from its submit until UniqueFor has passed, or
	// until it is canceled or deleted. UniqueFor defaults to 24h.
	UniqueKey    string            `json:"unique_key,omitempty"`
	UniqueFor    backend.Duration  `json:"unique_for,omitempty"`
	ID           string            `json:"id,omitempty"` // caller-chosen id; default a UUIDv7
	TraceContext map[string]string `json:"trace_context,omitempty"`
}

// ValidateName checks a task type, queue name, task id or worker id:
// 1–128 characters from letters, digits and "_-.:", and not "." or ".."
// (no slash, backslash, control character or non-ASCII byte ever passes,
// so every name is one plain URL path segment and prints as itself).
func ValidateName(field, name string) error {
	if name == "" {
		return Invalid(field, "required", "must not be empty")
	}
	if len(name) > MaxNameLength {
		return Invalid(field, "length", "must be at most %d characters, got %d", MaxNameLength, len(name))
	}
	if name == "." || name == ".." {
		// A path segment of its own: no URL or file path could name it.
		return Invalid(field, "charset", "must not be %q", name)
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.' || r == ':'
		if !ok {
			return Invalid(field, "charset", "may hold only letters, digits and _ - . : (found %q)", r)
		}
	}
	return nil
}

// Validate checks everything about the request that does not depend on the
// task type, with maxPayload as the payload size limit (0: the default).
func (r *TaskRequest) Validate(maxPayload int) error {
	if maxPayload <= 0 {
		maxPayload = DefaultMaxPayload
	}
	if err := ValidateName("type", r.Type); err != nil {
		return err
	}
	if r.Queue != "" {
		if err := ValidateName("queue", r.Queue); err != nil {
			return err
		}
	}
	if len(r.Payload) > maxPayload {
		return Invalid("payload", "size", "is %d bytes; the limit is %d", len(r.Payload), maxPayload)
	}
	if len(r.Payload) > 0 && !json.Valid(r.Payload) {
		return Invalid("payload", "json", "is not valid JSON")
	}
	if r.Priority < 0 || r.Priority > MaxPriority {
		return Invalid("priority", "range", "must be between 0 and %d, got %d", MaxPriority, r.Priority)
	}
	if r.Delay < 0 || r.Delay.Std() > MaxDelay {
		return Invalid("delay", "range", "must be between 0 and %s", MaxDelay)
	}
	if r.Delay > 0 && !r.RunAt.IsZero() {
		return Invalid("run_at", "exclusive", "give delay or run_at, not both")
	}
	if !r.RunAt.IsZero() && time.Until(r.RunAt) > MaxDelay {
		return Invalid("run_at", "range", "must be within %s from now", MaxDelay)
	}
	if r.MaxAttempts < 0 || r.MaxAttempts > MaxAttemptsLimit {
		return Invalid("max_attempts", "range", "must be between 1 and %d, got %d", MaxAttemptsLimit, r.MaxAttempts)
	}
	if r.Timeout < 0 || r.Timeout.Std() > MaxTimeout {
		return Invalid("timeout", "range", "must be between 0 and %s", MaxTimeout)
	}
	if r.Timeout > 0 && r.Timeout.Std() < time.Millisecond {
		return Invalid("timeout", "range", "must be at least 1ms")
	}
	if len(r.UniqueKey) > MaxUniqueKeyLength {
		return Invalid("unique_key", "length", "must be at most %d characters", MaxUniqueKeyLength)
	}
	if r.UniqueFor < 0 || r.UniqueFor.Std() > MaxDelay {
		return Invalid("unique_for", "range", "must be between 0 and %s", MaxDelay)
	}
	if r.UniqueFor > 0 && r.UniqueKey == "" {
		return Invalid("unique_for", "requires", "needs unique_key")
	}
	if r.ID != "" {
		if len(r.ID) > MaxIDLength {
			return Invalid("id", "length", "must be at most %d characters", MaxIDLength)
		}
		if err := ValidateName("id", r.ID); err != nil {
			return err
		}
	}
	if len(r.TraceContext) > 8 {
		return Invalid("trace_context", "size", "at most 8 entries")
	}
	for k, v := range r.TraceContext {
		if len(k) > 64 || len(v) > 512 {
			return Invalid("trace_context", "size", "keys at most 64 and values at most 512 characters")
		}
	}
	return nil
}

// newTaskRecord turns a validated request into the record to store, with
// the type's defaults applied.
func newTaskRecord(r *TaskRequest, tt *TaskType, now time.Time) (*TaskInfo, error) {
	id := r.ID
	if id == "" {
		u, err := uuid.NewV7()
		if err != nil {
			return nil, err
		}
		id = u.String()
	}
	t := &TaskInfo{
		ID: id, Type: r.Type, Queue: r.Queue, Priority: r.Priority,
		MaxAttempts: r.MaxAttempts, Timeout: r.Timeout, Deadline: r.Deadline.UTC(),
		CreatedAt: now, State: StatePending, TraceContext: r.TraceContext,
	}
	if len(bytes.TrimSpace(r.Payload)) > 0 {
		t.Payload = compactJSON(r.Payload)
	}
	if t.Queue == "" {
		t.Queue = DefaultQueue
	}
	if t.MaxAttempts == 0 && tt != nil && tt.MaxAttempts > 0 {
		t.MaxAttempts = tt.MaxAttempts
	}
	if t.MaxAttempts == 0 {
		t.MaxAttempts = DefaultMaxAttempts
	}
	if t.Timeout == 0 && tt != nil && tt.Timeout > 0 {
		t.Timeout = backend.Duration(tt.Timeout)
	}
	switch {
	case r.Delay > 0:
		t.RunAt = now.Add(r.Delay.Std())
	case !r.RunAt.IsZero() && r.RunAt.After(now):
		t.RunAt = r.RunAt.UTC()
	}
	if !t.RunAt.IsZero() {
		t.State = StateScheduled
	}
	if r.UniqueKey != "" {
		t.UniqueKey = r.UniqueKey
		window := r.UniqueFor.Std()
		if window == 0 {
			window = 24 * time.Hour
		}
		t.UniqueUntil = now.Add(window)
	}
	return t, nil
}

func compactJSON(b json.RawMessage) json.RawMessage {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return append(json.RawMessage(nil), b...)
	}
	return buf.Bytes()
}
