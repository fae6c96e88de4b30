package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/taskmill/taskmill/backend"
)

// This file holds the methods the backend contract added (issue #10) that
// the Redis backend does not implement yet. TODO(redis branch): replace
// each with the real thing and delete this file.

// errNotImplemented marks a contract method the Redis backend lacks so far.
func errNotImplemented(what string) error {
	return fmt.Errorf("redis: %s: %w", what, errors.ErrUnsupported)
}

// Now returns the Redis server's clock (TIME).
// TODO(redis branch): add the test offset.
func (b *Backend) Now(ctx context.Context) (time.Time, error) {
	if b.closed() {
		return time.Time{}, errClosed
	}
	t, err := b.rdb.Time(ctx).Result()
	if err != nil {
		return time.Time{}, redisErr("read the server's TIME", err)
	}
	return t.UTC(), nil
}

// Promote is not implemented yet; Reclaim still promotes.
// TODO(redis branch).
func (b *Backend) Promote(ctx context.Context, term uint64) (int, error) {
	return 0, errNotImplemented("Promote")
}

// Lead is not implemented yet. TODO(redis branch).
func (b *Backend) Lead(ctx context.Context, holder string, ttl time.Duration) (backend.Leadership, error) {
	return backend.Leadership{}, errNotImplemented("Lead")
}

// Resign is not implemented yet. TODO(redis branch).
func (b *Backend) Resign(ctx context.Context, holder string, term uint64) error {
	return errNotImplemented("Resign")
}

// PruneHistory is not implemented yet; Reclaim still prunes.
// TODO(redis branch).
func (b *Backend) PruneHistory(ctx context.Context, term uint64, olderThan time.Duration) (int, error) {
	return 0, errNotImplemented("PruneHistory")
}

// DeleteQueue is not implemented yet. TODO(redis branch).
func (b *Backend) DeleteQueue(ctx context.Context, name string) error {
	return errNotImplemented("DeleteQueue")
}

// ForgetQueues is not implemented yet. TODO(redis branch).
func (b *Backend) ForgetQueues(ctx context.Context, term uint64, unusedFor time.Duration) (int, error) {
	return 0, errNotImplemented("ForgetQueues")
}
