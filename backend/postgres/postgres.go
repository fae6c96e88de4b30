package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/taskmill/taskmill/backend"
)

// Options configures the backend. Zero values mean the documented default.
type Options struct {
	// Schema holds every table (default "taskmill"); several installs
	// can share one database under different schemas.
	Schema string
	// NoMigrate skips applying the embedded migrations at Open; Open then
	// fails when the schema is not up to date (run `taskmill migrate up`).
	NoMigrate bool
	// PollInterval bounds how long a blocked Lease waits without a
	// wake-up before it looks again (default 1s): the fallback when a
	// notification is lost or LISTEN is unavailable.
	PollInterval time.Duration
	// ListenURL, when set, is where the LISTEN connection goes instead of
	// the backend's URL: a direct or session-mode connection when the
	// main URL is a transaction-mode pooler.
	ListenURL string
	// MaxBatch caps how many tasks one coalesced Enqueue statement, and
	// how many acks one coalesced Ack statement, carry (default 1000).
	MaxBatch int
	// Flushers is how many coalesced Enqueue statements may be in flight
	// at once (default 2). More than one, so that a submit waiting for a
	// lock (a unique key that a caller's open transaction holds) does not
	// hold up every other; few, because concurrent INSERTs contend for
	// the same last pages of the indexes and each carries fewer rows.
	Flushers int
	// AckFlushers is how many coalesced Ack statements may be in flight
	// at once (default 1). An ack batch waits only for taskmill's own
	// short transactions on the same tasks (an Extend, a Cancel), and
	// one statement of about 50 acks costs the database about half as
	// much per ack as four concurrent statements of about 10.
	AckFlushers int
	// Logger receives the backend's own troubles (default slog.Default()).
	Logger *slog.Logger
	// MaxLeaseLosses is how many lease expiries in a row fail a task
	// (default backend.DefaultMaxLeaseLosses): crash is not failure, but
	// a task that kills its worker every time must end.
	MaxLeaseLosses int
	// Clock, for tests only, replaces the database's clock: every
	// connection gets the session setting taskmill.clock_now set to
	// Clock.Now() before each use, and the schema's clock() returns it.
	// Nil (or backend.SystemClock) means the database's now().
	Clock backend.Clock
}

func (o Options) withDefaults() Options {
	if o.Schema == "" {
		o.Schema = "taskmill"
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 1000
	}
	if o.Flushers <= 0 {
		o.Flushers = 2
	}
	if o.AckFlushers <= 0 {
		o.AckFlushers = 1
	}
	if o.MaxLeaseLosses <= 0 {
		o.MaxLeaseLosses = backend.DefaultMaxLeaseLosses
	}
	if _, system := o.Clock.(backend.SystemClock); system {
		o.Clock = nil
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Backend is the PostgreSQL backend. It is safe for concurrent use by
// many goroutines and many processes sharing the database.
type Backend struct {
	pool   *pgxpool.Pool
	s      string // the schema, valid (see validSchema) and so safe to splice into SQL
	opts   Options
	log    *slog.Logger
	enq    coalescer[*enqueueReq]
	acks   coalescer[*ackReq]
	hub    *hub
	pub    *publisher
	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

var _ backend.Backend = (*Backend)(nil)

// ParseURL reads a postgres:// (or postgresql://) URL into a pool
// configuration and the backend options, without connecting. Query
// parameters taken by taskmill: schema, listen_url, poll_interval,
// no_migrate; the others (pool_max_conns, sslmode, …) go to pgx. opts
// fills what the URL does not say. Errors never hold the password.
func ParseURL(rawURL string, opts Options) (*pgxpool.Config, Options, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, opts, fmt.Errorf("postgres URL: %w", err)
	}
	q := u.Query()
	take := func(name string) string {
		v := q.Get(name)
		q.Del(name)
		return v
	}
	if v := take("schema"); v != "" {
		opts.Schema = v
	}
	if v := take("listen_url"); v != "" {
		opts.ListenURL = v
	}
	if v := take("poll_interval"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, opts, fmt.Errorf("postgres URL: poll_interval %q: want a positive duration like 500ms", v)
		}
		opts.PollInterval = d
	}
	for _, f := range []struct {
		name string
		to   *int
	}{{"flushers", &opts.Flushers}, {"ack_flushers", &opts.AckFlushers}} {
		if v := take(f.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 64 {
				return nil, opts, fmt.Errorf("postgres URL: %s %q: want 1..64", f.name, v)
			}
			*f.to = n
		}
	}
	if v := take("no_migrate"); v != "" {
		opts.NoMigrate = v == "1" || v == "true"
	}
	hasMax := q.Has("pool_max_conns")
	u.RawQuery = q.Encode()
	cfg, err := pgxpool.ParseConfig(u.String())
	if err != nil {
		return nil, opts, fmt.Errorf("postgres URL: %s", redactErr(err))
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["jit"]; !ok {
		// Short OLTP statements: JIT compilation, triggered by the
		// planner's cost guesses on big tables, costs far more than it
		// saves (a 2 ms Queues call took 1.9 s with it).
		cfg.ConnConfig.RuntimeParams["jit"] = "off"
	}
	if !hasMax {
		// pgx's default (4 on a small machine) is too few for workers
		// blocked in Lease beside the coalescers and the API.
		cfg.MaxConns = 32
	}
	opts = opts.withDefaults()
	if err := validSchema(opts.Schema); err != nil {
		return nil, opts, fmt.Errorf("postgres URL: %w", err)
	}
	return cfg, opts, nil
}

// redactErr drops what pgx quotes of a connection string: its parse
// errors may hold the password.
func redactErr(err error) string {
	msg := err.Error()
	if i := len("cannot parse `"); len(msg) > i && msg[:i] == "cannot parse `" {
		if j := indexFrom(msg, "`: ", i); j > 0 {
			return "cannot parse the URL: " + msg[j+3:]
		}
	}
	return msg
}

func indexFrom(s, sub string, from int) int {
	for i := from; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// Open connects to the database a URL names (see ParseURL), applies the
// migrations unless told not to, and returns the backend.
func Open(ctx context.Context, rawURL string, opts Options) (*Backend, error) {
	cfg, opts, err := ParseURL(rawURL, opts)
	if err != nil {
		return nil, err
	}
	return OpenConfig(ctx, cfg, opts)
}

// OpenConfig is Open with a pool configuration ParseURL (or
// pgxpool.ParseConfig) made.
func OpenConfig(ctx context.Context, cfg *pgxpool.Config, opts Options) (*Backend, error) {
	opts = opts.withDefaults()
	if err := validSchema(opts.Schema); err != nil {
		return nil, err
	}
	if opts.Clock != nil {
		clock := opts.Clock
		cfg.PrepareConn = func(ctx context.Context, c *pgx.Conn) (bool, error) {
			return true, setTestClock(ctx, c, clock.Now())
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	if !opts.NoMigrate {
		if _, err := Migrate(ctx, pool, opts.Schema); err != nil {
			pool.Close()
			return nil, err
		}
	} else if err := requireMigrated(ctx, pool, opts.Schema); err != nil {
		pool.Close()
		return nil, err
	}
	b := &Backend{pool: pool, s: opts.Schema, opts: opts, log: opts.Logger}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.enq = newCoalescer(opts.MaxBatch, opts.Flushers, b.flushEnqueues)
	b.acks = newCoalescer(opts.MaxBatch, opts.AckFlushers, b.flushAcks)
	b.pub = newPublisher(b)
	listenCfg := cfg.ConnConfig.Copy()
	if opts.ListenURL != "" {
		lc, err := pgx.ParseConfig(opts.ListenURL)
		if err != nil {
			b.Close()
			return nil, fmt.Errorf("postgres: listen_url: %s", redactErr(err))
		}
		listenCfg = lc
	}
	b.hub = newHub(b, listenCfg)
	// Wait for LISTEN, so that a Subscribe right after Open sees every
	// event; a database that takes no LISTEN (a transaction pooler)
	// leaves the backend polling, and the wait bounded.
	select {
	case <-b.hub.up:
	case <-time.After(10 * time.Second):
		b.log.Warn("postgres: no LISTEN connection yet; workers poll every PollInterval until there is one")
	case <-ctx.Done():
		b.Close()
		return nil, ctx.Err()
	}
	b.wg.Add(1)
	go b.foldLoop()
	return b, nil
}

// setTestClock sets a connection's test clock when it differs from what
// the connection has. PostgreSQL keeps microseconds; so does the setting.
func setTestClock(ctx context.Context, c *pgx.Conn, now time.Time) error {
	want := now.UTC().Format("2006-01-02 15:04:05.999999Z07:00")
	if c.PgConn().CustomData()["clock_now"] == want {
		return nil
	}
	if _, err := c.Exec(ctx, "SELECT set_config('taskmill.clock_now', $1, false)", want); err != nil {
		return err
	}
	c.PgConn().CustomData()["clock_now"] = want
	return nil
}

func requireMigrated(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	st, err := MigrationsStatus(ctx, pool, schema)
	if err != nil {
		return err
	}
	for _, m := range st {
		if !m.Applied {
			return fmt.Errorf("postgres: schema %s lacks migration %04d_%s: run `taskmill migrate up` (or start without --no-migrate)", schema, m.Version, m.Name)
		}
	}
	return nil
}

// Pool returns the backend's connection pool, for callers that want to
// run their own transactions and EnqueueTx in them.
func (b *Backend) Pool() *pgxpool.Pool { return b.pool }

// Schema returns the schema the backend's tables live in.
func (b *Backend) Schema() string { return b.s }

// Ping reports whether the database answers.
func (b *Backend) Ping(ctx context.Context) error {
	if err := b.alive(); err != nil {
		return err
	}
	return b.pool.Ping(ctx)
}

func (b *Backend) alive() error {
	if b.ctx.Err() != nil {
		return backend.ErrClosed
	}
	return nil
}

// Close stops the backend's goroutines and closes its connections. Calls
// after Close return ErrClosed. Batches of Enqueue and Ack calls in
// flight are committed first; calls still waiting for one fail with
// ErrClosed, nothing changed.
func (b *Backend) Close() error {
	b.once.Do(func() {
		b.enq.Close()
		b.acks.Close()
		b.cancel()
		b.wg.Wait()
		b.pool.Close()
	})
	return nil
}

// t returns a table (or function, sequence) name qualified by the schema.
func (b *Backend) t(name string) string { return b.s + "." + name }
