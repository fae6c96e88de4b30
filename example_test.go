package taskmill_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/backend/embedded"
)

// waitDone polls until the task is final; examples keep it simple.
func waitDone(c *taskmill.Client, id string) *taskmill.TaskInfo {
	for {
		info, err := c.Get(context.Background(), id)
		if err != nil || info.State.Final() {
			return info
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Submit a task and run it with a worker over the embedded store.
func Example() {
	dir, _ := os.MkdirTemp("", "taskmill-example-")
	defer os.RemoveAll(dir)
	store, err := embedded.Open(dir, embedded.Options{})
	if err != nil {
		panic(err)
	}
	defer store.Close()
	ctx := context.Background()

	mux := taskmill.NewServeMux()
	mux.HandleFunc("greet", func(ctx context.Context, t *taskmill.Task) (any, error) {
		var p struct{ Name string }
		if err := t.Decode(&p); err != nil {
			return nil, taskmill.SkipRetry(err) // a bad payload never gets better
		}
		return map[string]string{"greeting": "hello, " + p.Name}, nil
	})
	w, _ := taskmill.NewWorker(store, taskmill.WorkerConfig{Handler: mux, Concurrency: 2, Logger: slog.New(slog.DiscardHandler)})
	w.Start(ctx)
	defer w.Stop(ctx)

	client := taskmill.NewClient(store, taskmill.ClientConfig{Types: mux})
	info, err := client.Enqueue(ctx, "greet", map[string]string{"name": "Ada"}, taskmill.Queue("default"), taskmill.MaxAttempts(3))
	if err != nil {
		panic(err)
	}
	done := waitDone(client, info.ID)
	fmt.Println(done.State, string(done.Result))
	// Output: completed {"greeting":"hello, Ada"}
}

// A TaskType with Validate refuses bad payloads at submit, naming the field.
func ExampleServeMux_Register() {
	dir, _ := os.MkdirTemp("", "taskmill-example-")
	defer os.RemoveAll(dir)
	store, _ := embedded.Open(dir, embedded.Options{})
	defer store.Close()

	mux := taskmill.NewServeMux()
	mux.Register(taskmill.TaskType{
		Name: "resize",
		Validate: func(payload json.RawMessage) error {
			var p struct{ Width int }
			if err := taskmill.DecodePayload(payload, &p); err != nil {
				return err
			}
			if p.Width < 1 || p.Width > 4096 {
				return taskmill.Invalid("payload.width", "range", "must be between 1 and 4096, got %d", p.Width)
			}
			return nil
		},
		Handler: taskmill.HandlerFunc(func(context.Context, *taskmill.Task) (any, error) { return nil, nil }),
	})
	client := taskmill.NewClient(store, taskmill.ClientConfig{Types: mux})
	_, err := client.Enqueue(context.Background(), "resize", map[string]int{"width": 0})
	var ve *taskmill.ValidationError
	if errors.As(err, &ve) {
		fmt.Println(ve.Field, ve.Rule)
	}
	// Output: payload.width range
}

// Middleware wraps every handler of a mux, like net/http middleware.
func ExampleMiddleware() {
	mux := taskmill.NewServeMux()
	mux.Use(func(next taskmill.Handler) taskmill.Handler {
		return taskmill.HandlerFunc(func(ctx context.Context, t *taskmill.Task) (any, error) {
			fmt.Println("before", t.Type())
			res, err := next.ProcessTask(ctx, t)
			fmt.Println("after", t.Type(), err)
			return res, err
		})
	})
	mux.HandleFunc("ping", func(context.Context, *taskmill.Task) (any, error) { return "pong", nil })

	// A Task made by NewTask calls a handler directly, without a store.
	res, _ := mux.ProcessTask(context.Background(), taskmill.NewTask("ping", nil))
	fmt.Println(res)
	// Output:
	// before ping
	// after ping <nil>
	// pong
}

// Cron specs give the next firing time.
func ExampleParseCron() {
	spec, _ := taskmill.ParseCron("30 9 * * mon-fri")
	friday := time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)
	fmt.Println(spec.Next(friday).Format("Mon 2006-01-02 15:04"))
	// Output: Mon 2026-11-23 09:30
}
