package embedded

import (
	"context"
	"fmt"
	"time"

	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/model"
	bolt "go.etcd.io/bbolt"
)

// Enqueue stores new tasks durably (fsynced before it returns); see
// backend.Backend and the rules in backend/model.
func (b *Backend) Enqueue(ctx context.Context, tasks []*backend.Task) ([]backend.EnqueueResult, error) {
	for i, t := range tasks {
		if err := model.CheckNew(t); err != nil {
			return nil, fmt.Errorf("enqueue task %d: %w", i, err)
		}
	}
	results := make([]backend.EnqueueResult, len(tasks))
	err := b.update(ctx, func(tx *txn) error {
		// Check everything before writing anything (see update).
		batchKeys := map[string]string{}
		batchIDs := map[string]bool{}
		admitted := make([]*backend.Task, len(tasks))
		for i, in := range tasks {
			if batchIDs[in.ID] || tx.Bucket(bucketTasks).Get([]byte(in.ID)) != nil {
				return fmt.Errorf("task id %s already exists: %w", in.ID, backend.ErrDuplicate)
			}
			batchIDs[in.ID] = true
			t := model.Admit(in, tx.now)
			admitted[i] = t
			results[i] = backend.EnqueueResult{ID: t.ID}
			if t.UniqueKey == "" {
				continue
			}
			k := string(uniqueKeyOf(t.Queue, t.UniqueKey))
			if holder, ok := batchKeys[k]; ok {
				results[i] = backend.EnqueueResult{ID: holder, Duplicate: true}
				continue
			}
			if holder := uniqueHolder(tx.Tx, []byte(k), tx.now); holder != "" {
				results[i] = backend.EnqueueResult{ID: holder, Duplicate: true}
				continue
			}
			batchKeys[k] = t.ID
		}
		used := map[string]bool{}
		for i, t := range admitted {
			if results[i].Duplicate {
				continue
			}
			if t.UniqueKey != "" {
				if err := tx.Bucket(bucketUnique).Put(uniqueKeyOf(t.Queue, t.UniqueKey), []byte(t.ID)); err != nil {
					return err
				}
			}
			if !used[t.Queue] {
				used[t.Queue] = true
				if err := useQueue(tx, t.Queue); err != nil {
					return err
				}
			}
			if err := save(tx, t, ""); err != nil {
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

// uniqueHolder returns the id of the task holding key, or "" when the key
// is free: never taken, its window over, or its holder canceled or deleted.
func uniqueHolder(tx *bolt.Tx, key []byte, now time.Time) string {
	v := tx.Bucket(bucketUnique).Get(key)
	if v == nil {
		return ""
	}
	holder, err := getTask(tx, string(v))
	if err != nil || holder.State == backend.StateCanceled || !now.Before(holder.UniqueUntil) {
		return ""
	}
	return holder.ID
}
