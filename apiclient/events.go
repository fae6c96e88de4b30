package apiclient

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/coder/websocket"
)

// EventFilter narrows an event stream to one task or one queue.
type EventFilter struct {
	Task, Queue string
}

// EventStream is an open GET /api/events WebSocket.
type EventStream struct {
	conn *websocket.Conn
}

// Events opens the live event stream. Close it when done.
func (c *Client) Events(ctx context.Context, f EventFilter) (*EventStream, error) {
	u := *c.base
	u.Scheme = strings.Replace(u.Scheme, "http", "ws", 1)
	u.Path += "/api/events"
	q := url.Values{}
	if f.Task != "" {
		q.Set("task", f.Task)
	}
	if f.Queue != "" {
		q.Set("queue", f.Queue)
	}
	u.RawQuery = q.Encode()
	h := http.Header{}
	if c.token != "" {
		h.Set("Authorization", "Bearer "+c.token)
	}
	conn, resp, err := websocket.Dial(ctx, u.String(), &websocket.DialOptions{HTTPClient: c.hc, HTTPHeader: h})
	if err != nil {
		if resp != nil && resp.StatusCode >= 400 {
			return nil, &Error{Status: resp.StatusCode, Code: "http_" + fmt.Sprint(resp.StatusCode), Message: "the event stream was refused"}
		}
		return nil, fmt.Errorf("open the event stream: %w", err)
	}
	conn.SetReadLimit(16 << 20)
	return &EventStream{conn: conn}, nil
}

// Next returns the next event. A "resync" event means events were lost:
// reload what you show.
func (s *EventStream) Next(ctx context.Context) (Event, error) {
	var e Event
	_, msg, err := s.conn.Read(ctx)
	if err != nil {
		return e, fmt.Errorf("read an event: %w", err)
	}
	if err := json.Unmarshal(msg, &e); err != nil {
		return e, fmt.Errorf("decode an event: %w", err)
	}
	return e, nil
}

// Close ends the stream.
func (s *EventStream) Close() error {
	return s.conn.Close(websocket.StatusNormalClosure, "")
}
