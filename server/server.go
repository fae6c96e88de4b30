// Package server is taskmill's manager over HTTP: the REST API, the
// WebSocket event stream, health endpoints and the embedded dashboard.
//
// It reaches tasks only through taskmill.Client and the backend.Backend
// interface a library user has, so it works unchanged over every backend,
// and several servers can run side by side over a shared one (Redis).
package server

import (
	"context"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/backend"
)

// WorkerStarter starts worker slots inside the server's process; it backs
// POST /api/workers.
type WorkerStarter interface {
	StartWorker(ctx context.Context, concurrency int, queues map[string]int) (backend.WorkerInfo, error)
}

// Config configures a Server. Client is required; every other field's
// comment gives its default.
type Config struct {
	// Client submits and reads tasks. Required.
	Client *taskmill.Client
	// Types is the registry GET /api/task-types describes. Default: the
	// names advertised by live workers only, without schemas.
	Types *taskmill.ServeMux
	// Workers starts in-process workers for POST /api/workers. Default
	// nil: that endpoint answers 409 no_local_workers.
	Workers WorkerStarter
	// UI is the dashboard, served at / with unknown paths falling back to
	// index.html. Default nil: no dashboard.
	UI fs.FS
	// MaxBodyBytes bounds a request body. Default 1 MiB + 64 KiB, enough
	// for one task with a payload at the default payload limit.
	MaxBodyBytes int64
	// MaxBatch bounds the tasks of one POST /api/tasks/batch. Default 1000.
	MaxBatch int
	// Logger receives request errors. Default slog.Default().
	Logger *slog.Logger
}

// WithDefaults returns c with every unset field at its default.
func (c Config) WithDefaults() Config {
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = taskmill.DefaultMaxPayload + 64<<10
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 1000
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Server is the HTTP API. Create it with New; it is an http.Handler.
type Server struct {
	cfg    Config
	client *taskmill.Client
	log    *slog.Logger
	mux    *http.ServeMux
	events *hub
}

// New returns a Server. Close it to end the live event streams.
func New(cfg Config) *Server {
	cfg = cfg.WithDefaults()
	s := &Server{cfg: cfg, client: cfg.Client, log: cfg.Logger, mux: http.NewServeMux()}
	s.events = newHub(cfg.Client.Backend(), cfg.Logger)
	s.routes()
	return s
}

// Close ends every WebSocket event stream and the backend subscription.
func (s *Server) Close() { s.events.close() }

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("POST /api/tasks", s.submitTask)
	m.HandleFunc("POST /api/tasks/batch", s.submitBatch)
	m.HandleFunc("GET /api/tasks", s.listTasks)
	m.HandleFunc("GET /api/tasks/{id}", s.getTask)
	m.HandleFunc("DELETE /api/tasks/{id}", s.cancelOrDeleteTask)
	m.HandleFunc("POST /api/tasks/{id}/retry", s.retryTask)
	m.HandleFunc("GET /api/queues", s.listQueues)
	m.HandleFunc("POST /api/queues/{name}/{action}", s.pauseOrResumeQueue)
	m.HandleFunc("GET /api/workers", s.listWorkers)
	m.HandleFunc("POST /api/workers", s.startWorker)
	m.HandleFunc("DELETE /api/workers/{id}", s.stopWorker)
	m.HandleFunc("GET /api/task-types", s.listTaskTypes)
	m.HandleFunc("GET /api/history", s.history)
	m.HandleFunc("GET /api/events", s.streamEvents)
	m.HandleFunc("GET /healthz", s.healthz)
	m.HandleFunc("GET /readyz", s.readyz)
	m.HandleFunc("/api/", s.noRoute)
	if s.cfg.UI != nil {
		m.Handle("/", spaHandler(s.cfg.UI))
	}
}

// ServeHTTP routes the request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// noRoute answers an /api/ request no route takes, in the API's JSON
// error format: 405 with Allow when the path exists under other methods,
// else 404.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "/api/" && pattern != "" && pattern != "/" {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		writeError(w, http.StatusMethodNotAllowed, apiError{Code: "method_not_allowed", Message: r.Method + " is not allowed on " + r.URL.Path + "; allowed: " + strings.Join(allowed, ", ")})
		return
	}
	writeError(w, http.StatusNotFound, apiError{Code: "not_found", Message: "no such endpoint: " + r.Method + " " + r.URL.Path})
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.client.Backend().Ping(ctx); err != nil {
		writeError(w, http.StatusServiceUnavailable, apiError{Code: "backend_unavailable", Message: "the backend is not reachable: " + err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
