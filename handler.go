package taskmill

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Handler runs tasks. ProcessTask returns the task's result, which must
// marshal to JSON, or an error. An error fails the attempt: the task is
// retried with backoff while attempts are left, unless the error wraps
// ErrSkipRetry. The context ends when the task's timeout or deadline
// passes, when the task is canceled, when the lease is lost and when the
// worker stops; a handler must return soon after.
type Handler interface {
	ProcessTask(ctx context.Context, t *Task) (any, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, t *Task) (any, error)

// ProcessTask calls f.
func (f HandlerFunc) ProcessTask(ctx context.Context, t *Task) (any, error) { return f(ctx, t) }

// Middleware wraps a Handler, as net/http middleware wraps an http.Handler.
type Middleware func(Handler) Handler

// BackoffFunc says how long to wait before the given attempt (2, 3, …)
// after the previous one failed with err.
type BackoffFunc func(attempt int, err error) time.Duration

// TaskType describes one kind of task: how to validate its payload at
// submit time, how to run it, and its defaults.
type TaskType struct {
	Name        string
	Description string
	// Schema is the JSON Schema of the payload, served by the API so that
	// forms and docs can be built from it. Optional.
	Schema json.RawMessage
	// Validate checks a payload before it is stored. It should return a
	// *ValidationError naming the field. Optional.
	Validate func(payload json.RawMessage) error
	// Handler runs the task. Required.
	Handler Handler
	// Backoff overrides the worker's backoff for this type. Optional.
	Backoff BackoffFunc
	// Timeout is the per-attempt timeout used when a task sets none.
	Timeout time.Duration
	// MaxAttempts is used when a task sets none.
	MaxAttempts int
}

// ServeMux routes tasks to handlers by type. It is itself a Handler, and
// the registry of task types that Client uses to validate submits.
//
// Registering is rare and routing happens for every task, so the routing
// table is an immutable snapshot swapped on each change: ProcessTask and
// Lookup read it without a lock, and each type's middleware chain is
// built once, when the table changes, not per task.
type ServeMux struct {
	mu    sync.Mutex // serializes changes to the table
	table atomic.Pointer[muxTable]
}

// muxTable is one snapshot of a ServeMux's types and middleware.
type muxTable struct {
	types   map[string]*TaskType
	mw      []Middleware
	wrapped map[string]Handler // each type's handler inside the middleware
}

func newMuxTable(types map[string]*TaskType, mw []Middleware) *muxTable {
	t := &muxTable{types: types, mw: mw, wrapped: make(map[string]Handler, len(types))}
	for name, tt := range types {
		h := tt.Handler
		for i := len(mw) - 1; i >= 0; i-- {
			h = mw[i](h)
		}
		t.wrapped[name] = h
	}
	return t
}

// NewServeMux returns an empty ServeMux.
func NewServeMux() *ServeMux {
	m := &ServeMux{}
	m.table.Store(newMuxTable(map[string]*TaskType{}, nil))
	return m
}

// Register adds a task type. It fails when the name is invalid, the
// handler is missing, or the name is taken.
func (m *ServeMux) Register(tt TaskType) error {
	if err := ValidateName("type", tt.Name); err != nil {
		return err
	}
	if tt.Handler == nil {
		return fmt.Errorf("register task type %q: nil handler", tt.Name)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.table.Load()
	if _, ok := old.types[tt.Name]; ok {
		return fmt.Errorf("register task type %q: already registered", tt.Name)
	}
	types := make(map[string]*TaskType, len(old.types)+1)
	for k, v := range old.types {
		types[k] = v
	}
	types[tt.Name] = &tt
	m.table.Store(newMuxTable(types, old.mw))
	return nil
}

// Handle registers h for the task type typ. It panics on a bad or taken
// name, like http.ServeMux.Handle.
func (m *ServeMux) Handle(typ string, h Handler) {
	if err := m.Register(TaskType{Name: typ, Handler: h}); err != nil {
		panic(err)
	}
}

// HandleFunc registers f for the task type typ.
func (m *ServeMux) HandleFunc(typ string, f func(ctx context.Context, t *Task) (any, error)) {
	m.Handle(typ, HandlerFunc(f))
}

// Use adds middleware around every handler, registered before or after;
// the first added is outermost.
func (m *ServeMux) Use(mw ...Middleware) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.table.Load()
	m.table.Store(newMuxTable(old.types, append(slices.Clip(old.mw), mw...)))
}

// Lookup returns the registered type, if any.
func (m *ServeMux) Lookup(typ string) (*TaskType, bool) {
	tt, ok := m.table.Load().types[typ]
	return tt, ok
}

// Types returns the registered types, sorted by name.
func (m *ServeMux) Types() []*TaskType {
	types := m.table.Load().types
	out := make([]*TaskType, 0, len(types))
	for _, tt := range types {
		out = append(out, tt)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// TypeNames returns the registered type names, sorted.
func (m *ServeMux) TypeNames() []string {
	types := m.Types()
	names := make([]string, len(types))
	for i, tt := range types {
		names[i] = tt.Name
	}
	return names
}

// ProcessTask runs the handler registered for t's type through the
// middleware. A type with no handler fails without retry.
func (m *ServeMux) ProcessTask(ctx context.Context, t *Task) (any, error) {
	h, ok := m.table.Load().wrapped[t.Type()]
	if !ok {
		return nil, SkipRetry(fmt.Errorf("no handler registered for task type %q", t.Type()))
	}
	return h.ProcessTask(ctx, t)
}
