package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net/url"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	goredis "github.com/redis/go-redis/v9"
	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/embedded"
	"github.com/taskmill/taskmill/backend/postgres"
	"github.com/taskmill/taskmill/backend/redis"
)

// backendHelp is the --backend flag's help, shared by every command.
const backendHelp = `backend URL: empty or embedded:// for the embedded store in --data; file:///DIR for the embedded store in DIR;
redis://[user:pass@]host:6379/0, rediss://… (TLS), redis-sentinel://[user:pass@]h1:26379,h2:26379/0?master=NAME,
redis-cluster://[user:pass@]h1:6379,h2:6379 (rediss-sentinel and rediss-cluster over TLS); see docs/redis.md;
postgres://user:pass@host:5432/db[?schema=taskmill] for PostgreSQL; see docs/postgres.md`

// backendTarget is a --backend URL read, before anything connects: the
// embedded store's directory, a Redis client built but not connected, or
// a PostgreSQL pool configuration.
type backendTarget struct {
	kind   string // "embedded", "redis" or "postgres"
	dir    string // embedded: the store's directory
	rdb    goredis.UniversalClient
	opts   redis.Options
	pgcfg  *pgxpool.Config
	pgopts postgres.Options
}

// parseBackend reads a --backend URL without connecting. An empty URL, or
// embedded://, means the embedded store in dataDir; file:///path names
// another directory for it (file://dir a relative one); the redis
// schemes build a Redis client (see redis.ParseURL), which open connects
// and close releases. Its errors are usage errors, and never show a
// password.
func parseBackend(rawURL, dataDir string, log *slog.Logger) (*backendTarget, error) {
	if rawURL == "" || rawURL == "embedded" || rawURL == "embedded://" {
		return &backendTarget{kind: "embedded", dir: dataDir}, nil
	}
	switch scheme := schemeOf(rawURL); scheme {
	case "file", "embedded":
		u, err := url.Parse(rawURL)
		if err != nil {
			return nil, usagef("--backend %s: %v", redactURL(rawURL), withoutURL(err))
		}
		dir := u.Path
		if dir == "" {
			dir = u.Host
		}
		return &backendTarget{kind: "embedded", dir: dir}, nil
	case "redis", "rediss", "redis-sentinel", "rediss-sentinel", "redis-cluster", "rediss-cluster":
		rdb, opts, err := redis.ParseURL(rawURL, redis.Options{Logger: log})
		if err != nil {
			return nil, usagef("--backend %s: %v", redactURL(rawURL), err)
		}
		return &backendTarget{kind: "redis", rdb: rdb, opts: opts}, nil
	case "postgres", "postgresql":
		cfg, opts, err := postgres.ParseURL(rawURL, postgres.Options{Logger: log})
		if err != nil {
			return nil, usagef("--backend %s: %v", redactURL(rawURL), err)
		}
		return &backendTarget{kind: "postgres", pgcfg: cfg, pgopts: opts}, nil
	default:
		return nil, usagef("--backend: unknown scheme %q (want embedded, file, redis, rediss, redis-sentinel, redis-cluster or postgres)", scheme)
	}
}

// open opens the backend: the embedded store in its directory, or the
// Redis backend over the client parseBackend built, which it then owns
// (it is closed with the backend, or here when connecting fails).
func (t *backendTarget) open(ctx context.Context, log *slog.Logger) (backend.Backend, error) {
	switch t.kind {
	case "redis":
		return redis.OpenClient(ctx, t.rdb, t.opts)
	case "postgres":
		return postgres.OpenConfig(ctx, t.pgcfg, t.pgopts)
	}
	b, err := embedded.Open(t.dir, embedded.Options{Logger: log})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// close releases what parseBackend built, for a target never opened.
func (t *backendTarget) close() {
	if t.rdb != nil {
		t.rdb.Close()
	}
}

// openBackend opens the backend a --backend URL names (see parseBackend)
// and says which kind it is: "embedded", "redis" or "postgres".
func openBackend(ctx context.Context, rawURL, dataDir string, log *slog.Logger) (backend.Backend, string, error) {
	t, err := parseBackend(rawURL, dataDir, log)
	if err != nil {
		return nil, "", err
	}
	b, err := t.open(ctx, log)
	if err != nil {
		return nil, "", err
	}
	return b, t.kind, nil
}

// schemeOf returns a URL's scheme in lower case, "" when it has none.
// url.Parse would tell it too, but refuses the host lists of the
// sentinel and cluster forms ("h1:26379,h2").
func schemeOf(raw string) string {
	for i, c := range raw {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9', c == '+', c == '-', c == '.':
			if i == 0 {
				return ""
			}
		case c == ':':
			return strings.ToLower(raw[:i])
		default:
			return ""
		}
	}
	return ""
}

// withoutURL drops the URL a *url.Error quotes, password included, and
// keeps what is wrong with it.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// withQuery returns rawURL with the query parameter name set to value.
// It reads and rewrites the query alone, so it takes every form
// parseBackend takes, host lists included.
func withQuery(rawURL, name, value string) (string, error) {
	base, query, _ := strings.Cut(rawURL, "?")
	q, err := url.ParseQuery(query)
	if err != nil {
		return "", usagef("--backend %s: %v", redactURL(rawURL), withoutURL(err))
	}
	q.Set(name, value)
	return base + "?" + q.Encode(), nil
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
	return withQuery(rawURL, "wait_replicas", strconv.Itoa(r.waitReplicas))
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

// postgresSettings are the PostgreSQL-only flags of serve and worker;
// apply folds them into the --backend URL.
type postgresSettings struct {
	noMigrate bool
}

// postgresFlags adds --no-migrate (env TASKMILL_NO_MIGRATE).
func postgresFlags(fs *flag.FlagSet) *postgresSettings {
	p := &postgresSettings{}
	fs.BoolVar(&p.noMigrate, "no-migrate", envBool("TASKMILL_NO_MIGRATE", false),
		"with a PostgreSQL backend, do not apply schema migrations at start; fail if the schema is behind (run: taskmill migrate up) (env TASKMILL_NO_MIGRATE)")
	return p
}

// apply returns rawURL with no_migrate=1 for a PostgreSQL URL when
// --no-migrate is set; other URLs pass through unchanged.
func (p *postgresSettings) apply(rawURL string) (string, error) {
	if p == nil || !p.noMigrate {
		return rawURL, nil
	}
	switch schemeOf(rawURL) {
	case "postgres", "postgresql":
		return withQuery(rawURL, "no_migrate", "1")
	}
	return rawURL, nil
}
