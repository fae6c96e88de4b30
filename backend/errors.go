package backend

import "errors"

// Sentinel errors. Backends wrap them with context; callers test with errors.Is.
var (
	// ErrNotFound: no task (or worker) with that id.
	ErrNotFound = errors.New("not found")
	// ErrLeaseLost: the lease token is not the task's current lease. The
	// task was reclaimed, canceled, finished or deleted since it was leased;
	// the caller must not treat its result as recorded.
	ErrLeaseLost = errors.New("lease lost")
	// ErrFinal: the task is already completed, failed or canceled.
	ErrFinal = errors.New("task is final")
	// ErrNotFinal: the operation needs a final task (delete) or a failed or
	// canceled one (retry).
	ErrNotFinal = errors.New("task is not final")
	// ErrDuplicate: a task with the same unique key exists inside its window.
	ErrDuplicate = errors.New("duplicate task")
	// ErrClosed: the backend was closed.
	ErrClosed = errors.New("backend closed")
	// ErrUnknownOutcome: the call ended after its change was on its way to
	// the store (a command sent, a batch taken into a commit): its ctx
	// ended, or the answer was lost (a timeout, a broken connection). The
	// change may have been made, or may still be; the caller cannot tell
	// from the error and must read the state back if it matters (a
	// submit: Get the id; an ack: the task's state). Errors wrapping it
	// also wrap the cause (the ctx's error, the network error). A call
	// whose ctx ended before its change was on its way returns the ctx's
	// error alone, and changed nothing. Only methods whose doc comment
	// says so return it (the Redis and PostgreSQL backends' writes).
	ErrUnknownOutcome = errors.New("outcome unknown: the change was on its way when the call ended and may have been made")
)

// ErrBadCursor: the list cursor was not made by this backend.
var ErrBadCursor = errors.New("bad cursor")

var (
	// ErrInvalid: the call's input breaks the contract (a priority out of
	// range, a state Enqueue does not take, a purge of a state that is not
	// final, …). Nothing changed. Edges validate first, so reaching it is
	// a bug in the caller.
	ErrInvalid = errors.New("invalid input")
	// ErrNotLeader: an upkeep call carried a term that is not the current
	// leadership's (see Backend.Lead). Nothing changed.
	ErrNotLeader = errors.New("not the upkeep leader")
	// ErrNotEmpty: DeleteQueue of a queue that still holds tasks.
	ErrNotEmpty = errors.New("queue not empty")
	// ErrWorkerTaken: a live worker with this ID belongs to another
	// process (its secret differs).
	ErrWorkerTaken = errors.New("worker id taken by another process")
)
