package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/backend"
)

// localWorkers is the set of workers running inside this server process.
// The API starts more with POST /api/workers; any of them stops on a
// DELETE /api/workers/{id} through the backend, like a remote worker.
type localWorkers struct {
	b        backend.Backend
	base     taskmill.WorkerConfig
	log      *slog.Logger
	maxSlots int

	mu      sync.Mutex
	workers map[string]*taskmill.Worker
	slots   int
	stopped bool
}

func newLocalWorkers(b backend.Backend, base taskmill.WorkerConfig, maxSlots int, log *slog.Logger) *localWorkers {
	return &localWorkers{b: b, base: base, log: log, maxSlots: maxSlots, workers: map[string]*taskmill.Worker{}}
}

// maxLocalConcurrency bounds the slots of one in-process worker: those
// POST /api/workers starts, and serve's --workers.
const maxLocalConcurrency = 1000

// StartWorker starts an in-process worker with the given concurrency and
// queue weights (nil: the server's default queues).
func (p *localWorkers) StartWorker(ctx context.Context, concurrency int, queues map[string]int) (backend.WorkerInfo, error) {
	if concurrency < 1 || concurrency > maxLocalConcurrency {
		return backend.WorkerInfo{}, taskmill.Invalid("concurrency", "range", "must be between 1 and %d, got %d", maxLocalConcurrency, concurrency)
	}
	for q, w := range queues {
		if err := taskmill.ValidateName("queues", q); err != nil {
			return backend.WorkerInfo{}, err
		}
		if w < 1 || w > 1000 {
			return backend.WorkerInfo{}, taskmill.Invalid("queues."+q, "range", "weight must be between 1 and 1000, got %d", w)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return backend.WorkerInfo{}, errors.New("server is shutting down")
	}
	if p.slots+concurrency > p.maxSlots {
		return backend.WorkerInfo{}, taskmill.Invalid("concurrency", "limit", "this server runs at most %d in-process worker slots; %d are in use", p.maxSlots, p.slots)
	}
	cfg := p.base
	cfg.ID = ""
	cfg.Concurrency = concurrency
	if len(queues) > 0 {
		cfg.Queues, cfg.StrictOrder = queues, nil
	}
	w, err := taskmill.NewWorker(p.b, cfg)
	if err != nil {
		return backend.WorkerInfo{}, err
	}
	if err := w.Start(context.WithoutCancel(ctx)); err != nil {
		return backend.WorkerInfo{}, err
	}
	p.workers[w.ID()] = w
	p.slots += concurrency
	go func() {
		<-w.Done()
		p.mu.Lock()
		delete(p.workers, w.ID())
		p.slots -= concurrency
		p.mu.Unlock()
	}()
	p.log.Info("started in-process worker", "worker", w.ID(), "concurrency", concurrency)
	workers, err := p.b.Workers(ctx)
	if err == nil {
		for _, info := range workers {
			if info.ID == w.ID() {
				return info, nil
			}
		}
	}
	return backend.WorkerInfo{ID: w.ID(), Concurrency: concurrency, StartedAt: time.Now().UTC()}, nil
}

// IsLocal reports whether the worker runs in this process.
func (p *localWorkers) IsLocal(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.workers[id]
	return ok
}

// stopAll drains every local worker, in parallel, within ctx.
func (p *localWorkers) stopAll(ctx context.Context) error {
	p.mu.Lock()
	p.stopped = true
	ws := make([]*taskmill.Worker, 0, len(p.workers))
	for _, w := range p.workers {
		ws = append(ws, w)
	}
	p.mu.Unlock()
	var wg sync.WaitGroup
	errs := make([]error, len(ws))
	for i, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.Stop(ctx); err != nil {
				errs[i] = fmt.Errorf("stop worker %s: %w", w.ID(), err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
