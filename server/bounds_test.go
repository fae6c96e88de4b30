package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/apiclient"
	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/embedded"
	"github.com/taskmill/taskmill/server"
)

// TestBoundsAtTheEdge: names no URL could reach, free text that would
// rewrite a terminal, and query strings that are malformed, repeated,
// unknown or carry a cursor the backend did not make are all refused
// with 400 naming the field, on every backend.
func TestBoundsAtTheEdge(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) backend.Backend) {
		e := newEnv(t, open(t), withoutWorker())
		for range 3 {
			e.submit(map[string]any{"type": "echo"})
		}
		cases := []struct {
			method, path string
			body         any
			code, field  string
		}{
			{"GET", "/api/tasks?state=failed&state=pending", nil, "invalid_repeated", "state"},
			{"GET", "/api/tasks?limit=1&limit=2", nil, "invalid_repeated", "limit"},
			{"GET", "/api/tasks?stat=failed", nil, "invalid_unknown", "stat"},
			{"GET", "/api/tasks?q=%zz", nil, "invalid_query", "q"},
			{"GET", "/api/tasks?%zz=1", nil, "invalid_query", "%zz"},
			{"GET", "/api/tasks?state=failed;limit=2", nil, "invalid_query", "state"},
			{"GET", "/api/tasks?cursor=AAAA", nil, "invalid_cursor", "cursor"},           // base64 of three zero bytes
			{"GET", "/api/tasks?cursor=bm90IGFuIGlkIQ", nil, "invalid_cursor", "cursor"}, // base64 of "not an id!"
			{"GET", "/api/tasks?cursor=Li4", nil, "invalid_cursor", "cursor"},            // base64 of ".."
			{"GET", "/api/tasks?cursor=%40%40", nil, "invalid_cursor", "cursor"},
			{"GET", "/api/queues?x=1", nil, "invalid_unknown", "x"},
			{"GET", "/api/events?task=a&task=b", nil, "invalid_repeated", "task"},
			{"GET", "/api/tasks/%2E%2E", nil, "invalid_charset", "id"},
			{"GET", "/api/tasks/%2E", nil, "invalid_charset", "id"},
			{"GET", "/api/tasks/a%5Cb", nil, "invalid_charset", "id"},
			{"GET", "/api/tasks/a%1Bb", nil, "invalid_charset", "id"},
			{"GET", "/api/tasks/%FF", nil, "invalid_charset", "id"},
			{"GET", "/api/queues/%2E%2E", nil, "invalid_charset", "name"},
			{"POST", "/api/tasks", map[string]any{"type": ".."}, "invalid_charset", "type"},
			{"POST", "/api/tasks", map[string]any{"type": "echo", "queue": "."}, "invalid_charset", "queue"},
			{"POST", "/api/tasks", map[string]any{"type": "echo", "id": ".."}, "invalid_charset", "id"},
			{"POST", "/api/tasks", map[string]any{"type": "echo", "queue": "a\u0007b"}, "invalid_charset", "queue"},
			{"POST", "/api/tasks", map[string]any{"type": "echo", "queue": `a\b`}, "invalid_charset", "queue"},
			{"POST", "/api/tasks", []byte("{\"type\":\"ech\xffo\"}"), "invalid_charset", "type"},
			{"POST", "/api/tasks/batch", map[string]any{"tasks": []any{map[string]any{"type": ".."}}}, "invalid_charset", "tasks[0].type"},
			{"POST", "/api/tasks/batch", map[string]any{"tasks": []any{map[string]any{"type": "echo"}, map[string]any{"type": "echo", "queue": "a/b"}}}, "invalid_charset", "tasks[1].queue"},
			{"POST", "/api/workers/%2E%2E/heartbeat", map[string]any{"queues": []string{"q"}, "concurrency": 1}, "invalid_charset", "id"},
			{"POST", "/api/workers/w1/heartbeat", map[string]any{"host": "box\x1b]0;pwned\x07", "queues": []string{"q"}, "concurrency": 1}, "invalid_charset", "host"},
			{"POST", "/api/workers/w1/heartbeat", map[string]any{"host": "box\u202e", "queues": []string{"q"}, "concurrency": 1}, "invalid_charset", "host"},
			{"POST", "/api/workers/w1/lease", map[string]any{"queues": []string{".."}}, "invalid_charset", "queues[0]"},
			{"POST", "/api/tasks/bulk", map[string]any{"action": "retry", "filter": map[string]any{"queue": ".."}}, "invalid_charset", "filter.queue"},
		}
		for _, c := range cases {
			e.wantError(400, c.code, c.field, c.method, c.path, c.body)
		}
		// None of that stored anything.
		var list apiclient.TaskList
		e.do("GET", "/api/tasks", nil, &list)
		if len(list.Tasks) != 3 {
			t.Errorf("%d tasks after the refused requests, want the 3 submitted", len(list.Tasks))
		}
		// A cursor the server made still pages.
		var page apiclient.TaskList
		if st, _ := e.do("GET", "/api/tasks?limit=2", nil, &page); st != 200 || page.NextCursor == "" {
			t.Fatalf("first page = %d, cursor %q", st, page.NextCursor)
		}
		var next apiclient.TaskList
		if st, _ := e.do("GET", "/api/tasks?limit=2&cursor="+page.NextCursor, nil, &next); st != 200 || len(next.Tasks) != 1 {
			t.Fatalf("second page = %d with %d tasks, want 200 with 1", st, len(next.Tasks))
		}
	})
}

// FuzzQueryString: no query string makes GET /api/tasks fail with a
// server error or answer an error that names no field.
func FuzzQueryString(f *testing.F) {
	for _, s := range []string{"", "state=failed", "state=a&state=b", "%zz=1", "q=%", "cursor=AAAA", "limit=9999999999999999999", "a;b", "&&=&", "cursor=" + strings.Repeat("A", 600)} {
		f.Add(s)
	}
	b, err := embedded.Open(f.TempDir(), embedded.Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer b.Close()
	srv, err := server.New(server.Config{Client: taskmill.NewClient(b, taskmill.ClientConfig{}), Logger: quietLogger()})
	if err != nil {
		f.Fatal(err)
	}
	defer srv.Close()
	f.Fuzz(func(t *testing.T, query string) {
		req := httptest.NewRequest("GET", "/api/tasks", nil)
		req.URL.RawQuery = query
		req.Host = "localhost"
		req = req.WithContext(context.Background())
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("?%s = %d %s", query, rec.Code, rec.Body)
		}
		if rec.Code == http.StatusBadRequest {
			var eb apiclient.ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Error == nil || eb.Error.Field == "" {
				t.Fatalf("?%s = 400 without a field: %s", query, rec.Body)
			}
		}
	})
}
