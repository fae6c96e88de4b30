package redis

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/taskmill/taskmill/backend"
)

// Upkeep leadership is one hash, "tm:lead": holder, term and until (µs,
// the backend's clock). lead.lua takes, renews or reports it; each new
// holder gets term+1, so terms only grow. The upkeep scripts (promote,
// reclaim, purge, prune_history, forget_queue, expire_workers) take a
// term and, when it is not 0, check it against the hash in the same
// script that does the work: a paused old leader that wakes up with its
// old term changes nothing. On a cluster the hash is in another slot
// than the queues, so the check (fence.lua) runs one round trip before
// the work instead: there an old leader that paused between the two can
// still act once, and the fencing is as good as that window is short.

// Lead acquires, renews or reports upkeep leadership; see backend.Backend.
func (b *Backend) Lead(ctx context.Context, holder string, ttl time.Duration) (backend.Leadership, error) {
	if holder == "" || ttl <= 0 {
		return backend.Leadership{}, fmt.Errorf("redis: lead: holder %q, ttl %s: %w", holder, ttl, backend.ErrInvalid)
	}
	v, err := b.run(ctx, leadScript, []string{b.k.lead()}, b.offset(), holder, itoa(ttl.Microseconds()))
	if err != nil {
		return backend.Leadership{}, redisErr("lead", err)
	}
	r, _ := v.([]any)
	if len(r) != 4 {
		return backend.Leadership{}, fmt.Errorf("redis: lead: unexpected reply %v", v)
	}
	h, _ := r[0].(string)
	ts, _ := r[1].(string)
	us, _ := r[2].(string)
	held, _ := r[3].(int64)
	term, _ := strconv.ParseUint(ts, 10, 64)
	return backend.Leadership{Holder: h, Term: term, Held: held == 1, Until: fromMicros(us)}, nil
}

// Resign gives up leadership held by holder under term; see backend.Backend.
func (b *Backend) Resign(ctx context.Context, holder string, term uint64) error {
	_, err := b.run(ctx, resignScript, []string{b.k.lead()}, b.offset(), holder, strconv.FormatUint(term, 10))
	return redisErr("resign", err)
}

// upkeepBegin checks, before an upkeep call, that the backend is open
// and that term is the leader's: so that a wrong term is refused even
// when there is no work to do. On one server each script checks again,
// atomically with its work; on a cluster this is the check (see above).
func (b *Backend) upkeepBegin(ctx context.Context, term uint64) error {
	if b.closed() {
		return errClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if term == 0 {
		return nil
	}
	v, err := b.run(ctx, fenceScript, []string{b.k.lead()}, b.offset(), strconv.FormatUint(term, 10))
	if err != nil {
		return redisErr("check the leader's term", err)
	}
	if ok, _ := v.(int64); ok != 1 {
		return fmt.Errorf("term %d: %w", term, backend.ErrNotLeader)
	}
	return nil
}

// fenceArgs are the leadership hash and term the upkeep scripts take:
// the hash is "" on a cluster (upkeepBegin checked instead).
func (b *Backend) fenceArgs(term uint64) (lead, t string) {
	if b.cluster {
		return "", "0"
	}
	return b.k.lead(), strconv.FormatUint(term, 10)
}
