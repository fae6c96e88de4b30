package server

import (
	"errors"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

// spaHandler serves the dashboard's files; a path that is not a file gets
// index.html, so the dashboard's own routes (/tasks/…) load on refresh.
// Hashed assets are cached for a year, index.html never.
func spaHandler(files fs.FS) http.Handler {
	fileServer := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, apiError{Code: "method_not_allowed", Message: "the dashboard is read with GET"})
			return
		}
		name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
		if name == "" {
			name = "index.html"
		}
		if st, err := fs.Stat(files, name); err != nil || st.IsDir() {
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				http.Error(w, "dashboard unavailable", http.StatusInternalServerError)
				return
			}
			serveIndex(w, r, files)
			return
		}
		if name == "index.html" {
			serveIndex(w, r, files)
			return
		}
		if strings.HasPrefix(name, "assets/") {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		}
		fileServer.ServeHTTP(w, r)
	})
}

func serveIndex(w http.ResponseWriter, r *http.Request, files fs.FS) {
	index, err := fs.ReadFile(files, "index.html")
	if err != nil {
		writeError(w, http.StatusNotFound, apiError{Code: "no_dashboard", Message: "this build has no dashboard"})
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(index)
}
