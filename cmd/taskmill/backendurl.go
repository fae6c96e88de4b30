package main

import (
	"context"
	"log/slog"
	"net/url"
	"strings"

	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/embedded"
)

// openBackend opens the backend a --backend URL names. An empty URL, or
// embedded://, means the embedded store in dataDir; file:///path names
// another directory for it.
func openBackend(ctx context.Context, rawURL, dataDir string, log *slog.Logger) (backend.Backend, string, error) {
	if rawURL == "" || rawURL == "embedded" || rawURL == "embedded://" {
		b, err := embedded.Open(dataDir, embedded.Options{Logger: log})
		return b, "embedded", err
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, "", usagef("--backend %q: %v", redactURL(rawURL), err)
	}
	switch u.Scheme {
	case "file", "embedded":
		dir := u.Path
		if dir == "" {
			dir = u.Host
		}
		b, err := embedded.Open(dir, embedded.Options{Logger: log})
		return b, "embedded", err
	}
	return nil, "", usagef("--backend: unknown scheme %q (want embedded, file, redis, rediss, redis-sentinel or redis-cluster)", u.Scheme)
}

// redactURL hides a password in a backend URL, for logs and errors.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if i := strings.LastIndex(raw, "@"); i >= 0 {
			return "…" + raw[i:]
		}
		return raw
	}
	return u.Redacted()
}
