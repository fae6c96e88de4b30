package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"time"

	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/internal/leasewait"
)

// Lease hands out ready tasks; see backend.Backend. One call of the
// schema's lease() function promotes the due tasks of the queues and
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
		leased, err := b.leaseOnce(ctx, req)
		if err != nil || len(leased) > 0 {
			return leased, 0, err
		}
		// Not knowing when the next delayed task is due only loses the
		// early wake-up: the poll interval still bounds the sleep.
		due, _ := b.nextDue(ctx, req.Queues)
		return nil, due, nil
	})
}

// leaseOnce runs lease() once.
func (b *Backend) leaseOnce(ctx context.Context, req backend.LeaseRequest) ([]*backend.Task, error) {
	var types []string // nil: every type
	if len(req.Types) > 0 {
		types = req.Types
	}
	secrets := make([]string, req.Max)
	for i := range secrets {
		secrets[i] = newSecret()
	}
	rows, err := b.pool.Query(ctx, `SELECT `+taskCols+`, seq, lease_secret FROM `+b.t("lease")+`($1, $2, $3, $4, $5, $6)`,
		req.WorkerID, req.Queues, req.Max, req.LeaseFor, types, secrets)
	if err != nil {
		return nil, fmt.Errorf("lease: %w", err)
	}
	defer rows.Close()
	type row struct {
		t   *backend.Task
		seq int64
	}
	// Rows come as the function made them: the promoted (pending), then
	// the leased (processing) or deadline-failed. A task promoted and
	// leased in one call comes twice; each row is one event.
	var got []row
	var changed []*backend.Task
	for rows.Next() {
		var r row
		var secret *string
		r.t, err = scanTaskWith(rows, &r.seq, &secret)
		if err != nil {
			return nil, fmt.Errorf("lease: %w", err)
		}
		changed = append(changed, r.t)
		if r.t.State == backend.StateProcessing {
			r.t.LeaseSecret = deref(secret)
			got = append(got, r)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("lease: %w", err)
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
