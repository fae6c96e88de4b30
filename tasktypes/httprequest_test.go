package tasktypes_test

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/tasktypes"
)

// loopbackConfig lets the network types reach the test's own servers.
func loopbackConfig() tasktypes.Config {
	return tasktypes.Config{UnsafeHTTPAllowLoopback: true, HTTPTimeout: 5 * time.Second}
}

func TestHTTPRequestDeniesInternalAddressesByDefault(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	mux := testMux(t, tasktypes.Config{})
	// Address literals are refused at submit, before anything is stored.
	checkRefused(t, mux, "http_request", []refusedCase{
		{"loopback", `{"url":"http://127.0.0.1/"}`, "payload.url"},
		{"private", `{"url":"http://10.0.0.1/"}`, "payload.url"},
		{"loopback with port", `{"url":"` + srv.URL + `/x"}`, "payload.url"},
		{"IPv6 loopback", `{"url":"http://[::1]:8080/"}`, "payload.url"},
		{"metadata service", `{"url":"http://169.254.169.254/latest/meta-data/"}`, "payload.url"},
		{"unspecified", `{"url":"http://0.0.0.0/"}`, "payload.url"},
	})
	// A name is judged by the address it resolves to, on the socket: so
	// localhost is refused when dialled, and the server never hears of it.
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	_, err := runTask(t, mux, "http_request", map[string]any{"url": "http://localhost:" + port + "/"}, nil)
	if !errors.Is(err, tasktypes.ErrAddressDenied) || !errors.Is(err, taskmill.ErrSkipRetry) {
		t.Fatalf("localhost: err = %v; want the address denied, without retry", err)
	}
	if hits.Load() != 0 {
		t.Errorf("the loopback server got %d requests", hits.Load())
	}
}

// TestHTTPRequestRedirectIntoDeniedRange: a public-looking server that
// redirects to a denied address gets nothing for its trouble.
func TestHTTPRequestRedirectIntoDeniedRange(t *testing.T) {
	var innerHits atomic.Int32
	inner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { innerHits.Add(1) }))
	defer inner.Close()
	// The outer server listens on 127.0.0.2, which this test allows as if
	// it were an operator's internal API; 127.0.0.1 stays denied.
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	outer := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ok" {
			fmt.Fprint(w, "fine")
			return
		}
		http.Redirect(w, r, inner.URL+"/secret", http.StatusFound)
	}))
	outer.Listener.Close()
	outer.Listener = ln
	outer.Start()
	defer outer.Close()

	mux := testMux(t, tasktypes.Config{HTTPAllowCIDRs: []string{"127.0.0.2/32"}})
	var ok tasktypes.HTTPRequestResult
	mustRun(t, mux, "http_request", map[string]any{"url": outer.URL + "/ok"}, &ok)
	if ok.Status != 200 || ok.Body != "fine" {
		t.Fatalf("allowed server: %+v", ok)
	}
	_, err = runTask(t, mux, "http_request", map[string]any{"url": outer.URL + "/go"}, nil)
	if !errors.Is(err, tasktypes.ErrAddressDenied) {
		t.Fatalf("redirect to loopback: err = %v; want the address denied", err)
	}
	if innerHits.Load() != 0 {
		t.Errorf("the denied server got %d requests through a redirect", innerHits.Load())
	}
}

func TestHTTPRequestResultAndRetries(t *testing.T) {
	var calls atomic.Int32
	var flakyAt [3]atomic.Int64 // when /flaky was called, each time, in Unix nanoseconds
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		switch r.URL.Path {
		case "/flaky": // 503 twice, then fine
			if n <= 3 {
				flakyAt[n-1].Store(time.Now().UnixNano())
			}
			if n <= 2 {
				http.Error(w, "busy", http.StatusServiceUnavailable)
				return
			}
			w.Header().Set("X-Echo", r.Header.Get("X-Test"))
			fmt.Fprintf(w, "%s %s", r.Method, "done")
		case "/limited": // 429 asking for a second, then fine
			if n == 1 {
				w.Header().Set("Retry-After", "1")
				http.Error(w, "slow down", http.StatusTooManyRequests)
				return
			}
			fmt.Fprint(w, "ok")
		case "/later":
			w.Header().Set("Retry-After", "3600")
			http.Error(w, "come back in an hour", http.StatusServiceUnavailable)
		case "/post500":
			http.Error(w, "broken", http.StatusInternalServerError)
		case "/missing":
			http.NotFound(w, r)
		case "/binary":
			w.Write([]byte{0xff, 0x00, 0xfe})
		case "/big":
			w.Write([]byte(strings.Repeat("x", 100)))
		case "/echo":
			b := make([]byte, 100)
			k, _ := r.Body.Read(b)
			fmt.Fprintf(w, "%s:%s", r.Method, b[:k])
		}
	}))
	defer srv.Close()
	cfg := loopbackConfig()
	cfg.HTTPMaxResponseBytes = 50
	mux := testMux(t, cfg)

	var r tasktypes.HTTPRequestResult
	calls.Store(0)
	mustRun(t, mux, "http_request", map[string]any{"url": srv.URL + "/flaky", "headers": map[string]string{"X-Test": "hi"}}, &r)
	if r.Status != 200 || r.Attempts != 3 || r.Body != "GET done" || r.Headers["X-Echo"] != "hi" || r.BodyEncoding != "text" {
		t.Errorf("flaky: %+v", r)
	}
	// Without Retry-After, the waits are the exponential backoff from
	// 0.5s with equal jitter: at least 0.25s, then at least 0.5s.
	d1 := time.Duration(flakyAt[1].Load() - flakyAt[0].Load())
	d2 := time.Duration(flakyAt[2].Load() - flakyAt[1].Load())
	if d1 < 250*time.Millisecond || d2 < 500*time.Millisecond {
		t.Errorf("flaky: waited %s then %s between tries; want at least 250ms then 500ms", d1, d2)
	}

	calls.Store(0)
	start := time.Now()
	mustRun(t, mux, "http_request", map[string]any{"url": srv.URL + "/limited"}, &r)
	if r.Status != 200 || r.Attempts != 2 || time.Since(start) < time.Second {
		t.Errorf("429: %+v after %s; want a second try at least a second later", r, time.Since(start))
	}

	// A Retry-After beyond the wait allowed fails the attempt at once;
	// the queue's backoff takes it from there.
	calls.Store(0)
	_, err := runTask(t, mux, "http_request", map[string]any{"url": srv.URL + "/later"}, nil)
	if err == nil || errors.Is(err, taskmill.ErrSkipRetry) || !strings.Contains(err.Error(), "retry after 1h0m0s") || calls.Load() != 1 {
		t.Errorf("long Retry-After: err = %v after %d calls", err, calls.Load())
	}

	// A 5xx to a POST is not sent again within the task.
	calls.Store(0)
	_, err = runTask(t, mux, "http_request", map[string]any{"url": srv.URL + "/post500", "method": "POST", "body": "x"}, nil)
	if err == nil || calls.Load() != 1 {
		t.Errorf("POST 500: err = %v after %d calls; want one call and an error", err, calls.Load())
	}

	// A 404 is an answer, not a failure.
	mustRun(t, mux, "http_request", map[string]any{"url": srv.URL + "/missing"}, &r)
	if r.Status != 404 || r.Attempts != 1 {
		t.Errorf("404: %+v", r)
	}
	mustRun(t, mux, "http_request", map[string]any{"url": srv.URL + "/binary"}, &r)
	if r.BodyEncoding != "base64" || r.Body != "/wD+" {
		t.Errorf("binary: %+v", r)
	}
	mustRun(t, mux, "http_request", map[string]any{"url": srv.URL + "/big"}, &r)
	if !r.Truncated || r.BodyBytes != 50 {
		t.Errorf("big: truncated %v, %d bytes", r.Truncated, r.BodyBytes)
	}
	mustRun(t, mux, "http_request", map[string]any{"url": srv.URL + "/echo", "method": "put", "body": "hello"}, &r)
	if r.Body != "PUT:hello" || r.Method != "PUT" {
		t.Errorf("echo: %+v", r)
	}
}

func TestHTTPRequestRefused(t *testing.T) {
	mux := testMux(t, tasktypes.Config{MaxTextBytes: 10, HTTPAllowHosts: []string{"*.example.com"}, HTTPDenyHosts: []string{"evil.example.com"}})
	checkRefused(t, mux, "http_request", []refusedCase{
		{"no url", `{}`, "payload.url"},
		{"ftp", `{"url":"ftp://files.example.com/x"}`, "payload.url"},
		{"no host", `{"url":"http:///path"}`, "payload.url"},
		{"not in the allow list", `{"url":"https://example.net/"}`, "payload.url"},
		{"in the deny list", `{"url":"https://evil.example.com/"}`, "payload.url"},
		{"bad method", `{"url":"https://a.example.com/","method":"TRACE"}`, "payload.method"},
		{"Host header", `{"url":"https://a.example.com/","headers":{"Host":"other"}}`, "payload.headers.Host"},
		{"header with a line break", `{"url":"https://a.example.com/","headers":{"X-A":"a\r\nX-B: b"}}`, "payload.headers.X-A"},
		{"bad header name", `{"url":"https://a.example.com/","headers":{"X A":"1"}}`, "payload.headers.X A"},
		{"GET with a body", `{"url":"https://a.example.com/","body":"x"}`, "payload.body"},
		{"body too long", `{"url":"https://a.example.com/","method":"POST","body":"12345678901"}`, "payload.body"},
		{"headers not strings", `{"url":"https://a.example.com/","headers":{"X-A":1}}`, "payload.headers"},
	})
	tt, _ := mux.Lookup("http_request")
	if err := tt.Validate([]byte(`{"url":"https://api.example.com/v1","method":"POST","body":"{}"}`)); err != nil {
		t.Errorf("a good payload was refused: %v", err)
	}
}
