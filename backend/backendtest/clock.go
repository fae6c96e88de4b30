package backendtest

import (
	"sync"
	"time"
)

// Clock is the test clock the suites drive: a backend.Clock whose time
// moves only when the test says. Backends under test take every time
// they store from it (embedded and the model as an option; Redis and
// PostgreSQL as an offset added to the server's clock).
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// ClockStart is where test clocks start: a fixed instant, whole seconds,
// far from today so that no real clock is mistaken for it.
var ClockStart = time.Date(2031, 3, 14, 9, 26, 53, 0, time.UTC)

// NewClock returns a clock at start (ClockStart when zero).
func NewClock(start time.Time) *Clock {
	if start.IsZero() {
		start = ClockStart
	}
	return &Clock{now: start.UTC()}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d (backward when d < 0).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t.UTC()
	c.mu.Unlock()
}
