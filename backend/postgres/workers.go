package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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
	info.Secret = ""
	var reply backend.HeartbeatReply
	var news *backend.WorkerInfo
	err := pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		var oldJSON []byte
		var oldSecret string
		var stop, live bool
		err := tx.QueryRow(ctx, `SELECT info, secret, stop_requested, expires_at > `+b.t("clock()")+`
			FROM `+b.t("workers")+` WHERE id = $1 FOR UPDATE`, info.ID).Scan(&oldJSON, &oldSecret, &stop, &live)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if live && oldSecret != secret {
			return fmt.Errorf("heartbeat of worker %s: %w", info.ID, backend.ErrWorkerTaken)
		}
		// A stop request outlives nothing: a worker that expired and
		// comes back starts afresh.
		reply.StopRequested = stop && live
		rec := info
		rec.Stopping = rec.Stopping || reply.StopRequested
		js, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		var now time.Time
		err = tx.QueryRow(ctx, `INSERT INTO `+b.t("workers")+` AS w (id, info, secret, expires_at, stop_requested)
			VALUES ($1, jsonb_set($2::jsonb, '{last_heartbeat}', to_jsonb(`+b.t("clock()")+`)), $3,
				`+b.t("clock()")+` + $4::interval, $5)
			ON CONFLICT (id) DO UPDATE SET info = excluded.info, secret = excluded.secret,
				expires_at = excluded.expires_at, stop_requested = excluded.stop_requested
			RETURNING `+b.t("clock()"), info.ID, string(js), secret, ttl, reply.StopRequested).Scan(&now)
		if err != nil {
			return err
		}
		rec.LastHeartbeat = now.UTC()
		var old backend.WorkerInfo
		if !live || json.Unmarshal(oldJSON, &old) != nil || !sameWorker(old, rec) {
			news = &rec
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

// sameWorker reports whether a and b say the same about a worker, apart
// from LastHeartbeat and Secret (nil and empty lists are equal).
func sameWorker(a, b backend.WorkerInfo) bool {
	return a.ID == b.ID && a.Host == b.Host && a.PID == b.PID && slices.Equal(a.Queues, b.Queues) &&
		slices.Equal(a.Types, b.Types) && a.Concurrency == b.Concurrency && slices.Equal(a.Running, b.Running) &&
		a.StartedAt.Equal(b.StartedAt) && a.Stopping == b.Stopping
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
		SELECT (SELECT info FROM d), coalesce((SELECT taken FROM w), false)`, workerID, secret).Scan(&info, &taken)
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
		b.pub.send(pubItem{ev: backend.Event{Kind: backend.EventWorkerUpdate, Worker: &wi, At: b.eventTime()}})
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
	err := b.pool.QueryRow(ctx, `UPDATE `+b.t("workers")+` w SET stop_requested = true, info = jsonb_set(w.info, '{stopping}', 'true')
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
		b.pub.send(pubItem{ev: backend.Event{Kind: backend.EventWorkerUpdate, Worker: &wi, At: b.eventTime()}})
	}
	return nil
}

// expireWorkers deletes the registry entries whose heartbeat ran out and
// returns their infos, by id, for the events to send after the commit.
func (b *Backend) expireWorkers(ctx context.Context, tx pgx.Tx) ([][]byte, error) {
	rows, err := tx.Query(ctx, `WITH d AS (DELETE FROM `+b.t("workers")+` WHERE expires_at <= `+b.t("clock()")+`
		RETURNING id, info) SELECT info FROM d ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("expire workers: %w", err)
	}
	gone, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return nil, fmt.Errorf("expire workers: %w", err)
	}
	return gone, nil
}
