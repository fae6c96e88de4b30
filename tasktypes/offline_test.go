package tasktypes_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/tasktypes"
)

// TestUnresolvableNameFailsAtOnce: a name the resolver says does not exist
// (the .invalid TLD never does, RFC 6761; offline, every name is like it)
// fails the task on the first try, without retry, and says how to point
// the type at a service that resolves.
func TestUnresolvableNameFailsAtOnce(t *testing.T) {
	cfg := tasktypes.Config{WeatherBaseURL: "http://weather.invalid", GeocodingBaseURL: "http://geo.invalid", CurrencyBaseURL: "http://rates.invalid",
		HTTPMaxRetries: 4}
	mux := testMux(t, cfg)
	for _, tc := range []struct {
		typ     string
		payload map[string]any
		hint    string
	}{
		{"http_request", map[string]any{"url": "http://nosuch.invalid/"}, "--http-allow-cidrs"},
		{"weather_data", map[string]any{"city": "Berlin"}, "--geocoding-base-url"},
		{"weather_data", map[string]any{"latitude": 52.5, "longitude": 13.4}, "--weather-base-url"},
		{"currency_conversion", map[string]any{"amount": 10, "from": "EUR", "to": "USD"}, "--currency-base-url"},
	} {
		task, err := runTask(t, mux, tc.typ, tc.payload, nil)
		if err == nil || !errors.Is(err, taskmill.ErrSkipRetry) {
			t.Errorf("%s: err = %v; want a failure without retry", tc.typ, err)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, "does not resolve") || !strings.Contains(msg, tc.hint) || !strings.Contains(msg, "docs/task-types.md") {
			t.Errorf("%s: %q does not say the name does not resolve and how to point it elsewhere (%s)", tc.typ, msg, tc.hint)
		}
		// One try: no "trying again" progress was ever reported.
		if p := task.LastProgress(); p != nil && strings.Contains(p.Message, "trying again") {
			t.Errorf("%s: tried again: %q", tc.typ, p.Message)
		}
	}
}

// TestDeniedAddressNamesTheFlag: the refusal of a local address says which
// flag allows it, and with that flag the same request goes through.
func TestDeniedAddressNamesTheFlag(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("hi")) }))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	target := "http://localhost:" + u.Port() + "/"

	_, err := runTask(t, testMux(t, tasktypes.Config{}), "http_request", map[string]any{"url": target}, nil)
	// localhost may resolve to ::1 before 127.0.0.1: either is named.
	if !errors.Is(err, tasktypes.ErrAddressDenied) || !(strings.Contains(err.Error(), "--http-allow-cidrs 127.0.0.1") || strings.Contains(err.Error(), "--http-allow-cidrs ::1")) {
		t.Fatalf("err = %v; want the refusal to name --http-allow-cidrs and the address", err)
	}
	var res struct {
		Status int    `json:"status"`
		Body   string `json:"body"`
	}
	mustRun(t, testMux(t, tasktypes.Config{HTTPAllowCIDRs: []string{"127.0.0.1", "::1"}}), "http_request", map[string]any{"url": target}, &res)
	if res.Status != 200 {
		t.Fatalf("with --http-allow-cidrs 127.0.0.1: %+v", res)
	}
}
