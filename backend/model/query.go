package model

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/taskmill/taskmill/backend"
)

// Get returns one task.
func (m *Model) Get(ctx context.Context, id string) (*backend.Task, error) {
	if err := m.read(ctx); err != nil {
		return nil, err
	}
	defer m.end()
	t := m.tasks[id]
	if t == nil {
		return nil, fmt.Errorf("task %s: %w", id, backend.ErrNotFound)
	}
	return out(t), nil
}

// cursorPrefix marks the model's cursors: a cursor without it was not
// made here.
const cursorPrefix = "model:"

// List returns one page of tasks, newest ID first.
func (m *Model) List(ctx context.Context, f backend.Filter) (backend.Page, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 1000)
	after := ""
	if f.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(f.Cursor)
		if err != nil || !strings.HasPrefix(string(raw), cursorPrefix) || len(raw) == len(cursorPrefix) {
			return backend.Page{}, fmt.Errorf("cursor %q: %w", f.Cursor, backend.ErrBadCursor)
		}
		after = string(raw[len(cursorPrefix):])
	}
	if err := m.read(ctx); err != nil {
		return backend.Page{}, err
	}
	defer m.end()
	var match []*backend.Task
	for _, t := range m.tasks {
		if (after == "" || t.ID < after) && Matches(t, f) {
			match = append(match, t)
		}
	}
	sort.Slice(match, func(i, j int) bool { return match[i].ID > match[j].ID })
	page := backend.Page{Tasks: []*backend.Task{}}
	for i, t := range match {
		if i == limit {
			page.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + match[i-1].ID))
			break
		}
		page.Tasks = append(page.Tasks, out(t))
	}
	return page, nil
}

// Matches reports whether t passes the filter's State, Queue, Type and
// Query (a substring of the ID, the type or the payload).
func Matches(t *backend.Task, f backend.Filter) bool {
	if (f.State != "" && t.State != f.State) || (f.Queue != "" && t.Queue != f.Queue) || (f.Type != "" && t.Type != f.Type) {
		return false
	}
	q := f.Query
	return q == "" || strings.Contains(t.ID, q) || strings.Contains(t.Type, q) || bytes.Contains(t.Payload, []byte(q))
}

// History returns per-minute counts since the given time.
func (m *Model) History(ctx context.Context, queue string, since time.Time) ([]backend.HistoryBucket, error) {
	if err := m.read(ctx); err != nil {
		return nil, err
	}
	defer m.end()
	from := since.Truncate(time.Minute).Unix()
	sums := map[int64]*backend.HistoryBucket{}
	for k, h := range m.history {
		if k.minute < from || (queue != "" && k.queue != queue) {
			continue
		}
		s := sums[k.minute]
		if s == nil {
			s = &backend.HistoryBucket{Minute: h.Minute}
			sums[k.minute] = s
		}
		s.Completed += h.Completed
		s.Failed += h.Failed
	}
	out := make([]backend.HistoryBucket, 0, len(sums))
	for _, s := range sums {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Minute.Before(out[j].Minute) })
	return out, nil
}

// PruneHistory removes the buckets older than olderThan.
func (m *Model) PruneHistory(ctx context.Context, term uint64, olderThan time.Duration) (int, error) {
	if err := m.begin(ctx); err != nil {
		return 0, err
	}
	defer m.end()
	now := m.now()
	if err := m.fenced(term, now); err != nil {
		return 0, err
	}
	limit := now.Add(-olderThan)
	n := 0
	for k := range m.history {
		if time.Unix(k.minute, 0).Before(limit) {
			delete(m.history, k)
			n++
		}
	}
	return n, nil
}
