package server

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/apiclient"
	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/tracing"
)

// taskView is a task as the API shows it: the stored record without the
// lease token, which is the worker's secret (it fences late writes). It
// zeroes the token in place: t must be the caller's own, as every task a
// backend returns is (both decode a fresh record for each call).
func taskView(t *backend.Task) *backend.Task {
	t.LeaseToken = 0
	if t.State == backend.StateCompleted {
		// A task that failed before it completed is not in error: its
		// attempts keep every error, last_error would only mislead.
		t.LastError = ""
	}
	return t
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
	injectTrace(s.requestTrace(r), &req)
	info, err := s.client.Submit(r.Context(), req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.cfg.Metrics.TaskSubmitted(info.Type, info.Queue)
	w.Header().Set("Location", "/api/tasks/"+info.ID)
	// A record just built for the submit holds no lease token: it is
	// shown as it is.
	writeJSON(w, http.StatusCreated, info)
}

// requestTrace is the request's trace context as W3C headers, for the
// tasks it submits (nil when tracing is off or the request has no span).
func (s *Server) requestTrace(r *http.Request) map[string]string {
	if s.tracer == nil {
		return nil
	}
	return tracing.Carrier(r.Context())
}

// injectTrace puts the submitting request's trace context tc into the
// task, so that every attempt's span joins the trace of the submit. A
// caller that sent its own trace_context keeps it. Tasks share tc: no one
// changes a task's trace context after the submit.
func injectTrace(tc map[string]string, req *taskmill.TaskRequest) {
	if len(tc) > 0 && len(req.TraceContext) == 0 {
		req.TraceContext = tc
	}
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
		Tasks []rawJSON `json:"tasks"`
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
	tc := s.requestTrace(r)
	for i, raw := range batch.Tasks {
		if reqs[i], err = taskmill.DecodeTaskRequest(raw, fmt.Sprintf("tasks[%d]", i)); err != nil {
			s.fail(w, r, err)
			return
		}
		injectTrace(tc, &reqs[i])
	}
	results, err := s.client.SubmitMany(r.Context(), reqs)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := apiclient.BatchResult{Results: make([]apiclient.BatchItem, len(results))}
	for i, res := range results {
		out.Results[i] = apiclient.BatchItem{ID: res.ID, Duplicate: res.Duplicate}
		if !res.Duplicate {
			queue := reqs[i].Queue
			if queue == "" {
				queue = taskmill.DefaultQueue
			}
			s.cfg.Metrics.TaskSubmitted(reqs[i].Type, queue)
		}
	}
	writeJSON(w, http.StatusCreated, out)
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
	if page.Tasks == nil {
		page.Tasks = []*backend.Task{}
	}
	for i, t := range page.Tasks {
		page.Tasks[i] = taskView(t)
	}
	writeJSON(w, http.StatusOK, page)
}

func listFilter(r *http.Request) (backend.Filter, error) {
	q := r.URL.Query()
	if err := onlyParams(r, "state", "queue", "type", "q", "cursor", "limit"); err != nil {
		return backend.Filter{}, err
	}
	f := backend.Filter{State: backend.State(q.Get("state")), Query: q.Get("q"), Cursor: q.Get("cursor")}
	if err := checkState("state", f.State); err != nil {
		return f, err
	}
	var err error
	if f.Queue, err = optionalName(r, "queue"); err != nil {
		return f, err
	}
	if f.Type, err = optionalName(r, "type"); err != nil {
		return f, err
	}
	if err := checkQuery("q", f.Query); err != nil {
		return f, err
	}
	if err := checkCursor("cursor", f.Cursor); err != nil {
		return f, err
	}
	f.Limit, err = queryInt(r, "limit", 50, 1, 1000)
	return f, err
}

func checkState(field string, st backend.State) error {
	if st != "" && !st.Valid() {
		return taskmill.Invalid(field, "enum", "must be one of pending, scheduled, processing, retrying, completed, failed, canceled; got %q", st)
	}
	return nil
}

func checkQuery(field, q string) error {
	if len(q) > 256 {
		return taskmill.Invalid(field, "length", "must be at most 256 characters")
	}
	return nil
}

// pathID reads and checks the {id} path value of a task, or of a worker
// that registers itself through the worker protocol: the rule of names.
func pathID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if err := taskmill.ValidateName("id", id); err != nil {
		return "", err
	}
	return id, nil
}

// GET /api/tasks/{id}
func (s *Server) getTask(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
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

// DELETE /api/tasks/{id}?mode=auto|cancel|delete: cancels a task that is
// not final (200 with the canceled task) and deletes a final one (204).
func (s *Server) cancelOrDeleteTask(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := onlyParams(r, "mode"); err != nil {
		s.fail(w, r, err)
		return
	}
	mode := r.URL.Query().Get("mode")
	switch mode {
	case "", "auto", "cancel", "delete":
	default:
		s.fail(w, r, taskmill.Invalid("mode", "enum", "must be auto, cancel or delete; got %q", mode))
		return
	}
	if mode != "delete" {
		t, err := s.client.Cancel(r.Context(), id)
		if err == nil {
			writeJSON(w, http.StatusOK, taskView(t))
			return
		}
		if mode == "cancel" || !errors.Is(err, backend.ErrFinal) {
			s.fail(w, r, err)
			return
		}
	}
	if err := s.client.Delete(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// POST /api/tasks/{id}/cancel
func (s *Server) cancelTask(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	t, err := s.client.Cancel(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, taskView(t))
}

// POST /api/tasks/{id}/retry: a failed or canceled task back to pending.
func (s *Server) retryTask(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
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
