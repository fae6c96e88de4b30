// Package model is the reference model of taskmill's backend contract:
// every rule of backend.Backend written once, in plain Go, in memory, with
// one mutex, an injected clock and an injected source of lease secrets,
// and no I/O. It is the rule book: where the interface's comments leave a
// detail open, this page decides it, and every backend follows.
// backendtest.Differential runs random operations against the model and a
// backend side by side and fails on the first difference.
//
// # Clock and times
//
// One clock decides: the backend's (Options.Clock here). Every stored
// time comes from it. Enqueue sets CreatedAt to now and moves the
// caller's RunAt and UniqueUntil by (now − the caller's CreatedAt), so a
// delay or a unique window keeps its length whatever the caller's clock
// says; a zero CreatedAt means they are already backend times. Deadline
// is absolute and kept as given. SetProgress stamps Progress.At with now.
// Fail's retry time is now+RetryIn (RetryIn < 0 counts as 0).
//
// "Due" and "expired" include the instant itself: a task is due when
// RunAt <= now, a lease has expired when LeaseExpiresAt <= now, a worker
// is gone when its expiry <= now, leadership is over when Until <= now,
// a unique window is over when UniqueUntil <= now. A deadline has passed
// when Deadline <= now (Lease fails such a task instead of leasing it);
// a retry comes before the deadline when now+RetryIn < Deadline.
//
// # Enqueue
//
// A call is checked whole before anything is stored; any problem fails
// the whole call, nothing stored: ErrInvalid for a malformed task (empty
// ID, Type or Queue; Priority outside 0..MaxPriority; MaxAttempts < 1;
// State other than pending or scheduled; scheduled with a zero RunAt),
// ErrDuplicate for an ID that exists (any queue, any state) or appears
// twice in the call; when both apply, ErrInvalid. The fields the state machine owns are reset on
// entry: Attempt, LeaseLosses, WorkerID, LeaseToken, LeaseSecret,
// LeaseExpiresAt, StartedAt, FinishedAt, Result, LastError, Attempts and
// Progress. A pending task gets a RunAt only if the caller gave one
// (moved as above); a scheduled task stays scheduled until promoted, even
// when its RunAt has already come.
//
// Unique keys are per queue: (Queue, UniqueKey). A key is held by the
// last task stored with it while now < that task's UniqueUntil, unless
// that task is canceled (at the time of the check: a canceled task that
// is retried holds its key again), deleted or purged. A completed or failed task
// keeps holding its key until UniqueUntil. A duplicate is not stored; its
// result names the holder. Within one call, the first task with a key
// holds it for the later ones. Results come back in the order of the
// tasks; events for the stored ones are sent in that order.
//
// # The line: where a pending task waits
//
// Each queue's pending tasks form one line per priority; Lease takes the
// highest priority first and the head of its line. Enqueue (pending),
// promotion and a manual Retry put a task at the BACK of its priority's
// line; Release and Reclaim put it at the FRONT. Tasks promoted in one
// call join in the order (RunAt, ID). Tasks reclaimed in one call go to
// the front in the order their leases expired, then by ID, so the one
// whose lease expired first is first in line.
//
// # Lease
//
// req.Max < 1 means 1; req.LeaseFor <= 0 is ErrInvalid. Queues named more
// than once count once, at their first place. Before taking anything,
// Lease promotes the due tasks of every queue in req.Queues (paused ones
// too). Then for each queue in order, unless paused, it walks the line:
// a task whose type is not in req.Types (when given) is skipped and keeps
// its place; a task whose Deadline has passed is failed ("deadline
// exceeded before the task could start", FinishedAt now, one failed
// attempt in the history) and does not count toward Max; the others are
// leased until Max tasks are. A leased task: processing, Attempt+1, a
// LeaseToken larger than any the task had (the model keeps one counter;
// tokens are each backend's own and the differential test does not
// compare them), a fresh LeaseSecret (32 hex digits), WorkerID, StartedAt now, LeaseExpiresAt now+LeaseFor,
// Progress nil, and a new Attempts entry {Number: Attempt, WorkerID,
// StartedAt}. A queue from which a task was leased counts as used.
//
// # Lease-bound calls
//
// Ack, Fail, Release and SetProgress act only when the task exists, is
// processing, and its LeaseToken and LeaseSecret equal the LeaseRef's;
// otherwise ErrLeaseLost. The worker is not checked there (the secret
// proves the lease); Extend checks the worker too: held means processing
// with that token, secret and WorkerID. A lease past its expiry that no
// Reclaim has taken is still held: Reclaim is what ends it.
//
// Closing an attempt sets the last Attempts entry's FinishedAt (now),
// Outcome and Error, and clears WorkerID, LeaseToken, LeaseSecret and
// LeaseExpiresAt.
//
//   - Ack: outcome "completed"; completed, FinishedAt now, Result stored,
//     Progress.Percent 100 when there was progress, LeaseLosses 0.
//     History: one completed.
//   - Fail: outcome "failed" with the error; LastError set, LeaseLosses 0;
//     by Failure.Retries(task, now): retrying with RunAt now+RetryIn, or
//     failed with FinishedAt now. History: one failed either way.
//   - Release: outcome "released"; Attempt−1; Progress nil; pending at
//     the front. LeaseLosses unchanged.
//   - SetProgress: Progress = {Percent, Message, At: now}.
//
// # Cancel, Retry, Delete
//
// Cancel: pending, scheduled, retrying or processing → canceled,
// FinishedAt now (a processing task's attempt closed with outcome
// "canceled", error "canceled"); ErrFinal for a final task; ErrNotFound.
// Retry: failed or canceled → pending at the back, Attempt 0,
// LeaseLosses 0, FinishedAt, RunAt, Result and Progress cleared, LastError
// and Attempts kept, a Deadline that has passed dropped; ErrNotFinal for
// any other state. Delete: any final task; ErrNotFinal otherwise; its
// event carries State "deleted". Delete and Purge free the task's unique
// key if it holds it.
//
// # Upkeep, fenced
//
// Promote, Reclaim, Purge, PruneHistory and ForgetQueues take a term.
// Term 0 is unfenced. Any other term must be the current leadership's and
// the leadership unexpired, else ErrNotLeader and nothing changes.
//
//   - Promote: every due scheduled or retrying task of every queue, in
//     (RunAt, ID) order, to the back of its line; reports the count.
//   - Reclaim: every processing task whose lease expired: the attempt is
//     closed with outcome "lease_expired" and error "lease expired:
//     worker W stopped extending it", LastError set to it, Attempt−1,
//     LeaseLosses+1, Progress nil; if LeaseLosses >= MaxLeaseLosses the
//     task fails (FinishedAt now, LastError "lease expired N times in a
//     row"), else it goes to the front of its line. History: one failed
//     per reclaimed lease. Then every worker whose heartbeat ran out is
//     removed (a worker_update with Stopping set each, by ID). Reclaim
//     never promotes. It reports the number of tasks.
//   - Purge(s, olderThan, max): s must be final (else ErrInvalid); the
//     tasks in s with FinishedAt < now−olderThan, oldest (FinishedAt, ID)
//     first, at most max (max <= 0: none), deleted; one queue_update per
//     queue touched, by queue name.
//   - PruneHistory(olderThan): removes the (queue, minute) buckets whose
//     minute < now−olderThan; reports how many buckets.
//   - ForgetQueues(unusedFor): forgets each queue that holds no task, is
//     not paused and was last used at or before now−unusedFor; one
//     queue_update each, by name; reports how many.
//
// # Queues
//
// A queue is known from its first Enqueue (of a stored task), PauseQueue
// or ResumeQueue, until DeleteQueue or ForgetQueues. Enqueue, a Lease that
// took from it, PauseQueue and ResumeQueue record a use (now). Pause and
// resume send one queue_update each, even when nothing changes; an empty
// queue name is ErrInvalid.
// DeleteQueue: ErrNotFound when unknown, ErrNotEmpty when any task (final
// included) is in it. Queues lists known queues by name with a count for
// every state; OldestPendingAt is the earliest of max(CreatedAt, RunAt)
// over its pending tasks (informational: backends may approximate it, and
// the differential test does not compare it).
//
// # Reads
//
// Get and List never return LeaseSecret. List: newest ID first; Limit <=
// 0 means 50, above 1000 means 1000; filters State, Queue, Type exactly,
// Query as a substring of the ID, the Type or the payload bytes. The
// cursor is opaque; a cursor the backend did not make is ErrBadCursor.
// History(queue, since): buckets with minute >= since truncated to the
// minute, oldest first, summed over queues when queue is "", only minutes
// with a count.
//
// # Workers
//
// Heartbeat(w, ttl): an empty ID or ttl <= 0 is ErrInvalid. A live worker of that ID
// with another Secret: ErrWorkerTaken. Otherwise the record becomes w
// with LastHeartbeat now and expiry now+ttl; a pending stop request of a
// live worker is kept and shows as Stopping. A worker_update (without
// Secret) is sent when the worker was not live before or its info other
// than LastHeartbeat changed (nil and empty lists are equal). Unregister:
// nil when not registered; ErrWorkerTaken when live with another secret;
// otherwise removed, with a worker_update (Stopping set). RequestStop:
// ErrNotFound unless live; the first request sets Stopping and sends a
// worker_update, a repeated one sends nothing. Workers: live ones by ID,
// without Secret.
//
// # Leadership
//
// Lead(holder, ttl): empty holder or ttl <= 0 is ErrInvalid. When nobody
// holds it or it expired: holder gets term+1 (terms start at 1), Until
// now+ttl. When holder holds it: Until now+ttl, same term. Otherwise
// Held false with the current holder, term and Until. Resign(holder,
// term): if holder holds it unexpired under term, it becomes free (the
// term counter stays); otherwise nothing, nil.
//
// # Events
//
// Sent after the change, one task_update per task transition: enqueue,
// lease, the deadline failure at lease, progress, ack, fail, release,
// cancel, retry, reclaim, promote (including Lease's own promotion),
// delete. Extend sends none, Purge one queue_update per queue. Event.At
// is now. A subscriber buffers Options.EventBuffer events; one that falls
// behind loses events and gets one resync before its next event.
//
// # Context and Close
//
// Every call checks first that the model is open (ErrClosed) and then
// that ctx has not ended (ctx.Err()); either way nothing changed. Lease
// with Wait > 0 returns early, with what it has and a nil error, when ctx
// ends.
package model
