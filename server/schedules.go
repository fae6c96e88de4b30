package server

import (
	"net/http"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/apiclient"
)

// GET /api/schedules: the periodic schedules this server runs.
func (s *Server) listSchedules(w http.ResponseWriter, r *http.Request) {
	if err := onlyParams(r); err != nil {
		s.fail(w, r, err)
		return
	}
	out := []taskmill.ScheduleStatus{}
	if s.cfg.Schedules != nil {
		out = append(out, s.cfg.Schedules()...)
	}
	writeJSON(w, http.StatusOK, apiclient.ScheduleList{Schedules: out})
}
