package taskmill

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/taskmill/taskmill/backend"
)

// ClientConfig configures a Client. The zero value is usable.
type ClientConfig struct {
	// Types, when set, is the registry submits are checked against: a
	// registered type's Validate runs on the payload before anything is
	// stored. Default nil: payloads are checked only for size and JSON.
	Types *ServeMux
	// RejectUnknownTypes refuses a type that is neither in Types nor
	// advertised by a live worker in the registry. Default false.
	RejectUnknownTypes bool
	// MaxPayloadBytes bounds a task's payload. Default 1 MiB.
	MaxPayloadBytes int
	// Logger receives the client's logs. Default slog.Default().
	Logger *slog.Logger
}

// Client submits and inspects tasks. It validates every request before
// the backend sees it. Safe for concurrent use.
type Client struct {
	b   backend.Backend
	cfg ClientConfig

	mu          sync.Mutex
	workerTypes map[string]bool // types advertised by live workers
	typesAt     time.Time       // when workerTypes was read
}

// NewClient returns a Client over b.
func NewClient(b backend.Backend, cfg ClientConfig) *Client {
	if cfg.MaxPayloadBytes <= 0 {
		cfg.MaxPayloadBytes = DefaultMaxPayload
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Client{b: b, cfg: cfg}
}

// Backend returns the backend the client talks to.
func (c *Client) Backend() backend.Backend { return c.b }

// Option sets a field of a TaskRequest; see Queue, Priority, Delay, ….
type Option func(*TaskRequest)

func Queue(name string) Option          { return func(r *TaskRequest) { r.Queue = name } }
func Priority(p int) Option             { return func(r *TaskRequest) { r.Priority = p } }
func Delay(d time.Duration) Option      { return func(r *TaskRequest) { r.Delay = backend.Duration(d) } }
func RunAt(t time.Time) Option          { return func(r *TaskRequest) { r.RunAt = t } }
func MaxAttempts(n int) Option          { return func(r *TaskRequest) { r.MaxAttempts = n } }
func Timeout(d time.Duration) Option    { return func(r *TaskRequest) { r.Timeout = backend.Duration(d) } }
func Deadline(t time.Time) Option       { return func(r *TaskRequest) { r.Deadline = t } }
func TaskID(id string) Option           { return func(r *TaskRequest) { r.ID = id } }
func Trace(tc map[string]string) Option { return func(r *TaskRequest) { r.TraceContext = tc } }
func Unique(key string, window time.Duration) Option {
	return func(r *TaskRequest) { r.UniqueKey, r.UniqueFor = key, backend.Duration(window) }
}

// Enqueue submits one task of type typ. payload is marshaled to JSON
// unless it is already a json.RawMessage or []byte. When Enqueue returns
// without error the task is stored as durably as the backend promises.
// A held unique key gives a *DuplicateError (errors.Is ErrDuplicate).
func (c *Client) Enqueue(ctx context.Context, typ string, payload any, opts ...Option) (*TaskInfo, error) {
	raw, err := marshalPayload(payload)
	if err != nil {
		return nil, err
	}
	r := TaskRequest{Type: typ, Payload: raw}
	for _, o := range opts {
		o(&r)
	}
	return c.Submit(ctx, r)
}

// Submit stores one task described by r; see Enqueue.
func (c *Client) Submit(ctx context.Context, r TaskRequest) (*TaskInfo, error) {
	infos, results, err := c.submit(ctx, []TaskRequest{r}, false)
	if err != nil {
		return nil, err
	}
	if results[0].Duplicate {
		return nil, &DuplicateError{ExistingID: results[0].ID}
	}
	return infos[0], nil
}

// SubmitMany stores several tasks in one backend call: all are validated
// first, and either all are stored (except unique-key duplicates, reported
// in the results) or none. A *ValidationError names the failing request
// as "tasks[i].field".
func (c *Client) SubmitMany(ctx context.Context, rs []TaskRequest) ([]backend.EnqueueResult, error) {
	_, results, err := c.submit(ctx, rs, true)
	return results, err
}

// submit validates and stores rs. A batch's errors name the request
// ("tasks[0].type") even when it holds one request.
func (c *Client) submit(ctx context.Context, rs []TaskRequest, batch bool) ([]*TaskInfo, []backend.EnqueueResult, error) {
	if len(rs) == 0 {
		return nil, nil, nil
	}
	now := time.Now().UTC()
	infos := make([]*TaskInfo, len(rs))
	for i := range rs {
		info, err := c.prepare(ctx, &rs[i], now)
		if err != nil {
			if batch {
				err = prefixField(fmt.Sprintf("tasks[%d]", i), err)
			}
			return nil, nil, err
		}
		infos[i] = info
	}
	results, err := c.b.Enqueue(ctx, infos)
	if err != nil {
		return nil, nil, fmt.Errorf("enqueue %d task(s): %w", len(infos), err)
	}
	return infos, results, nil
}

func (c *Client) prepare(ctx context.Context, r *TaskRequest, now time.Time) (*TaskInfo, error) {
	if err := r.Validate(c.cfg.MaxPayloadBytes); err != nil {
		return nil, err
	}
	var tt *TaskType
	if c.cfg.Types != nil {
		tt, _ = c.cfg.Types.Lookup(r.Type)
	}
	if tt == nil && c.cfg.RejectUnknownTypes && !c.workerKnows(ctx, r.Type) {
		return nil, Invalid("type", "unknown", "unknown task type %q; GET /api/task-types lists the known ones", r.Type)
	}
	if tt != nil && tt.Validate != nil {
		payload := r.Payload
		if len(payload) == 0 {
			payload = json.RawMessage("{}")
		}
		if err := tt.Validate(payload); err != nil {
			if _, ok := err.(*ValidationError); !ok {
				err = Invalid("payload", "invalid", "%v", err)
			}
			return nil, err
		}
	}
	return newTaskRecord(r, tt, now)
}

// workerKnows reports whether a live worker advertises typ. The registry
// is read at most once a second.
func (c *Client) workerKnows(ctx context.Context, typ string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.workerTypes == nil || time.Since(c.typesAt) > time.Second || !c.workerTypes[typ] {
		if time.Since(c.typesAt) > 100*time.Millisecond || c.workerTypes == nil {
			workers, err := c.b.Workers(ctx)
			if err != nil {
				c.cfg.Logger.Warn("read worker registry for known types", "err", err)
				return false
			}
			c.workerTypes = map[string]bool{}
			for _, w := range workers {
				for _, t := range w.Types {
					c.workerTypes[t] = true
				}
			}
			c.typesAt = time.Now()
		}
	}
	return c.workerTypes[typ]
}

// KnownTypes returns the type names registered in the client's registry
// and advertised by live workers, sorted.
func (c *Client) KnownTypes(ctx context.Context) []string {
	var names []string
	if c.cfg.Types != nil {
		names = c.cfg.Types.TypeNames()
	}
	workers, err := c.b.Workers(ctx)
	if err == nil {
		for _, w := range workers {
			names = append(names, w.Types...)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

func marshalPayload(payload any) (json.RawMessage, error) {
	switch p := payload.(type) {
	case nil:
		return nil, nil
	case json.RawMessage:
		return p, nil
	case []byte:
		return json.RawMessage(p), nil
	}
	b, err := json.Marshal(payload)
	if err != nil {
		return nil, Invalid("payload", "json", "cannot marshal payload: %v", err)
	}
	return b, nil
}

// Get returns the task with the given id, or ErrNotFound.
func (c *Client) Get(ctx context.Context, id string) (*TaskInfo, error) {
	return c.b.Get(ctx, id)
}

// List returns one page of tasks matching f, newest first.
func (c *Client) List(ctx context.Context, f backend.Filter) (backend.Page, error) {
	if f.State != "" && !f.State.Valid() {
		return backend.Page{}, Invalid("state", "enum", "must be one of pending, scheduled, processing, retrying, completed, failed, canceled")
	}
	return c.b.List(ctx, f)
}

// Cancel cancels a task that is not final; a running handler's context is
// canceled when its worker next extends its lease.
func (c *Client) Cancel(ctx context.Context, id string) (*TaskInfo, error) {
	return c.b.Cancel(ctx, id)
}

// Retry sends a failed or canceled task back to pending with fresh attempts.
func (c *Client) Retry(ctx context.Context, id string) (*TaskInfo, error) {
	t, err := c.b.Retry(ctx, id)
	if errors.Is(err, ErrNotFinal) {
		// The backend's "task is not final" is wrong for a completed task
		// and says nothing of what may be retried: say it in the task's
		// terms. A task gone meanwhile keeps the backend's error.
		if cur, gerr := c.b.Get(ctx, id); gerr == nil {
			return nil, &NotRetryableError{ID: id, State: cur.State}
		}
	}
	return t, err
}

// NotRetryableError is Client.Retry's error for a task that is neither
// failed nor canceled. errors.Is(err, ErrNotFinal) holds.
type NotRetryableError struct {
	ID    string
	State backend.State
}

func (e *NotRetryableError) Error() string {
	msg := fmt.Sprintf("task %s is %s: only failed or canceled tasks can be retried", e.ID, e.State)
	if e.State == backend.StateCompleted {
		msg += "; submit it again to run it once more"
	}
	return msg
}

func (e *NotRetryableError) Unwrap() error { return ErrNotFinal }

// Delete removes a final task.
func (c *Client) Delete(ctx context.Context, id string) error { return c.b.Delete(ctx, id) }

// Queues lists the queues with counts per state.
func (c *Client) Queues(ctx context.Context) ([]backend.QueueInfo, error) { return c.b.Queues(ctx) }

// PauseQueue stops workers from leasing from the queue.
func (c *Client) PauseQueue(ctx context.Context, q string) error {
	if err := ValidateName("queue", q); err != nil {
		return err
	}
	return c.b.PauseQueue(ctx, q)
}

// ResumeQueue lets workers lease from the queue again.
func (c *Client) ResumeQueue(ctx context.Context, q string) error {
	if err := ValidateName("queue", q); err != nil {
		return err
	}
	return c.b.ResumeQueue(ctx, q)
}

// Workers lists the live workers.
func (c *Client) Workers(ctx context.Context) ([]backend.WorkerInfo, error) { return c.b.Workers(ctx) }

// StopWorker asks a worker, in this process or another, to drain and stop.
func (c *Client) StopWorker(ctx context.Context, id string) error { return c.b.RequestStop(ctx, id) }

// History returns per-minute finished counts since the given time.
func (c *Client) History(ctx context.Context, queue string, since time.Time) ([]backend.HistoryBucket, error) {
	return c.b.History(ctx, queue, since)
}

// Prepare validates r and builds the task record Submit would store,
// without storing it: for a backend that stores tasks inside the
// caller's own database transaction (the PostgreSQL backend's EnqueueTx
// and EnqueueSQLTx), so that a task exists only if that transaction
// commits.
func (c *Client) Prepare(ctx context.Context, r TaskRequest) (*TaskInfo, error) {
	return c.prepare(ctx, &r, time.Now().UTC())
}
