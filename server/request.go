package server

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/taskmill/taskmill"
)

// rawJSON keeps one JSON value undecoded (each task of a batch is decoded
// on its own, so its errors name it).
type rawJSON = json.RawMessage

// readBody reads the whole request body, bounded by MaxBodyBytes.
// A body that does not arrive within BodyReadTimeout is errBodyTimeout.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil && isTimeout(err) {
		return nil, errBodyTimeout
	}
	return body, err
}

// errBodyTimeout: the request body did not arrive in time.
var errBodyTimeout = errors.New("request body not read in time")

// decodeBody reads the body and decodes it strictly into v (unknown
// fields refused, errors naming the field). An empty body is an error
// unless optional.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, v any, optional bool) error {
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	if optional && len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	return taskmill.DecodeStrict(body, v, "")
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

// onlyParams refuses query parameters other than the given ones, so that
// a typo (?stat=failed) is an error rather than a silently wider answer.
func onlyParams(r *http.Request, allowed ...string) error {
	for name := range r.URL.Query() {
		if !slices.Contains(allowed, name) {
			if len(allowed) == 0 {
				return taskmill.Invalid(name, "unknown", "unknown query parameter %q; this endpoint takes none", name)
			}
			return taskmill.Invalid(name, "unknown", "unknown query parameter %q; use %s", name, strings.Join(allowed, ", "))
		}
	}
	return nil
}

func itoa(n int) string { return strconv.Itoa(n) }

func contains(s, sub string) bool { return strings.Contains(s, sub) }
