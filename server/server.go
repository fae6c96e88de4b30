// Package server is taskmill's manager over HTTP: the REST API, the
// WebSocket event stream, the HTTP worker protocol, the OpenAPI document
// and its docs page, health endpoints, Prometheus metrics and the
// embedded dashboard.
//
// It reaches tasks only through taskmill.Client and the backend.Backend
// interface a library user has, so it works unchanged over every backend,
// and several servers can run side by side over a shared one (Redis).
// Every endpoint is one entry of the route table (routes.go), which both
// registers the handler and describes it in the OpenAPI document.
package server

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/metrics"
	"go.opentelemetry.io/otel/trace"
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
	// Types is the registry GET /api/task-types describes and whose
	// backoff the HTTP worker protocol uses. Default: the names advertised
	// by live workers only, without schemas.
	Types *taskmill.ServeMux
	// Workers starts in-process workers for POST /api/workers. Default
	// nil: that endpoint answers 409 no_local_workers.
	Workers WorkerStarter
	// UI is the dashboard, served at / with unknown paths falling back to
	// index.html. Default nil: no dashboard.
	UI fs.FS
	// BackendName is the kind of backend ("embedded", "redis") shown by
	// GET /api/stats. Never a URL: URLs may hold credentials. Default "".
	BackendName string
	// APIKeys are the bearer tokens the API accepts. Default none: every
	// endpoint is open, and the caller must listen on loopback only.
	APIKeys []APIKey
	// CORSOrigins are the origins browsers may call the API from ("*"
	// for any). Default none: no cross-origin call is allowed, and a
	// state-changing request a browser marks cross-site is refused.
	CORSOrigins []string
	// AllowedHosts are the Host header values the server answers besides
	// the address a connection reached and, on loopback, localhost names
	// with that port: its public names behind a proxy or load balancer
	// ("tm.example.com" for any port, "tm.example.com:8443" for one), or
	// "*" for any Host. Default none. Other hosts get 421 wrong_host,
	// which keeps DNS-rebinding pages out.
	AllowedHosts []string
	// MaxBodyBytes bounds a request body. Default 1 MiB + 64 KiB, enough
	// for one task with a payload at the default payload limit.
	MaxBodyBytes int64
	// BodyReadTimeout bounds the time to read a request body, counted
	// from the start of the handler, so a peer that sends a body one byte
	// at a time loses its connection. Default 30s.
	BodyReadTimeout time.Duration
	// BackendTimeout bounds the backend calls of one request: a backend
	// that is down or stalled answers 503 unavailable with Retry-After
	// within about this long. The long-poll lease adds its wait. Default 2s.
	BackendTimeout time.Duration
	// MaxBatch bounds the tasks of one POST /api/tasks/batch. Default 1000.
	MaxBatch int
	// MaxLeaseWait bounds the long poll of the worker protocol's lease.
	// Default 60s.
	MaxLeaseWait time.Duration
	// StatsWindow is the window of the throughput and failure rate that
	// GET /api/queues and /api/stats report. Default 5 minutes.
	StatsWindow time.Duration
	// Metrics, when set, is served at GET /metrics (Prometheus text
	// format) and receives the server's counters. Default nil: no /metrics.
	Metrics *metrics.Metrics
	// PublicMetrics serves /metrics without a token even when API keys
	// are set. Default false: /metrics needs a read key then.
	PublicMetrics bool
	// Schedules reports the periodic schedules this server runs (a
	// taskmill.Scheduler's Status), for GET /api/schedules. Default nil:
	// the server runs none and the list is empty.
	Schedules func() []taskmill.ScheduleStatus
	// Tracer traces requests and the HTTP worker protocol's attempts.
	// Default nil: no tracing.
	Tracer trace.TracerProvider
	// Logger receives request errors. Default slog.Default().
	Logger *slog.Logger
	// Build identifies the binary for GET /api/info. Default zero: empty
	// strings.
	Build BuildInfo
	// DataDir is the absolute path of the data directory, shown by GET
	// /api/info. Default "": not shown.
	DataDir string
	// FilesDir is the folder GET/PUT/DELETE /api/files serve: the files
	// folder of the built-in file-based task types. Default "": no files
	// API (it answers 404).
	FilesDir string
	// MaxUploadBytes bounds one PUT /api/files upload. Default 64 MiB.
	MaxUploadBytes int64
	// Links are the server's connections to systems other than its
	// backend (see LinkReporter). Default none.
	Links []LinkReporter
}

// DefaultMaxUploadBytes is Config.MaxUploadBytes's default.
const DefaultMaxUploadBytes = 64 << 20

// WithDefaults returns c with every unset field at its default.
func (c Config) WithDefaults() Config {
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = taskmill.DefaultMaxPayload + 64<<10
	}
	if c.MaxUploadBytes <= 0 {
		c.MaxUploadBytes = DefaultMaxUploadBytes
	}
	if c.BodyReadTimeout <= 0 {
		c.BodyReadTimeout = 30 * time.Second
	}
	if c.BackendTimeout <= 0 {
		c.BackendTimeout = 2 * time.Second
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 1000
	}
	if c.MaxLeaseWait <= 0 {
		c.MaxLeaseWait = 60 * time.Second
	}
	if c.StatsWindow < time.Minute {
		c.StatsWindow = 5 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	origins := make([]string, len(c.CORSOrigins))
	for i, o := range c.CORSOrigins {
		origins[i] = strings.TrimSuffix(o, "/") // browsers send no trailing slash
	}
	c.CORSOrigins = origins
	return c
}

// Server is the HTTP API. Create it with New; it is an http.Handler.
type Server struct {
	cfg     Config
	client  *taskmill.Client
	log     *slog.Logger
	mux     *http.ServeMux
	handler http.Handler
	events  *hub
	keys    *keyring
	cors    cors
	hosts   hostGuard
	routes  []route
	tracer  trace.Tracer
	started time.Time
	starts  startTimes // of HTTP workers that do not send started_at

	docOnce sync.Once
	doc     []byte // the OpenAPI document, built on first use
	docHTML []byte

	closing chan struct{}
	closeMu sync.Once
}

// New returns a Server. Close it to end the live event streams and long
// polls. It fails on a bad API key or CORS origin.
func New(cfg Config) (*Server, error) {
	if cfg.Client == nil {
		return nil, fmt.Errorf("server config: Client is required")
	}
	cfg = cfg.WithDefaults()
	keys, err := newKeyring(cfg.APIKeys)
	if err != nil {
		return nil, fmt.Errorf("server config: %w", err)
	}
	for _, o := range cfg.CORSOrigins {
		if err := ValidateOrigin(o); err != nil {
			return nil, fmt.Errorf("server config: %w", err)
		}
	}
	for _, h := range cfg.AllowedHosts {
		if err := ValidateAllowedHost(h); err != nil {
			return nil, fmt.Errorf("server config: %w", err)
		}
	}
	s := &Server{cfg: cfg, client: cfg.Client, log: cfg.Logger, mux: http.NewServeMux(),
		keys: keys, cors: cors{origins: cfg.CORSOrigins}, hosts: newHostGuard(cfg.AllowedHosts), started: time.Now().UTC(), closing: make(chan struct{})}
	if cfg.Tracer != nil {
		s.tracer = cfg.Tracer.Tracer("github.com/taskmill/taskmill/server")
	}
	s.events = newHub(cfg.Client.Backend(), cfg.Logger)
	s.routes = s.routeTable()
	for _, rt := range s.routes {
		// {path} of the files API spans folders: the router's
		// {path...}; the document keeps OpenAPI's {path}.
		pattern := strings.Replace(rt.pattern, "{path}", "{path...}", 1)
		s.mux.HandleFunc(rt.method+" "+pattern, s.instrument(rt, s.bounded(rt, s.authorize(rt.access, rt.websocket, s.backendBounded(rt, s.checkQuery(rt, rt.handle))))))
	}
	s.mux.HandleFunc("/api/", s.noRoute)
	// Without this, the router would redirect PUT /api/files to
	// /api/files/ (the files' {path...} pattern) instead of refusing it.
	s.mux.HandleFunc("/api/files", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", http.MethodGet)
		writeError(w, http.StatusMethodNotAllowed, apiError{Code: "method_not_allowed", Message: r.Method + " is not allowed on /api/files; allowed: GET (PUT and DELETE take /api/files/{path})"})
	})
	if cfg.UI != nil {
		s.mux.Handle("/", spaHandler(cfg.UI))
	}
	s.handler = s.guard(s.cors.wrap(s.mux))
	return s, nil
}

// Close ends every WebSocket event stream, every worker long poll and the
// backend subscription. The server answers 503 to new ones afterwards.
func (s *Server) Close() {
	s.closeMu.Do(func() { close(s.closing) })
	s.events.close()
}

// ServeHTTP routes the request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

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
