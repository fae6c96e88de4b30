package server

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/taskmill/taskmill/apiclient"
)

// GET /healthz: the process serves requests.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, apiclient.HealthStatus{Status: "ok"})
}

// GET /readyz: the backend answers and every Required link is up. The
// backend's error goes to the log, not to the answer: it may name hosts
// (never credentials, but still); a link's detail likewise.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.client.Backend().Ping(ctx); err != nil {
		s.log.Warn("readiness check: backend unreachable", "err", err)
		writeError(w, http.StatusServiceUnavailable, apiError{Code: "backend_unavailable", Message: "the backend is not reachable; the server log has the details"})
		return
	}
	for _, l := range s.cfg.Links {
		st := l.LinkStatus()
		if st.Required && st.State != LinkUp {
			s.log.Debug("readiness check: required link not up", "link", st.Name, "state", st.State, "detail", st.Detail)
			writeError(w, http.StatusServiceUnavailable, apiError{Code: "link_unavailable", Field: st.Name,
				Message: fmt.Sprintf("the required %s link is %s; the server log has the details", st.Name, st.State)})
			return
		}
	}
	writeJSON(w, http.StatusOK, apiclient.HealthStatus{Status: "ready"})
}
