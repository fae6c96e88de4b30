package taskmill_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/taskmill/taskmill"
)

// TestServeMuxMiddlewareWrapsEveryType: middleware added with Use wraps
// types registered before and after it, in the order added, and a type
// without a handler fails without retry.
func TestServeMuxMiddlewareWrapsEveryType(t *testing.T) {
	mux := taskmill.NewServeMux()
	var trail []string
	tag := func(name string) taskmill.Middleware {
		return func(next taskmill.Handler) taskmill.Handler {
			return taskmill.HandlerFunc(func(ctx context.Context, tk *taskmill.Task) (any, error) {
				trail = append(trail, name+">"+tk.Type())
				return next.ProcessTask(ctx, tk)
			})
		}
	}
	mux.HandleFunc("before", func(context.Context, *taskmill.Task) (any, error) { return 1, nil })
	mux.Use(tag("outer"))
	mux.HandleFunc("after", func(context.Context, *taskmill.Task) (any, error) { return 2, nil })
	mux.Use(tag("inner"))
	for _, typ := range []string{"before", "after"} {
		if _, err := mux.ProcessTask(context.Background(), taskmill.NewTask(typ, nil)); err != nil {
			t.Fatal(err)
		}
	}
	if got := fmt.Sprint(trail); got != "[outer>before inner>before outer>after inner>after]" {
		t.Fatalf("middleware ran as %s", got)
	}
	_, err := mux.ProcessTask(context.Background(), taskmill.NewTask("missing", nil))
	if !errors.Is(err, taskmill.ErrSkipRetry) {
		t.Fatalf("unknown type: %v, want a skip-retry error", err)
	}
}

// TestServeMuxConcurrentRegisterAndRoute registers types while tasks are
// routed (run with -race).
func TestServeMuxConcurrentRegisterAndRoute(t *testing.T) {
	mux := taskmill.NewServeMux()
	mux.HandleFunc("t0", func(context.Context, *taskmill.Task) (any, error) { return nil, nil })
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 1; i < 200; i++ {
			mux.HandleFunc(fmt.Sprintf("t%d", i), func(context.Context, *taskmill.Task) (any, error) { return nil, nil })
		}
	}()
	go func() {
		defer wg.Done()
		for range 2000 {
			if _, err := mux.ProcessTask(context.Background(), taskmill.NewTask("t0", nil)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	wg.Wait()
	if n := len(mux.TypeNames()); n != 200 {
		t.Fatalf("%d types registered, want 200", n)
	}
}
