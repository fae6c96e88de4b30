package server

import (
	"net/http"

	"github.com/taskmill/taskmill"
)

// GET /api/workers: the live workers of every process.
func (s *Server) listWorkers(w http.ResponseWriter, r *http.Request) {
	ws, err := s.client.Workers(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"workers": ws})
}

// POST /api/workers {"concurrency":N,"queues":{"q":weight}}: start worker
// slots inside this server. 201 with the new worker.
func (s *Server) startWorker(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Workers == nil {
		writeError(w, http.StatusConflict, apiError{Code: "no_local_workers", Message: "this server does not run in-process workers"})
		return
	}
	body, err := s.readBody(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var req struct {
		Concurrency *int           `json:"concurrency"`
		Queues      map[string]int `json:"queues"`
	}
	if len(body) > 0 {
		if err := taskmill.DecodeStrict(body, &req, ""); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	concurrency := 1
	if req.Concurrency != nil {
		concurrency = *req.Concurrency
	}
	info, err := s.cfg.Workers.StartWorker(r.Context(), concurrency, req.Queues)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, info)
}

// DELETE /api/workers/{id}: ask a worker, in this process or another, to
// drain and stop. 202: it stops at its next heartbeat.
func (s *Server) stopWorker(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if len(id) == 0 || len(id) > 256 {
		s.fail(w, r, taskmill.Invalid("id", "length", "must be 1 to 256 characters"))
		return
	}
	if err := s.client.StopWorker(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"id": id, "stopping": true})
}
