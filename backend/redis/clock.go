package redis

import (
	"context"
	"fmt"
	"time"
)

// The backend has one clock: the Redis server's TIME, read inside every
// script (scripts/clock.lua), plus Options.ClockOffset. Nothing the
// backend stores or compares comes from the clock of the host that
// calls, so hosts whose clocks disagree cannot expire each other's
// leases early or run a task twice. The host clock is still used for
// what concerns the process alone: how long an idle Lease waits, how
// old a cached list of queue names is.

// offset returns the test offset in µs, as the scripts take it.
func (b *Backend) offset() string {
	if b.opts.Clock != nil {
		return "=" + itoa(micros(b.opts.Clock.Now()))
	}
	return itoa(b.offsetDur().Microseconds())
}

func (b *Backend) offsetDur() time.Duration {
	if b.opts.ClockOffset == nil {
		return 0
	}
	return b.opts.ClockOffset()
}

// Now returns the backend's time: the Redis server's TIME plus the
// clock offset. On a cluster it asks one master (any); each queue's
// times come from the master that holds it, so the masters' clocks
// should agree (NTP) as the clock of one server agrees with itself.
func (b *Backend) Now(ctx context.Context) (time.Time, error) {
	if b.closed() {
		return time.Time{}, errClosed
	}
	v, err := b.run(ctx, nowScript, []string{b.k.meta("")}, b.offset())
	if err != nil {
		return time.Time{}, redisErr("read the server's time", err)
	}
	s, _ := v.(string)
	t := fromMicros(s)
	if t.IsZero() {
		return time.Time{}, fmt.Errorf("redis: read the server's time: unexpected reply %v", v)
	}
	return t, nil
}
