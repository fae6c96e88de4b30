package server_test

import (
	"net/http"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/taskmill/taskmill/apiclient"
	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/server"
)

const (
	adminToken  = "admin-token-0123456789"
	readToken   = "read-token-0123456789"
	workerToken = "worker-token-0123456789"
)

func keyedEnv(t *testing.T, b backend.Backend, more ...envOption) *env {
	opts := append([]envOption{withConfig(func(c *server.Config) {
		c.APIKeys = []server.APIKey{{Name: "ops", Role: server.RoleAdmin, Token: adminToken},
			{Name: "dash", Role: server.RoleRead, Token: readToken}, {Name: "node", Role: server.RoleWorker, Token: workerToken}}
		c.UI = fstest.MapFS{"index.html": {Data: []byte("<html>dashboard</html>")}, "assets/app.js": {Data: []byte("console.log(1)")}}
	})}, more...)
	return newEnv(t, b, opts...)
}

func TestAuth(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) backend.Backend) {
		e := keyedEnv(t, open(t), withoutWorker())
		// No token, a wrong token: 401 with WWW-Authenticate.
		status, h := e.doAs("", "GET", "/api/tasks", nil, nil)
		if status != 401 || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("no token: %d %v", status, h)
		}
		e.token = ""
		e.wantError(401, "unauthorized", "", "GET", "/api/tasks", nil)
		e.token = "wrong-token-0123456789"
		e.wantError(401, "unauthorized", "", "GET", "/api/tasks", nil)
		// ?access_token= works on the WebSocket only.
		e.wantError(401, "unauthorized", "", "GET", "/api/tasks?access_token="+readToken, nil)

		// A read key reads and may not write.
		e.token = readToken
		e.wantStatus(200, "GET", "/api/tasks", nil, nil)
		e.wantStatus(200, "GET", "/api/queues", nil, nil)
		e.wantStatus(200, "GET", "/metrics", nil, nil)
		for _, w := range []struct{ method, path string }{
			{"POST", "/api/tasks"}, {"POST", "/api/tasks/batch"}, {"POST", "/api/tasks/bulk"}, {"DELETE", "/api/tasks/x"},
			{"POST", "/api/tasks/x/retry"}, {"POST", "/api/tasks/x/cancel"}, {"POST", "/api/queues/q/pause"}, {"POST", "/api/queues/q/resume"},
			{"POST", "/api/workers"}, {"DELETE", "/api/workers/w"}, {"POST", "/api/workers/w/lease"}, {"POST", "/api/tasks/x/ack"},
		} {
			e.wantError(403, "forbidden", "", w.method, w.path, `{"type":"echo"}`)
		}
		// A worker key speaks the worker protocol and nothing else.
		e.token = workerToken
		e.wantStatus(200, "POST", "/api/workers/w1/heartbeat", map[string]any{"queues": []string{"q"}, "concurrency": 1}, nil)
		e.wantError(403, "forbidden", "", "GET", "/api/tasks", nil)
		e.wantError(403, "forbidden", "", "POST", "/api/tasks", `{"type":"echo"}`)
		// An admin key does everything.
		e.token = adminToken
		task := e.submit(map[string]any{"type": "echo"})
		e.wantStatus(200, "POST", "/api/workers/w1/lease", map[string]any{"queues": []string{"default"}}, nil)
		e.wantStatus(200, "GET", "/api/tasks/"+task.ID, nil, nil)

		// Open without a token: health, docs, the document and the dashboard.
		e.token = ""
		for _, p := range []string{"/healthz", "/readyz", "/api/openapi.json", "/docs", "/", "/tasks/123", "/assets/app.js"} {
			if status, _ := e.do("GET", p, nil, nil); status != 200 {
				t.Fatalf("GET %s without a token = %d", p, status)
			}
		}
		// The WebSocket takes the token as a query parameter (browsers cannot set headers).
		if _, resp, err := e.dialEvents("", nil); err == nil || resp == nil || resp.StatusCode != 401 {
			t.Fatalf("events without a token: %v %v", resp, err)
		}
		conn, _, err := e.dialEvents("?access_token="+readToken, nil)
		if err != nil {
			t.Fatalf("events with ?access_token=: %v", err)
		}
		conn.CloseNow()
		conn, _, err = e.dialEvents("", http.Header{"Authorization": {"Bearer " + readToken}})
		if err != nil {
			t.Fatalf("events with a bearer header: %v", err)
		}
		conn.CloseNow()
		if _, resp, err := e.dialEvents("?access_token="+workerToken, nil); err == nil || resp.StatusCode != 403 {
			t.Fatalf("events with a worker key: %v %v", resp, err)
		}
	})
}

func TestPublicMetricsAndKeyValidation(t *testing.T) {
	b := backendKinds[0].open(t)
	e := keyedEnv(t, b, withoutWorker(), withConfig(func(c *server.Config) { c.PublicMetrics = true }))
	e.wantStatus(200, "GET", "/metrics", nil, nil)
	e.wantError(401, "unauthorized", "", "GET", "/api/stats", nil)
	for _, bad := range []string{"short:admin:abc", "name:root:0123456789abcdef", "nocolons", "a b:admin:0123456789abcdef", "x:read:0123456789 abcdef"} {
		if _, err := server.ParseAPIKey(bad); err == nil {
			t.Errorf("ParseAPIKey(%q) accepted a bad key", bad)
		} else if strings.Contains(err.Error(), "0123456789abcdef") {
			t.Errorf("the error for %q shows the token: %v", bad, err)
		}
	}
	k, err := server.ParseAPIKey("ci:worker:tok:with:colons-0123456789")
	if err != nil || k.Name != "ci" || k.Role != server.RoleWorker || k.Token != "tok:with:colons-0123456789" {
		t.Fatalf("ParseAPIKey with colons in the token = %+v, %v", k, err)
	}
	_, err = server.New(server.Config{Client: e.client, APIKeys: []server.APIKey{{Name: "a", Role: "admin", Token: adminToken}, {Name: "b", Role: "read", Token: adminToken}}})
	if err == nil {
		t.Fatal("two keys with one token were accepted")
	}
}

func TestCORS(t *testing.T) {
	b := backendKinds[0].open(t)
	closed := newEnv(t, b, withoutWorker())
	req, _ := http.NewRequest("GET", closed.URL+"/api/tasks", nil)
	req.Header.Set("Origin", "https://evil.example")
	resp, err := closed.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("CORS is open by default")
	}
	open := newEnv(t, b, withoutWorker(), withConfig(func(c *server.Config) { c.CORSOrigins = []string{"https://ops.example/"} }))
	for _, origin := range []string{"https://ops.example", "https://evil.example"} {
		pre, _ := http.NewRequest("OPTIONS", open.URL+"/api/tasks", nil)
		pre.Header.Set("Origin", origin)
		pre.Header.Set("Access-Control-Request-Method", "POST")
		pre.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		resp, err := http.DefaultClient.Do(pre)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		allowed := resp.Header.Get("Access-Control-Allow-Origin") == origin
		if allowed != (origin == "https://ops.example") {
			t.Fatalf("preflight from %s: %d allow-origin %q", origin, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
		}
		if allowed && (resp.StatusCode != 204 || !strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization")) {
			t.Fatalf("preflight answer: %d %v", resp.StatusCode, resp.Header)
		}
	}
	req, _ = http.NewRequest("GET", open.URL+"/api/stats", nil)
	req.Header.Set("Origin", "https://ops.example")
	resp, err = open.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://ops.example" || !strings.Contains(resp.Header.Get("Vary"), "Origin") {
		t.Fatalf("CORS headers on a GET: %v", resp.Header)
	}
	// The WebSocket refuses a page of another origin, and accepts an allowed one.
	if _, resp, err := open.dialEvents("", http.Header{"Origin": {"https://evil.example"}}); err == nil || resp.StatusCode != 403 {
		t.Fatalf("events from a foreign origin: %v %v", resp, err)
	}
	conn, _, err := open.dialEvents("", http.Header{"Origin": {"https://ops.example"}})
	if err != nil {
		t.Fatalf("events from an allowed origin: %v", err)
	}
	conn.CloseNow()
	if _, err := server.New(server.Config{Client: open.client, CORSOrigins: []string{"ops.example"}}); err == nil {
		t.Fatal("an origin without a scheme was accepted")
	}
	var _ apiclient.Task
}
