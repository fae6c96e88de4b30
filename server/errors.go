package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"syscall"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/apiclient"
	"github.com/taskmill/taskmill/backend"
)

// apiError is the body of every error answer: {"error":{…}}. Code is
// stable for scripts to branch on; Field names the offending input (a
// JSON path like "payload.n", or a query parameter); Message is for people.
type apiError = apiclient.Error

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, e apiError) {
	if status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		// Every 503 is worth retrying: the backend reconnects by itself,
		// and a server that shuts down has siblings.
		w.Header().Set("Retry-After", retryAfterSeconds)
	}
	writeJSON(w, status, apiclient.ErrorBody{Error: &e})
}

// fail answers err with the status and code it maps to. Errors the caller
// cannot act on are logged and answered with a generic 500.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, e := classify(err)
	if status >= 500 {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeError(w, status, e)
}

// classify maps an error to an HTTP status and API error. The codes are a
// stable contract; docs/api.md lists them.
func classify(err error) (int, apiError) {
	var ve *taskmill.ValidationError
	var de *taskmill.DuplicateError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &ve):
		return http.StatusBadRequest, apiError{Code: "invalid_" + ve.Rule, Field: ve.Field, Message: ve.Message}
	case errors.As(err, &de):
		return http.StatusConflict, apiError{Code: "duplicate", Field: "unique_key", ExistingID: de.ExistingID, Message: de.Error()}
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, apiError{Code: "body_too_large", Field: "body", Message: "the request body is larger than the limit of " + strconv.FormatInt(tooBig.Limit, 10) + " bytes"}
	case errors.Is(err, backend.ErrBadCursor):
		return http.StatusBadRequest, apiError{Code: "invalid_cursor", Field: "cursor", Message: "the cursor was not made by this server; start again without it"}
	case errors.Is(err, backend.ErrNotFound):
		return http.StatusNotFound, apiError{Code: "not_found", Message: err.Error()}
	case errors.Is(err, backend.ErrLeaseLost):
		return http.StatusConflict, apiError{Code: "lease_lost", Field: "token", Message: "this lease is no longer held (the task was reclaimed, canceled or finished); drop the result"}
	case errors.Is(err, backend.ErrWorkerTaken):
		return http.StatusConflict, apiError{Code: "worker_taken", Field: "secret", Message: "a live worker with this id registered with another secret; pick another id or send this worker's secret"}
	case errors.Is(err, backend.ErrNotEmpty):
		return http.StatusConflict, apiError{Code: "queue_not_empty", Message: "the queue still holds tasks; delete or purge them first"}
	case errors.Is(err, backend.ErrFinal):
		return http.StatusConflict, apiError{Code: "task_final", Message: err.Error()}
	case errors.Is(err, backend.ErrNotFinal):
		return http.StatusConflict, apiError{Code: "task_not_final", Message: err.Error()}
	case errors.Is(err, backend.ErrDuplicate):
		return http.StatusConflict, apiError{Code: "duplicate", Field: "id", Message: err.Error()}
	case errors.Is(err, errShuttingDown):
		return http.StatusServiceUnavailable, apiError{Code: "unavailable", Message: "the server is shutting down; try another or try again"}
	case errors.Is(err, errBodyTimeout):
		return http.StatusRequestTimeout, apiError{Code: "body_timeout", Field: "body", Message: "the request body did not arrive in time; send it at once"}
	case errors.Is(err, backend.ErrUnknownOutcome):
		// Not "unavailable": the change may have been made, and sending
		// it again as it was could make it twice.
		return http.StatusServiceUnavailable, apiError{Code: "outcome_unknown", Message: "the backend took the change but its answer was lost: it may have been made. " +
			"Read the state back before trying again; a submit sent again with the same id answers 409 duplicate if the first was stored"}
	case backendUnavailable(err):
		return http.StatusServiceUnavailable, apiError{Code: "unavailable", Message: "the backend is not available; try again after Retry-After seconds"}
	}
	return http.StatusInternalServerError, apiError{Code: "internal", Message: "internal error; the server log has the details"}
}

// errShuttingDown: the server is closing and takes no new long requests.
var errShuttingDown = errors.New("server shutting down")

// retryAfterSeconds is the Retry-After of a 503: about one backend
// reconnection attempt.
const retryAfterSeconds = "1"

// backendUnavailable reports whether err says the backend could not be
// reached or did not answer in time, rather than that it refused the
// call: closed, a deadline (Config.BackendTimeout) run out, or a network
// error (refused, reset, cut mid-answer) on the way to it.
func backendUnavailable(err error) bool {
	var ne net.Error
	return errors.Is(err, backend.ErrClosed) || errors.Is(err, context.DeadlineExceeded) ||
		errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}
