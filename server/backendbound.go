package server

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// A backend that is down or stalled must not hold requests: they answer
// 503 unavailable with Retry-After within Config.BackendTimeout. The
// request's context carries that deadline to the backend, but a backend
// may not honour it at every step (a Redis client blocked in a read
// waits for its own read timeout, and retries), so the edge does not rely
// on it: the handler runs on its own goroutine with its answer buffered,
// and when the deadline passes first the client gets the 503 at once and
// the late answer is dropped. As with any timeout, a write the backend
// finishes after the 503 still happens; a retry with the same id or
// unique key is safe.

// withBackendDeadline runs h with a context that ends after d, and
// answers 503 (code) itself when h has not answered by then.
func withBackendDeadline(w http.ResponseWriter, r *http.Request, d time.Duration, code string, h http.HandlerFunc) {
	parent := r.Context()
	ctx, cancel := context.WithTimeout(parent, d)
	defer cancel()
	r = r.WithContext(ctx)
	bw := &bufferedWriter{header: http.Header{}}
	done := make(chan struct{})
	panicked := make(chan any, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				panicked <- p
			}
		}()
		h(bw, r)
		close(done)
	}()
	select {
	case p := <-panicked:
		panic(p)
	case <-done:
		bw.copyTo(w)
	case <-ctx.Done():
		bw.mu.Lock()
		defer bw.mu.Unlock()
		select {
		case <-done: // finished as the deadline passed: its answer stands
			bw.copyToLocked(w)
			return
		default:
		}
		bw.abandoned = true
		if parent.Err() != nil {
			return // the client left
		}
		writeError(w, http.StatusServiceUnavailable, apiError{Code: code,
			Message: fmt.Sprintf("the backend did not answer within %s; try again after Retry-After seconds", d)})
	}
}

// bufferedWriter holds a handler's answer until it is complete.
type bufferedWriter struct {
	mu        sync.Mutex
	header    http.Header
	status    int
	body      bytes.Buffer
	abandoned bool // the client got a 503 instead: drop everything
}

func (b *bufferedWriter) Header() http.Header { return b.header }

func (b *bufferedWriter) WriteHeader(code int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.status == 0 {
		b.status = code
	}
}

func (b *bufferedWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.abandoned {
		return 0, http.ErrHandlerTimeout
	}
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

func (b *bufferedWriter) copyTo(w http.ResponseWriter) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.copyToLocked(w)
}

func (b *bufferedWriter) copyToLocked(w http.ResponseWriter) {
	dst := w.Header()
	for k, v := range b.header {
		dst[k] = v
	}
	if b.status == 0 {
		b.status = http.StatusOK
	}
	w.WriteHeader(b.status)
	_, _ = w.Write(b.body.Bytes())
}
