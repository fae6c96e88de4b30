// Package leasewait is the loop every backend's Lease runs when nothing is
// ready and the caller asked to wait: look, and if nothing was found,
// sleep until woken, until the next delayed task is due, until the wait
// is over or until ctx ends, then look again.
package leasewait

import (
	"context"
	"time"

	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/internal/wake"
)

// Look is one look for work. It returns the tasks it leased and, when
// nothing was ready, how long until the first delayed task of the
// queues it looked at is due by the backend's clock (0 when none or
// unknown).
type Look func(ctx context.Context) (tasks []*backend.Task, untilDue time.Duration, err error)

// Config is what the loop waits on.
type Config struct {
	Wake *wake.Signal    // broadcast when tasks may have become ready
	Stop <-chan struct{} // closed when the backend closes
	// Closed is returned when Stop is closed while waiting.
	Closed error
	// Fallback bounds one sleep (0: no bound): a backend whose wake-ups
	// can be lost (a dropped pub/sub message) looks again at least this
	// often.
	Fallback time.Duration
}

// Run looks once and, while nothing is leased and wait has not passed,
// sleeps and looks again. It returns what the last look returned; when
// ctx ends while it sleeps it returns nothing and a nil error (waiting
// was asked for, finding nothing is not a failure).
func Run(ctx context.Context, wait time.Duration, cfg Config, look Look) ([]*backend.Task, error) {
	var deadline time.Time
	if wait > 0 {
		deadline = time.Now().Add(wait)
	}
	for {
		// Take the wake channel before looking, so that work arriving
		// between the look and the wait is not missed.
		woken := cfg.Wake.C()
		tasks, untilDue, err := look(ctx)
		if err != nil || len(tasks) > 0 || deadline.IsZero() {
			return tasks, err
		}
		sleep := time.Until(deadline)
		if sleep <= 0 {
			return nil, nil
		}
		if cfg.Fallback > 0 {
			sleep = min(sleep, cfg.Fallback)
		}
		if untilDue > 0 {
			sleep = min(sleep, max(untilDue, time.Millisecond))
		}
		timer := time.NewTimer(sleep)
		select {
		case <-woken:
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return nil, nil
		case <-cfg.Stop:
			timer.Stop()
			return nil, cfg.Closed
		}
		timer.Stop()
	}
}
