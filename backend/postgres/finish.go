package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/taskmill/taskmill/backend"
)

// leaseFree are the column settings that end a lease.
const leaseFree = `worker_id = NULL, lease_token = NULL, lease_secret = NULL, lease_expires_at = NULL`

// lockedInIDOrder ends the SELECT (of tasks t) that a statement updating
// several leased tasks at once (a batch of acks, the extension of a
// worker's leases) runs first, in a MATERIALIZED CTE, and then updates
// only the rows it returns.
//
// An UPDATE locks each row as its join reaches it, in whatever order the
// plan visits them. Two such statements sharing rows (an ack batch and
// the heartbeat's Extend of the same worker's leases) could then each
// hold a row the other waits for: PostgreSQL breaks the deadlock after
// deadlock_timeout (1s by default) by aborting one, whose callers get an
// error, and an ack lost that way leaves its task processing until its
// lease expires, to run again. Locked first in one order shared by all of
// them, the later statement waits for the earlier one instead. The lock
// is the one the UPDATE takes anyway (NO KEY UPDATE: no key changes), so
// nothing else waits longer than before. Statements that take one row, or
// skip locked rows (lease, reclaim, promotion, retention), need no order.
const lockedInIDOrder = `ORDER BY t.id FOR NO KEY UPDATE OF t`

// ackReq is one Ack waiting for the group commit.
type ackReq struct {
	ref    backend.LeaseRef
	result json.RawMessage
}

func (r *ackReq) size() int { return 1 }

// Ack completes a leased task with its result; see backend.Backend.
// Concurrent Acks share one UPDATE and one commit. When ctx ends first,
// an ack still waiting for a flusher is withdrawn (ctx's error, nothing
// changed); one a flusher had taken wraps ErrUnknownOutcome: it may have
// been recorded.
func (b *Backend) Ack(ctx context.Context, l backend.LeaseRef, result json.RawMessage) error {
	if err := b.alive(); err != nil {
		return err
	}
	if len(result) > 0 && !json.Valid(result) {
		return fmt.Errorf("ack task %s: result: not valid JSON", l.TaskID)
	}
	return b.acks.do(ctx, &ackReq{ref: l, result: result})
}

func (b *Backend) flushAcks(ctx context.Context, calls []*call[*ackReq]) {
	ids := make([]string, len(calls))
	tokens := make([]int64, len(calls))
	secrets := make([]string, len(calls))
	results := make([]*string, len(calls))
	for i, c := range calls {
		ids[i], tokens[i], secrets[i] = c.req.ref.TaskID, int64(c.req.ref.Token), c.req.ref.Secret
		if c.req.result != nil {
			s := string(c.req.result)
			results[i] = &s
		}
	}
	// The rows are locked first, in id order (see lockedInIDOrder), then
	// updated.
	rows, err := b.pool.Query(ctx, `WITH a AS (SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[])
			AS a(id, token, secret, result)),
		locked AS MATERIALIZED (SELECT t.id, a.result FROM `+b.t("tasks")+` t JOIN a ON t.id = a.id
			WHERE t.state = 'processing' AND t.lease_token = a.token AND t.lease_secret = a.secret
			`+lockedInIDOrder+`),
		u AS (UPDATE `+b.t("tasks")+` t SET state = 'completed', finished_at = `+b.t("clock()")+`, result = a.result,
			lease_losses = 0,
			attempts = `+b.t("end_attempt")+`(t.attempts, `+b.t("clock()")+`, 'completed', NULL),
			progress = CASE WHEN t.progress IS NULL THEN NULL ELSE jsonb_set(t.progress, '{percent}', '100') END,
			`+leaseFree+`
		FROM locked a WHERE t.id = a.id
		RETURNING t.id, t.type, t.queue, t.attempt, t.progress, coalesce(t.last_error, '') AS last_error),
		ch AS (SELECT queue, 'processing' AS os, 'completed' AS ns, false AS expired FROM u)`+b.changesCTEs("ch")+`
		SELECT id, type, queue, attempt, progress, last_error FROM u`, ids, tokens, secrets, results)
	if err != nil {
		for _, c := range calls {
			c.err = fmt.Errorf("ack task %s: %w", c.req.ref.TaskID, err)
		}
		return
	}
	done := map[string]*backend.Task{}
	for rows.Next() {
		t := &backend.Task{State: backend.StateCompleted}
		var progress []byte
		if err := rows.Scan(&t.ID, &t.Type, &t.Queue, &t.Attempt, &progress, &t.LastError); err != nil {
			break
		}
		if progress != nil {
			var p backend.Progress
			if json.Unmarshal(progress, &p) == nil {
				t.Progress = &p
			}
		}
		done[t.ID] = t
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		for _, c := range calls {
			c.err = fmt.Errorf("ack task %s: %w", c.req.ref.TaskID, err)
		}
		return
	}
	var acked []*backend.Task
	for _, c := range calls {
		t := done[c.req.ref.TaskID]
		if t == nil {
			c.err = fmt.Errorf("ack task %s token %d: %w", c.req.ref.TaskID, c.req.ref.Token, backend.ErrLeaseLost)
			continue
		}
		t.Result = c.req.result
		acked = append(acked, t)
	}
	b.announce(acked...)
}

// leaseBound runs one UPDATE of a leased task (id $1, token $2, secret
// $3, further parameters from $4) and returns the task as it is after it, or
// ErrLeaseLost when the lease is not the task's current one.
func (b *Backend) leaseBound(ctx context.Context, what string, l backend.LeaseRef, set string, args ...any) (*backend.Task, error) {
	if err := b.alive(); err != nil {
		return nil, err
	}
	t, err := scanTask(b.pool.QueryRow(ctx, `WITH u AS (UPDATE `+b.t("tasks")+` SET `+set+`
			WHERE id = $1 AND state = 'processing' AND lease_token = $2 AND lease_secret = $3 RETURNING *),
		ch AS (SELECT queue, 'processing' AS os, state AS ns, false AS expired FROM u)`+b.changesCTEs("ch")+`
		SELECT `+taskCols+` FROM u`,
		append([]any{l.TaskID, int64(l.Token), l.Secret}, args...)...))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%s task %s token %d: %w", what, l.TaskID, l.Token, backend.ErrLeaseLost)
	}
	if err != nil {
		return nil, fmt.Errorf("%s task %s: %w", what, l.TaskID, err)
	}
	b.announce(t)
	return t, nil
}

// Fail records a failed attempt; the task retries at now+f.RetryIn or
// goes to the dead-letter queue by the rule of backend.Failure.Retries,
// decided in the same statement from the stored task and the database's
// clock.
func (b *Backend) Fail(ctx context.Context, l backend.LeaseRef, f backend.Failure) error {
	retryAt := b.t("clock()") + ` + $6::interval`
	retries := `(NOT $5::boolean AND attempt < max_attempts AND (deadline IS NULL OR ` + retryAt + ` < deadline))`
	t, err := b.leaseBound(ctx, "fail", l, `
		state = CASE WHEN `+retries+` THEN 'retrying' ELSE 'failed' END,
		run_at = CASE WHEN `+retries+` THEN `+retryAt+` ELSE run_at END,
		finished_at = CASE WHEN `+retries+` THEN NULL ELSE `+b.t("clock()")+` END,
		last_error = $4::text, lease_losses = 0,
		attempts = `+b.t("end_attempt")+`(attempts, `+b.t("clock()")+`, 'failed', $4::text),
		`+leaseFree, f.Error, f.Final, max(f.RetryIn, 0))
	if err == nil && t.State == backend.StateRetrying {
		b.wake(t.Queue) // waiting leasers learn of the new due time
	}
	return err
}

// Release hands a leased task back to pending, at the front of its
// priority, without counting the attempt.
func (b *Backend) Release(ctx context.Context, l backend.LeaseRef) error {
	t, err := b.leaseBound(ctx, "release", l, `
		state = 'pending', attempt = attempt - 1, progress = NULL,
		seq = -nextval('`+b.t("task_seq")+`'), ready_at = greatest(created_at, run_at),
		attempts = `+b.t("end_attempt")+`(attempts, `+b.t("clock()")+`, 'released', NULL),
		`+leaseFree)
	if err == nil {
		b.wake(t.Queue)
	}
	return err
}

// SetProgress stores a running task's progress, its At the database's
// clock.
func (b *Backend) SetProgress(ctx context.Context, l backend.LeaseRef, p backend.Progress) error {
	js, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("set progress of task %s: %w", l.TaskID, err)
	}
	_, err = b.leaseBound(ctx, "set progress of", l,
		`progress = jsonb_set($4::jsonb, '{at}', to_jsonb(`+b.t("clock()")+`))`, string(js))
	return err
}
