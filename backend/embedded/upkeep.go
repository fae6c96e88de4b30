package embedded

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/taskmill/taskmill/backend"
	bolt "go.etcd.io/bbolt"
)

// leaderKey is where the upkeep leadership lives in the meta bucket. The
// term counter survives resignation and expiry, so terms only grow.
var leaderKey = []byte("leader")

type leaderRecord struct {
	Holder string    `json:"holder"`
	Term   uint64    `json:"term"`
	Until  time.Time `json:"until"`
}

func getLeader(tx *bolt.Tx) leaderRecord {
	var l leaderRecord
	if v := tx.Bucket(bucketMeta).Get(leaderKey); v != nil {
		_ = json.Unmarshal(v, &l)
	}
	return l
}

func putLeader(tx *txn, l leaderRecord) error {
	v, err := json.Marshal(l)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketMeta).Put(leaderKey, v)
}

// Lead acquires, renews or reports upkeep leadership; see backend.Backend.
// One process opens the store, so leadership here is a formality that
// still fences: terms are stored and only grow.
func (b *Backend) Lead(ctx context.Context, holder string, ttl time.Duration) (backend.Leadership, error) {
	if holder == "" || ttl <= 0 {
		return backend.Leadership{}, fmt.Errorf("lead: holder %q, ttl %s: %w", holder, ttl, backend.ErrInvalid)
	}
	var out backend.Leadership
	err := b.update(ctx, func(tx *txn) error {
		l := getLeader(tx.Tx)
		live := l.Holder != "" && tx.now.Before(l.Until)
		switch {
		case live && l.Holder != holder:
			out = backend.Leadership{Holder: l.Holder, Term: l.Term, Until: l.Until}
			return nil
		case !live:
			l = leaderRecord{Holder: holder, Term: l.Term + 1}
		}
		l.Until = tx.now.Add(ttl)
		out = backend.Leadership{Holder: l.Holder, Term: l.Term, Held: true, Until: l.Until}
		return putLeader(tx, l)
	})
	return out, err
}

// Resign gives up leadership held by holder under term.
func (b *Backend) Resign(ctx context.Context, holder string, term uint64) error {
	return b.update(ctx, func(tx *txn) error {
		l := getLeader(tx.Tx)
		if l.Holder != holder || l.Term != term || !tx.now.Before(l.Until) {
			return nil
		}
		return putLeader(tx, leaderRecord{Term: l.Term})
	})
}

// Promote moves every due scheduled and retrying task to pending, in
// transactions of at most promoteBatch tasks. When leadership is lost
// between two of them it stops and reports what it promoted so far.
func (b *Backend) Promote(ctx context.Context, term uint64) (int, error) {
	total := 0
	for {
		n := 0
		err := b.update(ctx, func(tx *txn) error {
			n = 0
			if err := tx.fenced(term); err != nil {
				return err
			}
			var queues []string
			err := tx.Bucket(bucketDue).ForEach(func(k, _ []byte) error {
				queues = append(queues, string(k))
				return nil
			})
			if err != nil {
				return err
			}
			for _, q := range queues {
				m, err := promoteQueue(tx, q, promoteBatch-n)
				if err != nil {
					return err
				}
				if n += m; n >= promoteBatch {
					break
				}
			}
			return nil
		})
		if err != nil {
			if total > 0 && errors.Is(err, backend.ErrNotLeader) {
				return total, nil
			}
			return total, err
		}
		total += n
		if n < promoteBatch {
			return total, nil
		}
	}
}

// PruneHistory removes per-minute buckets older than olderThan.
func (b *Backend) PruneHistory(ctx context.Context, term uint64, olderThan time.Duration) (int, error) {
	n := 0
	err := b.update(ctx, func(tx *txn) error {
		n = 0
		if err := tx.fenced(term); err != nil {
			return err
		}
		if err := tx.flush(); err != nil { // it reads and deletes history records
			return err
		}
		limit := tx.now.Add(-olderThan)
		var doomed [][]byte
		c := tx.Bucket(bucketHistory).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if !time.Unix(int64(binary.BigEndian.Uint64(k[:8])), 0).Before(limit) {
				break
			}
			doomed = append(doomed, append([]byte(nil), k...))
		}
		for _, k := range doomed {
			if err := tx.Bucket(bucketHistory).Delete(k); err != nil {
				return err
			}
		}
		n = len(doomed)
		return nil
	})
	return n, err
}

// DeleteQueue forgets a queue that holds no tasks.
func (b *Backend) DeleteQueue(ctx context.Context, name string) error {
	return b.update(ctx, func(tx *txn) error {
		if err := tx.flush(); err != nil { // it reads and deletes counters
			return err
		}
		if tx.Bucket(bucketQueues).Get([]byte(name)) == nil {
			return fmt.Errorf("delete queue %s: %w", name, backend.ErrNotFound)
		}
		if queueTasks(tx.Tx, name) > 0 {
			return fmt.Errorf("delete queue %s: %w", name, backend.ErrNotEmpty)
		}
		if err := dropQueue(tx, name); err != nil {
			return err
		}
		tx.publish(backend.Event{Kind: backend.EventQueueUpdate, Queue: name, At: tx.now})
		return nil
	})
}

// ForgetQueues forgets queues with no tasks, not paused, unused for unusedFor.
func (b *Backend) ForgetQueues(ctx context.Context, term uint64, unusedFor time.Duration) (int, error) {
	n := 0
	err := b.update(ctx, func(tx *txn) error {
		n = 0
		if err := tx.fenced(term); err != nil {
			return err
		}
		if err := tx.flush(); err != nil { // it reads and deletes counters
			return err
		}
		limit := tx.now.Add(-unusedFor)
		var doomed []string
		err := tx.Bucket(bucketQueues).ForEach(func(k, v []byte) error {
			var q queueRecord
			if err := json.Unmarshal(v, &q); err != nil {
				return fmt.Errorf("decode queue %s: %w", k, err)
			}
			if !q.Paused && !q.Used.After(limit) && queueTasks(tx.Tx, string(k)) == 0 {
				doomed = append(doomed, string(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, name := range doomed {
			if err := dropQueue(tx, name); err != nil {
				return err
			}
			tx.publish(backend.Event{Kind: backend.EventQueueUpdate, Queue: name, At: tx.now})
		}
		n = len(doomed)
		return nil
	})
	return n, err
}

// queueTasks counts the tasks of a queue in every state.
func queueTasks(tx *bolt.Tx, queue string) int {
	n := 0
	cb := tx.Bucket(bucketCounts)
	for _, s := range backend.States {
		if v := cb.Get(countKey(queue, s)); v != nil {
			n += int(binary.BigEndian.Uint64(v))
		}
	}
	return n
}

// dropQueue removes an empty queue's record, counters and ready bucket.
func dropQueue(tx *txn, queue string) error {
	for _, s := range backend.States {
		if err := tx.Bucket(bucketCounts).Delete(countKey(queue, s)); err != nil {
			return err
		}
	}
	for _, parent := range [][]byte{bucketReady, bucketDue} {
		if tx.Bucket(parent).Bucket([]byte(queue)) != nil {
			if err := tx.Bucket(parent).DeleteBucket([]byte(queue)); err != nil {
				return err
			}
		}
	}
	return tx.Bucket(bucketQueues).Delete([]byte(queue))
}

func sortedNames(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
