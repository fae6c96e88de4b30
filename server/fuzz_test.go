package server_test

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/apiclient"
	"github.com/taskmill/taskmill/backend/embedded"
	"github.com/taskmill/taskmill/server"
)

// FuzzRequestBodies sends arbitrary bodies to every endpoint that decodes
// one: whatever arrives, the answer is a success or a 4xx with the error
// body naming a code, never a 5xx or a panic.
func FuzzRequestBodies(f *testing.F) {
	seeds := []string{
		`{"type":"echo","payload":{"a":1}}`, `{"type":"square","payload":{"n":5},"delay":"1s","priority":3}`,
		`{"tasks":[{"type":"echo"},{"type":"square","payload":{"n":-1}}]}`, `{"action":"retry","filter":{"state":"failed"}}`,
		`{"action":"delete","filter":{"ids":["a","b"]},"limit":5}`, `{"queues":["q"],"concurrency":2,"ttl":"5s"}`,
		`{"queues":["q"],"max":3,"lease_for":"2s"}`, `{"leases":[{"task_id":"t","token":"1"}]}`, `{"token":"1","result":{}}`,
		`{"token":"1","error":"x","retry_after":2}`, `{"token":"2","percent":50}`, `{"concurrency":1}`,
		``, `null`, `[]`, `{"type":`, `{"type":"echo","timeout":1e308}`, `{"type":"echo","run_at":"2030-01-01T00:00:00Z"}`,
		"{\"type\":\"\u00e9\"}", `{"type":"echo","payload":"` + strings.Repeat("x", 100) + `"}`,
	}
	for i, s := range seeds {
		f.Add(uint8(i), s)
	}
	b, err := embedded.Open(f.TempDir(), embedded.Options{NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	defer b.Close()
	mux := testMux()
	srv, err := server.New(server.Config{Client: taskmill.NewClient(b, taskmill.ClientConfig{Types: mux}), Types: mux,
		Logger: quietLogger(), MaxBodyBytes: 8 << 10, MaxLeaseWait: 50 * time.Millisecond, Workers: &workerStarter{b: b}})
	if err != nil {
		f.Fatal(err)
	}
	defer srv.Close()
	targets := []string{"/api/tasks", "/api/tasks/batch", "/api/tasks/bulk", "/api/workers/fz/heartbeat", "/api/workers/fz/lease",
		"/api/workers/fz/extend", "/api/tasks/t/ack", "/api/tasks/t/fail", "/api/tasks/t/progress", "/api/tasks/t/release", "/api/workers"}
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		path := targets[int(which)%len(targets)]
		if path == "/api/workers" && strings.Contains(body, "concurrency") {
			return // would start real workers; covered by TestWorkersEndpoints
		}
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		req.Host = "localhost"
		req.Header.Set("Content-Type", "application/json")
		srv.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("POST %s %q = %d %s", path, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			var eb apiclient.ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Error == nil || eb.Error.Code == "" || eb.Error.Message == "" {
				t.Fatalf("POST %s %q = %d without an error body: %s", path, body, rec.Code, rec.Body)
			}
		}
	})
}
