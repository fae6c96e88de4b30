package redis

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Open connects to the Redis a URL names and returns a backend over it.
// The URL forms (documented in docs/redis.md):
//
//	redis://[user:password@]host:port[/db]            one server
//	rediss://[user:password@]host:port[/db]           one server over TLS
//	redis-sentinel://[user:password@]h1:26379,h2:26379[/db]?master=NAME
//	                                                  the master a Sentinel group names
//	redis-cluster://[user:password@]h1:6379,h2:6379   a Redis Cluster
//	rediss-sentinel://…, rediss-cluster://…           the same over TLS
//
// Query parameters understood by taskmill on every form: prefix (key
// prefix, default "tm"), wait_replicas and wait_timeout (see Options),
// tls_ca (a PEM file of CAs to trust), tls_insecure (skip certificate
// checks; tests only). On the sentinel form: master (required),
// sentinel_user and sentinel_password (when the Sentinels need their own).
// Other parameters of redis:// and rediss:// go to go-redis (dial_timeout,
// pool_size, …). opts fills what the URL does not say.
func Open(ctx context.Context, rawURL string, opts Options) (*Backend, error) {
	rdb, o, err := ParseURL(rawURL, opts)
	if err != nil {
		return nil, err
	}
	return OpenClient(ctx, rdb, o)
}

// OpenClient returns a backend over a client ParseURL built, with the
// options it returned: Open in two steps, for a caller that checks the
// URL before it connects. The backend owns rdb: Close closes it, and so
// does OpenClient when it fails.
func OpenClient(ctx context.Context, rdb goredis.UniversalClient, opts Options) (*Backend, error) {
	b, err := newBackend(ctx, rdb, opts, true)
	if err != nil {
		rdb.Close()
		return nil, err
	}
	return b, nil
}

// stripURL returns the error net/url (or go-redis, through it) reports
// without the URL it adds: a *url.Error quotes the whole URL it could
// not parse, password included.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// ParseURL builds a go-redis client and the backend options from a URL;
// see Open. It does not connect. Its errors never hold the URL's
// password.
func ParseURL(rawURL string, opts Options) (goredis.UniversalClient, Options, error) {
	hostList, rest := splitHosts(rawURL)
	u, err := url.Parse(rest)
	if err != nil {
		return nil, opts, fmt.Errorf("redis URL: %w", stripURL(err))
	}
	q := u.Query()
	take := func(name string) string {
		v := q.Get(name)
		q.Del(name)
		return v
	}
	if v := take("prefix"); v != "" {
		opts.Prefix = v
	}
	if v := take("wait_replicas"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, opts, fmt.Errorf("redis URL: wait_replicas=%q: want a whole number", v)
		}
		opts.WaitReplicas = n
	}
	if v := take("wait_timeout"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, opts, fmt.Errorf("redis URL: wait_timeout=%q: want a duration like 500ms", v)
		}
		opts.WaitTimeout = d
	}
	tlsCA, tlsInsecure := take("tls_ca"), take("tls_insecure")
	secure := strings.HasPrefix(u.Scheme, "rediss")
	var tlsConf *tls.Config
	if secure {
		host := strings.Split(hostList, ",")[0]
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		tlsConf = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
		if tlsCA != "" {
			pem, err := os.ReadFile(tlsCA)
			if err != nil {
				return nil, opts, fmt.Errorf("redis URL: tls_ca: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, opts, fmt.Errorf("redis URL: tls_ca %s holds no PEM certificate", tlsCA)
			}
			tlsConf.RootCAs = pool
		}
		if b, _ := strconv.ParseBool(tlsInsecure); b {
			tlsConf.InsecureSkipVerify = true
		}
	} else if tlsCA != "" || tlsInsecure != "" {
		return nil, opts, fmt.Errorf("redis URL: tls_ca and tls_insecure need a rediss scheme")
	}
	user := u.User.Username()
	pass, _ := u.User.Password()
	hosts := strings.Split(hostList, ",")
	for _, h := range hosts {
		if h == "" {
			return nil, opts, fmt.Errorf("redis URL: empty host in %q", u.Redacted())
		}
	}
	db := 0
	if p := strings.Trim(u.Path, "/"); p != "" {
		if db, err = strconv.Atoi(p); err != nil {
			return nil, opts, fmt.Errorf("redis URL: database %q is not a number", p)
		}
	}
	switch u.Scheme {
	case "redis", "rediss":
		if len(hosts) != 1 {
			return nil, opts, fmt.Errorf("redis URL: %s names one server; use redis-cluster:// or redis-sentinel:// for several", u.Scheme)
		}
		u.Host = hosts[0]
		u.RawQuery = q.Encode()
		o, err := goredis.ParseURL(u.String())
		if err != nil {
			return nil, opts, fmt.Errorf("redis URL: %w", stripURL(err))
		}
		if secure {
			o.TLSConfig = tlsConf
		}
		if !q.Has("protocol") {
			o.Protocol = 2 // see resp2
		}
		o.ContextTimeoutEnabled = ctxDeadlines
		return goredis.NewClient(o), opts, nil
	case "redis-sentinel", "rediss-sentinel":
		master := take("master")
		if master == "" {
			return nil, opts, fmt.Errorf("redis URL: the sentinel form needs ?master=NAME")
		}
		o := &goredis.FailoverOptions{MasterName: master, SentinelAddrs: withPorts(hosts, "26379"), Protocol: resp2, ContextTimeoutEnabled: ctxDeadlines,
			Username: user, Password: pass, DB: db, TLSConfig: tlsConf,
			SentinelUsername: take("sentinel_user"), SentinelPassword: take("sentinel_password")}
		if len(q) > 0 {
			return nil, opts, fmt.Errorf("redis URL: unknown parameters %v", keysOf(q))
		}
		return goredis.NewFailoverClient(o), opts, nil
	case "redis-cluster", "rediss-cluster":
		if db != 0 {
			return nil, opts, fmt.Errorf("redis URL: a cluster has only database 0")
		}
		if len(q) > 0 {
			return nil, opts, fmt.Errorf("redis URL: unknown parameters %v", keysOf(q))
		}
		return goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: withPorts(hosts, "6379"), Protocol: resp2, ContextTimeoutEnabled: ctxDeadlines,
			Username: user, Password: pass, TLSConfig: tlsConf}), opts, nil
	}
	return nil, opts, fmt.Errorf("redis URL: unknown scheme %q (want redis, rediss, redis-sentinel, rediss-sentinel, redis-cluster or rediss-cluster)", u.Scheme)
}

// splitHosts takes the host list out of a URL ("h1:1,h2:2", which
// net/url refuses) and returns it with the URL holding one placeholder
// host in its place.
func splitHosts(raw string) (hosts, rest string) {
	i := strings.Index(raw, "://")
	if i < 0 {
		return "", raw
	}
	start := i + 3
	end := len(raw)
	if j := strings.IndexAny(raw[start:], "/?#"); j >= 0 {
		end = start + j
	}
	authority := raw[start:end]
	at := strings.LastIndex(authority, "@")
	hosts = authority[at+1:]
	return hosts, raw[:start+at+1] + "placeholder" + raw[end:]
}

// resp2 is the protocol taskmill speaks unless the URL asks otherwise:
// the backend needs nothing of RESP3, and go-redis checks every RESP3
// connection for push notifications before each command, which cost 8%
// of a worker's CPU in the process benchmark.
const resp2 = 2

// ctxDeadlines makes go-redis bound each command's socket reads and
// writes by its ctx's deadline, not only by its read and write timeouts
// (3s): a call whose deadline passes returns then. A cancellation
// without a deadline the backend handles itself (see detached).
const ctxDeadlines = true

func withPorts(hosts []string, port string) []string {
	out := make([]string, len(hosts))
	for i, h := range hosts {
		if !strings.Contains(h, ":") || strings.HasSuffix(h, "]") {
			h += ":" + port
		}
		out[i] = h
	}
	return out
}

func keysOf(q url.Values) []string {
	out := make([]string, 0, len(q))
	for k := range q {
		out = append(out, k)
	}
	return out
}
