package embedded

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/model"
	bolt "go.etcd.io/bbolt"
)

type workerRecord struct {
	Info          backend.WorkerInfo `json:"info"`
	ExpiresAt     time.Time          `json:"expires_at"`
	StopRequested bool               `json:"stop_requested"`
}

func getWorker(tx *bolt.Tx, id string) (*workerRecord, bool) {
	v := tx.Bucket(bucketWorkers).Get([]byte(id))
	if v == nil {
		return nil, false
	}
	var w workerRecord
	if json.Unmarshal(v, &w) != nil {
		return nil, false
	}
	return &w, true
}

func putWorker(tx *txn, w *workerRecord) error {
	v, err := json.Marshal(w)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketWorkers).Put([]byte(w.Info.ID), v)
}

// workerEvent publishes a worker_update without the secret.
func workerEvent(tx *txn, info backend.WorkerInfo, gone bool) {
	wi := model.PublicWorker(info)
	if gone {
		wi.Stopping = true
	}
	tx.publish(backend.Event{Kind: backend.EventWorkerUpdate, Worker: &wi, At: tx.now})
}

// Heartbeat registers or refreshes a worker; see backend.Backend.
func (b *Backend) Heartbeat(ctx context.Context, info backend.WorkerInfo, ttl time.Duration) (backend.HeartbeatReply, error) {
	if ttl <= 0 || info.ID == "" {
		return backend.HeartbeatReply{}, fmt.Errorf("heartbeat of worker %q for %s: %w", info.ID, ttl, backend.ErrInvalid)
	}
	var reply backend.HeartbeatReply
	err := b.update(ctx, func(tx *txn) error {
		old, existed := getWorker(tx.Tx, info.ID)
		live := existed && tx.now.Before(old.ExpiresAt)
		if live && old.Info.Secret != info.Secret {
			return fmt.Errorf("heartbeat of worker %s: %w", info.ID, backend.ErrWorkerTaken)
		}
		w := &workerRecord{Info: info, ExpiresAt: tx.now.Add(ttl)}
		w.Info.LastHeartbeat = tx.now
		if live {
			w.StopRequested = old.StopRequested
		}
		w.Info.Stopping = w.Info.Stopping || w.StopRequested
		reply.StopRequested = w.StopRequested
		if err := putWorker(tx, w); err != nil {
			return err
		}
		if !live || !model.SameWorker(old.Info, w.Info) {
			workerEvent(tx, w.Info, false)
		}
		return nil
	})
	return reply, err
}

// Unregister removes a worker from the registry.
func (b *Backend) Unregister(ctx context.Context, workerID, secret string) error {
	return b.update(ctx, func(tx *txn) error {
		w, ok := getWorker(tx.Tx, workerID)
		if !ok {
			return nil
		}
		if w.Info.Secret != secret && tx.now.Before(w.ExpiresAt) {
			return fmt.Errorf("unregister worker %s: %w", workerID, backend.ErrWorkerTaken)
		}
		if err := tx.Bucket(bucketWorkers).Delete([]byte(workerID)); err != nil {
			return err
		}
		workerEvent(tx, w.Info, true)
		return nil
	})
}

// Workers lists workers whose heartbeat has not run out.
func (b *Backend) Workers(ctx context.Context) ([]backend.WorkerInfo, error) {
	now := b.now()
	out := []backend.WorkerInfo{}
	err := b.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketWorkers).ForEach(func(k, v []byte) error {
			var w workerRecord
			if err := json.Unmarshal(v, &w); err != nil {
				return err
			}
			if now.Before(w.ExpiresAt) {
				out = append(out, model.PublicWorker(w.Info))
			}
			return nil
		})
	})
	return out, err
}

// RequestStop flags a live worker to drain and stop.
func (b *Backend) RequestStop(ctx context.Context, workerID string) error {
	return b.update(ctx, func(tx *txn) error {
		w, ok := getWorker(tx.Tx, workerID)
		if !ok || !tx.now.Before(w.ExpiresAt) {
			return fmt.Errorf("worker %s: %w", workerID, backend.ErrNotFound)
		}
		if w.StopRequested {
			return nil
		}
		w.StopRequested, w.Info.Stopping = true, true
		if err := putWorker(tx, w); err != nil {
			return err
		}
		workerEvent(tx, w.Info, false)
		return nil
	})
}

// expireWorkers deletes registry entries whose heartbeat ran out.
func expireWorkers(tx *txn) error {
	var dead []workerRecord
	err := tx.Bucket(bucketWorkers).ForEach(func(k, v []byte) error {
		var w workerRecord
		if json.Unmarshal(v, &w) != nil || !tx.now.Before(w.ExpiresAt) {
			w.Info.ID = string(k)
			dead = append(dead, w)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, w := range dead {
		if err := tx.Bucket(bucketWorkers).Delete([]byte(w.Info.ID)); err != nil {
			return err
		}
		workerEvent(tx, w.Info, true)
	}
	return nil
}
