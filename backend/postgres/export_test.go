package postgres

// QueuedEnqueues is how many Enqueue calls wait for a flusher, for the
// test of a caller that leaves while it waits.
func QueuedEnqueues(b *Backend) int { return b.enq.Len() }
