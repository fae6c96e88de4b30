package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/apiclient"
	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/embedded"
	"github.com/taskmill/taskmill/backend/redis"
	"github.com/taskmill/taskmill/internal/testredis"
	"github.com/taskmill/taskmill/metrics"
	"github.com/taskmill/taskmill/server"
)

// The tests run every scenario over real HTTP against a real server on
// every backend: the embedded store always, Redis through a private
// redis-server (skipped loudly without one, failing under CI).
//
// Every answer the tests receive goes through a transport that validates
// it against the server's own OpenAPI document: the status must be one the
// operation documents, and a JSON body must match the documented schema
// (additionalProperties false, so an undocumented field fails). TestMain
// then checks that the suite called every operation: a route nobody tested
// fails the run.

var (
	docOnce   sync.Once
	docRaw    []byte
	docParsed map[string]any
	compiler  *jsonschema.Compiler
	schemaMu  sync.Mutex
	schemas   = map[string]*jsonschema.Schema{}
	covered   sync.Map // operationId → true, for a success status
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	full := flag.Lookup("test.run").Value.String() == "" && flag.Lookup("test.skip").Value.String() == "" && !testing.Short()
	if full && docParsed != nil {
		var missing []string
		for _, op := range operations() {
			if _, ok := covered.Load(op.id); !ok {
				missing = append(missing, op.id)
			}
		}
		if len(missing) > 0 {
			sort.Strings(missing)
			fmt.Fprintf(os.Stderr, "FAIL: no test called these operations with success: %s\n", strings.Join(missing, ", "))
			code = 1
		}
	}
	os.Exit(code)
}

type operation struct {
	id, method, path string
	re               *regexp.Regexp
	raw              map[string]any
}

var paramPattern = regexp.MustCompile(`\{[^}]+\}`)

func operations() []operation {
	var ops []operation
	paths := docParsed["paths"].(map[string]any)
	for p, item := range paths {
		// {path} of the files API spans folders; other parameters do not.
		re := regexp.MustCompile("^" + paramPattern.ReplaceAllString(strings.Replace(p, "{path}", `[\s\S]+`, 1), `[^/]+`) + "$")
		for method, op := range item.(map[string]any) {
			o := op.(map[string]any)
			ops = append(ops, operation{id: o["operationId"].(string), method: strings.ToUpper(method), path: p, re: re, raw: o})
		}
	}
	return ops
}

// loadDoc fetches the OpenAPI document from a server once.
func loadDoc(t testing.TB, h http.Handler) {
	docOnce.Do(func() {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/api/openapi.json", nil)
		req.Host = "localhost" // a recorder has no local address: only localhost names pass the Host check
		h.ServeHTTP(rec, req)
		docRaw = rec.Body.Bytes()
		if err := json.Unmarshal(docRaw, &docParsed); err != nil {
			panic(fmt.Sprintf("openapi.json is not JSON: %v", err))
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(docRaw))
		if err != nil {
			panic(err)
		}
		compiler = jsonschema.NewCompiler()
		if err := compiler.AddResource("mem://openapi.json", inst); err != nil {
			panic(err)
		}
	})
}

// schemaAt compiles the schema at a JSON pointer of the document.
func schemaAt(t testing.TB, pointer string) *jsonschema.Schema {
	schemaMu.Lock()
	defer schemaMu.Unlock()
	if s, ok := schemas[pointer]; ok {
		return s
	}
	s, err := compiler.Compile("mem://openapi.json#" + pointer)
	if err != nil {
		t.Fatalf("compile schema %s: %v", pointer, err)
	}
	schemas[pointer] = s
	return s
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// findOperation returns the documented operation a request calls.
func findOperation(method, path string) (operation, bool) {
	var best operation
	found := false
	for _, op := range operations() {
		if op.method == method && op.re.MatchString(path) {
			// Prefer the literal path over a template (/api/tasks/bulk over /api/tasks/{id}).
			if !found || strings.Count(op.path, "{") < strings.Count(best.path, "{") {
				best, found = op, true
			}
		}
	}
	return best, found
}

// validatingTransport checks every answer against the document.
type validatingTransport struct {
	t    testing.TB
	next http.RoundTripper
}

func (v validatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := v.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	checkAnswer(v.t, req.Method, req.URL.Path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
	return resp, nil
}

func checkAnswer(t testing.TB, method, path string, status int, contentType string, body []byte) {
	t.Helper()
	op, ok := findOperation(method, path)
	if !ok && !strings.HasPrefix(path, "/api/") {
		return // the dashboard: files, not the API
	}
	if !ok {
		if status == 404 || status == 405 {
			checkErrorBody(t, method, path, status, body)
			return
		}
		t.Errorf("%s %s answered %d but the OpenAPI document has no such operation", method, path, status)
		return
	}
	responses := op.raw["responses"].(map[string]any)
	resp, ok := responses[fmt.Sprint(status)].(map[string]any)
	if !ok {
		t.Errorf("%s %s (%s) answered %d, which the document does not list (it lists %v); body %s", method, path, op.id, status, keys(responses), body)
		return
	}
	if status < 300 {
		covered.Store(op.id, true)
	}
	content, _ := resp["content"].(map[string]any)
	if _, isJSON := content["application/json"]; !isJSON || !strings.HasPrefix(contentType, "application/json") {
		return
	}
	media := content["application/json"].(map[string]any)
	if _, hasSchema := media["schema"]; !hasSchema || op.id == "openapi" {
		return
	}
	pointer := "/paths/" + escapePointer(op.path) + "/" + strings.ToLower(method) + "/responses/" + fmt.Sprint(status) + "/content/application~1json/schema"
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Errorf("%s %s answered %d with a body that is not JSON: %v\n%s", method, path, status, err, body)
		return
	}
	if err := schemaAt(t, pointer).Validate(inst); err != nil {
		t.Errorf("%s %s answered %d with a body the document does not describe: %v\nbody: %s", method, path, status, err, body)
	}
}

func checkErrorBody(t testing.TB, method, path string, status int, body []byte) {
	t.Helper()
	var eb apiclient.ErrorBody
	if err := json.Unmarshal(body, &eb); err != nil || eb.Error == nil || eb.Error.Code == "" {
		t.Errorf("%s %s answered %d without an error body: %s", method, path, status, body)
	}
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// env is one server over one backend, with a Go worker running the test
// task types in the same process unless told otherwise.
type env struct {
	t       *testing.T
	URL     string
	b       backend.Backend
	srv     *server.Server
	hc      *http.Client
	token   string
	client  *taskmill.Client
	metrics *metrics.Metrics
	worker  *taskmill.Worker
}

type envOption func(*envConfig)

type envConfig struct {
	cfg       server.Config
	noWorker  bool
	noMetrics bool
	token     string
}

func withConfig(f func(*server.Config)) envOption { return func(c *envConfig) { f(&c.cfg) } }
func withoutWorker() envOption                    { return func(c *envConfig) { c.noWorker = true } }
func withoutMetrics() envOption                   { return func(c *envConfig) { c.noMetrics = true } }

// backendKinds opens a fresh backend of each kind for a test.
var backendKinds = []struct {
	name string
	open func(t *testing.T) backend.Backend
}{
	{"embedded", func(t *testing.T) backend.Backend {
		b, err := embedded.Open(t.TempDir(), embedded.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}},
	{"redis", openRedis},
}

var redisSeq atomic.Int64

// openRedis starts a private redis-server for the test (killed when it
// ends) and opens a backend on it.
func openRedis(t *testing.T) backend.Backend {
	srv := testredis.Start(t, testredis.Options{})
	url := fmt.Sprintf("%s?prefix=srv%d", srv.URL(), redisSeq.Add(1))
	b, err := redis.Open(context.Background(), url, redis.Options{})
	if err != nil {
		t.Fatalf("open redis: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// forEachBackend runs fn as a subtest on every backend.
func forEachBackend(t *testing.T, fn func(t *testing.T, open func(t *testing.T) backend.Backend)) {
	for _, k := range backendKinds {
		t.Run(k.name, func(t *testing.T) { fn(t, k.open) })
	}
}

// newEnv starts a server over b.
func newEnv(t *testing.T, b backend.Backend, opts ...envOption) *env {
	t.Helper()
	var ec envConfig
	for _, o := range opts {
		o(&ec)
	}
	mux := testMux()
	client := taskmill.NewClient(b, taskmill.ClientConfig{Types: mux})
	cfg := ec.cfg
	cfg.Client, cfg.Types = client, mux
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	if cfg.Metrics == nil && !ec.noMetrics {
		cfg.Metrics = metrics.New()
		cfg.Metrics.WatchBackend(b, 2*time.Second)
	}
	cfg.BackendName = "test"
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	loadDoc(t, srv)
	ts := httptest.NewServer(srv)
	t.Cleanup(func() { srv.Close(); ts.Close() })
	e := &env{t: t, URL: ts.URL, b: b, srv: srv, token: ec.token, client: client, metrics: cfg.Metrics,
		hc: &http.Client{Transport: validatingTransport{t: t, next: http.DefaultTransport}, Timeout: 90 * time.Second}}
	if !ec.noWorker {
		w, err := taskmill.NewWorker(b, taskmill.WorkerConfig{Handler: mux, Concurrency: 4, LeaseDuration: 3 * time.Second,
			Queues: map[string]int{"default": 1, "math": 1}, Logger: quietLogger(), Observer: cfg.Metrics.Observer()})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Stop(context.Background()) })
		e.worker = w
	}
	return e
}

// testMux holds the task types the tests submit.
func testMux() *taskmill.ServeMux {
	mux := taskmill.NewServeMux()
	mux.HandleFunc("echo", func(ctx context.Context, t *taskmill.Task) (any, error) {
		if len(t.Payload()) == 0 {
			return nil, nil
		}
		return t.Payload(), nil
	})
	mux.HandleFunc("fail", func(ctx context.Context, t *taskmill.Task) (any, error) {
		return nil, errors.New("this task always fails")
	})
	// flaky fails its first attempt and completes the next one.
	must(mux.Register(taskmill.TaskType{Name: "flaky", MaxAttempts: 3, Backoff: taskmill.ExponentialBackoff(time.Millisecond, 10*time.Millisecond),
		Handler: taskmill.HandlerFunc(func(ctx context.Context, t *taskmill.Task) (any, error) {
			if t.Attempt() <= 1 {
				return nil, errors.New("flaky: first attempt fails")
			}
			return map[string]int{"attempt": t.Attempt()}, nil
		})}))
	mux.HandleFunc("slow", func(ctx context.Context, t *taskmill.Task) (any, error) {
		var p struct {
			MS int `json:"ms"`
		}
		if err := t.Decode(&p); err != nil {
			return nil, taskmill.SkipRetry(err)
		}
		_ = t.ReportProgress(ctx, 50, "half way")
		select {
		case <-time.After(time.Duration(p.MS) * time.Millisecond):
			return map[string]int{"slept_ms": p.MS}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	must(mux.Register(taskmill.TaskType{Name: "square", Description: "squares n", MaxAttempts: 2,
		Schema: json.RawMessage(`{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]}`),
		Validate: func(p json.RawMessage) error {
			var v struct {
				N *int `json:"n"`
			}
			if err := taskmill.DecodePayload(p, &v); err != nil {
				return err
			}
			if v.N == nil {
				return taskmill.Invalid("payload.n", "required", "give n")
			}
			if *v.N < 0 || *v.N > 1000 {
				return taskmill.Invalid("payload.n", "range", "must be between 0 and 1000")
			}
			return nil
		},
		Handler: taskmill.HandlerFunc(func(ctx context.Context, t *taskmill.Task) (any, error) {
			var v struct{ N int }
			_ = json.Unmarshal(t.Payload(), &v)
			return map[string]int{"square": v.N * v.N}, nil
		})}))
	return mux
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// do sends a request and decodes a JSON answer into out (when not nil).
func (e *env) do(method, path string, body any, out any) (int, http.Header) {
	e.t.Helper()
	return e.doAs(e.token, method, path, body, out)
}

func (e *env) doAs(token, method, path string, body any, out any) (int, http.Header) {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if rm, ok := out.(*json.RawMessage); ok {
		*rm = raw
	} else if rb, ok := out.(*rawBody); ok {
		*rb = raw
	} else if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatalf("%s %s: decode %d answer: %v\n%s", method, path, resp.StatusCode, err, raw)
		}
	}
	return resp.StatusCode, resp.Header
}

// wantStatus fails unless the call answers want.
func (e *env) wantStatus(want int, method, path string, body any, out any) http.Header {
	e.t.Helper()
	var raw json.RawMessage
	status, h := e.do(method, path, body, &raw)
	if status != want {
		e.t.Fatalf("%s %s = %d, want %d: %s", method, path, status, want, raw)
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatal(err)
		}
	}
	return h
}

// wantError fails unless the call answers status with the code and field.
func (e *env) wantError(status int, code, field, method, path string, body any) *apiclient.Error {
	e.t.Helper()
	var eb apiclient.ErrorBody
	got, _ := e.do(method, path, body, &eb)
	if got != status || eb.Error == nil || eb.Error.Code != code || (field != "*" && eb.Error.Field != field) {
		e.t.Fatalf("%s %s %v\n= %d %+v, want %d code %q field %q", method, path, trim(body), got, eb.Error, status, code, field)
	}
	if eb.Error.Message == "" {
		e.t.Fatalf("%s %s: error %s has no message", method, path, code)
	}
	return eb.Error
}

func trim(v any) string {
	s := fmt.Sprint(v)
	if b, ok := v.([]byte); ok {
		s = string(b)
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func (e *env) submit(req map[string]any) *apiclient.Task {
	e.t.Helper()
	var task apiclient.Task
	e.wantStatus(201, "POST", "/api/tasks", req, &task)
	return &task
}

func (e *env) get(id string) *apiclient.Task {
	e.t.Helper()
	var task apiclient.Task
	e.wantStatus(200, "GET", "/api/tasks/"+id, nil, &task)
	return &task
}

// waitState polls the API until the task is in want (30s at most: the
// machine may be loaded).
func (e *env) waitState(id string, want backend.State) *apiclient.Task {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		task := e.get(id)
		if task.State == want {
			return task
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("task %s is %s (last error %q), want %s", id, task.State, task.LastError, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newTestWorker starts a Go worker for the test task types.
func newTestWorker(b backend.Backend, concurrency int, queues map[string]int) (*taskmill.Worker, error) {
	if concurrency < 1 {
		return nil, taskmill.Invalid("concurrency", "range", "must be at least 1, got %d", concurrency)
	}
	w, err := taskmill.NewWorker(b, taskmill.WorkerConfig{Handler: testMux(), Concurrency: concurrency, Queues: queues,
		LeaseDuration: 3 * time.Second, Logger: quietLogger()})
	if err != nil {
		return nil, err
	}
	return w, w.Start(context.Background())
}

// rawBody receives an answer's bytes as they are (not JSON).
type rawBody []byte

func mustJSON(t *testing.T, raw []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
}
