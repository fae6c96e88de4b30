package model

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/internal/fanout"
	"github.com/taskmill/taskmill/internal/wake"
)

var _ backend.Backend = (*Model)(nil)

// Options configures New. The zero value is usable.
type Options struct {
	// Clock is where every time comes from. Default backend.SystemClock.
	Clock backend.Clock
	// Secrets makes lease secrets. Default: 32 hex digits from a
	// math/rand source seeded with 1, so runs are reproducible.
	Secrets func() string
	// MaxLeaseLosses is how many lease expiries in a row fail a task.
	// Default backend.DefaultMaxLeaseLosses.
	MaxLeaseLosses int
	// EventBuffer is how many events a subscriber may fall behind.
	// Default fanout.DefaultBuffer.
	EventBuffer int
}

// Model is the reference backend. Make it with New.
type Model struct {
	clock     backend.Clock
	secrets   func() string
	maxLosses int
	events    *fanout.Fanout
	wake      *wake.Signal
	stop      chan struct{}

	mu      sync.Mutex
	closed  bool
	tasks   map[string]*backend.Task // the stored tasks, LeaseSecret included
	line    map[string]int64         // pending task → its place in its line
	front   int64                    // next place at the front (counts down)
	back    int64                    // next place at the back (counts up)
	unique  map[uniqueKey]string     // (queue, key) → the last task stored with it
	queues  map[string]*queueState
	history map[historyKey]*backend.HistoryBucket
	workers map[string]*workerState
	leader  leaderState
	token   uint64
	pending []backend.Event // events of the current call, sent when it ends
}

type uniqueKey struct{ queue, key string }

type historyKey struct {
	minute int64 // Unix seconds
	queue  string
}

type queueState struct {
	paused bool
	used   time.Time
}

type workerState struct {
	info    backend.WorkerInfo
	expires time.Time
	stop    bool
}

type leaderState struct {
	holder string
	term   uint64
	until  time.Time
}

// lineStart is where places start: fronts count down from it, backs up.
const lineStart = 1 << 40

// New returns an empty model.
func New(opts Options) *Model {
	if opts.Clock == nil {
		opts.Clock = backend.SystemClock{}
	}
	if opts.Secrets == nil {
		opts.Secrets = SeededSecrets(1)
	}
	if opts.MaxLeaseLosses <= 0 {
		opts.MaxLeaseLosses = backend.DefaultMaxLeaseLosses
	}
	m := &Model{
		clock: opts.Clock, secrets: opts.Secrets, maxLosses: opts.MaxLeaseLosses,
		wake: wake.New(), stop: make(chan struct{}),
		tasks: map[string]*backend.Task{}, line: map[string]int64{},
		front: lineStart - 1, back: lineStart,
		unique: map[uniqueKey]string{}, queues: map[string]*queueState{},
		history: map[historyKey]*backend.HistoryBucket{}, workers: map[string]*workerState{},
	}
	m.events = fanout.New(opts.EventBuffer, m.now)
	return m
}

// SeededSecrets returns a maker of lease secrets (32 hex digits) that
// gives the same sequence for the same seed.
func SeededSecrets(seed uint64) func() string {
	var mu sync.Mutex
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return func() string {
		mu.Lock()
		defer mu.Unlock()
		var b [16]byte
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return hex.EncodeToString(b[:])
	}
}

func (m *Model) now() time.Time { return m.clock.Now().UTC() }

// begin locks the model for one call after checking it is open and ctx
// has not ended. The caller must defer m.end().
func (m *Model) begin(ctx context.Context) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return backend.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		m.mu.Unlock()
		return err
	}
	return nil
}

// end unlocks the model and sends the events of the call.
func (m *Model) end() {
	events := m.pending
	m.pending = nil
	m.mu.Unlock()
	m.events.Publish(events...)
}

// read locks the model for a call that changes nothing.
func (m *Model) read(ctx context.Context) error { return m.begin(ctx) }

func (m *Model) publish(e backend.Event) { m.pending = append(m.pending, e) }

func (m *Model) taskEvent(t *backend.Task, now time.Time) {
	m.publish(backend.EventOf(t, now))
}

func (m *Model) queueEvent(q string, now time.Time) {
	m.publish(backend.Event{Kind: backend.EventQueueUpdate, Queue: q, At: now})
}

// out returns the copy of a stored task a caller may see.
func out(t *backend.Task) *backend.Task {
	c := t.Clone()
	c.LeaseSecret = ""
	return c
}

// fenced checks an upkeep call's term.
func (m *Model) fenced(term uint64, now time.Time) error {
	if term == 0 {
		return nil
	}
	if term != m.leader.term || m.leader.holder == "" || !now.Before(m.leader.until) {
		return fmt.Errorf("term %d: %w", term, backend.ErrNotLeader)
	}
	return nil
}

// toFront and toBack make t pending at the front or back of its line.
func (m *Model) toFront(t *backend.Task) {
	t.State = backend.StatePending
	m.line[t.ID] = m.front
	m.front--
	m.wake.Broadcast()
}

func (m *Model) toBack(t *backend.Task) {
	t.State = backend.StatePending
	m.line[t.ID] = m.back
	m.back++
	m.wake.Broadcast()
}

// setState moves t out of pending bookkeeping when it leaves pending.
func (m *Model) leave(t *backend.Task) { delete(m.line, t.ID) }

func (m *Model) use(queue string, now time.Time) {
	q := m.queues[queue]
	if q == nil {
		q = &queueState{}
		m.queues[queue] = q
	}
	q.used = now
}

func (m *Model) count(queue string, completed bool, now time.Time) {
	k := historyKey{minute: now.Truncate(time.Minute).Unix(), queue: queue}
	h := m.history[k]
	if h == nil {
		h = &backend.HistoryBucket{Minute: time.Unix(k.minute, 0).UTC()}
		m.history[k] = h
	}
	if completed {
		h.Completed++
	} else {
		h.Failed++
	}
}

// Now returns the model's clock.
func (m *Model) Now(ctx context.Context) (time.Time, error) {
	if err := m.read(ctx); err != nil {
		return time.Time{}, err
	}
	defer m.end()
	return m.now(), nil
}

// Subscribe streams the model's events.
func (m *Model) Subscribe(ctx context.Context) (<-chan backend.Event, error) {
	if err := m.read(ctx); err != nil {
		return nil, err
	}
	defer m.end()
	return m.events.Subscribe(ctx)
}

// Ping reports ErrClosed after Close.
func (m *Model) Ping(ctx context.Context) error {
	if err := m.read(ctx); err != nil {
		return err
	}
	m.end()
	return nil
}

// Close ends the model: every later call returns ErrClosed.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.closed = true
		close(m.stop)
		m.events.Close()
	}
	return nil
}
