package coalesce

import "sync/atomic"

// Ticket lets a caller withdraw its queued item when its ctx ends, until
// a loop takes the item: one compare-and-swap decides, so an item never
// runs after its caller returned ctx.Err(), and a caller whose item was
// taken waits for it (a write that was made is never reported as not
// made). Embed it in the item; the zero value is a queued item.
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
// will never run, false when a loop has taken it (then wait for it).
func (t *Ticket) Withdraw() bool {
	return t.state.CompareAndSwap(ticketQueued, ticketWithdrawn)
}
