package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/taskmill/taskmill/backend"
)

// Heartbeat registers or refreshes a worker for ttl; see backend.Backend.
func (b *Backend) Heartbeat(ctx context.Context, info backend.WorkerInfo, ttl time.Duration) (backend.HeartbeatReply, error) {
	if err := b.alive(); err != nil {
		return backend.HeartbeatReply{}, err
	}
	if info.ID == "" {
		return backend.HeartbeatReply{}, errors.New("heartbeat: worker id: empty")
	}
	js, err := json.Marshal(info)
	if err != nil {
		return backend.HeartbeatReply{}, fmt.Errorf("heartbeat of worker %s: %w", info.ID, err)
	}
	// The old row is read in the same statement to tell a change
	// (news for watchers) from a plain refresh.
	var stop, existed bool
	var oldInfo []byte
	var now time.Time
	err = b.pool.QueryRow(ctx, `WITH old AS (SELECT info, stop_requested, expires_at > `+b.t("clock()")+` AS live
			FROM `+b.t("workers")+` WHERE id = $1 FOR UPDATE),
		up AS (INSERT INTO `+b.t("workers")+` (id, info, expires_at) VALUES ($1, jsonb_set($2::jsonb, '{last_heartbeat}', to_jsonb(`+b.t("clock()")+`)),
				`+b.t("clock()")+` + $3::interval)
			ON CONFLICT (id) DO UPDATE SET info = excluded.info, expires_at = excluded.expires_at
			RETURNING stop_requested)
		SELECT (SELECT stop_requested FROM up), EXISTS (SELECT 1 FROM old WHERE live), (SELECT info FROM old), `+b.t("clock()"),
		info.ID, string(js), ttl).Scan(&stop, &existed, &oldInfo, &now)
	if err != nil {
		return backend.HeartbeatReply{}, fmt.Errorf("heartbeat of worker %s: %w", info.ID, err)
	}
	var old backend.WorkerInfo
	if oldInfo != nil {
		_ = json.Unmarshal(oldInfo, &old)
	}
	if !existed || old.Stopping != (info.Stopping || stop) || len(old.Running) != len(info.Running) {
		wi := info
		wi.LastHeartbeat, wi.Stopping = now.UTC(), info.Stopping || stop
		b.pub.send(pubItem{ev: backend.Event{Kind: backend.EventWorkerUpdate, Worker: &wi, At: now.UTC()}})
	}
	return backend.HeartbeatReply{StopRequested: stop}, nil
}

// Unregister removes a worker from the registry.
func (b *Backend) Unregister(ctx context.Context, workerID string) error {
	if err := b.alive(); err != nil {
		return err
	}
	var info []byte
	err := b.pool.QueryRow(ctx, `DELETE FROM `+b.t("workers")+` WHERE id = $1 RETURNING info`, workerID).Scan(&info)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("unregister worker %s: %w", workerID, err)
	}
	b.workerGone(info)
	return nil
}

func (b *Backend) workerGone(info []byte) {
	var wi backend.WorkerInfo
	if json.Unmarshal(info, &wi) == nil {
		wi.Stopping = true
		b.pub.send(pubItem{ev: backend.Event{Kind: backend.EventWorkerUpdate, Worker: &wi, At: time.Now().UTC()}})
	}
}

// Workers lists the workers whose heartbeat has not run out.
func (b *Backend) Workers(ctx context.Context) ([]backend.WorkerInfo, error) {
	if err := b.alive(); err != nil {
		return nil, err
	}
	rows, err := b.pool.Query(ctx, `SELECT info, stop_requested, expires_at FROM `+b.t("workers")+`
		WHERE expires_at > `+b.t("clock()")+` ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("workers: %w", err)
	}
	defer rows.Close()
	out := []backend.WorkerInfo{}
	for rows.Next() {
		var info []byte
		var stop bool
		var exp time.Time
		if err := rows.Scan(&info, &stop, &exp); err != nil {
			return nil, fmt.Errorf("workers: %w", err)
		}
		var wi backend.WorkerInfo
		if err := json.Unmarshal(info, &wi); err != nil {
			return nil, fmt.Errorf("workers: %w", err)
		}
		wi.Stopping = wi.Stopping || stop
		out = append(out, wi)
	}
	return out, rows.Err()
}

// RequestStop asks a live worker to drain and stop; it learns it at its
// next heartbeat.
func (b *Backend) RequestStop(ctx context.Context, workerID string) error {
	if err := b.alive(); err != nil {
		return err
	}
	var info []byte
	err := b.pool.QueryRow(ctx, `UPDATE `+b.t("workers")+` SET stop_requested = true
		WHERE id = $1 AND expires_at > `+b.t("clock()")+` RETURNING info`, workerID).Scan(&info)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("worker %s: %w", workerID, backend.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("request stop of worker %s: %w", workerID, err)
	}
	var wi backend.WorkerInfo
	if json.Unmarshal(info, &wi) == nil {
		wi.Stopping = true
		b.pub.send(pubItem{ev: backend.Event{Kind: backend.EventWorkerUpdate, Worker: &wi, At: time.Now().UTC()}})
	}
	return nil
}

// expireWorkers deletes the registry entries whose heartbeat ran out.
func (b *Backend) expireWorkers(ctx context.Context, now time.Time) error {
	rows, err := b.pool.Query(ctx, `DELETE FROM `+b.t("workers")+` WHERE expires_at <= $1 RETURNING info`, now.UTC())
	if err != nil {
		return fmt.Errorf("expire workers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var info []byte
		if err := rows.Scan(&info); err != nil {
			return fmt.Errorf("expire workers: %w", err)
		}
		b.workerGone(info)
	}
	return rows.Err()
}
