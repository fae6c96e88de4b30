package server

import (
	"net/http"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/apiclient"
	"github.com/taskmill/taskmill/backend"
)

// GET /api/workers: the live workers of every process.
func (s *Server) listWorkers(w http.ResponseWriter, r *http.Request) {
	if err := onlyParams(r); err != nil {
		s.fail(w, r, err)
		return
	}
	ws, err := s.client.Workers(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for i := range ws {
		ws[i] = workerView(ws[i])
	}
	if ws == nil {
		ws = []backend.WorkerInfo{}
	}
	writeJSON(w, http.StatusOK, apiclient.WorkerList{Workers: ws})
}

// workerView fills nil lists so that clients always get arrays.
func workerView(wi backend.WorkerInfo) backend.WorkerInfo {
	if wi.Queues == nil {
		wi.Queues = []string{}
	}
	if wi.Running == nil {
		wi.Running = []string{}
	}
	return wi
}

// POST /api/workers {"concurrency":N,"queues":{"q":weight}}: start worker
// slots inside this server. 201 with the new worker.
func (s *Server) startWorker(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Workers == nil {
		writeError(w, http.StatusConflict, apiError{Code: "no_local_workers", Message: "this server does not run in-process workers"})
		return
	}
	var req apiclient.StartWorkerRequest
	if err := s.decodeBody(w, r, &req, true); err != nil {
		s.fail(w, r, err)
		return
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
	writeJSON(w, http.StatusCreated, workerView(info))
}

// workerID reads and checks the {id} path value of a worker route.
func workerID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if len(id) > 256 {
		return "", taskmill.Invalid("id", "length", "must be at most 256 characters")
	}
	if id == "" {
		return "", taskmill.Invalid("id", "required", "must not be empty")
	}
	return id, nil
}

// DELETE /api/workers/{id}: ask a worker, in this process or another, to
// drain and stop. 202: it stops at its next heartbeat.
func (s *Server) stopWorker(w http.ResponseWriter, r *http.Request) {
	id, err := workerID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.client.StopWorker(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, apiclient.WorkerStopReply{ID: id, Stopping: true})
}
