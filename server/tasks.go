package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/backend"
)

// taskView is a task as the API shows it: the stored record without the
// lease token, which is the worker's secret (it fences late writes).
func taskView(t *backend.Task) *backend.Task {
	v := t.Clone()
	v.LeaseToken = 0
	return v
}

// POST /api/tasks: submit one task. 201 with the stored task.
func (s *Server) submitTask(w http.ResponseWriter, r *http.Request) {
	body, err := s.readBody(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	req, err := taskmill.DecodeTaskRequest(body, "")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	info, err := s.client.Submit(r.Context(), req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/tasks/"+info.ID)
	writeJSON(w, http.StatusCreated, taskView(info))
}

// POST /api/tasks/batch: {"tasks":[…]} submits up to MaxBatch tasks in one
// backend call, all or none; duplicates of a unique key are reported per
// task rather than failing the batch.
func (s *Server) submitBatch(w http.ResponseWriter, r *http.Request) {
	body, err := s.readBody(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var batch struct {
		Tasks []json.RawMessage `json:"tasks"`
	}
	if err := taskmill.DecodeStrict(body, &batch, ""); err != nil {
		s.fail(w, r, err)
		return
	}
	switch {
	case len(batch.Tasks) == 0:
		s.fail(w, r, taskmill.Invalid("tasks", "required", "give at least one task"))
		return
	case len(batch.Tasks) > s.cfg.MaxBatch:
		s.fail(w, r, taskmill.Invalid("tasks", "size", "at most %d tasks in one batch, got %d", s.cfg.MaxBatch, len(batch.Tasks)))
		return
	}
	reqs := make([]taskmill.TaskRequest, len(batch.Tasks))
	for i, raw := range batch.Tasks {
		if reqs[i], err = taskmill.DecodeTaskRequest(raw, fmt.Sprintf("tasks[%d]", i)); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	results, err := s.client.SubmitMany(r.Context(), reqs)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	type result struct {
		ID        string `json:"id"`
		Duplicate bool   `json:"duplicate,omitempty"`
	}
	out := make([]result, len(results))
	for i, res := range results {
		out[i] = result{ID: res.ID, Duplicate: res.Duplicate}
	}
	writeJSON(w, http.StatusCreated, map[string]any{"results": out})
}

// GET /api/tasks?state=&queue=&type=&q=&cursor=&limit=: one page, newest first.
func (s *Server) listTasks(w http.ResponseWriter, r *http.Request) {
	f, err := listFilter(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page, err := s.client.List(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for i, t := range page.Tasks {
		page.Tasks[i] = taskView(t)
	}
	writeJSON(w, http.StatusOK, page)
}

func listFilter(r *http.Request) (backend.Filter, error) {
	q := r.URL.Query()
	for name := range q {
		switch name {
		case "state", "queue", "type", "q", "cursor", "limit":
		default:
			return backend.Filter{}, taskmill.Invalid(name, "unknown", "unknown query parameter %q; use state, queue, type, q, cursor or limit", name)
		}
	}
	f := backend.Filter{State: backend.State(q.Get("state")), Query: q.Get("q"), Cursor: q.Get("cursor")}
	if f.State != "" && !f.State.Valid() {
		return f, taskmill.Invalid("state", "enum", "must be one of pending, scheduled, processing, retrying, completed, failed, canceled; got %q", f.State)
	}
	var err error
	if f.Queue, err = optionalName(r, "queue"); err != nil {
		return f, err
	}
	if f.Type, err = optionalName(r, "type"); err != nil {
		return f, err
	}
	if len(f.Query) > 256 {
		return f, taskmill.Invalid("q", "length", "must be at most 256 characters")
	}
	if len(f.Cursor) > 512 {
		return f, backend.ErrBadCursor
	}
	f.Limit, err = queryInt(r, "limit", 50, 1, 1000)
	return f, err
}

// taskID reads and checks the {id} path value.
func taskID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if err := taskmill.ValidateName("id", id); err != nil {
		return "", err
	}
	return id, nil
}

// GET /api/tasks/{id}
func (s *Server) getTask(w http.ResponseWriter, r *http.Request) {
	id, err := taskID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	t, err := s.client.Get(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, taskView(t))
}

// DELETE /api/tasks/{id}: cancels a task that is not final (200 with the
// canceled task) and deletes a final one (204).
func (s *Server) cancelOrDeleteTask(w http.ResponseWriter, r *http.Request) {
	id, err := taskID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	t, err := s.client.Cancel(r.Context(), id)
	if err == nil {
		writeJSON(w, http.StatusOK, taskView(t))
		return
	}
	if !errors.Is(err, backend.ErrFinal) {
		s.fail(w, r, err)
		return
	}
	if err := s.client.Delete(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// POST /api/tasks/{id}/retry: a failed or canceled task back to pending.
func (s *Server) retryTask(w http.ResponseWriter, r *http.Request) {
	id, err := taskID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	t, err := s.client.Retry(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, taskView(t))
}
