package server_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/taskmill/taskmill/apiclient"
	"github.com/taskmill/taskmill/backend/redis"
	"github.com/taskmill/taskmill/internal/testredis"
)

// TestLostReplyAnswersOutcomeUnknown: a submit whose reply from Redis is
// lost (the proxy holds it past the client's read timeout) answers 503
// outcome_unknown, not unavailable: the task was stored, and the same
// submit sent again with its id answers 409 duplicate.
func TestLostReplyAnswersOutcomeUnknown(t *testing.T) {
	rs := testredis.Start(t, testredis.Options{})
	proxy := testredis.NewProxy(t, rs.Addr())
	// One pooled connection, so that the submit uses the one whose
	// replies are held.
	url := fmt.Sprintf("%s?prefix=lost&read_timeout=100ms&pool_size=1", proxy.URL())
	b, err := redis.Open(context.Background(), url, redis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	e := newEnv(t, b, withoutWorker(), withoutMetrics())
	// Redis knows the enqueue script from here on: the held submit runs
	// when it arrives.
	e.wantStatus(201, "POST", "/api/tasks", map[string]any{"type": "echo"}, nil)

	proxy.HoldReplies()
	body := map[string]any{"type": "echo", "id": "lost-reply-1"}
	e.wantError(503, "outcome_unknown", "", "POST", "/api/tasks", body)
	proxy.Resume()
	var task apiclient.Task
	e.wantStatus(200, "GET", "/api/tasks/lost-reply-1", nil, &task)
	e.wantError(409, "duplicate", "id", "POST", "/api/tasks", body)
}
