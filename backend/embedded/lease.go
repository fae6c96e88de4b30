package embedded

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/model"
	"github.com/taskmill/taskmill/internal/leasewait"
	bolt "go.etcd.io/bbolt"
)

// promoteBatch bounds how many due tasks one transaction promotes, so that
// a backlog of delayed tasks never makes one huge transaction; Promote
// loops, Lease leaves the rest to the next call and the leader.
const promoteBatch = 1000

// maxLineScan bounds how many pending tasks one Lease looks at per queue
// when skipping tasks of types the worker does not run.
const maxLineScan = 10_000

// Lease hands out ready tasks; see backend.Backend and backend/model.
func (b *Backend) Lease(ctx context.Context, req backend.LeaseRequest) ([]*backend.Task, error) {
	if req.LeaseFor <= 0 {
		return nil, fmt.Errorf("lease for %s: %w", req.LeaseFor, backend.ErrInvalid)
	}
	if req.Max < 1 {
		req.Max = 1
	}
	queues := dedupe(req.Queues)
	cfg := leasewait.Config{Wake: b.wake, Stop: b.stop, Closed: backend.ErrClosed}
	first := true
	return leasewait.Run(ctx, req.Wait, cfg, func(ctx context.Context) ([]*backend.Task, time.Duration, error) {
		if !first && ctx.Err() != nil {
			return nil, 0, nil
		}
		first = false
		var leased []*backend.Task
		var untilDue time.Duration
		err := b.update(ctx, func(tx *txn) error {
			leased, untilDue = nil, 0
			for _, q := range queues {
				if _, err := promoteQueue(tx, q, promoteBatch); err != nil {
					return err
				}
			}
			var err error
			if leased, err = leaseReady(tx, req, queues); err != nil {
				return err
			}
			if len(leased) == 0 {
				untilDue = firstDue(tx.Tx, queues, tx.now)
			}
			return nil
		})
		return leased, untilDue, err
	})
}

func dedupe(qs []string) []string {
	out := make([]string, 0, len(qs))
	for _, q := range qs {
		if !slices.Contains(out, q) {
			out = append(out, q)
		}
	}
	return out
}

// promoteQueue moves up to limit due tasks of a queue to the back of its
// line, in (RunAt, ID) order, and reports how many.
func promoteQueue(tx *txn, queue string, limit int) (int, error) {
	qb := tx.Bucket(bucketDue).Bucket([]byte(queue))
	if qb == nil {
		return 0, nil
	}
	bound := be64(uint64(tx.now.UnixNano()) + 1)
	var due []string
	c := qb.Cursor()
	for k, v := c.First(); k != nil && bytes.Compare(k[:8], bound) < 0 && len(due) < limit; k, v = c.Next() {
		due = append(due, string(v))
	}
	for _, id := range due {
		t, err := tx.loadTask(id)
		if err != nil {
			return 0, err
		}
		prev := t.State
		t.State = backend.StatePending
		if err := save(tx, t, prev); err != nil {
			return 0, err
		}
	}
	// An empty index goes, so that upkeep walks only the queues that
	// hold delayed tasks, not every queue that ever had one: emptied by
	// this promotion, or earlier by a cancel or a delete.
	if k, _ := qb.Cursor().First(); k == nil {
		if err := tx.Bucket(bucketDue).DeleteBucket([]byte(queue)); err != nil {
			return 0, err
		}
	}
	return len(due), nil
}

// firstDue is how long until the first delayed task of the queues is due.
func firstDue(tx *bolt.Tx, queues []string, now time.Time) time.Duration {
	var first time.Time
	for _, q := range queues {
		qb := tx.Bucket(bucketDue).Bucket([]byte(q))
		if qb == nil {
			continue
		}
		if k, _ := qb.Cursor().First(); k != nil && (first.IsZero() || keyTime(k).Before(first)) {
			first = keyTime(k)
		}
	}
	if first.IsZero() {
		return 0
	}
	return max(first.Sub(now), time.Millisecond)
}

// leaseReady takes up to req.Max tasks from the queues in the order given.
// It decides everything before writing.
func leaseReady(tx *txn, req backend.LeaseRequest, queues []string) ([]*backend.Task, error) {
	type pick struct {
		t    *backend.Task
		late bool // its deadline passed: fail it
	}
	var picks []pick
	var used []string
	leased := 0
	ready := tx.Bucket(bucketReady)
	for _, q := range queues {
		if leased >= req.Max {
			break
		}
		qb := ready.Bucket([]byte(q))
		if qb == nil {
			continue
		}
		if qr, _ := getQueue(tx.Tx, q); qr.Paused {
			continue
		}
		took := false
		c := qb.Cursor()
		scanned := 0
		for k, v := c.First(); k != nil && leased < req.Max && scanned < maxLineScan; k, v = c.Next() {
			scanned++
			t, err := tx.loadTask(string(v))
			if err != nil {
				return nil, err
			}
			if len(req.Types) > 0 && !slices.Contains(req.Types, t.Type) {
				continue
			}
			late := !t.Deadline.IsZero() && !tx.now.Before(t.Deadline)
			picks = append(picks, pick{t, late})
			if !late {
				leased++
				took = true
			}
		}
		if took {
			used = append(used, q)
		}
	}
	out := make([]*backend.Task, 0, leased)
	for _, p := range picks {
		t := p.t
		if p.late {
			// Its deadline passed while it waited: no attempt may start.
			t.State, t.FinishedAt = backend.StateFailed, tx.now
			t.LastError = model.DeadlineMessage
			if err := save(tx, t, backend.StatePending); err != nil {
				return nil, err
			}
			if err := recordHistory(tx, t.Queue, false); err != nil {
				return nil, err
			}
			continue
		}
		token, err := tx.Bucket(bucketMeta).NextSequence()
		if err != nil {
			return nil, err
		}
		t.State = backend.StateProcessing
		t.Attempt++
		t.WorkerID = req.WorkerID
		t.LeaseToken = token
		t.LeaseSecret = newSecret()
		t.LeaseExpiresAt = tx.now.Add(req.LeaseFor)
		t.StartedAt = tx.now
		t.Progress = nil
		t.Attempts = append(t.Attempts, backend.Attempt{Number: t.Attempt, WorkerID: req.WorkerID, StartedAt: tx.now})
		if err := save(tx, t, backend.StatePending); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	for _, q := range used {
		if err := useQueue(tx, q); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// newSecret returns 128 random bits in hex.
func newSecret() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// Extend renews leases the worker still holds. It reads and writes only
// the small lease records and the expiry index, never the tasks.
func (b *Backend) Extend(ctx context.Context, workerID string, leases []backend.LeaseRef, leaseFor time.Duration) ([]backend.ExtendResult, error) {
	if leaseFor <= 0 {
		return nil, fmt.Errorf("extend for %s: %w", leaseFor, backend.ErrInvalid)
	}
	results := make([]backend.ExtendResult, len(leases))
	err := b.update(ctx, func(tx *txn) error {
		// Decide everything first, then write (see update).
		held := make([]*leaseRecord, len(leases))
		canceled := tx.Bucket(bucketStates).Bucket([]byte(backend.StateCanceled))
		for i, l := range leases {
			results[i] = backend.ExtendResult{TaskID: l.TaskID}
			if lv := tx.Bucket(bucketLeaseOf).Get([]byte(l.TaskID)); lv != nil {
				rec, err := decodeLease(lv)
				if err != nil {
					return fmt.Errorf("decode lease of task %s: %w", l.TaskID, err)
				}
				if rec.Token == l.Token && rec.Secret == l.Secret && rec.WorkerID == workerID {
					results[i].Held = true
					held[i] = &rec
				}
			}
			results[i].Canceled = canceled.Get([]byte(l.TaskID)) != nil
		}
		for i, rec := range held {
			if rec == nil {
				continue
			}
			if err := tx.Bucket(bucketLeases).Delete(timeKey(rec.ExpiresAt, leases[i].TaskID)); err != nil {
				return err
			}
			t := &backend.Task{ID: leases[i].TaskID, WorkerID: rec.WorkerID, LeaseToken: rec.Token,
				LeaseSecret: rec.Secret, LeaseExpiresAt: tx.now.Add(leaseFor)}
			if err := putLease(tx, t); err != nil {
				return err
			}
			delete(tx.positions, t.ID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}
