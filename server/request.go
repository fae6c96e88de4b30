package server

import (
	"io"
	"net/http"
	"strconv"

	"github.com/taskmill/taskmill"
)

// readBody reads the whole request body, bounded by MaxBodyBytes.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	return io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
}

// queryInt reads an optional integer query parameter within [lo, hi].
func queryInt(r *http.Request, name string, def, lo, hi int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, taskmill.Invalid(name, "type", "must be a whole number, got %q", v)
	}
	if n < lo || n > hi {
		return 0, taskmill.Invalid(name, "range", "must be between %d and %d, got %d", lo, hi, n)
	}
	return n, nil
}

// optionalName checks an optional task type or queue name parameter.
func optionalName(r *http.Request, name string) (string, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return "", nil
	}
	return v, taskmill.ValidateName(name, v)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
