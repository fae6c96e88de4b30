package redis_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/internal/testredis"
)

// TestScriptSentOnce: when a script's reply does not arrive within the
// client's read timeout, go-redis would send the command again on a new
// connection, and the script, which had run, would run twice: a second
// lease, a submit answered "already exists" about the tasks it stored.
// A lease and a submit whose reply is lost fail with ErrUnknownOutcome
// instead, and their script ran once.
func TestScriptSentOnce(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{})
	proxy := testredis.NewProxy(t, srv.Addr())
	// One pooled connection: the calls below use the one whose replies
	// are held; a second send would need a new one, which is not held.
	url := fmt.Sprintf("%s?prefix=once%d&read_timeout=100ms&pool_size=1", proxy.URL(), prefixSeq.Add(1))
	b := openURL(t, url)
	ctx := ctxFor(t)
	var tasks []*backend.Task
	for range 4 {
		tasks = append(tasks, task("default"))
	}
	if _, err := b.Enqueue(ctx, tasks); err != nil {
		t.Fatal(err)
	}
	// Redis knows the scripts from here on: the calls below are one
	// EVALSHA each, which runs when it arrives.
	if _, err := b.Lease(ctx, backend.LeaseRequest{WorkerID: "w", Queues: []string{"empty"}, Max: 1, LeaseFor: time.Hour}); err != nil {
		t.Fatal(err)
	}

	proxy.HoldReplies()
	got, err := b.Lease(ctx, backend.LeaseRequest{WorkerID: "w", Queues: []string{"default"}, Max: 1, LeaseFor: time.Hour})
	if !errors.Is(err, backend.ErrUnknownOutcome) {
		t.Fatalf("lease whose reply was lost: %v (%d tasks), want ErrUnknownOutcome", err, len(got))
	}
	proxy.Resume()
	// The script ran when it was sent, before the timeout: one task is
	// processing, and a second run would have leased another.
	page, err := b.List(ctx, backend.Filter{State: backend.StateProcessing})
	if err != nil || len(page.Tasks) != 1 {
		t.Fatalf("after one lease: %d tasks processing (%v), want 1", len(page.Tasks), err)
	}

	late := task("default")
	proxy.HoldReplies()
	_, err = b.Enqueue(ctx, []*backend.Task{late})
	if !errors.Is(err, backend.ErrUnknownOutcome) {
		t.Fatalf("submit whose reply was lost: %v, want ErrUnknownOutcome", err)
	}
	proxy.Resume()
	if got, err := b.Get(ctx, late.ID); err != nil || got.State != backend.StatePending {
		t.Fatalf("the submit whose reply was lost: %v %+v, want the task pending", err, got)
	}
}
