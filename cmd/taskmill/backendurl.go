package main

import (
	"context"
	"flag"
	"log/slog"
	"net/url"
	"strconv"
	"strings"

	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/embedded"
	"github.com/taskmill/taskmill/backend/redis"
)

// backendHelp is the --backend flag's help, shared by every command.
const backendHelp = `backend URL: empty or embedded:// for the embedded store in --data; file:///DIR for the embedded store in DIR;
redis://[user:pass@]host:6379/0, rediss://… (TLS), redis-sentinel://[user:pass@]h1:26379,h2:26379/0?master=NAME,
redis-cluster://[user:pass@]h1:6379,h2:6379 (rediss-sentinel and rediss-cluster over TLS); see docs/redis.md`

// openBackend opens the backend a --backend URL names. An empty URL, or
// embedded://, means the embedded store in dataDir; file:///path names
// another directory for it; the redis schemes connect to Redis.
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
	case "redis", "rediss", "redis-sentinel", "rediss-sentinel", "redis-cluster", "rediss-cluster":
		if _, _, err := redis.ParseURL(rawURL, redis.Options{}); err != nil {
			return nil, "", usagef("--backend %s: %v", redactURL(rawURL), err)
		}
		b, err := redis.Open(ctx, rawURL, redis.Options{Logger: log})
		return b, "redis", err
	}
	return nil, "", usagef("--backend: unknown scheme %q (want embedded, file, redis, rediss, redis-sentinel or redis-cluster)", u.Scheme)
}

// redisSettings are the Redis-only flags a command that opens a backend
// may offer; apply folds them into the --backend URL.
type redisSettings struct {
	waitReplicas int
}

// redisFlags adds --redis-wait-replicas (env TASKMILL_REDIS_WAIT_REPLICAS).
func redisFlags(fs *flag.FlagSet) *redisSettings {
	r := &redisSettings{}
	fs.IntVar(&r.waitReplicas, "redis-wait-replicas", envInt("TASKMILL_REDIS_WAIT_REPLICAS", 0),
		"with a Redis backend, a submit returns only after this many replicas have it (Redis WAIT) (env TASKMILL_REDIS_WAIT_REPLICAS)")
	return r
}

// apply returns rawURL with the settings as query parameters; URLs of
// other backends, and settings left at zero, pass through unchanged.
func (r *redisSettings) apply(rawURL string) (string, error) {
	if r == nil || r.waitReplicas == 0 || !strings.HasPrefix(rawURL, "redis") {
		return rawURL, nil
	}
	if r.waitReplicas < 0 || r.waitReplicas > 100 {
		return "", usagef("--redis-wait-replicas must be between 0 and 100, got %d", r.waitReplicas)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", usagef("--backend %q: %v", redactURL(rawURL), err)
	}
	q := u.Query()
	q.Set("wait_replicas", strconv.Itoa(r.waitReplicas))
	u.RawQuery = q.Encode()
	return u.String(), nil
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

// openBackendCheck validates a --backend URL without connecting: the
// scheme is known and, for Redis, the URL parses.
func openBackendCheck(rawURL string) (string, string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", "", err
	}
	switch u.Scheme {
	case "", "file", "embedded":
		return "embedded", rawURL, nil
	}
	c, _, err := redis.ParseURL(rawURL, redis.Options{})
	if err != nil {
		return "", "", err
	}
	c.Close()
	return "redis", rawURL, nil
}
