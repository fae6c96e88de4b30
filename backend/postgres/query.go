package postgres

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"
	"github.com/taskmill/taskmill/backend"
)

// Get returns one task, or ErrNotFound.
func (b *Backend) Get(ctx context.Context, id string) (*backend.Task, error) {
	if err := b.alive(); err != nil {
		return nil, err
	}
	t, err := scanTask(b.pool.QueryRow(ctx, `SELECT `+taskCols+` FROM `+b.t("tasks")+` WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("task %s: %w", id, backend.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get task %s: %w", id, err)
	}
	return t, nil
}

// searchKey picks the part of a search the trigram index should look
// up: the longest run of letters and digits that holds a digit (ids,
// numbers, names with numbers are selective), else the longest run. A
// run of JSON punctuation and common key names would make the index
// intersect posting lists as long as the table; the exact match is
// checked on the task afterwards, so a shorter key only widens the
// candidates.
func searchKey(q string) string {
	best, bestDigit := "", false
	for _, run := range strings.FieldsFunc(q, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '-' && r != '_' && r != '.' && r != '@'
	}) {
		digit := strings.IndexFunc(run, unicode.IsDigit) >= 0
		if len(run) >= 3 && (digit && !bestDigit || digit == bestDigit && len(run) > len(best)) {
			best, bestDigit = run, digit
		}
	}
	if best == "" {
		return q
	}
	return best
}

// likePattern makes a LIKE pattern that matches s as a plain substring.
func likePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
}

// List returns one page of tasks, newest id first, by keyset pagination
// (the cursor is the last id shown): each page is an index range scan,
// as fast on the thousandth page as on the first. Filters by state,
// queue and type use the (state, id), (queue, id) and (type, id)
// indexes; Query, a substring of the id, the type or the payload, uses
// the trigram index.
func (b *Backend) List(ctx context.Context, f backend.Filter) (backend.Page, error) {
	if err := b.alive(); err != nil {
		return backend.Page{}, err
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 1000)
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(f.Cursor)
		if err != nil || len(raw) < 2 || raw[0] != 'k' || len(raw) > 1024 {
			return backend.Page{}, backend.ErrBadCursor
		}
		where = append(where, "id < "+arg(string(raw[1:])))
	}
	if f.State != "" {
		where = append(where, "state = "+arg(string(f.State)))
	}
	if f.Queue != "" {
		where = append(where, "queue = "+arg(f.Queue))
	}
	if f.Type != "" {
		where = append(where, "type = "+arg(f.Type))
	}
	if f.Query != "" {
		// The trigram index finds the candidates; the strpos test makes
		// the match exact (a substring of one field, never across two).
		q := arg(f.Query)
		// Candidates: the indexed tasks that match, and those not
		// indexed yet (see indexSearch).
		where = append(where, "id IN (SELECT id FROM "+b.t("task_search")+" WHERE doc LIKE "+arg(likePattern(searchKey(f.Query)))+
			" UNION ALL SELECT id FROM "+b.t("task_search_pending")+")",
			"(strpos(id, "+q+") > 0 OR strpos(type, "+q+") > 0 OR strpos(coalesce(payload, ''), "+q+") > 0)")
	}
	sql := `SELECT ` + taskCols + ` FROM ` + b.t("tasks")
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += " ORDER BY id DESC LIMIT " + arg(limit+1)
	rows, err := b.pool.Query(ctx, sql, args...)
	if err != nil {
		return backend.Page{}, fmt.Errorf("list tasks: %w", err)
	}
	tasks, err := scanTasks(rows)
	if err != nil {
		return backend.Page{}, fmt.Errorf("list tasks: %w", err)
	}
	page := backend.Page{Tasks: tasks}
	if page.Tasks == nil {
		page.Tasks = []*backend.Task{}
	}
	if len(page.Tasks) > limit {
		page.Tasks = page.Tasks[:limit]
		page.NextCursor = base64.RawURLEncoding.EncodeToString([]byte("k" + page.Tasks[limit-1].ID))
	}
	return page, nil
}

// Queues returns every known queue with its counts per state, read from
// the counter tables (totals plus the deltas not yet folded), never by
// counting tasks.
func (b *Backend) Queues(ctx context.Context) ([]backend.QueueInfo, error) {
	if err := b.alive(); err != nil {
		return nil, err
	}
	rows, err := b.pool.Query(ctx, `SELECT q.name, q.paused, c.state, coalesce(c.n, 0), q.oldest
		FROM (
			-- OldestPendingAt, approximated (the contract allows it): the
			-- oldest among the first 100 in line, read from the lease index.
			SELECT name, paused, (SELECT min(ready_at) FROM (
				SELECT ready_at FROM `+b.t("tasks")+` WHERE state = 'pending' AND queue = queues.name
				ORDER BY priority DESC, seq LIMIT 100) h) AS oldest
			FROM `+b.t("queues")+`) q
		LEFT JOIN (
			SELECT queue, state, sum(n)::bigint AS n FROM (
				SELECT queue, state, n FROM `+b.t("count_totals")+`
				UNION ALL SELECT queue, state, n FROM `+b.t("count_deltas")+`) a
			GROUP BY queue, state) c ON c.queue = q.name`)
	if err != nil {
		return nil, fmt.Errorf("queues: %w", err)
	}
	defer rows.Close()
	byName := map[string]*backend.QueueInfo{}
	for rows.Next() {
		var name string
		var paused bool
		var state *string
		var n int64
		var oldest *time.Time
		if err := rows.Scan(&name, &paused, &state, &n, &oldest); err != nil {
			return nil, fmt.Errorf("queues: %w", err)
		}
		q := byName[name]
		if q == nil {
			q = &backend.QueueInfo{Name: name, Paused: paused, Counts: zeroCounts(), OldestPendingAt: utc(oldest)}
			byName[name] = q
		}
		if state != nil {
			q.Counts[backend.State(*state)] = int(n)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("queues: %w", err)
	}
	out := make([]backend.QueueInfo, 0, len(byName))
	for _, q := range byName {
		out = append(out, *q)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func zeroCounts() map[backend.State]int {
	m := make(map[backend.State]int, len(backend.States))
	for _, s := range backend.States {
		m[s] = 0
	}
	return m
}

// History returns per-minute counts of finished attempts since the given
// time, oldest first; queue "" means all queues.
func (b *Backend) History(ctx context.Context, queue string, since time.Time) ([]backend.HistoryBucket, error) {
	if err := b.alive(); err != nil {
		return nil, err
	}
	rows, err := b.pool.Query(ctx, `SELECT minute, sum(completed)::bigint, sum(failed)::bigint FROM (
			SELECT queue, minute, completed, failed FROM `+b.t("history_totals")+`
			UNION ALL SELECT queue, minute, completed, failed FROM `+b.t("history_deltas")+`) h
		WHERE minute >= $1 AND ($2 = '' OR queue = $2)
		GROUP BY minute ORDER BY minute`, since.UTC().Truncate(time.Minute), queue)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	defer rows.Close()
	out := []backend.HistoryBucket{}
	for rows.Next() {
		var h backend.HistoryBucket
		var c, f int64
		if err := rows.Scan(&h.Minute, &c, &f); err != nil {
			return nil, fmt.Errorf("history: %w", err)
		}
		h.Minute, h.Completed, h.Failed = h.Minute.UTC(), int(c), int(f)
		out = append(out, h)
	}
	return out, rows.Err()
}

// fold moves the counter and history deltas into their totals. Each
// delta row is deleted and added in one transaction, so a count is never
// seen twice or lost; concurrent folds (one per process) skip what the
// other holds.
// lockHistory makes the history fold and PruneHistory take turns (a
// transaction-scoped advisory lock, one per schema). Without it a prune
// could run while a fold moves buckets from history_deltas to
// history_totals: its DELETE on the deltas would find them gone, and its
// snapshot would not yet see them in the totals, so it would miss them.
func (b *Backend) lockHistory(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, b.s+".history")
	return err
}

func (b *Backend) fold(ctx context.Context) error {
	_, err := b.pool.Exec(ctx, `WITH d AS (DELETE FROM `+b.t("count_deltas")+` RETURNING queue, state, n)
		INSERT INTO `+b.t("count_totals")+` (queue, state, n) SELECT queue, state, sum(n) FROM d GROUP BY queue, state
		ON CONFLICT (queue, state) DO UPDATE SET n = `+b.t("count_totals")+`.n + excluded.n`)
	if err != nil {
		return fmt.Errorf("fold counts: %w", err)
	}
	err = pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		if err := b.lockHistory(ctx, tx); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `WITH d AS (DELETE FROM `+b.t("history_deltas")+` RETURNING queue, minute, completed, failed)
		INSERT INTO `+b.t("history_totals")+` (queue, minute, completed, failed)
		SELECT queue, minute, sum(completed), sum(failed) FROM d GROUP BY queue, minute
		ON CONFLICT (queue, minute) DO UPDATE SET completed = `+b.t("history_totals")+`.completed + excluded.completed,
			failed = `+b.t("history_totals")+`.failed + excluded.failed`)
		return err
	})
	if err != nil {
		return fmt.Errorf("fold history: %w", err)
	}
	return nil
}

// indexSearch moves the ids of new tasks into the search index, in
// batches of up to 5,000, each its own transaction (several processes may
// run it at once: each id goes once), until none is left or ctx ends.
func (b *Backend) indexSearch(ctx context.Context) error {
	for ctx.Err() == nil {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		tag, err := b.pool.Exec(ctx, `WITH p AS (
				DELETE FROM `+b.t("task_search_pending")+` WHERE ctid IN (
					SELECT ctid FROM `+b.t("task_search_pending")+` LIMIT 5000 FOR UPDATE SKIP LOCKED)
				RETURNING id)
			INSERT INTO `+b.t("task_search")+` (id, doc)
			SELECT t.id, t.id || ' ' || t.type || ' ' || coalesce(t.payload, '') FROM `+b.t("tasks")+` t JOIN p USING (id)
			ON CONFLICT (id) DO NOTHING`)
		cancel()
		if err != nil {
			return err
		}
		if tag.RowsAffected() < 5000 {
			return nil
		}
	}
	return ctx.Err()
}

// Settle does now the background work that submits leave behind: it
// indexes for search every task submitted so far, which the backend
// otherwise does within a second (see indexSearch). taskmill bench calls
// it between filling a queue and starting its clock.
func (b *Backend) Settle(ctx context.Context) error {
	if err := b.alive(); err != nil {
		return err
	}
	if err := b.indexSearch(ctx); err != nil {
		return fmt.Errorf("postgres: index new tasks for search: %w", err)
	}
	return nil
}

// foldLoop folds the deltas and indexes new tasks for search every
// second while the backend is open.
func (b *Backend) foldLoop() {
	defer b.wg.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
		if err := b.fold(ctx); err != nil && b.ctx.Err() == nil {
			b.log.Warn("postgres: folding counters", "err", err)
		}
		if err := b.indexSearch(b.ctx); err != nil && b.ctx.Err() == nil {
			b.log.Warn("postgres: indexing new tasks for search", "err", err)
		}
		cancel()
	}
}
