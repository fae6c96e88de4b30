package embedded

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/taskmill/taskmill/backend"
	bolt "go.etcd.io/bbolt"
)

// Get returns one task.
func (b *Backend) Get(ctx context.Context, id string) (*backend.Task, error) {
	var t *backend.Task
	err := b.view(ctx, func(tx *bolt.Tx) error {
		var err error
		t, err = getTask(tx, id)
		return err
	})
	if t != nil {
		t.LeaseSecret = ""
	}
	return t, err
}

// maxScan bounds how many records one List call examines, so a filter that
// matches little cannot hold a read transaction over the whole store. When
// it is reached the page is returned short with a cursor to go on from.
const maxScan = 100_000

// List returns one page of tasks, newest id first.
func (b *Backend) List(ctx context.Context, f backend.Filter) (backend.Page, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 1000)
	var after []byte
	if f.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(f.Cursor)
		if err != nil || len(raw) <= len(cursorMark) || len(raw) > 256+len(cursorMark) || string(raw[:len(cursorMark)]) != cursorMark {
			return backend.Page{}, fmt.Errorf("cursor %q: %w", f.Cursor, backend.ErrBadCursor)
		}
		after = raw[len(cursorMark):]
	}
	page := backend.Page{Tasks: []*backend.Task{}}
	err := b.view(ctx, func(tx *bolt.Tx) error {
		var c *bolt.Cursor
		if f.State != "" {
			sb := tx.Bucket(bucketStates).Bucket([]byte(f.State))
			if sb == nil {
				return nil
			}
			c = sb.Cursor()
		} else {
			c = tx.Bucket(bucketTasks).Cursor()
		}
		tasks := tx.Bucket(bucketTasks)
		var k []byte
		if after == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Seek(after)
			if k == nil {
				k, _ = c.Last()
			}
			for k != nil && bytes.Compare(k, after) >= 0 {
				k, _ = c.Prev()
			}
		}
		scanned := 0
		for ; k != nil; k, _ = c.Prev() {
			if scanned++; scanned > maxScan {
				page.NextCursor = makeCursor(k)
				return nil
			}
			v := tasks.Get(k)
			if v == nil {
				continue
			}
			if f.Query != "" && !bytes.Contains(v, []byte(f.Query)) && !strings.Contains(string(k), f.Query) {
				continue
			}
			t, err := getTask(tx, string(k))
			if err != nil {
				return err
			}
			t.LeaseSecret = ""
			if (f.Queue != "" && t.Queue != f.Queue) || (f.Type != "" && t.Type != f.Type) || (f.State != "" && t.State != f.State) {
				continue
			}
			if f.Query != "" && !matchesQuery(t, f.Query) {
				continue
			}
			if len(page.Tasks) == limit {
				page.NextCursor = makeCursor([]byte(page.Tasks[limit-1].ID))
				return nil
			}
			page.Tasks = append(page.Tasks, t)
		}
		return nil
	})
	return page, err
}

func matchesQuery(t *backend.Task, q string) bool {
	return strings.Contains(t.ID, q) || strings.Contains(t.Type, q) || bytes.Contains(t.Payload, []byte(q))
}

// cursorMark starts every cursor this backend makes, so that one it did
// not make is refused (ErrBadCursor) rather than read as a position.
const cursorMark = "tm1:"

func makeCursor(after []byte) string {
	return base64.RawURLEncoding.EncodeToString(append([]byte(cursorMark), after...))
}

// Queues lists every queue with its counts.
func (b *Backend) Queues(ctx context.Context) ([]backend.QueueInfo, error) {
	out := []backend.QueueInfo{}
	err := b.view(ctx, func(tx *bolt.Tx) error {
		byName := map[string]*backend.QueueInfo{}
		err := tx.Bucket(bucketQueues).ForEach(func(k, v []byte) error {
			var q queueRecord
			_ = json.Unmarshal(v, &q)
			byName[string(k)] = &backend.QueueInfo{Name: string(k), Paused: q.Paused, Counts: zeroCounts()}
			return nil
		})
		if err != nil {
			return err
		}
		err = tx.Bucket(bucketCounts).ForEach(func(k, v []byte) error {
			i := bytes.IndexByte(k, 0)
			if i < 0 {
				return nil
			}
			q := byName[string(k[:i])]
			if q == nil {
				q = &backend.QueueInfo{Name: string(k[:i]), Counts: zeroCounts()}
				byName[q.Name] = q
			}
			q.Counts[backend.State(k[i+1:])] = int(binary.BigEndian.Uint64(v))
			return nil
		})
		if err != nil {
			return err
		}
		for _, q := range byName {
			q.OldestPendingAt = oldestReady(tx, q.Name)
			out = append(out, *q)
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

func zeroCounts() map[backend.State]int {
	m := make(map[backend.State]int, len(backend.States))
	for _, s := range backend.States {
		m[s] = 0
	}
	return m
}

// oldestReady finds the pending task that has waited longest. Ready keys
// are (inverted priority, sequence), so the first key of each priority
// holds that priority's oldest task: one seek per priority level in use.
func oldestReady(tx *bolt.Tx, queue string) time.Time {
	qb := tx.Bucket(bucketReady).Bucket([]byte(queue))
	if qb == nil {
		return time.Time{}
	}
	var bestSeq uint64
	var bestID []byte
	c := qb.Cursor()
	for k, v := c.First(); k != nil; {
		seq := binary.BigEndian.Uint64(k[8:16])
		if bestID == nil || seq < bestSeq {
			bestSeq, bestID = seq, append([]byte(nil), v...)
		}
		next := binary.BigEndian.Uint64(k[:8]) + 1
		k, v = c.Seek(be64(next))
	}
	if bestID == nil {
		return time.Time{}
	}
	t, err := getTask(tx, string(bestID))
	if err != nil {
		return time.Time{}
	}
	if t.RunAt.After(t.CreatedAt) {
		return t.RunAt
	}
	return t.CreatedAt
}

// History returns per-minute counts since the given time, oldest first.
func (b *Backend) History(ctx context.Context, queue string, since time.Time) ([]backend.HistoryBucket, error) {
	out := []backend.HistoryBucket{}
	err := b.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketHistory).Cursor()
		for k, v := c.Seek(be64(uint64(since.Truncate(time.Minute).Unix()))); k != nil; k, v = c.Next() {
			if queue != "" && string(k[8:]) != queue {
				continue
			}
			var h historyRecord
			if err := json.Unmarshal(v, &h); err != nil {
				return err
			}
			minute := time.Unix(int64(binary.BigEndian.Uint64(k[:8])), 0).UTC()
			if n := len(out); n > 0 && out[n-1].Minute.Equal(minute) {
				out[n-1].Completed += h.Completed
				out[n-1].Failed += h.Failed
				continue
			}
			out = append(out, backend.HistoryBucket{Minute: minute, Completed: h.Completed, Failed: h.Failed})
		}
		return nil
	})
	return out, err
}
