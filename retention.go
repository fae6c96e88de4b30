package taskmill

import (
	"context"
	"fmt"
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
	// Interval is how often the upkeep leader purges. Default one minute.
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
// state) and reports how many it deleted per state. Ages are read on the
// backend's clock. term fences the calls (the upkeep leader's term; 0 for
// a single process that runs no upkeep election): a term that is no
// longer the leader's fails with backend.ErrNotLeader, nothing deleted.
func PurgeOnce(ctx context.Context, b backend.Backend, term uint64, r Retention) (map[State]int, error) {
	r = r.withDefaults()
	deleted := map[State]int{}
	for _, p := range []struct {
		state State
		keep  time.Duration
	}{{StateCompleted, r.Completed}, {StateCanceled, r.Canceled}, {StateFailed, r.Failed}} {
		if p.keep <= 0 {
			continue
		}
		for range maxPurgeCalls {
			n, err := b.Purge(ctx, term, p.state, p.keep, r.Batch)
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
