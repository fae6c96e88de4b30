package redis_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/backendtest"
	"github.com/taskmill/taskmill/backend/redis"
	"github.com/taskmill/taskmill/internal/testredis"
)

var prefixSeq atomic.Int64

// openTest opens a backend with a key prefix of its own on srv, so
// subtests sharing one server never see each other's keys.
func openTest(t *testing.T, srv *testredis.Server) *redis.Backend {
	t.Helper()
	url := fmt.Sprintf("%s?prefix=t%d", srv.URL(), prefixSeq.Add(1))
	b, err := redis.Open(context.Background(), url, redis.Options{})
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestConformance(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{})
	backendtest.Run(t, func(t *testing.T) backend.Backend { return openTest(t, srv) })
}
