package apiclient_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"time"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/apiclient"
	"github.com/taskmill/taskmill/backend/embedded"
	"github.com/taskmill/taskmill/server"
)

// Submit a task over HTTP and wait for its result, as `taskmill submit
// --wait` does. The server here runs in the example's process; in real
// use it is `taskmill serve` somewhere else.
func Example() {
	dir, _ := os.MkdirTemp("", "apiclient-example")
	defer os.RemoveAll(dir)
	b, _ := embedded.Open(dir, embedded.Options{})
	defer b.Close()
	mux := taskmill.NewServeMux()
	mux.HandleFunc("double", func(ctx context.Context, t *taskmill.Task) (any, error) {
		var p struct{ N int }
		if err := t.Decode(&p); err != nil {
			return nil, taskmill.SkipRetry(err)
		}
		return map[string]int{"doubled": 2 * p.N}, nil
	})
	quiet := slog.New(slog.DiscardHandler)
	w, _ := taskmill.NewWorker(b, taskmill.WorkerConfig{Handler: mux, Concurrency: 1, Logger: quiet})
	_ = w.Start(context.Background())
	defer w.Stop(context.Background())
	srv, _ := server.New(server.Config{Client: taskmill.NewClient(b, taskmill.ClientConfig{Types: mux}), Logger: quiet})
	defer srv.Close()
	ts := httptest.NewServer(srv)
	defer ts.Close()

	client, err := apiclient.New(ts.URL, "", nil)
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	task, err := client.Submit(ctx, apiclient.TaskRequest{Type: "double", Payload: json.RawMessage(`{"n":21}`)})
	if err != nil {
		panic(err)
	}
	done, err := client.WaitTask(ctx, task.ID, 100*time.Millisecond, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(done.State, string(done.Result))

	// Errors carry the API's stable code and the field.
	_, err = client.Submit(ctx, apiclient.TaskRequest{Type: "double", Priority: 5000})
	fmt.Println(err)
	// Output:
	// completed {"doubled":42}
	// invalid_range (priority): must be between 0 and 1000, got 5000
}
