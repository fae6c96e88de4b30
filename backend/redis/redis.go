package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/internal/coalesce"
	"github.com/taskmill/taskmill/internal/wake"
)

var _ backend.Backend = (*Backend)(nil)

// Options configures New and Open. The zero value is usable.
type Options struct {
	// Prefix starts every key and channel name. Default "tm". Two
	// deployments may share one Redis with different prefixes.
	Prefix string
	// Logger receives the backend's logs. Default slog.Default().
	Logger *slog.Logger
	// WaitReplicas, when above zero, makes Enqueue return only after that
	// many replicas have acknowledged the write (Redis WAIT). Default 0.
	WaitReplicas int
	// WaitTimeout bounds the WAIT. Default 1s.
	WaitTimeout time.Duration
	// WakeFallback bounds how long an idle Lease sleeps without looking
	// again, in case a wake notification was lost with a connection.
	// Default 500ms.
	WakeFallback time.Duration
	// MaxBatch bounds how many acks (or submits) share one script call.
	// Default 256.
	MaxBatch int
	// ClockOffset, when set, is added to the Redis server's TIME in every
	// script: the backend's clock is the server's plus this. It is for
	// tests, which move time by moving the offset instead of waiting;
	// every process sharing a Redis must use the same offset. Default: none.
	ClockOffset func() time.Duration
	// Clock, when set, replaces the server's TIME altogether: every script
	// takes its now from it, to the microsecond. It is for tests that
	// compare times exactly (the differential test against the model);
	// it makes sense only when every process uses the same clock.
	Clock backend.Clock
	// MaxLeaseLosses is how many lease expiries in a row send a task to
	// the dead-letter queue (see Backend.Reclaim). Default
	// backend.DefaultMaxLeaseLosses (3).
	MaxLeaseLosses int
	// FlushTimeout bounds one batched script call (submits, acks): it
	// runs until the latest deadline among its callers, at most this.
	// Default 10s.
	FlushTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.Prefix == "" {
		o.Prefix = "tm"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.WaitTimeout <= 0 {
		o.WaitTimeout = time.Second
	}
	if o.WakeFallback <= 0 {
		o.WakeFallback = 500 * time.Millisecond
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 256
	}
	if o.MaxLeaseLosses <= 0 {
		o.MaxLeaseLosses = backend.DefaultMaxLeaseLosses
	}
	if o.FlushTimeout <= 0 {
		o.FlushTimeout = 10 * time.Second
	}
	return o
}

// Backend is the Redis backend. Create it with Open or New.
type Backend struct {
	rdb     goredis.UniversalClient
	cluster bool
	k       keys
	opts    Options
	log     *slog.Logger
	owned   bool // Close closes rdb

	enq *coalesce.Coalescer[*enqueueOp]
	fin *coalesce.Coalescer[*finishOp]

	leasesMu sync.Mutex
	leases   map[string]leaseEntry // tasks this process leased: id → queue

	walksMu sync.Mutex
	walks   map[string]walk // upkeep script → its last walk over every queue

	queuesMu  sync.Mutex
	queueList []string
	queuesAt  time.Time

	wake *wake.Signal // broadcast when a wake message arrives

	sub *subscriptions

	prefixes sync.Map // queue → "tm:{queue}:", built once per queue

	stop      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// leaseEntry remembers the queue of a task this process leased, so that
// ack, fail and extend find its keys without a lookup round trip.
type leaseEntry struct {
	queue   string
	expires time.Time
}

// New returns a backend over an existing go-redis client (a *Client, a
// failover *Client or a *ClusterClient). Close does not close rdb.
func New(ctx context.Context, rdb goredis.UniversalClient, opts Options) (*Backend, error) {
	return newBackend(ctx, rdb, opts, false)
}

func newBackend(ctx context.Context, rdb goredis.UniversalClient, opts Options, owned bool) (*Backend, error) {
	opts = opts.withDefaults()
	if err := checkName("key prefix", opts.Prefix); err != nil {
		return nil, err
	}
	if err := rdb.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("redis: ping: %w", err)
	}
	_, cluster := rdb.(*goredis.ClusterClient)
	b := &Backend{
		rdb: rdb, cluster: cluster, k: keys{prefix: opts.Prefix}, opts: opts, log: opts.Logger, owned: owned,
		leases: map[string]leaseEntry{},
		wake:   wake.New(), stop: make(chan struct{}),
	}
	// Several loops keep a few script calls in flight, so that the
	// network and reply parsing of one overlap Redis running another;
	// more loops make smaller batches (Redis runs scripts one at a time).
	// Measured with taskmill bench: 4 for submits; 1 for acks, whose
	// latency no longer holds a worker slot (the slot is given back
	// when the handler returns), so bigger batches win.
	b.enq = coalesce.New(4, opts.MaxBatch, errClosed, b.runEnqueue)
	b.fin = coalesce.New(1, opts.MaxBatch, errClosed, b.runFinish)
	sub, err := b.startSubscriptions(ctx)
	if err != nil {
		return nil, err
	}
	b.sub = sub
	return b, nil
}

// Close stops the background work and, when Open created the client,
// closes it. Calls in flight finish first.
func (b *Backend) Close() error {
	var err error
	b.closeOnce.Do(func() {
		close(b.stop)
		b.enq.Close()
		b.fin.Close()
		b.sub.close()
		b.wg.Wait()
		if b.owned {
			err = b.rdb.Close()
		}
	})
	return err
}

func (b *Backend) closed() bool {
	select {
	case <-b.stop:
		return true
	default:
		return false
	}
}

// Ping reports whether Redis answers.
func (b *Backend) Ping(ctx context.Context) error {
	if b.closed() {
		return backend.ErrClosed
	}
	if err := b.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: ping: %w", err)
	}
	return nil
}

// Client returns the go-redis client, for tools that need Redis itself
// (the benchmark's memory report, tests). Task operations must go
// through the Backend methods.
func (b *Backend) Client() goredis.UniversalClient { return b.rdb }

// Prefix returns the key prefix.
func (b *Backend) Prefix() string { return b.k.prefix }

// qp returns the queue's key prefix, "tm:{queue}:", without building
// the string again on every call of the hot path.
func (b *Backend) qp(queue string) string {
	if p, ok := b.prefixes.Load(queue); ok {
		return p.(string)
	}
	p := b.k.queuePrefix(queue)
	b.prefixes.Store(queue, p)
	return p
}

// evArg is the events channel as the task scripts take it (see evInit).
func (b *Backend) evArg() string {
	if b.cluster {
		return "+" + b.k.eventsChannel()
	}
	return b.k.eventsChannel()
}

// slotOf returns the group a queue's keys fall in: its cluster hash slot,
// or 0 for everything when Redis is one server (any script may then
// touch several queues at once).
func (b *Backend) slotOf(queue string) int {
	if !b.cluster {
		return 0
	}
	return int(crc16(queue) % 16384)
}

// rememberLease records the queue of tasks this process leased.
func (b *Backend) rememberLease(id, queue string, expires time.Time) {
	b.leasesMu.Lock()
	b.leases[id] = leaseEntry{queue: queue, expires: expires}
	b.leasesMu.Unlock()
}

func (b *Backend) forgetLease(id string) {
	b.leasesMu.Lock()
	delete(b.leases, id)
	b.leasesMu.Unlock()
}

// sweepLeases drops remembered leases long past their expiry (their
// holder lost them without writing again).
func (b *Backend) sweepLeases(now time.Time) {
	b.leasesMu.Lock()
	defer b.leasesMu.Unlock()
	for id, e := range b.leases {
		if now.Sub(e.expires) > time.Minute {
			delete(b.leases, id)
		}
	}
}

func isNil(err error) bool { return errors.Is(err, goredis.Nil) }

// knownQueues returns every queue name, read from Redis when the cached
// list is older than maxAge. fresh says it was read just now.
func (b *Backend) knownQueues(ctx context.Context, maxAge time.Duration) (queues []string, fresh bool, err error) {
	if b.closed() {
		return nil, false, errClosed
	}
	b.queuesMu.Lock()
	if maxAge > 0 && time.Since(b.queuesAt) < maxAge {
		queues = b.queueList
		b.queuesMu.Unlock()
		return queues, false, nil
	}
	b.queuesMu.Unlock()
	list, err := b.rdb.SMembers(ctx, b.k.queues()).Result()
	if err != nil {
		return nil, false, fmt.Errorf("redis: list queues: %w", err)
	}
	b.queuesMu.Lock()
	b.queueList, b.queuesAt = list, time.Now()
	b.queuesMu.Unlock()
	return list, true, nil
}

// registerQueues adds queue names to the registry of known queues before
// anything is stored in them, on a cluster, where the registry is in
// another slot than the queues. (On one server the scripts that store
// tasks or pause a queue add it themselves, atomically.) A ForgetQueues
// that runs between this and the store can forget the queue: its tasks
// then live on, unlisted by Queues, until the next Enqueue to it.
func (b *Backend) registerQueues(ctx context.Context, queues []string) error {
	add := make([]any, len(queues))
	for i, q := range queues {
		add[i] = q
	}
	if _, err := detached(b, ctx, func(ctx context.Context) (int64, error) {
		return b.rdb.SAdd(ctx, b.k.queues(), add...).Result()
	}, nil); err != nil {
		return redisErr("register queues", err)
	}
	b.queuesMu.Lock()
	b.queuesAt = time.Time{} // the cached list may miss them
	b.queuesMu.Unlock()
	return nil
}

// sawQueues drops the cached list of queue names when it misses one of
// queues: a script may just have registered it.
func (b *Backend) sawQueues(queues []string) {
	b.queuesMu.Lock()
	defer b.queuesMu.Unlock()
	for _, q := range queues {
		if !contains(b.queueList, q) {
			b.queuesAt = time.Time{}
			return
		}
	}
}

// registryArg is the queue registry as the scripts take it: "" on a
// cluster, where the Go side keeps it.
func (b *Backend) registryArg() string {
	if b.cluster {
		return ""
	}
	return b.k.queues()
}

// run runs one script, loading it when Redis has lost its script cache
// (after a restart). It returns when ctx ends (see detached).
func (b *Backend) run(ctx context.Context, s *script, keys []string, args ...any) (any, error) {
	return detached(b, ctx, func(ctx context.Context) (any, error) { return b.send(ctx, s, keys, args...) }, nil)
}

// send is run without detaching from ctx: for callers that already did.
func (b *Backend) send(ctx context.Context, s *script, keys []string, args ...any) (any, error) {
	cmd := evalCmd(ctx, s, true, keys, args)
	_ = b.rdb.Process(ctx, cmd)
	v, err := cmd.Result()
	if err != nil && goredis.HasErrorPrefix(err, "NOSCRIPT") {
		// The server lost its script cache (a restart): EVAL runs the
		// script and caches it again.
		cmd = evalCmd(ctx, s, false, keys, args)
		_ = b.rdb.Process(ctx, cmd)
		v, err = cmd.Result()
	}
	if err != nil && !errors.Is(err, goredis.Nil) {
		return nil, outcome(s, err)
	}
	return v, nil
}

// onceCmd is a script call that go-redis must not send twice. go-redis
// sends a command again when its reply timed out or its connection broke
// (MaxRetries; on a cluster, MaxRedirects), and a script that had run
// would then run a second time: a second lease of other tasks, an
// enqueue answered "already exists" about the tasks it stored, an ack
// answered "lease lost" after it acked. go-redis still sends again a
// call it never wrote (no connection yet); one it wrote fails, and
// outcome tells the caller that it may have run.
type onceCmd struct{ *goredis.Cmd }

func (onceCmd) NoRetry() bool { return true }

// evalCmd builds an EVALSHA (sha) or EVAL of s.
func evalCmd(ctx context.Context, s *script, sha bool, keys []string, args []any) onceCmd {
	a := make([]any, 0, 3+len(keys)+len(args))
	if sha {
		a = append(a, "evalsha", s.sha)
	} else {
		a = append(a, "eval", s.src)
	}
	a = append(a, len(keys))
	for _, k := range keys {
		a = append(a, k)
	}
	a = append(a, args...)
	return onceCmd{goredis.NewCmd(ctx, a...)}
}

// outcome is the error of a script call: a reply from Redis (the script
// ran, or refused to) and a failure before the command left (no
// connection, a closed client) are what they are; any other failure —
// the reply timed out, the connection broke — came after the script may
// have run, and for a script that writes it wraps ErrUnknownOutcome.
func outcome(s *script, err error) error {
	if err == nil || s.read || errors.Is(err, ErrUnknownOutcome) {
		return err
	}
	var reply goredis.Error
	var op *net.OpError
	switch {
	case errors.As(err, &reply):
	case errors.As(err, &op) && op.Op == "dial":
	case errors.Is(err, goredis.ErrClosed), errors.Is(err, goredis.ErrPoolTimeout):
	default:
		return unknownOutcome(err)
	}
	return err
}

// scriptCall is one script call of a pipelined batch.
type scriptCall struct {
	script *script
	keys   []string
	args   []any
	val    any
	err    error
}

// runAll runs script calls in one pipeline (one round trip to each node
// involved). A call that met an empty script cache is run again with
// EVAL, which also reloads the cache. It returns when ctx ends; the
// calls then carry ctx's error, or ErrUnknownOutcome once sent (see
// detached).
func (b *Backend) runAll(ctx context.Context, calls []*scriptCall, wait bool) {
	// The sends work on copies: a caller that left must not see them
	// written behind its back.
	own := make([]*scriptCall, len(calls))
	for i, c := range calls {
		cc := *c
		own[i] = &cc
	}
	_, err := detached(b, ctx, func(ctx context.Context) (struct{}, error) {
		b.sendAll(ctx, own, wait)
		return struct{}{}, nil
	}, nil)
	for i, c := range calls {
		if err != nil {
			c.val, c.err = nil, err
		} else {
			c.val, c.err = own[i].val, own[i].err
		}
	}
}

// sendAll is runAll without detaching from ctx: for the batches of the
// coalescers, which run under their own bounded ctx.
func (b *Backend) sendAll(ctx context.Context, calls []*scriptCall, wait bool) {
	if len(calls) == 1 && !wait {
		c := calls[0]
		c.val, c.err = b.send(ctx, c.script, c.keys, c.args...)
		return
	}
	if wait && b.cluster {
		// WAIT must follow the write on the same connection, to the
		// master that owns the slot.
		for _, c := range calls {
			b.runAllOn(ctx, b.masterFor(ctx, c.keys[0]), []*scriptCall{c}, true)
		}
		return
	}
	b.runAllOn(ctx, b.rdb, calls, wait)
}

func (b *Backend) masterFor(ctx context.Context, key string) goredis.Cmdable {
	if cc, ok := b.rdb.(*goredis.ClusterClient); ok {
		if m, err := cc.MasterForKey(ctx, key); err == nil {
			return m
		}
	}
	return b.rdb
}

func (b *Backend) runAllOn(ctx context.Context, c goredis.Cmdable, calls []*scriptCall, wait bool) {
	pending := calls
	for attempt := 0; len(pending) > 0; attempt++ {
		// A pipeline runs on one connection, so WAIT counts the writes
		// made just before it.
		pipe := c.Pipeline()
		cmds := make([]onceCmd, len(pending))
		for i, sc := range pending {
			// After the first attempt, the server lost its script cache
			// (a restart): EVAL runs the script and caches it again.
			cmds[i] = evalCmd(ctx, sc.script, attempt == 0, sc.keys, sc.args)
			_ = pipe.Process(ctx, cmds[i])
		}
		var waitCmd *goredis.Cmd
		if wait {
			waitCmd = pipe.Do(ctx, "WAIT", b.opts.WaitReplicas, b.opts.WaitTimeout.Milliseconds())
		}
		_, _ = pipe.Exec(ctx)
		var again []*scriptCall
		for i, sc := range pending {
			sc.val, sc.err = cmds[i].Result()
			if sc.err != nil && attempt == 0 && goredis.HasErrorPrefix(sc.err, "NOSCRIPT") {
				again = append(again, sc)
				continue
			}
			if errors.Is(sc.err, goredis.Nil) {
				sc.err = nil
			}
			sc.err = outcome(sc.script, sc.err)
		}
		if wait {
			n, err := waitCmd.Int64()
			if err == nil && n < int64(b.opts.WaitReplicas) {
				err = fmt.Errorf("only %d of %d replicas acknowledged within %s: %w", n, b.opts.WaitReplicas, b.opts.WaitTimeout, ErrNotReplicated)
			}
			if err != nil {
				for _, sc := range pending {
					if sc.err == nil {
						sc.err = err
					}
				}
			}
		}
		pending = again
	}
}

// ErrNotReplicated: with WaitReplicas set, fewer replicas than asked
// acknowledged a submit in time. The task IS stored on the master and
// will run; it may be lost if the master fails before replicating it.
var ErrNotReplicated = errors.New("write not acknowledged by enough replicas")

// redisErr wraps a Redis error with what was being done.
func redisErr(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("redis: %s: %w", what, err)
}

// Wipe deletes every key under the backend's prefix, on every node. It
// is for benchmarks and tests that clean up after themselves: it is not
// a transition, not atomic, and must not run while others use the prefix.
// (Purge, of backend.Backend, is the transition that deletes old tasks.)
func (b *Backend) Wipe(ctx context.Context) error {
	purge := func(ctx context.Context, c *goredis.Client) error {
		iter := c.Scan(ctx, 0, b.k.prefix+":*", 1000).Iterator()
		var batch []string
		for iter.Next(ctx) {
			if batch = append(batch, iter.Val()); len(batch) == 1000 {
				if err := c.Unlink(ctx, batch...).Err(); err != nil {
					return err
				}
				batch = batch[:0]
			}
		}
		if err := iter.Err(); err != nil {
			return err
		}
		if len(batch) > 0 {
			return c.Unlink(ctx, batch...).Err()
		}
		return nil
	}
	var err error
	switch c := b.rdb.(type) {
	case *goredis.ClusterClient:
		err = c.ForEachMaster(ctx, purge)
	case *goredis.Client:
		err = purge(ctx, c)
	default:
		err = fmt.Errorf("unsupported client %T", b.rdb)
	}
	return redisErr("wipe "+b.k.prefix, err)
}

// UsedMemory returns Redis's used_memory (bytes), summed over the
// masters of a cluster.
func (b *Backend) UsedMemory(ctx context.Context) (int64, error) {
	read := func(ctx context.Context, c *goredis.Client) (int64, error) {
		info, err := c.Info(ctx, "memory").Result()
		if err != nil {
			return 0, err
		}
		for _, line := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
				return strconv.ParseInt(v, 10, 64)
			}
		}
		return 0, errors.New("no used_memory in INFO memory")
	}
	switch c := b.rdb.(type) {
	case *goredis.ClusterClient:
		var mu sync.Mutex
		var total int64
		err := c.ForEachMaster(ctx, func(ctx context.Context, m *goredis.Client) error {
			n, err := read(ctx, m)
			mu.Lock()
			total += n
			mu.Unlock()
			return err
		})
		return total, redisErr("used memory", err)
	case *goredis.Client:
		n, err := read(ctx, c)
		return n, redisErr("used memory", err)
	}
	return 0, fmt.Errorf("redis: used memory: unsupported client %T", b.rdb)
}

var _ backend.CancelWatcher = (*Backend)(nil)
