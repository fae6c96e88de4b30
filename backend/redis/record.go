package redis

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/taskmill/taskmill/backend"
)

// A task is one hash, "tm:{queue}:t:<id>". Field names are short because
// they are stored once per task; empty fields are not stored at all.
// Numbers stay in fields of their own: Redis stores them as integers in
// the hash's compact listpack form (which it keeps while every value is
// at most hash-max-listpack-value bytes, 64 by default; a larger payload
// costs the hashtable form, about twice the memory). The
// id and queue are in the key name and not repeated. Times are integer
// microseconds since the Unix epoch: exact in Lua's doubles (up to 2^53)
// and in Redis sorted-set scores.
const (
	fType        = "y"
	fPayload     = "p"
	fPriority    = "pr"
	fState       = "s"
	fAttempt     = "a"
	fMaxAttempts = "ma"
	fTimeout     = "to"  // ns
	fDeadline    = "dl"  // µs
	fUniqueKey   = "uk"  //
	fUniqueUntil = "uu"  // µs
	fRunAt       = "ra"  // µs
	fCreated     = "c"   // µs
	fStarted     = "st"  // µs
	fFinished    = "ft"  // µs
	fResult      = "r"   // raw JSON
	fError       = "e"   // last error
	fHistory     = "h"   // JSON array of finished attempts, see attemptRow
	fProgressPct = "pgp" // progress percent
	fProgressMsg = "pgm" // progress message
	fProgressAt  = "pga" // µs
	fWorker      = "w"   // lease holder
	fToken       = "tk"  // lease token and secret, "<token>:<secret>" (leaseField); present while processing and on completed tasks
	fLeaseExp    = "le"  // µs
	fTrace       = "tc"  // trace context JSON
	fLeaseLosses = "ll"  // lease expiries in a row; absent when 0
)

// stateCodes maps states to the one-byte codes stored in fState.
var stateCodes = map[backend.State]string{
	backend.StatePending: "p", backend.StateScheduled: "s", backend.StateProcessing: "a",
	backend.StateRetrying: "r", backend.StateCompleted: "c", backend.StateFailed: "f", backend.StateCanceled: "x",
}

var codeStates = func() map[string]backend.State {
	m := make(map[string]backend.State, len(stateCodes))
	for s, c := range stateCodes {
		m[c] = s
	}
	m["d"] = "deleted" // only in events
	return m
}()

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n == 0 {
		return time.Time{}
	}
	return time.UnixMicro(n).UTC()
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// leaseField is a lease as the hash's "tk" holds it: "<token>:<secret>".
// One field, not two, because every lease writes it and every ack and
// extend reads it, and each field of a hash costs those calls a walk of
// the hash (a listpack).
func leaseField(l backend.LeaseRef) string {
	return strconv.FormatUint(l.Token, 10) + ":" + l.Secret
}

// appendTaskArgs appends a task's values for enqueue.lua: queue, id,
// priority, type, max attempts, payload, then the count and the
// name/value pairs of what else the task has (see the script's header).
// What a task lacks is not sent: each argument costs the script call.
func appendTaskArgs(a []any, t *backend.Task) ([]any, error) {
	a = append(a, t.Queue, t.ID, strconv.Itoa(t.Priority), t.Type, strconv.Itoa(t.MaxAttempts), string(t.Payload))
	n := len(a)
	a = append(a, 0)
	if !t.RunAt.IsZero() {
		name := "ra"
		if t.State == backend.StateScheduled {
			name = "rs"
		}
		a = append(a, name, itoa(micros(t.RunAt)))
	}
	if t.UniqueKey != "" {
		a = append(a, fUniqueKey, t.UniqueKey, fUniqueUntil, itoa(micros(t.UniqueUntil)))
	}
	if (!t.RunAt.IsZero() || t.UniqueKey != "") && !t.CreatedAt.IsZero() {
		// Only a time that must move needs the caller's clock.
		a = append(a, "cc", itoa(micros(t.CreatedAt)))
	}
	if t.Timeout != 0 {
		a = append(a, fTimeout, itoa(int64(t.Timeout)))
	}
	if !t.Deadline.IsZero() {
		a = append(a, fDeadline, itoa(micros(t.Deadline)))
	}
	if len(t.TraceContext) > 0 {
		b, err := json.Marshal(t.TraceContext)
		if err != nil {
			return nil, fmt.Errorf("encode trace context: %w", err)
		}
		a = append(a, fTrace, string(b))
	}
	a[n] = (len(a) - n - 1) / 2
	return a, nil
}

// decodeTask builds a Task from the flat field/value list HGETALL returns.
// The values may be slices of a larger reply (see unpacker): the strings
// the task keeps are copied.
func decodeTask(id, queue string, kv []string) (*backend.Task, error) {
	if len(kv) == 0 {
		return nil, fmt.Errorf("task %s: %w", id, backend.ErrNotFound)
	}
	t := &backend.Task{ID: id, Queue: queue}
	var pgp, pgm, pga string
	var hasProgress bool
	for i := 0; i+1 < len(kv); i += 2 {
		k, v := kv[i], kv[i+1]
		switch k {
		case fType:
			t.Type = strings.Clone(v)
		case fPayload:
			t.Payload = json.RawMessage(v)
		case fPriority:
			t.Priority, _ = strconv.Atoi(v)
		case fState:
			t.State = codeStates[v]
		case fAttempt:
			t.Attempt, _ = strconv.Atoi(v)
		case fMaxAttempts:
			t.MaxAttempts, _ = strconv.Atoi(v)
		case fTimeout:
			n, _ := strconv.ParseInt(v, 10, 64)
			t.Timeout = backend.Duration(n)
		case fDeadline:
			t.Deadline = fromMicros(v)
		case fUniqueKey:
			t.UniqueKey = strings.Clone(v)
		case fUniqueUntil:
			t.UniqueUntil = fromMicros(v)
		case fRunAt:
			t.RunAt = fromMicros(v)
		case fCreated:
			t.CreatedAt = fromMicros(v)
		case fStarted:
			t.StartedAt = fromMicros(v)
		case fFinished:
			t.FinishedAt = fromMicros(v)
		case fResult:
			t.Result = json.RawMessage(v)
		case fError:
			t.LastError = strings.Clone(v)
		case fHistory:
			rows, err := decodeAttempts(v)
			if err != nil {
				return nil, fmt.Errorf("task %s: %w", id, err)
			}
			t.Attempts = rows
		case fProgressPct:
			pgp, hasProgress = v, true
		case fProgressMsg:
			pgm = strings.Clone(v)
		case fProgressAt:
			pga = v
		case fWorker:
			t.WorkerID = strings.Clone(v)
		case fToken:
			// The secret after the colon is never read back.
			tok, _, _ := strings.Cut(v, ":")
			t.LeaseToken, _ = strconv.ParseUint(tok, 10, 64)
		case fLeaseExp:
			t.LeaseExpiresAt = fromMicros(v)
		case fLeaseLosses:
			t.LeaseLosses, _ = strconv.Atoi(v)
		case fTrace:
			if err := json.Unmarshal([]byte(v), &t.TraceContext); err != nil {
				return nil, fmt.Errorf("task %s: decode trace context: %w", id, err)
			}
		}
	}
	if hasProgress {
		pct, _ := strconv.ParseFloat(pgp, 64)
		t.Progress = &backend.Progress{Percent: pct, Message: pgm, At: fromMicros(pga)}
	}
	switch t.State {
	case backend.StateProcessing:
		// The running attempt is not in the history yet: it is written
		// there when it ends, so that a lease costs no JSON rewrite.
		t.Attempts = append(t.Attempts, backend.Attempt{Number: t.Attempt, WorkerID: t.WorkerID, StartedAt: t.StartedAt})
	case backend.StateCompleted:
		// An ack leaves the attempt's worker and start in place of a
		// history row (the hot path writes as little as it can).
		t.Attempts = append(t.Attempts, backend.Attempt{Number: t.Attempt, WorkerID: t.WorkerID,
			StartedAt: t.StartedAt, FinishedAt: t.FinishedAt, Outcome: "completed"})
		fallthrough
	default:
		// The lease fields outlive the lease only on completed tasks.
		t.WorkerID, t.LeaseToken, t.LeaseExpiresAt = "", 0, time.Time{}
	}
	return t, nil
}

// attemptRow is one finished attempt as the scripts write it:
// [number, worker, started µs, finished µs, outcome, error].
func decodeAttempts(s string) ([]backend.Attempt, error) {
	var rows [][]json.RawMessage
	if err := json.Unmarshal([]byte(s), &rows); err != nil {
		return nil, fmt.Errorf("decode attempt history: %w", err)
	}
	out := make([]backend.Attempt, 0, len(rows))
	for _, r := range rows {
		if len(r) < 6 {
			return nil, fmt.Errorf("decode attempt history: row with %d columns", len(r))
		}
		var a backend.Attempt
		var started, finished string
		_ = json.Unmarshal(r[0], &a.Number)
		_ = json.Unmarshal(r[1], &a.WorkerID)
		_ = json.Unmarshal(r[2], &started)
		_ = json.Unmarshal(r[3], &finished)
		_ = json.Unmarshal(r[4], &a.Outcome)
		_ = json.Unmarshal(r[5], &a.Error)
		a.StartedAt, a.FinishedAt = fromMicros(started), fromMicros(finished)
		out = append(out, a)
	}
	return out, nil
}
