package taskmill

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/internal/upkeep"
)

// UpkeepConfig configures the upkeep of a deployment: the periodic work
// that keeps the backend moving and bounded. Every process that shares a
// backend may run it (StartUpkeep); one of them is elected and does the
// work, the others stand by, so give them all the same settings.
type UpkeepConfig struct {
	// ID names this process among the candidates. Default host-pid-random.
	ID string
	// LeaderTTL is how long leadership lasts without a renewal: when the
	// leader dies another process takes over within LeaderTTL·4/3. Keep
	// it well under the workers' lease duration (a third of it, as
	// LeaderTTLFor gives), so that a dead leader's successor reclaims the
	// dead workers' leases as they expire. Default 5s.
	LeaderTTL time.Duration
	// ReclaimInterval is how often expired leases of dead workers are
	// taken back (their tasks run again, the attempt not spent). Default 1s.
	ReclaimInterval time.Duration
	// PromoteInterval is how often due scheduled and retrying tasks of
	// every queue become pending (workers also promote the queues they
	// lease from). Default 1s.
	PromoteInterval time.Duration
	// Retention says how long finished tasks are kept; its zero value
	// keeps them forever. taskmill serve uses DefaultRetention.
	Retention Retention
	// HistoryKeep is how long per-minute history is kept. Default
	// backend.HistoryKeep (7 days); negative keeps it forever.
	HistoryKeep time.Duration
	// ForgetQueuesAfter forgets queues that hold no tasks and saw no
	// submit, lease, pause or resume for this long. Zero or negative:
	// queues are never forgotten (DELETE /api/queues/{name} still works).
	ForgetQueuesAfter time.Duration
	// Scheduler, when set, fires its schedules while this process leads;
	// the firings of the last 30 s (or three LeaderTTLs) missed while no
	// process led are caught up when one takes over (each once).
	Scheduler *Scheduler
	// Observer is told how many leases the leader reclaims. Optional.
	Observer Observer
	// Logger receives upkeep's logs. Default slog.Default().
	Logger *slog.Logger
}

func (c UpkeepConfig) withDefaults() UpkeepConfig {
	if c.ID == "" {
		host, _ := os.Hostname()
		c.ID = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), uuid.NewString()[:8])
	}
	if c.LeaderTTL <= 0 {
		c.LeaderTTL = 5 * time.Second
	}
	if c.ReclaimInterval <= 0 {
		c.ReclaimInterval = time.Second
	}
	if c.PromoteInterval <= 0 {
		c.PromoteInterval = time.Second
	}
	if c.HistoryKeep == 0 {
		c.HistoryKeep = backend.HistoryKeep
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Upkeep is one process's candidacy for upkeep leadership; see
// StartUpkeep.
type Upkeep struct {
	r    *upkeep.Runner
	stop context.CancelFunc
	done chan struct{}
	once sync.Once
}

// StartUpkeep campaigns for upkeep leadership among the processes that
// share b, and while this process leads runs, each call fenced by the
// leadership's term (a leader paused past its term is refused by the
// backend): promotion of due tasks, reclaim of expired leases, retention,
// history pruning, forgetting unused queues, and the scheduler's firings.
// It runs until ctx ends or Stop.
func StartUpkeep(ctx context.Context, b backend.Backend, cfg UpkeepConfig) *Upkeep {
	cfg = cfg.withDefaults()
	log := cfg.Logger
	jobs := []upkeep.Job{
		{Name: "reclaim", Every: cfg.ReclaimInterval, Run: func(ctx context.Context, term uint64) error {
			n, err := b.Reclaim(ctx, term)
			if n > 0 {
				log.Info("reclaimed expired leases", "tasks", n)
				if cfg.Observer != nil {
					cfg.Observer.LeasesReclaimed(n)
				}
			}
			return wrapUpkeep("reclaim expired leases", err)
		}},
		{Name: "promote", Every: cfg.PromoteInterval, Run: func(ctx context.Context, term uint64) error {
			_, err := b.Promote(ctx, term)
			return wrapUpkeep("promote due tasks", err)
		}},
	}
	if r := cfg.Retention.withDefaults(); r.Completed > 0 || r.Failed > 0 || r.Canceled > 0 {
		jobs = append(jobs, upkeep.Job{Name: "retention", Every: r.Interval, Run: func(ctx context.Context, term uint64) error {
			deleted, err := PurgeOnce(ctx, b, term, r)
			if n := deleted[StateCompleted] + deleted[StateFailed] + deleted[StateCanceled]; n > 0 {
				log.Info("retention deleted finished tasks", "completed", deleted[StateCompleted],
					"failed", deleted[StateFailed], "canceled", deleted[StateCanceled])
			}
			return err
		}})
	}
	if cfg.HistoryKeep > 0 {
		jobs = append(jobs, upkeep.Job{Name: "history", Every: time.Hour, Run: func(ctx context.Context, term uint64) error {
			_, err := b.PruneHistory(ctx, term, cfg.HistoryKeep)
			return wrapUpkeep("prune history", err)
		}})
	}
	if cfg.ForgetQueuesAfter > 0 {
		jobs = append(jobs, upkeep.Job{Name: "queues", Every: min(time.Minute, cfg.ForgetQueuesAfter), Run: func(ctx context.Context, term uint64) error {
			n, err := b.ForgetQueues(ctx, term, cfg.ForgetQueuesAfter)
			if n > 0 {
				log.Info("forgot unused queues", "queues", n)
			}
			return wrapUpkeep("forget unused queues", err)
		}})
	}
	if s := cfg.Scheduler; s != nil && len(s.items) > 0 {
		// Firings missed during a change of leader (about LeaderTTL·4/3,
		// more on a loaded machine) are caught up, with a wide margin;
		// their unique keys make each one task.
		catchUp := max(3*cfg.LeaderTTL, 30*time.Second)
		jobs = append(jobs, upkeep.Job{Name: "schedules", Run: func(ctx context.Context, term uint64) error {
			s.lead(ctx, catchUp)
			return nil
		}})
	}
	ctx, stop := context.WithCancel(ctx)
	u := &Upkeep{r: upkeep.New(b, upkeep.Config{Holder: cfg.ID, TTL: cfg.LeaderTTL, Jobs: jobs, Logger: log}),
		stop: stop, done: make(chan struct{})}
	go func() {
		defer close(u.done)
		u.r.Run(ctx)
	}()
	return u
}

// LeaderTTLFor returns the upkeep leadership TTL that suits workers whose
// leases last lease: a third of it, at least 100ms. A leader that dies is
// then replaced (in LeaderTTL·4/3) before the leases it would have
// reclaimed expire.
func LeaderTTLFor(lease time.Duration) time.Duration {
	return max(lease/3, 100*time.Millisecond)
}

func wrapUpkeep(what string, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// Leading reports whether this process leads upkeep now.
func (u *Upkeep) Leading() bool {
	_, ok := u.r.Leading()
	return ok
}

// Stop ends the candidacy: the jobs stop, and leadership, if held, is
// given up so that another process takes over at once.
func (u *Upkeep) Stop() {
	u.once.Do(func() {
		u.stop()
		<-u.done
	})
}
