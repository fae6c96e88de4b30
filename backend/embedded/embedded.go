// Package embedded is the single-machine backend: one bbolt file in a data
// directory, opened by one process.
//
// Why bbolt: it is a pure-Go B+tree with serializable transactions and
// crash-safe commits (copy-on-write pages, fsync on commit), maintained by
// etcd. Every write transaction fsyncs, so a submit is on disk when it
// returns. To make that affordable, all writes go through one committer
// goroutine that runs every write waiting at that moment in ONE
// transaction and one fsync (group commit), with no added delay when idle.
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
}

// Backend is the embedded backend. Create it with Open.
type Backend struct {
	db     *bolt.DB
	log    *slog.Logger
	writes chan *write
	stop   chan struct{}
	done   chan struct{}
	events *broker
	max    int
	clock  backend.Clock
	// maxLosses is Options.MaxLeaseLosses with its default applied.
	maxLosses int

	wakeMu sync.Mutex
	wake   chan struct{} // closed and replaced when tasks become ready

	closeOnce sync.Once
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
		db: db, log: opts.Logger, max: opts.MaxBatch, clock: opts.Clock, maxLosses: opts.MaxLeaseLosses,
		writes: make(chan *write, 4096),
		stop:   make(chan struct{}), done: make(chan struct{}),
		events: newBroker(), wake: make(chan struct{}),
	}
	go b.commitLoop()
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

// Close stops the committer, waits for writes in flight and closes the file.
func (b *Backend) Close() error {
	var err error
	b.closeOnce.Do(func() {
		close(b.stop)
		<-b.done
		b.events.close()
		err = b.db.Close()
	})
	return err
}

// Now returns the backend's clock.
func (b *Backend) Now(ctx context.Context) (time.Time, error) {
	if err := b.usable(ctx); err != nil {
		return time.Time{}, err
	}
	return b.clock.Now().UTC(), nil
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

// Ping reports whether the store is open.
func (b *Backend) Ping(ctx context.Context) error {
	select {
	case <-b.stop:
		return backend.ErrClosed
	default:
	}
	return b.db.View(func(*bolt.Tx) error { return nil })
}

// write is one request to the committer.
type write struct {
	fn     func(tx *txn) error
	err    chan error
	events []backend.Event
	woke   bool
}

// txn is a write transaction shared by a group of writes, plus what the
// current write wants to publish once the group is durable.
type txn struct {
	*bolt.Tx
	now time.Time
	w   *write
	b   *Backend
}

// fenced fails with ErrNotLeader when term is not 0 and not the current
// unexpired leadership's term.
func (t *txn) fenced(term uint64) error {
	if term == 0 {
		return nil
	}
	l := getLeader(t.Tx)
	if l.Term != term || !t.now.Before(l.Until) {
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
// returns once the transaction is durable. fn must return an error only
// before it has written anything: its error does not undo the writes of
// others in the group, and the group commits whatever was written.
func (b *Backend) update(ctx context.Context, fn func(tx *txn) error) error {
	w := &write{fn: fn, err: make(chan error, 1)}
	select {
	case b.writes <- w:
	case <-b.stop:
		return backend.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once queued the write will run; wait for it even if ctx ends, so the
	// caller never reports failure for a write that became durable.
	return <-w.err
}

func (b *Backend) commitLoop() {
	defer close(b.done)
	batch := make([]*write, 0, b.max)
	for {
		batch = batch[:0]
		select {
		case w := <-b.writes:
			batch = append(batch, w)
		case <-b.stop:
			b.drain()
			return
		}
	more:
		for len(batch) < b.max {
			select {
			case w := <-b.writes:
				batch = append(batch, w)
			default:
				break more
			}
		}
		b.commit(batch)
	}
}

// drain fails writes that arrive after Close.
func (b *Backend) drain() {
	for {
		select {
		case w := <-b.writes:
			w.err <- backend.ErrClosed
		default:
			return
		}
	}
}

func (b *Backend) commit(batch []*write) {
	errs := make([]error, len(batch))
	err := b.db.Update(func(btx *bolt.Tx) error {
		now := b.clock.Now().UTC()
		for i, w := range batch {
			errs[i] = w.fn(&txn{Tx: btx, now: now, w: w, b: b})
			if errs[i] != nil {
				w.events, w.woke = nil, false
			}
		}
		return nil
	})
	woke := false
	for i, w := range batch {
		if err != nil {
			w.err <- fmt.Errorf("commit: %w", err)
			continue
		}
		if errs[i] == nil {
			for _, e := range w.events {
				b.events.publish(e)
			}
			woke = woke || w.woke
		}
		w.err <- errs[i]
	}
	if woke && err == nil {
		b.wakeAll()
	}
}

func (b *Backend) wakeAll() {
	b.wakeMu.Lock()
	close(b.wake)
	b.wake = make(chan struct{})
	b.wakeMu.Unlock()
}

func (b *Backend) wakeChan() <-chan struct{} {
	b.wakeMu.Lock()
	defer b.wakeMu.Unlock()
	return b.wake
}

// Subscribe streams events of this process's transitions.
func (b *Backend) Subscribe(ctx context.Context) (<-chan backend.Event, error) {
	return b.events.subscribe(ctx), nil
}
