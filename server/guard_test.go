package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/taskmill/taskmill/apiclient"
	"github.com/taskmill/taskmill/backend/embedded"
	"github.com/taskmill/taskmill/server"
)

// TestBrowserGuards sends what a page on another site, or a page whose
// DNS name was rebound to the server, can make a browser send, next to
// what the dashboard, the CLI and the workers send, and checks each
// answer. A request that is refused must change nothing: the test counts
// the tasks afterwards.
func TestBrowserGuards(t *testing.T) {
	b, err := embedded.Open(t.TempDir(), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	e := newEnv(t, b, withoutWorker(), withConfig(func(c *server.Config) {
		c.CORSOrigins = []string{"https://ops.example.com"}
		c.AllowedHosts = []string{"tm.example.com", "tm2.example.com:8443"}
	}))
	u, _ := url.Parse(e.URL)
	port := u.Port()
	self := "http://" + u.Host
	const task = `{"type":"echo"}`

	cases := []struct {
		name        string
		method      string
		path        string
		host        string // "" for the URL's own
		contentType string
		origin      string
		fetchSite   string
		body        string
		status      int
		code, field string
	}{
		// What the CLI, the Go HTTP worker and the Node worker send: JSON,
		// no Origin, no Sec-Fetch-Site.
		{name: "cli submit", method: "POST", path: "/api/tasks", contentType: "application/json", body: task, status: 201},
		{name: "charset parameter", method: "POST", path: "/api/tasks", contentType: "application/json; charset=utf-8", body: task, status: 201},
		{name: "cli read", method: "GET", path: "/api/tasks", status: 200},
		// The dashboard: same origin, marked so by the browser.
		{name: "dashboard submit", method: "POST", path: "/api/tasks", contentType: "application/json", origin: self, fetchSite: "same-origin", body: task, status: 201},
		{name: "allowed CORS origin", method: "POST", path: "/api/tasks", contentType: "application/json", origin: "https://ops.example.com", fetchSite: "cross-site", body: task, status: 201},
		{name: "localhost name", method: "GET", path: "/api/tasks", host: "localhost:" + port, status: 200},
		{name: "configured host any port", method: "GET", path: "/api/tasks", host: "TM.example.com", status: 200},
		{name: "configured host and port", method: "GET", path: "/healthz", host: "tm2.example.com:8443", status: 200},

		// Cross-site writes a browser sends without a preflight.
		{name: "text/plain fetch", method: "POST", path: "/api/tasks", contentType: "text/plain;charset=UTF-8", origin: "http://evil.example", fetchSite: "cross-site", body: task, status: 403, code: "cross_origin", field: "Origin"},
		{name: "text/plain, no origin headers", method: "POST", path: "/api/tasks", contentType: "text/plain", body: task, status: 415, code: "unsupported_media_type", field: "Content-Type"},
		{name: "form post", method: "POST", path: "/api/tasks", contentType: "application/x-www-form-urlencoded", body: "type=echo", status: 415, code: "unsupported_media_type", field: "Content-Type"},
		{name: "multipart post", method: "POST", path: "/api/tasks", contentType: "multipart/form-data; boundary=x", body: "--x--", status: 415, code: "unsupported_media_type", field: "Content-Type"},
		{name: "body without type", method: "POST", path: "/api/tasks", body: task, status: 415, code: "unsupported_media_type", field: "Content-Type"},
		{name: "empty form post to cancel", method: "POST", path: "/api/tasks/x/cancel", contentType: "application/x-www-form-urlencoded", origin: "http://127.0.0.1:1", fetchSite: "same-site", status: 403, code: "cross_origin", field: "Origin"},
		{name: "other loopback port (same-site)", method: "DELETE", path: "/api/tasks/x", origin: "http://127.0.0.1:1", fetchSite: "same-site", status: 403, code: "cross_origin", field: "Origin"},
		{name: "Origin alone, other host", method: "POST", path: "/api/queues/default/pause", origin: "http://evil.example", status: 403, code: "cross_origin", field: "Origin"},
		{name: "scheme differs from allowed origin", method: "POST", path: "/api/tasks", contentType: "application/json", origin: "http://ops.example.com", fetchSite: "cross-site", body: task, status: 403, code: "cross_origin", field: "Origin"},

		// DNS rebinding: the page's own name as Host.
		{name: "rebound read", method: "GET", path: "/api/tasks", host: "evil.example:" + port, status: 421, code: "wrong_host", field: "Host"},
		{name: "rebound write", method: "POST", path: "/api/tasks", host: "evil.example:" + port, contentType: "application/json", body: task, status: 421, code: "wrong_host", field: "Host"},
		{name: "rebound health", method: "GET", path: "/healthz", host: "evil.example:" + port, status: 421, code: "wrong_host", field: "Host"},
		{name: "localhost, wrong port", method: "GET", path: "/api/tasks", host: "localhost:1", status: 421, code: "wrong_host", field: "Host"},
		{name: "configured host, wrong port", method: "GET", path: "/api/tasks", host: "tm2.example.com:9", status: 421, code: "wrong_host", field: "Host"},
		{name: "suffix of a configured host", method: "GET", path: "/api/tasks", host: "xtm.example.com", status: 421, code: "wrong_host", field: "Host"},
	}
	created := 0
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body io.Reader
			if c.body != "" {
				body = strings.NewReader(c.body)
			}
			req, err := http.NewRequest(c.method, e.URL+c.path, body)
			if err != nil {
				t.Fatal(err)
			}
			if c.host != "" {
				req.Host = c.host
			}
			for h, v := range map[string]string{"Content-Type": c.contentType, "Origin": c.origin, "Sec-Fetch-Site": c.fetchSite} {
				if v != "" {
					req.Header.Set(h, v)
				}
			}
			resp, err := e.hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.status {
				t.Fatalf("%s %s = %d %s, want %d", c.method, c.path, resp.StatusCode, raw, c.status)
			}
			if resp.StatusCode == 201 {
				created++
			}
			if c.code == "" {
				return
			}
			var eb apiclient.ErrorBody
			if err := json.Unmarshal(raw, &eb); err != nil || eb.Error == nil {
				t.Fatalf("not an error body: %s", raw)
			}
			if eb.Error.Code != c.code || eb.Error.Field != c.field {
				t.Errorf("error = %s field %q, want %s field %q (%s)", eb.Error.Code, eb.Error.Field, c.code, c.field, eb.Error.Message)
			}
		})
	}
	var list apiclient.TaskList
	if st, _ := e.do("GET", "/api/tasks?limit=1000", nil, &list); st != 200 {
		t.Fatalf("list = %d", st)
	}
	if len(list.Tasks) != created {
		t.Errorf("%d tasks exist; only the %d accepted submits should have made one", len(list.Tasks), created)
	}
}

// TestEventStreamOrigin: the WebSocket takes its own origin and the
// configured ones, compared with their scheme, and nothing rebound.
func TestEventStreamOrigin(t *testing.T) {
	b, err := embedded.Open(t.TempDir(), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	e := newEnv(t, b, withoutWorker(), withConfig(func(c *server.Config) { c.CORSOrigins = []string{"https://ops.example.com"} }))
	u, _ := url.Parse(e.URL)
	cases := []struct {
		name, origin, host string
		status             int
	}{
		{"no origin (a program)", "", "", http.StatusSwitchingProtocols},
		{"own origin", "http://" + u.Host, "", http.StatusSwitchingProtocols},
		{"own origin behind a TLS proxy", "https://" + u.Host, "", http.StatusForbidden},
		{"allowed origin", "https://ops.example.com", "", http.StatusSwitchingProtocols},
		{"allowed host, other scheme", "http://ops.example.com", "", http.StatusForbidden},
		{"other loopback port", "http://127.0.0.1:1", "", http.StatusForbidden},
		{"rebound name", "http://evil.example:" + u.Port(), "evil.example:" + u.Port(), http.StatusMisdirectedRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{}
			if c.origin != "" {
				h.Set("Origin", c.origin)
			}
			if c.host != "" {
				h.Set("Host", c.host)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			conn, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.URL, "http")+"/api/events", &websocket.DialOptions{HTTPHeader: h, Host: c.host})
			if conn != nil {
				conn.CloseNow()
			}
			if resp == nil {
				t.Fatalf("no answer: %v", err)
			}
			if resp.StatusCode != c.status {
				t.Fatalf("upgrade = %d (%v), want %d", resp.StatusCode, err, c.status)
			}
		})
	}
}
