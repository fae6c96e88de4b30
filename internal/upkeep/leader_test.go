package upkeep_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/backendtest"
	"github.com/taskmill/taskmill/backend/model"
	"github.com/taskmill/taskmill/internal/upkeep"
)

// crashable is an Elector that can be cut off, as a process that died or
// lost the backend: after crash every call fails and nothing is resigned.
type crashable struct {
	upkeep.Elector
	down atomic.Bool
}

var errDown = errors.New("process is down")

func (c *crashable) Lead(ctx context.Context, holder string, ttl time.Duration) (backend.Leadership, error) {
	if c.down.Load() {
		return backend.Leadership{}, errDown
	}
	return c.Elector.Lead(ctx, holder, ttl)
}

func (c *crashable) Resign(ctx context.Context, holder string, term uint64) error {
	if c.down.Load() {
		return errDown
	}
	return c.Elector.Resign(ctx, holder, term)
}

type candidate struct {
	r      *upkeep.Runner
	e      *crashable
	cancel context.CancelFunc
	done   chan struct{}
	runs   atomic.Int64 // job rounds run
}

// await polls cond until it holds; 30 s is only a hang guard.
func await(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polls a condition; the deadline only guards against a hang
	}
}

func leaders(cs []*candidate) (n int, who *candidate, term uint64) {
	for _, c := range cs {
		if tm, ok := c.r.Leading(); ok {
			n, who, term = n+1, c, tm
		}
	}
	return n, who, term
}

// TestOneLeaderAndTakeover: of three candidates exactly one leads and runs
// the jobs; when it dies another takes over once the dead one's term has
// expired on the backend's clock (one TTL: within the two terms the
// contract allows), with a larger term, and the dead leader's term is
// fenced off. A candidate that stops resigns, and the next takes over
// without waiting for expiry.
func TestOneLeaderAndTakeover(t *testing.T) {
	clock := backendtest.NewClock(time.Time{})
	m := model.New(model.Options{Clock: clock})
	t.Cleanup(func() { m.Close() })
	const ttl = 300 * time.Millisecond
	var cs []*candidate
	for i := range 3 {
		c := &candidate{e: &crashable{Elector: m}, done: make(chan struct{})}
		job := upkeep.Job{Name: "reclaim", Every: 10 * time.Millisecond, Run: func(ctx context.Context, term uint64) error {
			c.runs.Add(1)
			_, err := m.Reclaim(ctx, term) // the backend itself, not cut off: a paused leader waking up
			return err
		}}
		c.r = upkeep.New(c.e, upkeep.Config{Holder: fmt.Sprintf("p%d", i), TTL: ttl, Jobs: []upkeep.Job{job}})
		ctx, cancel := context.WithCancel(context.Background())
		c.cancel = cancel
		go func() { defer close(c.done); c.r.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-c.done })
		cs = append(cs, c)
	}
	var first *candidate
	var firstTerm uint64
	await(t, "one candidate leads", func() bool {
		n, who, term := leaders(cs)
		first, firstTerm = who, term
		return n == 1
	})
	await(t, "the leader runs its jobs", func() bool { return first.runs.Load() > 2 })
	for _, c := range cs {
		if c != first && c.runs.Load() != 0 {
			t.Fatalf("a candidate that does not lead ran %d job rounds", c.runs.Load())
		}
	}
	if l, err := m.Lead(context.Background(), "probe", ttl); err != nil || l.Held || l.Term != firstTerm {
		t.Fatalf("the backend's view: %+v, %v; want term %d held by the leader", l, err, firstTerm)
	}

	// The leader dies; its term expires one TTL later on the backend's clock.
	first.e.down.Store(true)
	clock.Advance(ttl)
	var second *candidate
	var secondTerm uint64
	await(t, "another candidate takes over", func() bool {
		for _, c := range cs {
			if tm, ok := c.r.Leading(); ok && c != first {
				second, secondTerm = c, tm
				return true
			}
		}
		return false
	})
	if secondTerm <= firstTerm {
		t.Fatalf("new term %d is not larger than the old %d", secondTerm, firstTerm)
	}
	if _, err := m.Reclaim(context.Background(), firstTerm); !errors.Is(err, backend.ErrNotLeader) {
		t.Fatalf("Reclaim under the dead leader's term: %v, want ErrNotLeader", err)
	}
	// The old leader finds out (its jobs are refused, or it cannot renew)
	// and stops acting.
	await(t, "the old leader stops", func() bool { _, ok := first.r.Leading(); return !ok })

	// A leader that stops resigns: the third takes over with the clock
	// standing still.
	second.cancel()
	<-second.done
	await(t, "the last candidate takes over after a resignation", func() bool {
		for _, c := range cs {
			if tm, ok := c.r.Leading(); ok && c != first && c != second && tm > secondTerm {
				return true
			}
		}
		return false
	})
}

// noLeadership is a backend without leadership.
type noLeadership struct{}

func (noLeadership) Lead(context.Context, string, time.Duration) (backend.Leadership, error) {
	return backend.Leadership{}, fmt.Errorf("lead: %w", errors.ErrUnsupported)
}
func (noLeadership) Resign(context.Context, string, uint64) error { return errors.ErrUnsupported }

// TestWithoutLeadership: on a backend without leadership every candidate
// runs the jobs unfenced (term 0); a job the backend does not support
// stops instead of failing every round.
func TestWithoutLeadership(t *testing.T) {
	var terms, unsupported atomic.Int64
	terms.Store(-1)
	jobs := []upkeep.Job{
		{Name: "reclaim", Every: time.Millisecond, Run: func(_ context.Context, term uint64) error {
			terms.Store(int64(term))
			return nil
		}},
		{Name: "promote", Every: time.Millisecond, Run: func(context.Context, uint64) error {
			unsupported.Add(1)
			return errors.ErrUnsupported
		}},
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := upkeep.New(noLeadership{}, upkeep.Config{Holder: "p", TTL: time.Second, Jobs: jobs})
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	await(t, "the job runs unfenced", func() bool { return terms.Load() == 0 })
	cancel()
	<-done
	if n := unsupported.Load(); n != 1 {
		t.Fatalf("the unsupported job ran %d times, want once", n)
	}
}
