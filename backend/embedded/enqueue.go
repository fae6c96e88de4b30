package embedded

import (
	"context"
	"fmt"
	"time"

	"github.com/taskmill/taskmill/backend"
	bolt "go.etcd.io/bbolt"
)

// Enqueue stores new tasks durably (fsynced before it returns).
func (b *Backend) Enqueue(ctx context.Context, tasks []*backend.Task) ([]backend.EnqueueResult, error) {
	results := make([]backend.EnqueueResult, len(tasks))
	err := b.update(ctx, func(tx *txn) error {
		// Check everything before writing anything (see update).
		batchKeys := map[string]string{}
		batchIDs := map[string]bool{}
		for i, t := range tasks {
			results[i] = backend.EnqueueResult{ID: t.ID}
			if batchIDs[t.ID] || tx.Bucket(bucketTasks).Get([]byte(t.ID)) != nil {
				return fmt.Errorf("task id %s already exists: %w", t.ID, backend.ErrDuplicate)
			}
			batchIDs[t.ID] = true
			if t.UniqueKey == "" {
				continue
			}
			if holder, ok := batchKeys[t.UniqueKey]; ok {
				results[i] = backend.EnqueueResult{ID: holder, Duplicate: true}
				continue
			}
			if holder := uniqueHolder(tx.Tx, t.UniqueKey, tx.now); holder != "" {
				results[i] = backend.EnqueueResult{ID: holder, Duplicate: true}
				continue
			}
			batchKeys[t.UniqueKey] = t.ID
		}
		for i, t := range tasks {
			if results[i].Duplicate {
				continue
			}
			c := t.Clone()
			if c.UniqueKey != "" {
				if err := tx.Bucket(bucketUnique).Put([]byte(c.UniqueKey), []byte(c.ID)); err != nil {
					return err
				}
			}
			if err := save(tx, c, ""); err != nil {
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
func uniqueHolder(tx *bolt.Tx, key string, now time.Time) string {
	v := tx.Bucket(bucketUnique).Get([]byte(key))
	if v == nil {
		return ""
	}
	holder, err := getTask(tx, string(v))
	if err != nil || holder.State == backend.StateCanceled || !now.Before(holder.UniqueUntil) {
		return ""
	}
	return holder.ID
}
