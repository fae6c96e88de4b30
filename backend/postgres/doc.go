// Package postgres is the taskmill backend on PostgreSQL: the user's own
// database, where a task can be submitted inside the caller's transaction
// and exists only if that transaction commits (EnqueueTx, EnqueueSQLTx).
//
// Everything lives in one schema (Options.Schema, default "taskmill"),
// created and upgraded by the embedded, versioned migrations (Migrate;
// `taskmill migrate up|status`), so several taskmill installs can share
// one database under different schemas.
//
// # Durability
//
// Enqueue, Ack, Fail and every other change return after PostgreSQL
// committed them: with synchronous_commit=on (the default) the commit is
// flushed to the WAL on disk, and survives a crash of the server or the
// machine. Concurrent Enqueue calls of one process share one INSERT and
// one commit, and so do concurrent Acks (group commit).
//
// # Contexts
//
// Enqueue and Ack, which wait for a batch (group commit), return when
// their ctx ends. One still waiting for a flusher is withdrawn and
// returns ctx's error, nothing changed; one a flusher had taken returns
// an error wrapping ErrUnknownOutcome and ctx's error: its batch commits
// or fails without its caller.
//
// # Time
//
// Every time the backend stores (lease expiry, finish times, retry
// times given as a delay) comes from the database's clock, now() of the
// transaction, never from the caller's host.
//
// # Wake-ups and events
//
// Workers blocked in Lease are woken by LISTEN/NOTIFY on one connection
// per process, with a polling fallback bounded by Options.PollInterval.
// Events go to every process by NOTIFY as well, sent after the commit on
// a separate statement so that the hot path's transactions never take
// PostgreSQL's global notify lock. Behind a transaction-mode pooler
// (PgBouncer pool_mode=transaction) LISTEN does not work: point
// Options.ListenURL (?listen_url=) at the server directly or at a
// session-mode pool; without it workers fall back to polling.
//
// See docs/postgres.md for setup, the schema, poolers and sizing.
package postgres
