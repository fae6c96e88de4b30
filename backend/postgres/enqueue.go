package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/taskmill/taskmill/backend"
)

// insertChunk bounds the rows of one INSERT: 14 parameters a row stays
// far below PostgreSQL's 65535.
const insertChunk = 1000

// checkTasks refuses what no backend may store, as the model does: any
// malformed task fails the whole call with ErrInvalid (naming the task
// and field), before any id is looked at; then an id given twice fails
// it with ErrDuplicate (an id that exists already is the database's to
// find, at the insert).
func (b *Backend) checkTasks(tasks []*backend.Task) error {
	for i, t := range tasks {
		var problem string
		switch {
		case t == nil:
			return fmt.Errorf("enqueue: task %d: nil: %w", i, backend.ErrInvalid)
		case t.ID == "":
			problem = "id: empty"
		case t.Type == "":
			problem = "type: empty"
		case t.Queue == "":
			problem = "queue: empty"
		case t.Priority < 0 || t.Priority > backend.MaxPriority:
			problem = fmt.Sprintf("priority: %d is outside 0..%d", t.Priority, backend.MaxPriority)
		case t.MaxAttempts < 1:
			problem = fmt.Sprintf("max_attempts: %d, want at least 1", t.MaxAttempts)
		case t.State != backend.StatePending && t.State != backend.StateScheduled:
			problem = fmt.Sprintf("state: a new task must be pending or scheduled, not %q", t.State)
		case t.State == backend.StateScheduled && t.RunAt.IsZero():
			problem = "run_at: a scheduled task needs one"
		case len(t.Payload) > 0 && !json.Valid(t.Payload):
			problem = "payload: not valid JSON"
		}
		if problem != "" {
			return fmt.Errorf("enqueue: task %d (%s): %s: %w", i, t.ID, problem, backend.ErrInvalid)
		}
	}
	seen := make(map[string]bool, len(tasks))
	for _, t := range tasks {
		if seen[t.ID] {
			return fmt.Errorf("enqueue: task id %s appears twice in one call: %w", t.ID, backend.ErrDuplicate)
		}
		seen[t.ID] = true
	}
	return nil
}

// shifted is the SQL for a caller's time moved onto the backend's clock:
// by (clock() − the caller's CreatedAt), or as given when the caller gave
// no CreatedAt (see backend.Backend.Enqueue).
func (b *Backend) shifted(at, created string) string {
	return "(" + at + " + coalesce(" + b.t("clock()") + " - " + created + ", interval '0'))"
}

// execer runs statements inside some transaction: the backend's own
// (pgx) or a caller's (pgx.Tx or *sql.Tx).
type execer interface {
	exec(ctx context.Context, sql string, args ...any) error
	// firstString returns the first column of the first row, ok false
	// when there is no row.
	firstString(ctx context.Context, sql string, args ...any) (s string, ok bool, err error)
}

type pgxExecer struct{ tx pgx.Tx }

func (e pgxExecer) exec(ctx context.Context, sql string, args ...any) error {
	_, err := e.tx.Exec(ctx, sql, args...)
	return err
}

func (e pgxExecer) firstString(ctx context.Context, sql string, args ...any) (string, bool, error) {
	var s string
	err := e.tx.QueryRow(ctx, sql, args...).Scan(&s)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	return s, err == nil, err
}

// enqueueIn stores tasks in the transaction ex runs in and returns the
// results and the tasks stored (those not refused for their unique key).
// A task id that exists already fails it with ErrDuplicate; the caller
// then rolls back.
func (b *Backend) enqueueIn(ctx context.Context, ex execer, tasks []*backend.Task) ([]backend.EnqueueResult, []*backend.Task, error) {
	results := make([]backend.EnqueueResult, len(tasks))
	for i, t := range tasks {
		results[i] = backend.EnqueueResult{ID: t.ID}
	}
	// Unique keys are claimed in (queue, key) order, whatever the order
	// of the tasks: each claim locks a row of unique_keys until commit,
	// so two transactions claiming the same keys in opposite orders
	// would deadlock, and PostgreSQL would abort one (a coalesced batch
	// with all its callers). Among tasks of this call sharing a key the
	// first in task order takes it, as if they were claimed in turn.
	var claims []int // indexes of the tasks with a unique key
	for i, t := range tasks {
		if t.UniqueKey != "" {
			claims = append(claims, i)
		}
	}
	slices.SortStableFunc(claims, func(x, y int) int {
		return cmp.Or(cmp.Compare(tasks[x].Queue, tasks[y].Queue), cmp.Compare(tasks[x].UniqueKey, tasks[y].UniqueKey))
	})
	taken := map[[2]string]string{} // (queue, key) → the task of this call holding it
	for _, i := range claims {
		t := tasks[i]
		k := [2]string{t.Queue, t.UniqueKey}
		if holder, ok := taken[k]; ok {
			results[i] = backend.EnqueueResult{ID: holder, Duplicate: true}
			continue
		}
		holder, free, err := b.takeUniqueKey(ctx, ex, t)
		if err != nil {
			return nil, nil, err
		}
		if !free {
			results[i] = backend.EnqueueResult{ID: holder, Duplicate: true}
			continue
		}
		taken[k] = t.ID
	}
	stored := make([]*backend.Task, 0, len(tasks))
	for i, t := range tasks {
		if !results[i].Duplicate {
			stored = append(stored, t)
		}
	}
	// A task refused for its unique key is not inserted, so its id is
	// checked here: an id that exists fails the whole call all the same.
	var refused []any
	var in []string
	for i, r := range results {
		if r.Duplicate {
			refused = append(refused, tasks[i].ID)
			in = append(in, "$"+strconv.Itoa(len(refused))+"::text")
		}
	}
	if len(refused) > 0 {
		id, exists, err := ex.firstString(ctx, `SELECT id FROM `+b.t("tasks")+` WHERE id IN (`+strings.Join(in, ", ")+`) LIMIT 1`, refused...)
		if err != nil {
			return nil, nil, fmt.Errorf("enqueue: %w", err)
		}
		if exists {
			return nil, nil, fmt.Errorf("enqueue: task id %s exists already: %w", id, backend.ErrDuplicate)
		}
	}
	for start := 0; start < len(stored); start += insertChunk {
		chunk := stored[start:min(start+insertChunk, len(stored))]
		sql, args := b.insertSQL(chunk)
		if err := ex.exec(ctx, sql, args...); err != nil {
			if isUniqueViolation(err) {
				return nil, nil, fmt.Errorf("enqueue: a task id exists already: %w", backend.ErrDuplicate)
			}
			return nil, nil, fmt.Errorf("enqueue: %w", err)
		}
	}
	return results, stored, nil
}

// takeUniqueKey claims t's unique key in its queue unless another task
// holds it: the last task stored with the key, inside its window, and
// not canceled (checked now: a canceled holder retried holds it again).
// It returns the holder otherwise.
func (b *Backend) takeUniqueKey(ctx context.Context, ex execer, t *backend.Task) (holder string, free bool, err error) {
	_, took, err := ex.firstString(ctx, `INSERT INTO `+b.t("unique_keys")+` (queue, key, task_id, until)
		VALUES ($1::text, $2::text, $3::text, coalesce(`+b.shifted("$4::timestamptz", "$5::timestamptz")+`, '-infinity'))
		ON CONFLICT (queue, key) DO UPDATE SET task_id = excluded.task_id, until = excluded.until
		WHERE `+b.t("unique_keys")+`.until <= `+b.t("clock()")+` OR NOT EXISTS (
			SELECT 1 FROM `+b.t("tasks")+` h WHERE h.id = `+b.t("unique_keys")+`.task_id AND h.state <> 'canceled')
		RETURNING task_id`, t.Queue, t.UniqueKey, t.ID, nullTime(t.UniqueUntil), nullTime(t.CreatedAt))
	if err != nil {
		return "", false, fmt.Errorf("enqueue task %s: unique key: %w", t.ID, err)
	}
	if took {
		return "", true, nil
	}
	holder, _, err = ex.firstString(ctx, `SELECT task_id FROM `+b.t("unique_keys")+` WHERE queue = $1::text AND key = $2::text`, t.Queue, t.UniqueKey)
	if err != nil {
		return "", false, fmt.Errorf("enqueue task %s: unique key holder: %w", t.ID, err)
	}
	return holder, false, nil
}

// insertSQL builds one multi-row INSERT with plain scalar parameters, so
// that it runs on any driver behind database/sql as well as on pgx.
func (b *Backend) insertSQL(tasks []*backend.Task) (string, []any) {
	var sb strings.Builder
	sb.WriteString(`INSERT INTO ` + b.t("tasks") + ` (id, seq, queue, type, state, priority, payload, max_attempts,
		timeout_ns, deadline, unique_key, unique_until, run_at, ready_at, created_at, trace_context) VALUES `)
	args := make([]any, 0, 14*len(tasks))
	for i, t := range tasks {
		if i > 0 {
			sb.WriteByte(',')
		}
		n := len(args)
		p := func(k int, cast string) string { return "$" + strconv.Itoa(n+k) + "::" + cast }
		created := p(13, "timestamptz")
		ready := "NULL::timestamptz"
		if t.State == backend.StatePending {
			ready = "greatest(" + b.t("clock()") + ", " + b.shifted(p(12, "timestamptz"), created) + ")"
		}
		sb.WriteString("(" + p(1, "text") + ", nextval('" + b.t("task_seq") + "'), " + p(2, "text") + ", " + p(3, "text") + ", " +
			p(4, "text") + ", " + p(5, "int") + ", " + p(6, "text") + ", " + p(7, "int") + ", " + p(8, "bigint") + ", " +
			p(9, "timestamptz") + ", " + p(10, "text") + ", " + b.shifted(p(11, "timestamptz"), created) + ", " +
			b.shifted(p(12, "timestamptz"), created) + ", " + ready + ", " + b.t("clock()") + ", " + p(14, "jsonb") + ")")
		var payload, trace any
		if t.Payload != nil {
			payload = string(t.Payload)
		}
		if len(t.TraceContext) > 0 {
			js, _ := json.Marshal(t.TraceContext)
			trace = string(js)
		}
		args = append(args, t.ID, t.Queue, t.Type, string(t.State), int64(t.Priority), payload, int64(t.MaxAttempts),
			int64(t.Timeout), nullTime(t.Deadline), nullString(t.UniqueKey), nullTime(t.UniqueUntil), nullTime(t.RunAt),
			nullTime(t.CreatedAt), trace)
	}
	return sb.String(), args
}

// isUniqueViolation reports a unique_violation from any driver that
// exposes the SQLSTATE (pgx's PgError, lib/pq's Error).
func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	var st interface{ SQLState() string }
	return errors.As(err, &st) && st.SQLState() == "23505"
}

// enqueueReq is one Enqueue call waiting for the group commit.
type enqueueReq struct {
	tasks   []*backend.Task
	results []backend.EnqueueResult
}

func (r *enqueueReq) size() int { return len(r.tasks) }

// Enqueue stores new tasks; see backend.Backend. Concurrent calls share
// one INSERT and one commit (group commit). It returns once PostgreSQL
// committed the tasks (durable on disk with synchronous_commit=on).
//
// Enqueue returns when ctx ends. If the call still waited for a flusher,
// the error is ctx's and nothing was stored; if a flusher had taken it,
// the error wraps ErrUnknownOutcome: the tasks may be stored.
func (b *Backend) Enqueue(ctx context.Context, tasks []*backend.Task) ([]backend.EnqueueResult, error) {
	if err := b.alive(); err != nil {
		return nil, err
	}
	if err := b.checkTasks(tasks); err != nil {
		return nil, err
	}
	if len(tasks) == 0 {
		return []backend.EnqueueResult{}, nil
	}
	req := &enqueueReq{tasks: tasks}
	if err := b.enq.do(ctx, req); err != nil {
		return nil, err
	}
	return req.results, nil
}

// flushEnqueues commits a batch of Enqueue calls in one transaction. When
// it fails (one call's id exists already) it retries each call in its
// own transaction, so that only the guilty call fails. A batch without
// unique keys is one INSERT … SELECT FROM unnest(…) statement: one
// round trip, one prepared statement whatever the batch size, and
// atomic on its own.
func (b *Backend) flushEnqueues(ctx context.Context, calls []*call[*enqueueReq]) {
	if b.insertFast(ctx, calls) {
		return
	}
	if len(calls) > 1 {
		var all []*backend.Task
		for _, c := range calls {
			all = append(all, c.req.tasks...)
		}
		var results []backend.EnqueueResult
		var stored []*backend.Task
		err := pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
			var err error
			results, stored, err = b.enqueueIn(ctx, pgxExecer{tx}, all)
			return err
		})
		if err == nil {
			for _, c := range calls {
				c.req.results, results = results[:len(c.req.tasks)], results[len(c.req.tasks):]
			}
			b.afterEnqueue(stored)
			return
		}
	}
	for _, c := range calls {
		var stored []*backend.Task
		c.err = pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
			var err error
			c.req.results, stored, err = b.enqueueIn(ctx, pgxExecer{tx}, c.req.tasks)
			return err
		})
		if c.err == nil {
			b.afterEnqueue(stored)
		}
	}
}

// afterEnqueue wakes the workers of the queues that got ready work and
// announces the new tasks.
func (b *Backend) afterEnqueue(stored []*backend.Task) {
	queues := map[string]bool{}
	for _, t := range stored {
		if !queues[t.Queue] {
			queues[t.Queue] = true
			b.wake(t.Queue)
		}
	}
	b.announce(newTaskViews(stored)...)
}

// newTaskViews are the stored tasks as their enqueue events show them:
// what the caller gave of the fields the state machine owns is not
// stored, so it is not shown either.
func newTaskViews(tasks []*backend.Task) []*backend.Task {
	out := make([]*backend.Task, len(tasks))
	for i, t := range tasks {
		out[i] = &backend.Task{ID: t.ID, Type: t.Type, Queue: t.Queue, State: t.State}
	}
	return out
}

// insertFast stores a batch without unique keys in one statement and
// reports whether it did; false (nothing stored) sends the batch down
// the general path, which also sorts out a duplicate id.
func (b *Backend) insertFast(ctx context.Context, calls []*call[*enqueueReq]) bool {
	n := 0
	for _, c := range calls {
		for _, t := range c.req.tasks {
			if t.UniqueKey != "" {
				return false
			}
		}
		n += len(c.req.tasks)
	}
	var (
		ids, queues, types, states = make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
		payloads, traces           = make([]*string, 0, n), make([]*string, 0, n)
		prios, maxAtt              = make([]int32, 0, n), make([]int32, 0, n)
		timeouts                   = make([]int64, 0, n)
		deadlines, runAts, created = make([]*time.Time, 0, n), make([]*time.Time, 0, n), make([]*time.Time, 0, n)
	)
	ptrTime := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		u := t.UTC()
		return &u
	}
	var stored []*backend.Task
	for _, c := range calls {
		for _, t := range c.req.tasks {
			ids, queues, types, states = append(ids, t.ID), append(queues, t.Queue), append(types, t.Type), append(states, string(t.State))
			var payload, trace *string
			if t.Payload != nil {
				s := string(t.Payload)
				payload = &s
			}
			if len(t.TraceContext) > 0 {
				js, _ := json.Marshal(t.TraceContext)
				s := string(js)
				trace = &s
			}
			payloads, traces = append(payloads, payload), append(traces, trace)
			prios, maxAtt, timeouts = append(prios, int32(t.Priority)), append(maxAtt, int32(t.MaxAttempts)), append(timeouts, int64(t.Timeout))
			deadlines, runAts, created = append(deadlines, ptrTime(t.Deadline)), append(runAts, ptrTime(t.RunAt)), append(created, ptrTime(t.CreatedAt))
			stored = append(stored, t)
		}
	}
	clock := b.t("clock()")
	runAt := b.shifted("x.run_at", "x.created")
	_, err := b.pool.Exec(ctx, `INSERT INTO `+b.t("tasks")+` (id, seq, queue, type, state, priority, payload, max_attempts,
			timeout_ns, deadline, run_at, ready_at, created_at, trace_context)
		SELECT x.id, nextval('`+b.t("task_seq")+`'), x.queue, x.type, x.state, x.priority, x.payload, x.max_attempts,
			x.timeout_ns, x.deadline, `+runAt+`,
			CASE WHEN x.state = 'pending' THEN greatest(`+clock+`, `+runAt+`) END, `+clock+`, x.trace::jsonb
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::text[], $7::int[], $8::bigint[],
			$9::timestamptz[], $10::timestamptz[], $11::timestamptz[], $12::text[])
			WITH ORDINALITY AS x(id, queue, type, state, priority, payload, max_attempts, timeout_ns, deadline, run_at, created, trace, i)
		ORDER BY x.i`,
		ids, queues, types, states, prios, payloads, maxAtt, timeouts, deadlines, runAts, created, traces)
	if err != nil {
		if !isUniqueViolation(err) {
			for _, c := range calls {
				c.err = fmt.Errorf("enqueue: %w", err)
			}
			return true
		}
		return false // a duplicate id: the general path finds whose
	}
	for _, c := range calls {
		c.req.results = make([]backend.EnqueueResult, len(c.req.tasks))
		for i, t := range c.req.tasks {
			c.req.results[i] = backend.EnqueueResult{ID: t.ID}
		}
	}
	b.afterEnqueue(stored)
	return true
}
