package server

import (
	"context"
	"net/http"
	"time"

	"github.com/taskmill/taskmill/apiclient"
)

// GET /healthz: the process serves requests.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, apiclient.HealthStatus{Status: "ok"})
}

// GET /readyz: the backend answers. The backend's error goes to the log,
// not to the answer: it may name hosts (never credentials, but still).
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.client.Backend().Ping(ctx); err != nil {
		s.log.Warn("readiness check: backend unreachable", "err", err)
		writeError(w, http.StatusServiceUnavailable, apiError{Code: "backend_unavailable", Message: "the backend is not reachable; the server log has the details"})
		return
	}
	writeJSON(w, http.StatusOK, apiclient.HealthStatus{Status: "ready"})
}
