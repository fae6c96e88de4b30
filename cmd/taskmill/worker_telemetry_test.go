package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/backend/embedded"
)

// TestWorkerTelemetry: a worker with --metrics-addr serves its own
// /metrics, counting the attempts it runs.
func TestWorkerTelemetry(t *testing.T) {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	wt := workerTelemetryFlags(fs)
	if err := fs.Parse([]string{"--metrics-addr", "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	// Listen on a known port: take a free one first.
	wt.addr = freeAddr(t)
	obs, stop, err := wt.start(context.Background(), log)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	b, err := embedded.Open(t.TempDir(), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	mux := taskmill.NewServeMux()
	mux.HandleFunc("job", func(ctx context.Context, t *taskmill.Task) (any, error) { return "ok", nil })
	w, err := taskmill.NewWorker(b, taskmill.WorkerConfig{Handler: mux, Concurrency: 1, Observer: obs, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer w.Stop(context.Background())
	client := taskmill.NewClient(b, taskmill.ClientConfig{})
	if _, err := client.Enqueue(context.Background(), "job", nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the attempt to be counted on the worker's /metrics", func() bool {
		resp, err := http.Get("http://" + wt.addr + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(body), `taskmill_tasks_completed_total{queue="default",type="job"} 1`)
	})
}

// TestWorkerReadyz: the worker's /readyz answers 503 until the backend
// is open, 200 while it answers a ping, and 503 when it does not.
func TestWorkerReadyz(t *testing.T) {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	wt := workerTelemetryFlags(fs)
	wt.addr = freeAddr(t)
	_, stop, err := wt.start(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	status := func() int {
		resp, err := http.Get("http://" + wt.addr + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status(); got != http.StatusServiceUnavailable {
		t.Fatalf("before the backend is open: %d, want 503", got)
	}
	b, err := embedded.Open(t.TempDir(), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	wt.setReady(b.Ping)
	if got := status(); got != http.StatusOK {
		t.Fatalf("with the backend open: %d, want 200", got)
	}
	b.Close()
	if got := status(); got != http.StatusServiceUnavailable {
		t.Fatalf("with the backend closed: %d, want 503", got)
	}
}
