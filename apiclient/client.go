// Package apiclient is a Go client of taskmill's HTTP API: what the
// taskmill CLI uses, and what a Go program uses to drive a taskmill server
// it cannot (or should not) reach the backend of. Its types (types.go) are
// the very types the server encodes, so the two cannot drift apart.
//
// Errors the server answers are *Error values carrying the HTTP status and
// the API's stable code; errors.Is(err, ErrNotFound) and friends work on
// them.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Sentinels that *Error values match with errors.Is, by HTTP status.
var (
	ErrBadRequest   = errors.New("bad request")  // 400 and 413
	ErrUnauthorized = errors.New("unauthorized") // 401 and 403
	ErrNotFound     = errors.New("not found")    // 404
	ErrConflict     = errors.New("conflict")     // 409
	ErrUnavailable  = errors.New("unavailable")  // 503
	ErrServer       = errors.New("server error") // other 5xx
	ErrUnreachable  = errors.New("cannot reach the server")
)

// Is matches the sentinel of e's status.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrBadRequest:
		return e.Status == 400 || e.Status == 413
	case ErrUnauthorized:
		return e.Status == 401 || e.Status == 403
	case ErrNotFound:
		return e.Status == 404
	case ErrConflict:
		return e.Status == 409
	case ErrUnavailable:
		return e.Status == 503
	case ErrServer:
		return e.Status >= 500 && e.Status != 503
	}
	return false
}

// Client talks to one taskmill server. It is safe for concurrent use.
type Client struct {
	base  *url.URL
	token string
	hc    *http.Client
}

// DefaultServer is the server the CLI talks to when told nothing else.
const DefaultServer = "http://127.0.0.1:8080"

// New returns a client of the server at baseURL (http or https), sending
// token as a bearer token when it is not empty. hc may be nil for a
// client with no overall timeout (long polls and event streams need that;
// bound each call with its context).
func New(baseURL, token string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server URL %q: want http://host:port or https://host", baseURL)
	}
	if hc == nil {
		hc = &http.Client{}
	}
	return &Client{base: u, token: token, hc: hc}, nil
}

// BaseURL returns the server's URL.
func (c *Client) BaseURL() string { return c.base.String() }

// do sends a request and decodes a JSON answer into out (nil: ignore it).
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	u := *c.base
	u.Path += path
	u.RawQuery = query.Encode()
	var body io.Reader
	if in != nil {
		raw, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s %s: %w", method, path, ctx.Err())
		}
		return fmt.Errorf("%s %s: %w: %v", method, path, ErrUnreachable, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read the answer: %w", method, path, err)
	}
	if resp.StatusCode >= 400 {
		return decodeError(resp.StatusCode, raw)
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s: decode the answer: %w", method, path, err)
		}
	}
	return nil
}

// decodeError turns an error answer into an *Error.
func decodeError(status int, raw []byte) error {
	var eb ErrorBody
	if json.Unmarshal(raw, &eb) != nil || eb.Error == nil {
		eb.Error = &Error{Code: "http_" + strconv.Itoa(status), Message: strings.TrimSpace(string(raw))}
	}
	eb.Error.Status = status
	return eb.Error
}

func jsonUnmarshal(raw []byte, v any) error { return json.Unmarshal(raw, v) }

func escape(s string) string { return url.PathEscape(s) }

// Submit stores one task. The answer is the stored task. A held unique
// key answers an *Error with code "duplicate" and ExistingID set.
func (c *Client) Submit(ctx context.Context, req TaskRequest) (*Task, error) {
	var t Task
	return &t, c.do(ctx, "POST", "/api/tasks", nil, req, &t)
}

// SubmitBatch stores several tasks at once, all or none.
func (c *Client) SubmitBatch(ctx context.Context, reqs []TaskRequest) (*BatchResult, error) {
	var r BatchResult
	return &r, c.do(ctx, "POST", "/api/tasks/batch", nil, BatchRequest{Tasks: reqs}, &r)
}

// GetTask returns one task.
func (c *Client) GetTask(ctx context.Context, id string) (*Task, error) {
	var t Task
	return &t, c.do(ctx, "GET", "/api/tasks/"+escape(id), nil, nil, &t)
}

// ListOptions selects tasks for ListTasks; empty fields match everything.
type ListOptions struct {
	State, Queue, Type, Query, Cursor string
	Limit                             int
}

// ListTasks returns one page of tasks, newest first.
func (c *Client) ListTasks(ctx context.Context, o ListOptions) (*TaskList, error) {
	q := url.Values{}
	for k, v := range map[string]string{"state": o.State, "queue": o.Queue, "type": o.Type, "q": o.Query, "cursor": o.Cursor} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	var p TaskList
	return &p, c.do(ctx, "GET", "/api/tasks", q, nil, &p)
}

// CancelTask cancels a task that is not final.
func (c *Client) CancelTask(ctx context.Context, id string) (*Task, error) {
	var t Task
	return &t, c.do(ctx, "POST", "/api/tasks/"+escape(id)+"/cancel", nil, nil, &t)
}

// RetryTask sends a failed or canceled task back to pending.
func (c *Client) RetryTask(ctx context.Context, id string) (*Task, error) {
	var t Task
	return &t, c.do(ctx, "POST", "/api/tasks/"+escape(id)+"/retry", nil, nil, &t)
}

// DeleteTask removes a final task (a conflict error when it is not final).
func (c *Client) DeleteTask(ctx context.Context, id string) error {
	return c.do(ctx, "DELETE", "/api/tasks/"+escape(id), url.Values{"mode": {"delete"}}, nil, nil)
}

// Bulk applies one action to the tasks a filter selects.
func (c *Client) Bulk(ctx context.Context, req BulkRequest) (*BulkResult, error) {
	var r BulkResult
	return &r, c.do(ctx, "POST", "/api/tasks/bulk", nil, req, &r)
}

// Queues lists the queues with their statistics.
func (c *Client) Queues(ctx context.Context) ([]QueueView, error) {
	var l QueueList
	err := c.do(ctx, "GET", "/api/queues", nil, nil, &l)
	return l.Queues, err
}

// Queue returns one queue; errors.Is(err, ErrNotFound) when no task was
// ever submitted to it and it was never paused.
func (c *Client) Queue(ctx context.Context, name string) (*QueueView, error) {
	var v QueueView
	return &v, c.do(ctx, "GET", "/api/queues/"+escape(name), nil, nil, &v)
}

// PauseQueue stops workers from leasing from the queue.
func (c *Client) PauseQueue(ctx context.Context, name string) error {
	return c.do(ctx, "POST", "/api/queues/"+escape(name)+"/pause", nil, nil, nil)
}

// ResumeQueue lets workers lease from the queue again.
func (c *Client) ResumeQueue(ctx context.Context, name string) error {
	return c.do(ctx, "POST", "/api/queues/"+escape(name)+"/resume", nil, nil, nil)
}

// DeleteQueue forgets a queue that holds no tasks (409 queue_not_empty
// otherwise).
func (c *Client) DeleteQueue(ctx context.Context, name string) error {
	return c.do(ctx, "DELETE", "/api/queues/"+escape(name), nil, nil, nil)
}

// Stats returns the overview of the whole system.
func (c *Client) Stats(ctx context.Context) (*StatsView, error) {
	var s StatsView
	return &s, c.do(ctx, "GET", "/api/stats", nil, nil, &s)
}

// Workers lists the live workers.
func (c *Client) Workers(ctx context.Context) ([]WorkerInfo, error) {
	var l WorkerList
	err := c.do(ctx, "GET", "/api/workers", nil, nil, &l)
	return l.Workers, err
}

// StopWorker asks a worker, of any process, to drain and stop.
func (c *Client) StopWorker(ctx context.Context, id string) error {
	return c.do(ctx, "DELETE", "/api/workers/"+escape(id), nil, nil, nil)
}

// Ready reports whether the server and its backend answer.
func (c *Client) Ready(ctx context.Context) error {
	return c.do(ctx, "GET", "/readyz", nil, nil, nil)
}

// WaitTask waits until the task is final and returns it, calling onUpdate
// (when not nil) with each change seen on the way. It follows the event
// stream, and falls back to polling every poll interval when the stream
// cannot be opened or breaks.
func (c *Client) WaitTask(ctx context.Context, id string, poll time.Duration, onUpdate func(*Task)) (*Task, error) {
	stream, err := c.Events(ctx, EventFilter{Task: id})
	if err == nil {
		defer stream.Close()
	}
	for {
		// Read the task after subscribing, so no transition slips between.
		t, err := c.GetTask(ctx, id)
		if err != nil {
			return nil, err
		}
		if onUpdate != nil {
			onUpdate(t)
		}
		if t.State.Final() {
			return t, nil
		}
		if stream != nil {
			if _, err := stream.Next(ctx); err == nil {
				continue
			} else if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			stream.Close()
			stream = nil // broken: poll from now on
		}
		select {
		case <-time.After(poll):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
