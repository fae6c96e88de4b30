package leasewait

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/internal/wake"
)

func TestWokenLookFindsWork(t *testing.T) {
	w := wake.New()
	cfg := Config{Wake: w, Stop: make(chan struct{}), Closed: errors.New("closed")}
	looks := 0
	ready := make(chan struct{})
	got, err := Run(context.Background(), time.Minute, cfg, func(context.Context) ([]*backend.Task, time.Duration, error) {
		looks++
		if looks == 1 {
			go func() { close(ready); w.Broadcast() }()
			<-ready
			return nil, 0, nil
		}
		return []*backend.Task{{ID: "t"}}, 0, nil
	})
	if err != nil || len(got) != 1 || looks != 2 {
		t.Fatalf("Run: %v, %d tasks after %d looks; want the task at the second look", err, len(got), looks)
	}
}

func TestNoWaitLooksOnce(t *testing.T) {
	cfg := Config{Wake: wake.New(), Stop: make(chan struct{})}
	looks := 0
	got, err := Run(context.Background(), 0, cfg, func(context.Context) ([]*backend.Task, time.Duration, error) {
		looks++
		return nil, 0, nil
	})
	if err != nil || got != nil || looks != 1 {
		t.Fatalf("Run without wait: %v %v after %d looks", err, got, looks)
	}
}

func TestStopAndContextEndTheWait(t *testing.T) {
	closedErr := errors.New("closed")
	stop := make(chan struct{})
	cfg := Config{Wake: wake.New(), Stop: stop, Closed: closedErr}
	empty := func(context.Context) ([]*backend.Task, time.Duration, error) { return nil, 0, nil }
	close(stop)
	if _, err := Run(context.Background(), time.Hour, cfg, empty); !errors.Is(err, closedErr) {
		t.Fatalf("Run after stop: %v, want the closed error", err)
	}
	cfg.Stop = make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got, err := Run(ctx, time.Hour, cfg, empty); err != nil || got != nil {
		t.Fatalf("Run with an ended ctx: %v %v, want nothing and no error", got, err)
	}
}
