package taskmill

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/taskmill/taskmill/backend"
)

// Retention says how long finished tasks are kept before they are
// deleted. A zero duration keeps that state forever.
type Retention struct {
	// Completed, Failed and Canceled are kept this long after they finish.
	// Failed tasks are the dead-letter queue: keep them long enough for
	// someone to look.
	Completed, Failed, Canceled time.Duration
	// Interval is how often a RetentionLoop purges. Default one minute.
	Interval time.Duration
	// Batch is the most tasks one backend call deletes. Default 1000.
	Batch int
}

// DefaultRetention keeps completed tasks for a day, canceled ones for a
// week and failed ones (the dead-letter queue) for thirty days.
var DefaultRetention = Retention{Completed: 24 * time.Hour, Canceled: 7 * 24 * time.Hour, Failed: 30 * 24 * time.Hour}

func (r Retention) withDefaults() Retention {
	if r.Interval <= 0 {
		r.Interval = time.Minute
	}
	if r.Batch <= 0 {
		r.Batch = 1000
	}
	return r
}

// maxPurgeCalls bounds one pass per state, so that a large backlog is
// worked off over several passes instead of holding the backend.
const maxPurgeCalls = 100

// PurgeOnce deletes every task past its retention (up to 100 batches per
// state) and reports how many it deleted per state. Any number of
// processes may run it at once: each deletion happens once.
func PurgeOnce(ctx context.Context, b backend.Backend, r Retention, now time.Time) (map[State]int, error) {
	r = r.withDefaults()
	deleted := map[State]int{}
	// Purge judges age by the backend's clock; judging at now instead
	// shifts every age by the difference.
	bnow, err := b.Now(ctx)
	if err != nil {
		return deleted, fmt.Errorf("read the backend's clock: %w", err)
	}
	shift := now.Sub(bnow)
	for _, p := range []struct {
		state State
		keep  time.Duration
	}{{StateCompleted, r.Completed}, {StateCanceled, r.Canceled}, {StateFailed, r.Failed}} {
		if p.keep <= 0 {
			continue
		}
		for range maxPurgeCalls {
			n, err := b.Purge(ctx, 0, p.state, p.keep-shift, r.Batch) // TODO(runtime branch): the leader's term
			deleted[p.state] += n
			if err != nil {
				return deleted, fmt.Errorf("purge %s tasks older than %s: %w", p.state, p.keep, err)
			}
			if n < r.Batch {
				break
			}
		}
	}
	return deleted, nil
}

// RetentionLoop runs PurgeOnce every r.Interval until ctx ends. taskmill
// serve runs it; a program that embeds the library should run it in one
// or more of its processes.
func RetentionLoop(ctx context.Context, b backend.Backend, r Retention, log *slog.Logger) {
	r = r.withDefaults()
	if r.Completed <= 0 && r.Failed <= 0 && r.Canceled <= 0 {
		return
	}
	tick := time.NewTicker(r.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		deleted, err := PurgeOnce(ctx, b, r, time.Now())
		if err != nil && ctx.Err() == nil {
			log.Warn("retention", "err", err)
		}
		if n := deleted[StateCompleted] + deleted[StateFailed] + deleted[StateCanceled]; n > 0 {
			log.Info("retention deleted finished tasks", "completed", deleted[StateCompleted],
				"failed", deleted[StateFailed], "canceled", deleted[StateCanceled])
		}
	}
}
