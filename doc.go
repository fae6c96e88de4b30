// Package taskmill is a distributed task queue: a Client submits tasks to
// a backend, and Workers lease them, run their handlers and record the
// results.
//
// # Guarantees
//
// Once Client.Submit (or Enqueue) returns an id, the task is stored as
// durably as its backend promises: the embedded backend has fsynced it;
// Redis holds it as its persistence settings say. Tasks run at least once:
// a worker leases each task for a lease duration and extends the lease by
// heartbeat; when a worker dies its leases expire and the tasks run again.
// Every lease carries a fencing token, and a result written under a lease
// that was lost is refused (ErrLeaseLost), so a worker that was cut off
// cannot overwrite the result of the run that replaced it.
//
// Within a queue, higher priority runs first and equal priorities run in
// submit order. A worker takes from several queues by weight or in strict
// order. A failed attempt is retried with exponential backoff and jitter
// until MaxAttempts, then the task is failed: the dead-letter queue, from
// which Client.Retry brings it back.
//
// # Handlers
//
// Handlers are shaped like net/http: a Handler (or HandlerFunc) gets a
// context and the *Task, and returns a JSON-marshalable result or an
// error. A ServeMux routes by task type and applies Middleware. The
// context ends on the task's timeout or deadline, on cancellation, when
// the lease is lost, and when the worker stops; a panic fails the attempt
// with its stack trace and the worker keeps going. Wrap an error with
// SkipRetry when retrying cannot help.
//
// Registering a TaskType with a Validate function makes the Client refuse
// bad payloads at submit time, with a *ValidationError naming the field,
// before anything is stored.
//
// # Backends
//
// Backends implement backend.Backend: backend/embedded (a bbolt file, for
// one process) and backend/redis (for many processes on many hosts). Both
// pass the same conformance suite, backend/backendtest.
package taskmill
