package server

import (
	"net/http"
	"time"

	"github.com/taskmill/taskmill/backend"
)

// GET /api/queues: every queue with its counts per state.
func (s *Server) listQueues(w http.ResponseWriter, r *http.Request) {
	qs, err := s.client.Queues(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if qs == nil {
		qs = []backend.QueueInfo{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"queues": qs})
}

// POST /api/queues/{name}/pause and /resume.
func (s *Server) pauseOrResumeQueue(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var err error
	switch action := r.PathValue("action"); action {
	case "pause":
		err = s.client.PauseQueue(r.Context(), name)
	case "resume":
		err = s.client.ResumeQueue(r.Context(), name)
	default:
		writeError(w, http.StatusNotFound, apiError{Code: "not_found", Message: "no such queue action " + action + "; use pause or resume"})
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": name, "paused": r.PathValue("action") == "pause"})
}

// GET /api/history?queue=&minutes=: per-minute finished counts for charts.
func (s *Server) history(w http.ResponseWriter, r *http.Request) {
	queue, err := optionalName(r, "queue")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	minutes, err := queryInt(r, "minutes", 60, 1, 7*24*60)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	since := time.Now().Add(-time.Duration(minutes) * time.Minute)
	buckets, err := s.client.History(r.Context(), queue, since)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if buckets == nil {
		buckets = []backend.HistoryBucket{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"buckets": buckets})
}

// taskTypeView describes a task type for forms and docs.
type taskTypeView struct {
	Name        string           `json:"name"`
	Description string           `json:"description,omitempty"`
	Schema      any              `json:"schema,omitempty"`
	MaxAttempts int              `json:"max_attempts,omitempty"`
	Timeout     backend.Duration `json:"timeout,omitempty"`
}

// GET /api/task-types: the registered types with their payload schemas,
// and the types live workers advertise.
func (s *Server) listTaskTypes(w http.ResponseWriter, r *http.Request) {
	out := []taskTypeView{}
	seen := map[string]bool{}
	if s.cfg.Types != nil {
		for _, tt := range s.cfg.Types.Types() {
			v := taskTypeView{Name: tt.Name, Description: tt.Description, MaxAttempts: tt.MaxAttempts, Timeout: backend.Duration(tt.Timeout)}
			if len(tt.Schema) > 0 {
				v.Schema = tt.Schema
			}
			out = append(out, v)
			seen[tt.Name] = true
		}
	}
	for _, name := range s.client.KnownTypes(r.Context()) {
		if !seen[name] {
			out = append(out, taskTypeView{Name: name})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"task_types": out})
}
