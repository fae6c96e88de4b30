package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/internal/leasewait"
)

// Lease hands out ready tasks; see backend.Backend. One statement per
// queue (one in all, usually) promotes the due tasks of the queues and
// takes up to req.Max pending ones with FOR UPDATE SKIP LOCKED, so
// concurrent leasers never wait on each other's rows. When nothing is
// ready and req.Wait > 0 it waits for a wake-up of one of its queues
// (LISTEN/NOTIFY), the next due scheduled task, or PollInterval,
// whichever comes first, and looks again.
func (b *Backend) Lease(ctx context.Context, req backend.LeaseRequest) ([]*backend.Task, error) {
	if err := b.alive(); err != nil {
		return nil, err
	}
	if req.Max < 1 {
		req.Max = 1
	}
	req.Queues = distinct(req.Queues) // a queue named twice counts once, at its first place
	if len(req.Queues) == 0 {
		return nil, nil
	}
	if req.LeaseFor <= 0 {
		return nil, fmt.Errorf("lease: lease duration must be positive, got %v: %w", req.LeaseFor, backend.ErrInvalid)
	}
	if req.Wait <= 0 {
		return b.leaseOnce(ctx, req)
	}
	// The wait is the one every backend runs (internal/leasewait), woken
	// by NOTIFY on the queues (see hub); the poll interval bounds a sleep
	// whose notification was lost. Registered before the first look, so
	// a wake-up between a look and the wait is not missed.
	w := b.hub.register(req.Queues)
	defer b.hub.unregister(w, req.Queues)
	cfg := leasewait.Config{Wake: w.sig, Stop: b.ctx.Done(), Closed: backend.ErrClosed, Fallback: b.opts.PollInterval}
	return leasewait.Run(ctx, req.Wait, cfg, func(ctx context.Context) ([]*backend.Task, time.Duration, error) {
		woken := w.sig.C() // the channel Run waits on, unless a wake-up came just now
		leased, err := b.leaseOnce(ctx, req)
		if err != nil || len(leased) > 0 {
			return leased, 0, err
		}
		select {
		case <-woken:
			// Work came while this look ran: Run looks again at once,
			// and a task submitted meanwhile does not wait for the
			// round trip of nextDue as well.
			return nil, 0, nil
		default:
		}
		// Not knowing when the next delayed task is due only loses the
		// early wake-up: the poll interval still bounds the sleep.
		due, _ := b.nextDue(ctx, req.Queues)
		return nil, due, nil
	})
}

// leaseOnce takes up to req.Max ready tasks: per queue in the order
// given, one statement (leaseStatement) takes the head of the line, until
// req.Max are taken or the queues are exhausted; one round trip for a
// worker of one queue. The first round trip also promotes the due
// scheduled and retrying tasks of every queue asked for. A queue where
// a task's deadline had passed (failed instead of leased, not counted
// toward req.Max) is looked at again.
func (b *Backend) leaseOnce(ctx context.Context, req backend.LeaseRequest) ([]*backend.Task, error) {
	var types []string // nil: every type
	if len(req.Types) > 0 {
		types = req.Types
	}
	// Rows come as the statements made them: the promoted (pending),
	// then the leased (processing) or deadline-failed. A task promoted
	// and leased in one call comes twice; each row is one event.
	var got []leasedRow
	var changed []*backend.Task
	promote := req.Queues
queues:
	for _, q := range req.Queues {
		for len(got) < req.Max {
			want := req.Max - len(got)
			secrets := make([]string, want)
			for i := range secrets {
				secrets[i] = newSecret()
			}
			rows, err := b.leaseStatement(ctx, req.WorkerID, q, want, req.LeaseFor, types, secrets, promote)
			promote = nil
			if err != nil && len(got) == 0 {
				b.announce(changed...)
				return nil, fmt.Errorf("lease: %w", err)
			}
			if err != nil {
				// Tasks leased by an earlier statement are the caller's:
				// handed back now, they run; dropped, they would wait for
				// their leases to expire. The error comes again at the
				// next call if it lasts.
				break queues
			}
			leased, failed := 0, 0
			for _, r := range rows {
				changed = append(changed, r.t)
				switch r.t.State {
				case backend.StateProcessing:
					got = append(got, r)
					leased++
				case backend.StateFailed:
					failed++
				}
			}
			// Take again only when a full take lost some to their
			// deadline: the queue may hold more.
			if leased+failed < want || failed == 0 {
				break
			}
		}
		if len(got) >= req.Max {
			break
		}
	}
	b.announce(changed...)
	// RETURNING gives no order: put them back in queue order, then
	// priority, then FIFO, as the caller asked to take them.
	pos := make(map[string]int, len(req.Queues))
	for i, q := range req.Queues {
		if _, ok := pos[q]; !ok {
			pos[q] = i
		}
	}
	sort.Slice(got, func(i, j int) bool {
		a, c := got[i], got[j]
		if pos[a.t.Queue] != pos[c.t.Queue] {
			return pos[a.t.Queue] < pos[c.t.Queue]
		}
		if a.t.Priority != c.t.Priority {
			return a.t.Priority > c.t.Priority
		}
		return a.seq < c.seq
	})
	out := make([]*backend.Task, len(got))
	for i, r := range got {
		out[i] = r.t
	}
	return out, nil
}

// leaseStatement runs one lease statement on queue q: it promotes the
// due scheduled and retrying tasks of the queues in promote (none when
// empty), then takes up to want pending tasks of q unless q is paused,
// highest priority first and in line order (seq) within a priority, of
// the given types only when types is not nil, skipping rows other
// leasers hold (FOR UPDATE SKIP LOCKED). A task whose deadline passed is
// failed instead. It returns the rows it changed, promoted ones first,
// and nothing when it failed (nothing changed then).
//
// The statement and a transaction-local synchronous_commit=off go as one
// batch: one round trip, one implicit transaction. A lease commits
// without waiting for its WAL record to reach the disk: a lease lost in
// a crash of the database is a lease whose worker died — the task runs
// again, and the first run's ack is refused — and the next synchronous
// commit of an ack, fail or submit flushes it anyway.
func (b *Backend) leaseStatement(ctx context.Context, worker, q string, want int, leaseFor time.Duration, types, secrets, promote []string) ([]leasedRow, error) {
	clock := b.t("clock()")
	failed := `t.deadline <= ` + clock
	var batch pgx.Batch
	batch.Queue(`SELECT set_config('synchronous_commit', 'off', true)`)
	if len(promote) > 0 {
		// A statement of its own: the lease statement after it sees
		// what it promoted.
		batch.Queue(b.promoteCTEs(`AND queue = ANY ($1::text[])`)+`
			SELECT `+taskCols+`, seq, NULL::text FROM promoted`, promote)
	}
	batch.Queue(`WITH picked AS MATERIALIZED (SELECT x.id, row_number() OVER () AS rn FROM (
			SELECT id FROM `+b.t("tasks")+`
			WHERE state = 'pending' AND queue = $2 AND ($5::text[] IS NULL OR type = ANY ($5))
			  AND NOT EXISTS (SELECT 1 FROM `+b.t("queues")+` WHERE name = $2 AND paused)
			ORDER BY priority DESC, seq LIMIT $3 FOR UPDATE SKIP LOCKED) x),
		leased AS (UPDATE `+b.t("tasks")+` t SET
			state = CASE WHEN `+failed+` THEN 'failed' ELSE 'processing' END,
			finished_at = CASE WHEN `+failed+` THEN `+clock+` END,
			last_error = CASE WHEN `+failed+` THEN 'deadline exceeded before the task could start' ELSE t.last_error END,
			attempt = CASE WHEN `+failed+` THEN t.attempt ELSE t.attempt + 1 END,
			attempts = CASE WHEN `+failed+` THEN t.attempts
			           ELSE t.attempts || jsonb_build_object('number', t.attempt + 1, 'worker_id', $1::text, 'started_at', `+clock+`) END,
			worker_id = CASE WHEN `+failed+` THEN NULL ELSE $1 END,
			lease_token = CASE WHEN `+failed+` THEN NULL ELSE nextval('`+b.t("lease_seq")+`') END,
			lease_secret = CASE WHEN `+failed+` THEN NULL ELSE ($6::text[])[c.rn] END,
			lease_expires_at = CASE WHEN `+failed+` THEN NULL ELSE `+clock+` + $4::interval END,
			started_at = CASE WHEN `+failed+` THEN t.started_at ELSE `+clock+` END,
			progress = CASE WHEN `+failed+` THEN t.progress END
			FROM picked c WHERE t.id = c.id
			RETURNING t.*),
		ch AS (SELECT queue, 'pending' AS os, state AS ns, false AS expired FROM leased)`+b.changesCTEs("ch")+`
		SELECT `+taskCols+`, seq, lease_secret FROM leased`,
		worker, q, want, leaseFor, types, secrets)
	br := b.pool.SendBatch(ctx, &batch)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return nil, err
	}
	var out []leasedRow
	for range batch.Len() - 1 {
		rows, err := br.Query()
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var r leasedRow
			var secret *string
			r.t, err = scanTaskWith(rows, &r.seq, &secret)
			if err != nil {
				rows.Close()
				return nil, err
			}
			r.t.LeaseSecret = deref(secret)
			out = append(out, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	if err := br.Close(); err != nil {
		return nil, err
	}
	return out, nil
}

// leasedRow is a task a lease statement changed, with its place in line.
type leasedRow struct {
	t   *backend.Task
	seq int64
}

// nextDue returns how long until the first scheduled or retrying task of
// the queues is due (zero when none is).
func (b *Backend) nextDue(ctx context.Context, queues []string) (time.Duration, error) {
	var until *time.Duration
	err := b.pool.QueryRow(ctx, `SELECT min(d.run_at) - `+b.t("clock()")+` FROM unnest($1::text[]) AS q(name),
		LATERAL (SELECT run_at FROM `+b.t("tasks")+` WHERE state IN ('scheduled', 'retrying') AND queue = q.name
		         ORDER BY run_at LIMIT 1) d`, queues).Scan(&until)
	if err != nil || until == nil {
		return 0, err
	}
	return max(*until, time.Millisecond), nil
}

// Extend renews the leases the worker still holds; see backend.Backend.
func (b *Backend) Extend(ctx context.Context, workerID string, leases []backend.LeaseRef, leaseFor time.Duration) ([]backend.ExtendResult, error) {
	if err := b.alive(); err != nil {
		return nil, err
	}
	if leaseFor <= 0 {
		return nil, fmt.Errorf("extend leases: lease duration must be positive, got %v: %w", leaseFor, backend.ErrInvalid)
	}
	ids := make([]string, len(leases))
	tokens := make([]int64, len(leases))
	secrets := make([]string, len(leases))
	for i, l := range leases {
		ids[i], tokens[i], secrets[i] = l.TaskID, int64(l.Token), l.Secret
	}
	rows, err := b.pool.Query(ctx, `WITH l AS (SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[])
			WITH ORDINALITY AS l(id, token, secret, i)),
		-- Locked first, in id order, as Ack does (see lockedInIDOrder).
		locked AS MATERIALIZED (SELECT t.id FROM `+b.t("tasks")+` t JOIN l ON t.id = l.id
		        WHERE t.state = 'processing' AND t.lease_token = l.token
		          AND t.lease_secret = l.secret AND t.worker_id = $5
		        `+lockedInIDOrder+`),
		ext AS (UPDATE `+b.t("tasks")+` t SET lease_expires_at = `+b.t("clock()")+` + $4::interval
		        FROM locked WHERE t.id = locked.id
		        RETURNING t.id)
		-- A lease named twice is held twice: held is whether the row was
		-- extended and the lease is the one it holds.
		SELECT l.i, EXISTS (SELECT 1 FROM ext WHERE ext.id = l.id)
		         AND coalesce(t.lease_token = l.token AND t.lease_secret = l.secret, false),
		       coalesce(t.state = 'canceled', false)
		FROM l LEFT JOIN `+b.t("tasks")+` t ON t.id = l.id`, ids, tokens, secrets, leaseFor, workerID)
	if err != nil {
		return nil, fmt.Errorf("extend leases: %w", err)
	}
	defer rows.Close()
	out := make([]backend.ExtendResult, len(leases))
	for rows.Next() {
		var i int
		var r backend.ExtendResult
		if err := rows.Scan(&i, &r.Held, &r.Canceled); err != nil {
			return nil, fmt.Errorf("extend leases: %w", err)
		}
		if i >= 1 && i <= len(out) {
			out[i-1] = r
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("extend leases: %w", err)
	}
	for i, l := range leases {
		out[i].TaskID = l.TaskID
	}
	return out, nil
}

// newSecret makes a lease secret: 128 random bits in hex.
func newSecret() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// distinct returns the strings in their order, each once.
func distinct(ss []string) []string {
	seen := make(map[string]bool, len(ss))
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
