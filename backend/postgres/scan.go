package postgres

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/taskmill/taskmill/backend"
)

// taskCols are the columns scanTask reads, in its order.
const taskCols = `id, queue, type, state, priority, payload, attempt, max_attempts, timeout_ns, deadline,
	unique_key, unique_until, run_at, created_at, started_at, finished_at, result, last_error,
	attempts, progress, worker_id, lease_token, lease_expires_at, trace_context, lease_losses`

// scanTask reads one row of taskCols.
func scanTask(row pgx.Row) (*backend.Task, error) { return scanTaskWith(row) }

// scanTaskWith reads one row of taskCols followed by extra columns.
func scanTaskWith(row pgx.Row, extra ...any) (*backend.Task, error) {
	var (
		t                                                         backend.Task
		state                                                     string
		payload, uniqueKey, result, lastError, workerID           *string
		deadline, uniqueUntil, runAt, started, finished, leaseExp *time.Time
		attempts, progress, trace                                 []byte
		token                                                     *int64
		timeoutNS                                                 int64
	)
	dest := []any{&t.ID, &t.Queue, &t.Type, &state, &t.Priority, &payload, &t.Attempt, &t.MaxAttempts, &timeoutNS, &deadline,
		&uniqueKey, &uniqueUntil, &runAt, &t.CreatedAt, &started, &finished, &result, &lastError,
		&attempts, &progress, &workerID, &token, &leaseExp, &trace, &t.LeaseLosses}
	err := row.Scan(append(dest, extra...)...)
	if err != nil {
		return nil, err
	}
	t.State = backend.State(state)
	t.Timeout = backend.Duration(timeoutNS)
	t.CreatedAt = t.CreatedAt.UTC()
	if payload != nil {
		t.Payload = json.RawMessage(*payload)
	}
	if result != nil {
		t.Result = json.RawMessage(*result)
	}
	t.UniqueKey, t.LastError, t.WorkerID = deref(uniqueKey), deref(lastError), deref(workerID)
	t.Deadline, t.UniqueUntil, t.RunAt = utc(deadline), utc(uniqueUntil), utc(runAt)
	t.StartedAt, t.FinishedAt, t.LeaseExpiresAt = utc(started), utc(finished), utc(leaseExp)
	if token != nil {
		t.LeaseToken = uint64(*token)
	}
	if len(attempts) > 0 && string(attempts) != "[]" {
		if err := json.Unmarshal(attempts, &t.Attempts); err != nil {
			return nil, fmt.Errorf("task %s attempts: %w", t.ID, err)
		}
		for i := range t.Attempts {
			a := &t.Attempts[i]
			a.StartedAt, a.FinishedAt = a.StartedAt.UTC(), a.FinishedAt.UTC()
		}
	}
	if progress != nil {
		var p backend.Progress
		if err := json.Unmarshal(progress, &p); err != nil {
			return nil, fmt.Errorf("task %s progress: %w", t.ID, err)
		}
		p.At = p.At.UTC()
		t.Progress = &p
	}
	if trace != nil {
		if err := json.Unmarshal(trace, &t.TraceContext); err != nil {
			return nil, fmt.Errorf("task %s trace context: %w", t.ID, err)
		}
	}
	return &t, nil
}

// scanTasks reads every row of taskCols.
func scanTasks(rows pgx.Rows) ([]*backend.Task, error) {
	defer rows.Close()
	var out []*backend.Task
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func utc(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// nullTime is nil for the zero time, for a NULL column.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

// nullString is nil for "", for a NULL column.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
