package coalesce

import (
	"context"
	"fmt"
	"sync/atomic"
)

// Ticket lets a caller withdraw its queued item when its ctx ends, until
// a loop takes the item: one compare-and-swap decides, so an item never
// runs after its caller returned ctx's error, and a caller whose item was
// taken knows that it runs (or ran). Embed it in the item; the zero value
// is a queued item.
type Ticket struct{ state atomic.Int32 }

const (
	ticketQueued int32 = iota
	ticketTaken
	ticketWithdrawn
)

// Take is called by the loop before it runs the item: true when the item
// is to run (also when the loop took it before), false when its caller
// withdrew it.
func (t *Ticket) Take() bool {
	return t.state.CompareAndSwap(ticketQueued, ticketTaken) || t.state.Load() == ticketTaken
}

// Withdraw is called by the caller whose ctx ended: true when the item
// will never run, false when a loop has taken it.
func (t *Ticket) Withdraw() bool {
	return t.state.CompareAndSwap(ticketQueued, ticketWithdrawn)
}

// Taken reports whether a loop has taken the item: it runs, or ran.
func (t *Ticket) Taken() bool { return t.state.Load() == ticketTaken }

// Wait waits for the item's answer (done closed) or for ctx to end, and
// returns nil for an answer. When ctx ends first, the item is withdrawn
// if it still waits, and Wait returns ContextError(ctx): the item never
// runs.
// When a loop had taken it, Wait returns ctx's cause too, but the item
// runs without its caller; Taken then reports true, and the caller
// cannot know whether the change was made. An answer that came just as
// ctx ended is returned as an answer.
func (t *Ticket) Wait(ctx context.Context, done <-chan struct{}) error {
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	if t.Withdraw() {
		return ContextError(ctx)
	}
	select {
	case <-done:
		return nil
	default:
		return ContextError(ctx)
	}
}

// ContextError is the error of a call whose ctx ended: ctx.Err(), as the
// backend contract promises (errors.Is context.Canceled or
// context.DeadlineExceeded), wrapping also the cause the ctx was ended
// with when it has one of its own (context.WithCancelCause and the like:
// the worker ends a handler's ctx with why).
func ContextError(ctx context.Context) error {
	err := ctx.Err()
	if cause := context.Cause(ctx); cause != nil && cause != err {
		return fmt.Errorf("%w: %w", err, cause)
	}
	return err
}
