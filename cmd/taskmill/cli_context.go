package main

import (
	"context"
	"time"
)

// callTimeout bounds one API call of a CLI command.
const callTimeout = 30 * time.Second

func withCallTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, callTimeout)
}
