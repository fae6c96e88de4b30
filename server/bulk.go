package server

import (
	"context"
	"net/http"
	"time"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/apiclient"
	"github.com/taskmill/taskmill/backend"
)

// Bounds of one bulk call, so that a single request never holds the
// server or the backend for long: the caller continues with next_cursor.
const (
	bulkDefaultLimit = 1000
	bulkMaxLimit     = 10_000
	bulkMaxIDs       = 1000
	bulkMaxScanned   = 50_000
)

// POST /api/tasks/bulk: one action on every task a filter selects.
func (s *Server) bulkTasks(w http.ResponseWriter, r *http.Request) {
	// The filter is decoded on its own so that its errors name it
	// ("filter.state"), as encoding/json reports unknown fields by name only.
	var wire struct {
		apiclient.BulkRequest
		Filter rawJSON `json:"filter"`
	}
	if err := s.decodeBody(w, r, &wire, false); err != nil {
		s.fail(w, r, err) // DecodeStrict names fields without the embedded struct
		return
	}
	req := wire.BulkRequest
	if len(wire.Filter) > 0 && string(wire.Filter) != "null" {
		if err := taskmill.DecodeStrict(wire.Filter, &req.Filter, "filter"); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	act, err := s.bulkAction(req.Action)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := checkBulkFilter(&req); err != nil {
		s.fail(w, r, err)
		return
	}
	res := apiclient.BulkResult{Action: req.Action, DryRun: req.DryRun, Failed: []apiclient.BulkFailure{}, IDs: []string{}}
	now := time.Now()
	apply := func(t *backend.Task) {
		if !bulkMatches(req.Filter, t, now) {
			return
		}
		res.Matched++
		if req.DryRun {
			res.IDs = append(res.IDs, t.ID)
			return
		}
		if err := act(r.Context(), t.ID); err != nil {
			_, e := classify(err)
			res.Failed = append(res.Failed, apiclient.BulkFailure{ID: t.ID, Code: e.Code, Message: e.Message})
			return
		}
		res.Succeeded++
		res.IDs = append(res.IDs, t.ID)
	}

	if len(req.Filter.IDs) > 0 {
		for _, id := range req.Filter.IDs[:min(len(req.Filter.IDs), req.Limit)] {
			t, err := s.client.Get(r.Context(), id)
			if err != nil {
				_, e := classify(err)
				res.Failed = append(res.Failed, apiclient.BulkFailure{ID: id, Code: e.Code, Message: e.Message})
				continue
			}
			apply(t)
		}
		writeJSON(w, http.StatusOK, res)
		return
	}

	f := backend.Filter{State: req.Filter.State, Queue: req.Filter.Queue, Type: req.Filter.Type, Query: req.Filter.Query, Cursor: req.Filter.Cursor}
	scanned := 0
	for {
		// Pages end exactly where this call may stop, so the cursor the
		// caller gets back resumes right after the last task looked at.
		f.Limit = min(1000, req.Limit-res.Matched)
		page, err := s.client.List(r.Context(), f)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		for _, t := range page.Tasks {
			apply(t)
		}
		scanned += len(page.Tasks)
		res.NextCursor = page.NextCursor
		if page.NextCursor == "" || res.Matched >= req.Limit || scanned >= bulkMaxScanned || r.Context().Err() != nil {
			break
		}
		f.Cursor = page.NextCursor
	}
	writeJSON(w, http.StatusOK, res)
}

// bulkAction returns the function that applies one action to one task.
func (s *Server) bulkAction(action string) (func(ctx context.Context, id string) error, error) {
	switch action {
	case "retry":
		return func(ctx context.Context, id string) error { _, err := s.client.Retry(ctx, id); return err }, nil
	case "cancel":
		return func(ctx context.Context, id string) error { _, err := s.client.Cancel(ctx, id); return err }, nil
	case "delete":
		return s.client.Delete, nil
	case "":
		return nil, taskmill.Invalid("action", "required", "give the action: retry, cancel or delete")
	}
	return nil, taskmill.Invalid("action", "enum", "must be retry, cancel or delete; got %q", action)
}

func checkBulkFilter(req *apiclient.BulkRequest) error {
	f := &req.Filter
	switch {
	case req.Limit == 0:
		req.Limit = bulkDefaultLimit
	case req.Limit < 1 || req.Limit > bulkMaxLimit:
		return taskmill.Invalid("limit", "range", "must be between 1 and %d, got %d", bulkMaxLimit, req.Limit)
	}
	if len(f.IDs) > bulkMaxIDs {
		return taskmill.Invalid("filter.ids", "size", "at most %d ids in one call, got %d", bulkMaxIDs, len(f.IDs))
	}
	for i, id := range f.IDs {
		if err := taskmill.ValidateName("filter.ids["+itoa(i)+"]", id); err != nil {
			return err
		}
	}
	if err := checkState("filter.state", f.State); err != nil {
		return err
	}
	if f.Queue != "" {
		if err := taskmill.ValidateName("filter.queue", f.Queue); err != nil {
			return err
		}
	}
	if f.Type != "" {
		if err := taskmill.ValidateName("filter.type", f.Type); err != nil {
			return err
		}
	}
	if err := checkQuery("filter.q", f.Query); err != nil {
		return err
	}
	if f.OlderThan < 0 {
		return taskmill.Invalid("filter.older_than", "range", "must not be negative")
	}
	if err := checkCursor("filter.cursor", f.Cursor); err != nil {
		return err
	}
	if len(f.IDs) == 0 && f.State == "" && f.Queue == "" && f.Type == "" && f.Query == "" && f.OlderThan == 0 {
		return taskmill.Invalid("filter", "required", "give at least one of ids, state, queue, type, q or older_than, so that no call acts on every task by accident")
	}
	return nil
}

// bulkMatches applies the parts of the filter the backend's List does not
// (all of them for tasks named by id).
func bulkMatches(f apiclient.BulkFilter, t *backend.Task, now time.Time) bool {
	if (f.State != "" && t.State != f.State) || (f.Queue != "" && t.Queue != f.Queue) || (f.Type != "" && t.Type != f.Type) {
		return false
	}
	if f.Query != "" && !taskMatchesQuery(t, f.Query) {
		return false
	}
	if f.OlderThan > 0 {
		at := t.CreatedAt
		if !t.FinishedAt.IsZero() {
			at = t.FinishedAt
		}
		if now.Sub(at) < f.OlderThan.Std() {
			return false
		}
	}
	return true
}

func taskMatchesQuery(t *backend.Task, q string) bool {
	return contains(t.ID, q) || contains(t.Type, q) || contains(string(t.Payload), q)
}
