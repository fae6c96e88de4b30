package tasktypes

import (
	"context"
	"sync"
	"time"

	"github.com/taskmill/taskmill"
)

// progressEvery is how often a long task writes its progress: often
// enough to watch, rare enough that a fast loop does not turn into a
// stream of store writes.
const progressEvery = 250 * time.Millisecond

// progress reports a task's progress at most every progressEvery, and
// always when done is called.
type progress struct {
	t    *taskmill.Task
	mu   sync.Mutex
	last time.Time
}

func newProgress(t *taskmill.Task) *progress { return &progress{t: t, last: time.Now()} }

// report writes percent and message if progressEvery has passed since
// the last write. A failed write (the lease is gone) shows through ctx.
func (p *progress) report(ctx context.Context, percent float64, message func() string) {
	p.mu.Lock()
	now := time.Now()
	if now.Sub(p.last) < progressEvery {
		p.mu.Unlock()
		return
	}
	p.last = now
	p.mu.Unlock()
	_ = p.t.ReportProgress(ctx, percent, message())
}

// done writes the final progress unconditionally.
func (p *progress) done(ctx context.Context, message string) {
	_ = p.t.ReportProgress(ctx, 100, message)
}
