package server

import (
	"net/http"

	"github.com/taskmill/taskmill/apiclient"
)

// BuildInfo identifies the binary that serves, for GET /api/info.
type BuildInfo struct {
	Version, Commit, GoVersion string
}

// GET /api/info: the build, the backend's kind, where data lives and the
// links' states, so that a person can tell which store they are looking
// at without reading the server's log.
func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	if err := onlyParams(r); err != nil {
		s.fail(w, r, err)
		return
	}
	links := make([]apiclient.LinkView, 0, len(s.cfg.Links))
	for _, l := range s.cfg.Links {
		st := l.LinkStatus()
		links = append(links, apiclient.LinkView{Name: st.Name, State: st.State, Detail: st.Detail, Since: st.Since, Required: st.Required})
	}
	b := s.cfg.Build
	writeJSON(w, http.StatusOK, apiclient.InfoView{Version: b.Version, Commit: b.Commit, GoVersion: b.GoVersion,
		Backend: s.cfg.BackendName, DataDir: s.cfg.DataDir, FilesDir: s.cfg.FilesDir, Links: links})
}
