package embedded

import (
	"bytes"
	"context"
	"time"

	"github.com/taskmill/taskmill/backend"
	bolt "go.etcd.io/bbolt"
)

// Lease hands out ready tasks; see backend.Backend.
func (b *Backend) Lease(ctx context.Context, req backend.LeaseRequest) ([]*backend.Task, error) {
	if req.Max < 1 {
		req.Max = 1
	}
	var deadline time.Time
	if req.Wait > 0 {
		deadline = time.Now().Add(req.Wait)
	}
	for {
		// Take the wake channel before looking, so work that arrives
		// between the look and the wait is not missed.
		wake := b.wakeChan()
		var leased []*backend.Task
		var nextDue time.Time
		err := b.update(ctx, func(tx *txn) error {
			leased, nextDue = nil, time.Time{}
			var err error
			if _, err = promoteDue(tx); err != nil {
				return err
			}
			leased, err = leaseReady(tx, req)
			if err != nil {
				return err
			}
			nextDue = firstScheduled(tx.Tx)
			return nil
		})
		if err != nil || len(leased) > 0 || deadline.IsZero() {
			return leased, err
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return nil, nil
		}
		if !nextDue.IsZero() {
			if untilDue := time.Until(nextDue); untilDue < wait {
				wait = max(untilDue, time.Millisecond)
			}
		}
		timer := time.NewTimer(wait)
		select {
		case <-wake:
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return nil, nil
		case <-b.stop:
			timer.Stop()
			return nil, backend.ErrClosed
		}
		timer.Stop()
	}
}

// promoteDue moves scheduled and retrying tasks whose run-at has come to pending.
func promoteDue(tx *txn) (int, error) {
	c := tx.Bucket(bucketScheduled).Cursor()
	limit := be64(uint64(tx.now.UnixNano()) + 1)
	var due []string
	for k, v := c.First(); k != nil && bytes.Compare(k[:8], limit) < 0; k, v = c.Next() {
		due = append(due, string(v))
	}
	for _, id := range due {
		t, err := getTask(tx.Tx, id)
		if err != nil {
			return 0, err
		}
		prev := t.State
		t.State = backend.StatePending
		if err := save(tx, t, prev); err != nil {
			return 0, err
		}
	}
	return len(due), nil
}

func firstScheduled(tx *bolt.Tx) time.Time {
	k, _ := tx.Bucket(bucketScheduled).Cursor().First()
	if k == nil {
		return time.Time{}
	}
	return keyTime(k)
}

// leaseReady takes up to req.Max tasks from the queues in the order given.
func leaseReady(tx *txn, req backend.LeaseRequest) ([]*backend.Task, error) {
	var out []*backend.Task
	ready := tx.Bucket(bucketReady)
	for _, q := range req.Queues {
		if len(out) >= req.Max {
			break
		}
		qb := ready.Bucket([]byte(q))
		if qb == nil || getQueue(tx.Tx, q).Paused {
			continue
		}
		var ids []string
		c := qb.Cursor()
		for k, v := c.First(); k != nil && len(out)+len(ids) < req.Max; k, v = c.Next() {
			ids = append(ids, string(v))
		}
		for _, id := range ids {
			t, err := getTask(tx.Tx, id)
			if err != nil {
				return nil, err
			}
			if !t.Deadline.IsZero() && !tx.now.Before(t.Deadline) {
				// Its deadline passed while it waited: no attempt may start.
				t.State, t.FinishedAt = backend.StateFailed, tx.now
				t.LastError = "deadline exceeded before the task could start"
				if err := save(tx, t, backend.StatePending); err != nil {
					return nil, err
				}
				if err := recordHistory(tx, t.Queue, false); err != nil {
					return nil, err
				}
				continue
			}
			token, err := nextLeaseToken(tx)
			if err != nil {
				return nil, err
			}
			t.State = backend.StateProcessing
			t.Attempt++
			t.WorkerID = req.WorkerID
			t.LeaseToken = token
			t.LeaseExpiresAt = tx.now.Add(req.LeaseFor)
			t.StartedAt = tx.now
			t.Progress = nil
			t.Attempts = append(t.Attempts, backend.Attempt{Number: t.Attempt, WorkerID: req.WorkerID, StartedAt: tx.now})
			if err := save(tx, t, backend.StatePending); err != nil {
				return nil, err
			}
			out = append(out, t)
		}
	}
	return out, nil
}

func nextLeaseToken(tx *txn) (uint64, error) {
	return tx.Bucket(bucketMeta).NextSequence()
}

// Extend renews leases the worker still holds.
func (b *Backend) Extend(ctx context.Context, workerID string, leases []backend.LeaseRef, leaseFor time.Duration) ([]backend.ExtendResult, error) {
	results := make([]backend.ExtendResult, len(leases))
	err := b.update(ctx, func(tx *txn) error {
		// Decide everything first, then write (see update).
		held := make([]*backend.Task, len(leases))
		for i, l := range leases {
			results[i] = backend.ExtendResult{TaskID: l.TaskID}
			t, err := getTask(tx.Tx, l.TaskID)
			if err != nil {
				continue
			}
			if t.State == backend.StateProcessing && t.LeaseToken == l.Token {
				results[i].Held = true
				held[i] = t
			} else if t.State == backend.StateCanceled {
				results[i].Canceled = true
			}
		}
		for _, t := range held {
			if t == nil {
				continue
			}
			t.LeaseExpiresAt = tx.now.Add(leaseFor)
			if err := saveQuiet(tx, t); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// saveQuiet re-saves a processing task whose lease moved, without an event:
// a lease extension is not news to watchers.
func saveQuiet(tx *txn, t *backend.Task) error {
	n := len(tx.w.events)
	if err := save(tx, t, t.State); err != nil {
		return err
	}
	tx.w.events = tx.w.events[:n]
	return nil
}
