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
	if info.ID == "" || ttl <= 0 {
		return backend.HeartbeatReply{}, fmt.Errorf("heartbeat: worker id %q, ttl %s: %w", info.ID, ttl, backend.ErrInvalid)
	}
	secret := info.Secret
	info.Secret, info.LastHeartbeat = "", time.Time{}
	js, err := json.Marshal(info)
	if err != nil {
		return backend.HeartbeatReply{}, fmt.Errorf("heartbeat of worker %s: %w", info.ID, err)
	}
	var reply backend.HeartbeatReply
	var news *backend.WorkerInfo
	err = pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		var old []byte
		var oldSecret string
		var live, existed bool
		err := tx.QueryRow(ctx, `SELECT info - 'last_heartbeat', secret, stop_requested, expires_at > `+b.t("clock()")+`
			FROM `+b.t("workers")+` WHERE id = $1 FOR UPDATE`, info.ID).Scan(&old, &oldSecret, &reply.StopRequested, &live)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return err
		default:
			existed = true
		}
		if existed && live && oldSecret != secret {
			return fmt.Errorf("heartbeat of worker %s: %w", info.ID, backend.ErrWorkerTaken)
		}
		var now time.Time
		var same bool
		err = tx.QueryRow(ctx, `INSERT INTO `+b.t("workers")+` AS w (id, info, secret, expires_at)
			VALUES ($1, jsonb_set($2::jsonb, '{last_heartbeat}', to_jsonb(`+b.t("clock()")+`)), $3, `+b.t("clock()")+` + $4::interval)
			ON CONFLICT (id) DO UPDATE SET info = excluded.info, secret = excluded.secret, expires_at = excluded.expires_at
			RETURNING `+b.t("clock()")+`, $5::jsonb IS NOT DISTINCT FROM ($2::jsonb - 'last_heartbeat')`,
			info.ID, string(js), secret, ttl, old).Scan(&now, &same)
		if err != nil {
			return err
		}
		if !existed || !live || !same {
			wi := info
			wi.LastHeartbeat, wi.Stopping = now.UTC(), info.Stopping || reply.StopRequested
			news = &wi
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, backend.ErrWorkerTaken) {
			return backend.HeartbeatReply{}, err
		}
		return backend.HeartbeatReply{}, fmt.Errorf("heartbeat of worker %s: %w", info.ID, err)
	}
	if news != nil {
		b.pub.send(pubItem{ev: backend.Event{Kind: backend.EventWorkerUpdate, Worker: news, At: news.LastHeartbeat}})
	}
	return reply, nil
}

// Unregister removes a worker from the registry; a live worker of that
// id with another secret is ErrWorkerTaken.
func (b *Backend) Unregister(ctx context.Context, workerID, secret string) error {
	if err := b.alive(); err != nil {
		return err
	}
	var info []byte
	var taken bool
	err := b.pool.QueryRow(ctx, `WITH w AS (SELECT id, secret <> $2 AND expires_at > `+b.t("clock()")+` AS taken
			FROM `+b.t("workers")+` WHERE id = $1 FOR UPDATE),
		d AS (DELETE FROM `+b.t("workers")+` x USING w WHERE x.id = w.id AND NOT w.taken RETURNING x.info)
		SELECT (SELECT info FROM d), (SELECT taken FROM w)`, workerID, secret).Scan(&info, &taken)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("unregister worker %s: %w", workerID, err)
	}
	if taken {
		return fmt.Errorf("unregister worker %s: %w", workerID, backend.ErrWorkerTaken)
	}
	if info != nil {
		b.workerGone(info)
	}
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
	var wasNew bool
	err := b.pool.QueryRow(ctx, `UPDATE `+b.t("workers")+` w SET stop_requested = true
		FROM (SELECT id, stop_requested FROM `+b.t("workers")+` WHERE id = $1 FOR UPDATE) old
		WHERE w.id = old.id AND w.expires_at > `+b.t("clock()")+` RETURNING w.info, NOT old.stop_requested`, workerID).Scan(&info, &wasNew)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("worker %s: %w", workerID, backend.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("request stop of worker %s: %w", workerID, err)
	}
	var wi backend.WorkerInfo
	if wasNew && json.Unmarshal(info, &wi) == nil {
		wi.Stopping = true
		b.pub.send(pubItem{ev: backend.Event{Kind: backend.EventWorkerUpdate, Worker: &wi, At: time.Now().UTC()}})
	}
	return nil
}

// expireWorkers deletes the registry entries whose heartbeat ran out.
func (b *Backend) expireWorkers(ctx context.Context, tx pgx.Tx) error {
	rows, err := tx.Query(ctx, `DELETE FROM `+b.t("workers")+` WHERE expires_at <= `+b.t("clock()")+` RETURNING info`)
	if err != nil {
		return fmt.Errorf("expire workers: %w", err)
	}
	defer rows.Close()
	var gone [][]byte
	for rows.Next() {
		var info []byte
		if err := rows.Scan(&info); err != nil {
			return fmt.Errorf("expire workers: %w", err)
		}
		gone = append(gone, info)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("expire workers: %w", err)
	}
	for _, info := range gone {
		b.workerGone(info)
	}
	return nil
}
