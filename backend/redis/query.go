package redis

import (
	"context"
	"encoding/base64"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/taskmill/taskmill/backend"
)

// Get returns one task.
func (b *Backend) Get(ctx context.Context, id string) (*backend.Task, error) {
	q, err := b.indexedQueue(ctx, id)
	if err != nil {
		return nil, err
	}
	kv, err := detached(b, ctx, func(ctx context.Context) (map[string]string, error) {
		return b.rdb.HGetAll(ctx, b.k.task(q, id)).Result()
	}, nil)
	if err != nil {
		return nil, redisErr("get task "+id, err)
	}
	return decodeTask(id, q, mapKV(kv))
}

func mapKV(m map[string]string) []string {
	out := make([]string, 0, 2*len(m))
	for k, v := range m {
		out = append(out, k, v)
	}
	return out
}

// maxScan bounds how many tasks one List call examines, as in the
// embedded backend: past it the page is returned short, with a cursor.
const maxScan = 100_000

// List returns one page of tasks, newest id first. Final tasks are read
// from per-state sorted sets in id order, page by page. Pending,
// scheduled, retrying and processing ids are read whole and sorted here:
// their structures are ordered for leasing, not by id, so listing them
// costs time proportional to the backlog of the queues listed.
func (b *Backend) List(ctx context.Context, f backend.Filter) (backend.Page, error) {
	if b.closed() {
		return backend.Page{}, errClosed
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 1000)
	after := ""
	if f.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(f.Cursor)
		id, ok := strings.CutPrefix(string(raw), cursorMark)
		if err != nil || !ok || id == "" || len(raw) > 1024 {
			return backend.Page{}, fmt.Errorf("redis: list: cursor %q: %w", f.Cursor, backend.ErrBadCursor)
		}
		after = id
	}
	page := backend.Page{Tasks: []*backend.Task{}}
	queues, _, err := b.knownQueues(ctx, time.Second)
	if err != nil {
		return page, err
	}
	if f.Queue != "" {
		queues = []string{f.Queue}
	}
	states := backend.States
	if f.State != "" {
		states = []backend.State{f.State}
	}
	sources, err := b.listSources(ctx, queues, states, after)
	if err != nil {
		return page, err
	}
	scanned := 0
	batch := make([]listItem, 0, limit+1)
	for {
		batch = batch[:0]
		for len(batch) < limit+1 {
			it, ok, err := nextListItem(ctx, sources)
			if err != nil {
				return page, err
			}
			if !ok {
				break
			}
			batch = append(batch, it)
		}
		if len(batch) == 0 {
			return page, nil
		}
		tasks, err := b.fetchTasks(ctx, batch)
		if err != nil {
			return page, err
		}
		for i, t := range tasks {
			scanned++
			if t == nil || !matches(t, f) {
				if scanned >= maxScan {
					page.NextCursor = cursorAfter(batch[i].id)
					return page, nil
				}
				continue
			}
			if len(page.Tasks) == limit {
				page.NextCursor = cursorAfter(page.Tasks[limit-1].ID)
				return page, nil
			}
			page.Tasks = append(page.Tasks, t)
		}
	}
}

// cursorMark starts every cursor this backend makes, so that one it did
// not make is refused (ErrBadCursor) rather than read as an id.
const cursorMark = "redis:"

// cursorAfter is the cursor of the page after id.
func cursorAfter(id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorMark + id))
}

func matches(t *backend.Task, f backend.Filter) bool {
	if (f.Type != "" && t.Type != f.Type) || (f.State != "" && t.State != f.State) {
		return false
	}
	if f.Query != "" {
		return strings.Contains(t.ID, f.Query) || strings.Contains(t.Type, f.Query) || strings.Contains(string(t.Payload), f.Query)
	}
	return true
}

type listItem struct{ id, queue string }

// listSource yields ids below the cursor, highest first.
type listSource struct {
	queue string
	buf   []string // sorted descending
	// For final states: the lex-ordered set to read more from.
	key  string
	more bool
	last string
}

func (s *listSource) peek(ctx context.Context, b *Backend) (string, bool, error) {
	if len(s.buf) == 0 && s.more {
		max := "+"
		if s.last != "" {
			max = "(" + s.last
		}
		ids, err := b.rdb.ZRevRangeByLex(ctx, s.key, &goredis.ZRangeBy{Max: max, Min: "-", Count: 500}).Result()
		if err != nil {
			return "", false, redisErr("list", err)
		}
		s.buf, s.more = ids, len(ids) == 500
		if len(ids) > 0 {
			s.last = ids[len(ids)-1]
		}
	}
	if len(s.buf) == 0 {
		return "", false, nil
	}
	return s.buf[0], true, nil
}

// sources is kept on the listSource values; nextListItem takes the
// highest id among them.
type sourceSet struct {
	b    *Backend
	list []*listSource
}

func nextListItem(ctx context.Context, ss *sourceSet) (listItem, bool, error) {
	best := -1
	bestID := ""
	for i, s := range ss.list {
		id, ok, err := s.peek(ctx, ss.b)
		if err != nil {
			return listItem{}, false, err
		}
		if ok && (best < 0 || id > bestID) {
			best, bestID = i, id
		}
	}
	if best < 0 {
		return listItem{}, false, nil
	}
	s := ss.list[best]
	s.buf = s.buf[1:]
	return listItem{id: bestID, queue: s.queue}, true, nil
}

// listSources prepares one source per queue: the ids of its tasks in the
// hot states wanted (read now, sorted) and one per final state wanted.
func (b *Backend) listSources(ctx context.Context, queues []string, states []backend.State, after string) (*sourceSet, error) {
	want := map[backend.State]bool{}
	for _, s := range states {
		want[s] = true
	}
	ss := &sourceSet{b: b}
	for _, q := range queues {
		pre := b.k.queuePrefix(q)
		var hot []string
		if want[backend.StatePending] {
			types, err := b.rdb.SMembers(ctx, pre+sfxPTypes).Result()
			if err != nil {
				return nil, redisErr("list", err)
			}
			var lists []string
			for _, ty := range types {
				prios, err := b.rdb.ZRange(ctx, pre+sfxPrios+ty, 0, -1).Result()
				if err != nil {
					return nil, redisErr("list", err)
				}
				for _, pr := range prios {
					lists = append(lists, pre+sfxPending+ty+":"+pr)
				}
			}
			for _, key := range lists {
				ids, err := b.rdb.LRange(ctx, key, 0, -1).Result()
				if err != nil {
					return nil, redisErr("list", err)
				}
				hot = append(hot, ids...)
			}
		}
		for s, z := range map[backend.State]string{backend.StateScheduled: sfxScheduled, backend.StateRetrying: sfxRetry, backend.StateProcessing: sfxLeases} {
			if !want[s] {
				continue
			}
			// Scores below +inf: the lease set's pin is not a task.
			ids, err := b.rdb.ZRangeByScore(ctx, pre+z, &goredis.ZRangeBy{Min: "-inf", Max: "(+inf"}).Result()
			if err != nil {
				return nil, redisErr("list", err)
			}
			hot = append(hot, ids...)
		}
		if after != "" {
			kept := hot[:0]
			for _, id := range hot {
				if id < after {
					kept = append(kept, id)
				}
			}
			hot = kept
		}
		sort.Sort(sort.Reverse(sort.StringSlice(hot)))
		ss.list = append(ss.list, &listSource{queue: q, buf: hot})
		for s, z := range map[backend.State]string{backend.StateCompleted: sfxCompleted, backend.StateFailed: sfxFailed, backend.StateCanceled: sfxCanceled} {
			if want[s] {
				ss.list = append(ss.list, &listSource{queue: q, key: pre + z, more: true, last: after})
			}
		}
	}
	return ss, nil
}

// fetchTasks reads the records of a batch of ids in one pipeline; a task
// deleted meanwhile comes back nil.
func (b *Backend) fetchTasks(ctx context.Context, items []listItem) ([]*backend.Task, error) {
	pipe := b.rdb.Pipeline()
	cmds := make([]*goredis.MapStringStringCmd, len(items))
	for i, it := range items {
		cmds[i] = pipe.HGetAll(ctx, b.k.task(it.queue, it.id))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, redisErr("list", err)
	}
	out := make([]*backend.Task, len(items))
	for i, c := range cmds {
		if len(c.Val()) == 0 {
			continue
		}
		t, err := decodeTask(items[i].id, items[i].queue, mapKV(c.Val()))
		if err != nil {
			return nil, err
		}
		out[i] = t
	}
	return out, nil
}

// Queues lists every known queue with its counts per state.
func (b *Backend) Queues(ctx context.Context) ([]backend.QueueInfo, error) {
	queues, _, err := b.knownQueues(ctx, 0)
	if err != nil {
		return nil, err
	}
	sort.Strings(queues)
	out := make([]backend.QueueInfo, 0, len(queues))
	if len(queues) == 0 {
		return out, nil
	}
	calls := make([]*scriptCall, len(queues))
	for i, q := range queues {
		calls[i] = &scriptCall{script: statsScript, keys: []string{b.k.meta(q)}, args: []any{b.k.queuePrefix(q)}}
	}
	b.runAll(ctx, calls, false)
	for i, c := range calls {
		if c.err != nil {
			return nil, redisErr("queue stats", c.err)
		}
		r, _ := c.val.([]any)
		if len(r) != 9 {
			return nil, fmt.Errorf("redis: queue stats: unexpected reply %v", c.val)
		}
		info := backend.QueueInfo{Name: queues[i], Counts: map[backend.State]int{}}
		info.Paused = r[0] == "1"
		for j, s := range []backend.State{backend.StatePending, backend.StateScheduled, backend.StateProcessing,
			backend.StateRetrying, backend.StateCompleted, backend.StateFailed, backend.StateCanceled} {
			n, _ := r[j+1].(int64)
			info.Counts[s] = int(n)
		}
		oldest, _ := r[8].(string)
		info.OldestPendingAt = fromMicros(oldest)
		out = append(out, info)
	}
	return out, nil
}

// History returns per-minute counts of finished attempts since the given
// time, oldest first; queue "" means all queues.
func (b *Backend) History(ctx context.Context, queue string, since time.Time) ([]backend.HistoryBucket, error) {
	if b.closed() {
		return nil, errClosed
	}
	queues := []string{queue}
	if queue == "" {
		var err error
		if queues, err = b.historyQueues(ctx); err != nil {
			return nil, err
		}
	}
	out := []backend.HistoryBucket{}
	if len(queues) == 0 {
		return out, nil
	}
	pipe := b.rdb.Pipeline()
	cmds := make([]*goredis.MapStringStringCmd, len(queues))
	for i, q := range queues {
		cmds[i] = pipe.HGetAll(ctx, b.k.queuePrefix(q)+sfxHistory)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, redisErr("history", err)
	}
	from := since.Truncate(time.Minute).Unix()
	byMinute := map[int64]*backend.HistoryBucket{}
	for _, c := range cmds {
		for field, v := range c.Val() {
			minute, kind, _ := strings.Cut(field, ":")
			m, err := strconv.ParseInt(minute, 10, 64)
			if err != nil || m < from {
				continue
			}
			n, _ := strconv.Atoi(v)
			h := byMinute[m]
			if h == nil {
				h = &backend.HistoryBucket{Minute: time.Unix(m, 0).UTC()}
				byMinute[m] = h
			}
			if kind == "c" {
				h.Completed += n
			} else {
				h.Failed += n
			}
		}
	}
	for _, h := range byMinute {
		out = append(out, *h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Minute.Before(out[j].Minute) })
	return out, nil
}
