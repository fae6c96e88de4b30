// Package embedded is the single-machine backend: one bbolt file in a data
// directory, opened by one process. It follows the reference model
// (backend/model) rule for rule; backendtest.Differential checks it.
//
// Why bbolt: it is a pure-Go B+tree with serializable transactions and
// crash-safe commits (copy-on-write pages, fsync on commit), maintained by
// etcd. Every write transaction fsyncs, so a submit is on disk when it
// returns. To make that affordable, all writes go through one committer
// goroutine that runs every write waiting at that moment in ONE
// transaction and one fsync (group commit, internal/coalesce), with no
// added delay when idle.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/internal/coalesce"
	"github.com/taskmill/taskmill/internal/fanout"
	"github.com/taskmill/taskmill/internal/wake"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

var _ backend.Backend = (*Backend)(nil)

// Options configures Open. The zero value is usable.
type Options struct {
	// Logger receives the backend's logs. Default slog.Default().
	Logger *slog.Logger
	// MaxBatch bounds how many writes share one transaction. Default 1000.
	MaxBatch int
	// NoSync skips fsync: faster, and a crash loses recent writes. Only for
	// benchmarks and tests of the non-durable path. Default false.
	NoSync bool
	// Clock is where every stored time comes from. Default the process's
	// clock (backend.SystemClock); tests inject one to move time.
	Clock backend.Clock
	// MaxLeaseLosses is how many lease expiries in a row fail a task
	// (crash is not failure). Default backend.DefaultMaxLeaseLosses (3).
	MaxLeaseLosses int
	// EventBuffer is how many events a subscriber may fall behind before
	// it loses events and gets a resync. Default 1024.
	EventBuffer int
}

// Backend is the embedded backend. Create it with Open.
type Backend struct {
	db     *bolt.DB
	log    *slog.Logger
	writes *coalesce.Coalescer[*write]
	stop   chan struct{}
	events *fanout.Fanout
	wake   *wake.Signal
	clock  backend.Clock
	// maxLosses is Options.MaxLeaseLosses with its default applied.
	maxLosses int

	closeOnce sync.Once
	// queued, when set (tests), is called once a write is queued.
	queued func()
}

// FileName is the name of the database file inside the data directory.
const FileName = "taskmill.db"

// Open opens (creating if needed) the store in dir. It fails fast when
// another process holds the directory.
func Open(dir string, opts Options) (*Backend, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 1000
	}
	if opts.Clock == nil {
		opts.Clock = backend.SystemClock{}
	}
	if opts.MaxLeaseLosses <= 0 {
		opts.MaxLeaseLosses = backend.DefaultMaxLeaseLosses
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	path := filepath.Join(dir, FileName)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, NoSync: opts.NoSync, FreelistType: bolt.FreelistMapType})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("open %s: another process has it open", path)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := db.Update(createBuckets); err != nil {
		db.Close()
		return nil, fmt.Errorf("init %s: %w", path, err)
	}
	b := &Backend{
		db: db, log: opts.Logger, clock: opts.Clock, maxLosses: opts.MaxLeaseLosses,
		stop: make(chan struct{}), wake: wake.New(),
	}
	b.events = fanout.New(opts.EventBuffer, b.now)
	b.writes = coalesce.New(1, opts.MaxBatch, backend.ErrClosed, b.commit)
	// The file lock makes this process the store's only user, so every
	// lease in it belongs to a process that has died (a crash, a kill -9).
	// Hand those tasks back now rather than after their leases run out.
	n, err := b.reclaimBefore(context.Background(), time.Unix(0, math.MaxInt64))
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("reclaim leases of the previous process: %w", err)
	}
	if n > 0 {
		b.log.Info("returned tasks left processing by the previous process", "tasks", n)
	}
	return b, nil
}

func (b *Backend) now() time.Time { return b.clock.Now().UTC() }

// Close stops the committer, waits for writes in flight and closes the file.
func (b *Backend) Close() error {
	var err error
	b.closeOnce.Do(func() {
		close(b.stop)
		b.writes.Close()
		b.events.Close()
		err = b.db.Close()
	})
	return err
}

// usable reports ErrClosed after Close and ctx's error once it ended.
func (b *Backend) usable(ctx context.Context) error {
	select {
	case <-b.stop:
		return backend.ErrClosed
	default:
	}
	return ctx.Err()
}

// view runs a read transaction after checking the backend is usable.
func (b *Backend) view(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := b.usable(ctx); err != nil {
		return err
	}
	err := b.db.View(fn)
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return backend.ErrClosed
	}
	return err
}

// Now returns the backend's clock.
func (b *Backend) Now(ctx context.Context) (time.Time, error) {
	if err := b.usable(ctx); err != nil {
		return time.Time{}, err
	}
	return b.now(), nil
}

// Ping reports whether the store is open.
func (b *Backend) Ping(ctx context.Context) error {
	return b.view(ctx, func(*bolt.Tx) error { return nil })
}

// write is one request to the committer.
type write struct {
	fn     func(tx *txn) error
	err    chan error
	events []backend.Event
	woke   bool
	// Ticket lets the caller withdraw the write while it is queued.
	coalesce.Ticket
}

// Fail ends a write that never ran.
func (w *write) Fail(err error) { w.err <- err }

// txn is a write transaction shared by a group of writes, plus what the
// current write wants to publish once the group is durable.
type txn struct {
	*bolt.Tx
	now time.Time
	w   *write
	b   *Backend
	// used holds the queues whose use this transaction recorded already:
	// a group of a thousand submits to one queue writes its record once.
	used map[string]bool
	// tallies are the group's counters and history, written at its end.
	tallies *tallies
	// positions are where the tasks this write loaded (loadTask) or
	// saved sit in the indexes: unindex finds them here.
	positions map[string][]byte
}

// fenced fails with ErrNotLeader when term is not 0 and not the current
// unexpired leadership's term.
func (t *txn) fenced(term uint64) error {
	if term == 0 {
		return nil
	}
	l := getLeader(t.Tx)
	if l.Holder == "" || l.Term != term || !t.now.Before(l.Until) {
		return fmt.Errorf("term %d: %w", term, backend.ErrNotLeader)
	}
	return nil
}

func (t *txn) publish(e backend.Event) { t.w.events = append(t.w.events, e) }
func (t *txn) taskEvent(task *backend.Task) {
	t.publish(backend.EventOf(task, t.now))
}

// wakeLeasers records that tasks became ready, so blocked Lease calls retry.
func (t *txn) wakeLeasers() { t.w.woke = true }

// update runs fn in a write transaction shared with other writers, and
// returns once the transaction is durable. An error means nothing
// changed: fn must return a refusal (a contract sentinel) only before it
// has written anything, and when it fails any other way the group is
// rolled back and each write runs again alone.
func (b *Backend) update(ctx context.Context, fn func(tx *txn) error) error {
	if err := b.usable(ctx); err != nil {
		return err
	}
	w := &write{fn: fn, err: make(chan error, 1)}
	if err := b.writes.Submit(ctx, w); err != nil {
		return err
	}
	if b.queued != nil {
		b.queued()
	}
	select {
	case err := <-w.err:
		return err
	case <-ctx.Done():
		// Withdraw the write if the committer has not taken it; once taken
		// it runs, and the caller waits for it (one transaction), so that
		// a write that became durable is never reported as not made.
		if w.Withdraw() {
			return ctx.Err()
		}
		return <-w.err
	}
}

// errRerun rolls a group back so that its writes run again one by one.
var errRerun = errors.New("a write failed after writing: rerun the group alone")

// refusal reports whether err is an answer of the contract, which a write
// gives before it writes anything, rather than a failure.
func refusal(err error) bool {
	for _, s := range []error{backend.ErrNotFound, backend.ErrLeaseLost, backend.ErrFinal, backend.ErrNotFinal,
		backend.ErrDuplicate, backend.ErrInvalid, backend.ErrNotLeader, backend.ErrNotEmpty, backend.ErrWorkerTaken} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// commit runs a batch of writes in one transaction. When a write fails
// other than by a refusal, it may have written part of its change: the
// transaction is rolled back and every write of the batch runs in a
// transaction of its own, so that only the failed one is undone.
//
// Every write of batch has been taken (coalesce.Ticket): its caller no
// longer withdraws it.
func (b *Backend) commit(batch []*write) {
	errs := make([]error, len(batch))
	err := b.db.Update(func(btx *bolt.Tx) error {
		now := b.now()
		used := map[string]bool{}
		tl := new(tallies)
		for i, w := range batch {
			errs[i] = w.fn(&txn{Tx: btx, now: now, w: w, b: b, used: used, tallies: tl})
			if errs[i] != nil {
				if !refusal(errs[i]) && len(batch) > 1 {
					return errRerun
				}
				w.events, w.woke = nil, false
			}
		}
		if len(batch) == 1 && errs[0] != nil && !refusal(errs[0]) {
			return errs[0] // roll it back
		}
		return (&txn{Tx: btx, tallies: tl}).flush()
	})
	if errors.Is(err, errRerun) {
		for _, w := range batch {
			w.events, w.woke = nil, false
			b.commit([]*write{w})
		}
		return
	}
	woke := false
	for i, w := range batch {
		switch {
		case err != nil && errs[i] != nil:
			w.err <- errs[i]
		case err != nil:
			w.err <- fmt.Errorf("commit: %w", err)
		default:
			if errs[i] == nil {
				b.events.Publish(w.events...)
				woke = woke || w.woke
			}
			w.err <- errs[i]
		}
	}
	if woke && err == nil {
		b.wake.Broadcast()
	}
}

// Subscribe streams events of this process's transitions.
func (b *Backend) Subscribe(ctx context.Context) (<-chan backend.Event, error) {
	if err := b.usable(ctx); err != nil {
		return nil, err
	}
	return b.events.Subscribe(ctx)
}
