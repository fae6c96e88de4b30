package taskmill_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/embedded"
)

// harness is a client and a running worker over a fresh embedded store.
type harness struct {
	client *taskmill.Client
	worker *taskmill.Worker
	b      *embedded.Backend
}

func newHarness(t *testing.T, mux *taskmill.ServeMux, cfg taskmill.WorkerConfig) *harness {
	t.Helper()
	b, err := embedded.Open(t.TempDir(), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	cfg.Handler = mux
	if cfg.LeaseDuration == 0 {
		cfg.LeaseDuration = 3 * time.Second
	}
	w, err := taskmill.NewWorker(b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Stop(context.Background()) })
	return &harness{client: taskmill.NewClient(b, taskmill.ClientConfig{Types: mux}), worker: w, b: b}
}

// waitState polls until the task reaches want (or fails the test after 10s).
func (h *harness) waitState(t *testing.T, id string, want taskmill.State) *taskmill.TaskInfo {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := h.client.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if info.State == want {
			return info
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s is %s (last error %q), want %s", id, info.State, info.LastError, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func fastRetry(int, error) time.Duration { return 10 * time.Millisecond }

func TestWorkerCompletesWithResult(t *testing.T) {
	mux := taskmill.NewServeMux()
	mux.HandleFunc("double", func(ctx context.Context, task *taskmill.Task) (any, error) {
		var p struct{ N int }
		if err := task.Decode(&p); err != nil {
			return nil, err
		}
		return map[string]int{"value": 2 * p.N}, nil
	})
	h := newHarness(t, mux, taskmill.WorkerConfig{Concurrency: 4})
	info, err := h.client.Enqueue(context.Background(), "double", map[string]int{"n": 21})
	if err != nil {
		t.Fatal(err)
	}
	done := h.waitState(t, info.ID, taskmill.StateCompleted)
	if string(done.Result) != `{"value":42}` {
		t.Fatalf("result = %s", done.Result)
	}
}

// TestWorkerResultShapes: nil and an empty json.RawMessage both mean "no
// result"; a RawMessage that is not JSON fails the task without retry.
func TestWorkerResultShapes(t *testing.T) {
	mux := taskmill.NewServeMux()
	mux.HandleFunc("nil", func(context.Context, *taskmill.Task) (any, error) { return nil, nil })
	mux.HandleFunc("rawnil", func(context.Context, *taskmill.Task) (any, error) { return json.RawMessage(nil), nil })
	mux.HandleFunc("raw", func(context.Context, *taskmill.Task) (any, error) { return json.RawMessage(`[1, 2]`), nil })
	mux.HandleFunc("badraw", func(context.Context, *taskmill.Task) (any, error) { return json.RawMessage(`{`), nil })
	h := newHarness(t, mux, taskmill.WorkerConfig{Concurrency: 4})
	for typ, want := range map[string]string{"nil": "", "rawnil": "", "raw": "[1,2]"} {
		info, err := h.client.Enqueue(context.Background(), typ, nil)
		if err != nil {
			t.Fatal(err)
		}
		if done := h.waitState(t, info.ID, taskmill.StateCompleted); string(done.Result) != want {
			t.Errorf("%s: result %q, want %q", typ, done.Result, want)
		}
	}
	info, _ := h.client.Enqueue(context.Background(), "badraw", nil)
	if done := h.waitState(t, info.ID, taskmill.StateFailed); done.Attempt != 1 || !strings.Contains(done.LastError, "not valid JSON") {
		t.Fatalf("badraw: attempt %d, error %q", done.Attempt, done.LastError)
	}
}

func TestWorkerPanicFailsTaskNotWorker(t *testing.T) {
	mux := taskmill.NewServeMux()
	mux.Register(taskmill.TaskType{Name: "explode", Backoff: fastRetry, Handler: taskmill.HandlerFunc(func(context.Context, *taskmill.Task) (any, error) {
		panic("kaboom")
	})})
	mux.HandleFunc("ok", func(context.Context, *taskmill.Task) (any, error) { return "fine", nil })
	h := newHarness(t, mux, taskmill.WorkerConfig{Concurrency: 1})
	bad, _ := h.client.Enqueue(context.Background(), "explode", nil, taskmill.MaxAttempts(2))
	failed := h.waitState(t, bad.ID, taskmill.StateFailed)
	if !strings.Contains(failed.LastError, "kaboom") || !strings.Contains(failed.LastError, "goroutine") {
		t.Fatalf("panic error lacks message or stack: %q", failed.LastError)
	}
	if failed.Attempt != 2 {
		t.Fatalf("panicking task ran %d attempts, want 2", failed.Attempt)
	}
	good, _ := h.client.Enqueue(context.Background(), "ok", nil)
	h.waitState(t, good.ID, taskmill.StateCompleted)
}

func TestWorkerRetriesThenSucceeds(t *testing.T) {
	var calls atomic.Int32
	mux := taskmill.NewServeMux()
	mux.Register(taskmill.TaskType{Name: "flaky", Backoff: fastRetry, Handler: taskmill.HandlerFunc(func(_ context.Context, task *taskmill.Task) (any, error) {
		if calls.Add(1) < 3 {
			return nil, errors.New("not yet")
		}
		return task.Attempt(), nil
	})})
	h := newHarness(t, mux, taskmill.WorkerConfig{Concurrency: 2})
	info, _ := h.client.Enqueue(context.Background(), "flaky", nil, taskmill.MaxAttempts(5))
	done := h.waitState(t, info.ID, taskmill.StateCompleted)
	if string(done.Result) != "3" || len(done.Attempts) != 3 || done.Attempts[0].Error != "not yet" {
		t.Fatalf("result %s after %d attempts %+v", done.Result, len(done.Attempts), done.Attempts)
	}
}

func TestWorkerSkipRetry(t *testing.T) {
	mux := taskmill.NewServeMux()
	mux.HandleFunc("bad", func(context.Context, *taskmill.Task) (any, error) {
		return nil, taskmill.SkipRetry(errors.New("payload can never work"))
	})
	h := newHarness(t, mux, taskmill.WorkerConfig{})
	info, _ := h.client.Enqueue(context.Background(), "bad", nil, taskmill.MaxAttempts(5))
	failed := h.waitState(t, info.ID, taskmill.StateFailed)
	if failed.Attempt != 1 {
		t.Fatalf("SkipRetry task ran %d attempts", failed.Attempt)
	}
}

func TestWorkerTimeoutCancelsHandler(t *testing.T) {
	mux := taskmill.NewServeMux()
	mux.HandleFunc("slow", func(ctx context.Context, _ *taskmill.Task) (any, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	h := newHarness(t, mux, taskmill.WorkerConfig{})
	info, _ := h.client.Enqueue(context.Background(), "slow", nil, taskmill.Timeout(100*time.Millisecond), taskmill.MaxAttempts(1))
	failed := h.waitState(t, info.ID, taskmill.StateFailed)
	if !strings.Contains(failed.LastError, "timed out after 100ms") {
		t.Fatalf("error = %q, want the timeout", failed.LastError)
	}
}

func TestWorkerCancelRunningTask(t *testing.T) {
	started := make(chan struct{})
	causes := make(chan error, 1)
	mux := taskmill.NewServeMux()
	mux.HandleFunc("wait", func(ctx context.Context, _ *taskmill.Task) (any, error) {
		close(started)
		<-ctx.Done()
		causes <- context.Cause(ctx)
		return nil, ctx.Err()
	})
	// A very long lease, so a long heartbeat: the cancel must arrive by
	// event, not by heartbeat, to be seen within the bound below.
	h := newHarness(t, mux, taskmill.WorkerConfig{LeaseDuration: 10 * time.Minute})
	info, _ := h.client.Enqueue(context.Background(), "wait", nil)
	<-started
	if _, err := h.client.Cancel(context.Background(), info.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case cause := <-causes:
		if !errors.Is(cause, taskmill.ErrTaskCanceled) {
			t.Fatalf("handler context cause = %v", cause)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("handler still running 30s after its task was canceled")
	}
	h.waitState(t, info.ID, taskmill.StateCanceled)
}

func TestWorkerProgressVisible(t *testing.T) {
	release := make(chan struct{})
	mux := taskmill.NewServeMux()
	mux.HandleFunc("long", func(ctx context.Context, task *taskmill.Task) (any, error) {
		if err := task.ReportProgress(ctx, 40, "reading"); err != nil {
			return nil, err
		}
		<-release
		return nil, nil
	})
	h := newHarness(t, mux, taskmill.WorkerConfig{})
	info, _ := h.client.Enqueue(context.Background(), "long", nil)
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, _ := h.client.Get(context.Background(), info.ID)
		if got.Progress != nil && got.Progress.Percent == 40 && got.Progress.Message == "reading" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("progress never visible: %+v", got.Progress)
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	h.waitState(t, info.ID, taskmill.StateCompleted)
}

func TestWorkerGracefulStopHandsBackUnfinished(t *testing.T) {
	started := make(chan struct{})
	mux := taskmill.NewServeMux()
	mux.HandleFunc("forever", func(ctx context.Context, _ *taskmill.Task) (any, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	})
	h := newHarness(t, mux, taskmill.WorkerConfig{})
	info, _ := h.client.Enqueue(context.Background(), "forever", nil)
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	h.worker.Stop(ctx)
	back := h.waitState(t, info.ID, taskmill.StatePending)
	if back.Attempt != 0 {
		t.Fatalf("handed-back task counts attempt %d, want 0", back.Attempt)
	}
	if ws, _ := h.client.Workers(context.Background()); len(ws) != 0 {
		t.Fatalf("stopped worker still registered: %+v", ws)
	}
}

func TestWorkerGracefulStopWaitsForHandlers(t *testing.T) {
	started := make(chan struct{})
	mux := taskmill.NewServeMux()
	mux.HandleFunc("short", func(ctx context.Context, _ *taskmill.Task) (any, error) {
		close(started)
		time.Sleep(300 * time.Millisecond)
		return "done", nil
	})
	h := newHarness(t, mux, taskmill.WorkerConfig{})
	info, _ := h.client.Enqueue(context.Background(), "short", nil)
	<-started
	h.worker.Stop(context.Background())
	h.waitState(t, info.ID, taskmill.StateCompleted)
}

func TestWorkerRemoteStop(t *testing.T) {
	mux := taskmill.NewServeMux()
	mux.HandleFunc("x", func(context.Context, *taskmill.Task) (any, error) { return nil, nil })
	h := newHarness(t, mux, taskmill.WorkerConfig{LeaseDuration: 600 * time.Millisecond})
	ws, err := h.client.Workers(context.Background())
	if err != nil || len(ws) != 1 || ws[0].ID != h.worker.ID() || len(ws[0].Types) != 1 || ws[0].Types[0] != "x" {
		t.Fatalf("registry: %v %+v", err, ws)
	}
	if err := h.client.StopWorker(context.Background(), h.worker.ID()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.worker.Done():
	case <-time.After(30 * time.Second):
		t.Fatalf("worker did not stop after a remote stop request")
	}
	if ws, _ := h.client.Workers(context.Background()); len(ws) != 0 {
		t.Fatalf("worker still registered after stopping: %+v", ws)
	}
}

func TestWorkerStrictQueueOrder(t *testing.T) {
	var mu sync.Mutex
	var order []string
	mux := taskmill.NewServeMux()
	mux.HandleFunc("rec", func(_ context.Context, task *taskmill.Task) (any, error) {
		mu.Lock()
		order = append(order, task.Queue())
		mu.Unlock()
		return nil, nil
	})
	b, err := embedded.Open(t.TempDir(), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	client := taskmill.NewClient(b, taskmill.ClientConfig{})
	for _, q := range []string{"low", "low", "high", "low", "high"} {
		if _, err := client.Enqueue(context.Background(), "rec", nil, taskmill.Queue(q)); err != nil {
			t.Fatal(err)
		}
	}
	w, err := taskmill.NewWorker(b, taskmill.WorkerConfig{Handler: mux, Concurrency: 1, StrictOrder: []string{"high", "low"}, LeaseBatch: 1})
	if err != nil {
		t.Fatal(err)
	}
	w.Start(context.Background())
	defer w.Stop(context.Background())
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(order)
		mu.Unlock()
		if n == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of 5 tasks ran", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if strings.Join(order, ",") != "high,high,low,low,low" {
		t.Fatalf("strict order ran %v", order)
	}
}

func TestWorkerWeightedQueuesShare(t *testing.T) {
	var mu sync.Mutex
	counts := map[string]int{}
	mux := taskmill.NewServeMux()
	mux.HandleFunc("rec", func(_ context.Context, task *taskmill.Task) (any, error) {
		mu.Lock()
		counts[task.Queue()]++
		mu.Unlock()
		return nil, nil
	})
	b, err := embedded.Open(t.TempDir(), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	client := taskmill.NewClient(b, taskmill.ClientConfig{})
	var reqs []taskmill.TaskRequest
	for range 300 {
		reqs = append(reqs, taskmill.TaskRequest{Type: "rec", Queue: "heavy"}, taskmill.TaskRequest{Type: "rec", Queue: "light"})
	}
	if _, err := client.SubmitMany(context.Background(), reqs); err != nil {
		t.Fatal(err)
	}
	w, _ := taskmill.NewWorker(b, taskmill.WorkerConfig{Handler: mux, Concurrency: 1, LeaseBatch: 1, Queues: map[string]int{"heavy": 3, "light": 1}})
	w.Start(context.Background())
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		total := counts["heavy"] + counts["light"]
		mu.Unlock()
		if total >= 200 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	w.Stop(context.Background())
	mu.Lock()
	defer mu.Unlock()
	// With weights 3:1 the heavy queue is first 75% of the time.
	ratio := float64(counts["heavy"]) / float64(counts["heavy"]+counts["light"])
	if ratio < 0.6 || ratio > 0.9 {
		t.Fatalf("heavy share = %.2f (%v), want about 0.75", ratio, counts)
	}
}

func TestSubmitValidation(t *testing.T) {
	b, err := embedded.Open(t.TempDir(), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	mux := taskmill.NewServeMux()
	mux.Register(taskmill.TaskType{Name: "fib", Handler: taskmill.HandlerFunc(func(context.Context, *taskmill.Task) (any, error) { return nil, nil }),
		Validate: func(p json.RawMessage) error {
			var v struct {
				N int `json:"n"`
			}
			if err := taskmill.DecodePayload(p, &v); err != nil {
				return err
			}
			if v.N < 0 {
				return taskmill.Invalid("payload.n", "range", "must be >= 0")
			}
			return nil
		}})
	client := taskmill.NewClient(b, taskmill.ClientConfig{Types: mux, RejectUnknownTypes: true, MaxPayloadBytes: 64})
	cases := []struct {
		name  string
		req   taskmill.TaskRequest
		field string
	}{
		{"empty type", taskmill.TaskRequest{}, "type"},
		{"long type", taskmill.TaskRequest{Type: strings.Repeat("x", 129)}, "type"},
		{"bad chars", taskmill.TaskRequest{Type: "fib rm -rf"}, "type"},
		{"unknown type", taskmill.TaskRequest{Type: "nope"}, "type"},
		{"bad queue", taskmill.TaskRequest{Type: "fib", Queue: "a/b"}, "queue"},
		{"negative priority", taskmill.TaskRequest{Type: "fib", Priority: -1}, "priority"},
		{"huge priority", taskmill.TaskRequest{Type: "fib", Priority: 1001}, "priority"},
		{"negative n", taskmill.TaskRequest{Type: "fib", Payload: json.RawMessage(`{"n":-1}`)}, "payload.n"},
		{"wrong n type", taskmill.TaskRequest{Type: "fib", Payload: json.RawMessage(`{"n":"x"}`)}, "payload.n"},
		{"unknown field", taskmill.TaskRequest{Type: "fib", Payload: json.RawMessage(`{"m":1}`)}, "payload.m"},
		{"payload too big", taskmill.TaskRequest{Type: "fib", Payload: json.RawMessage(`{"n":1,"pad":"` + strings.Repeat("a", 80) + `"}`)}, "payload"},
		{"invalid json", taskmill.TaskRequest{Type: "fib", Payload: json.RawMessage(`{"n":`)}, "payload"},
		{"too many attempts", taskmill.TaskRequest{Type: "fib", MaxAttempts: 101}, "max_attempts"},
		{"delay and run_at", taskmill.TaskRequest{Type: "fib", Delay: 1e9, RunAt: time.Now().Add(time.Hour)}, "run_at"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := client.Submit(context.Background(), tc.req)
			var ve *taskmill.ValidationError
			if !errors.As(err, &ve) || ve.Field != tc.field {
				t.Fatalf("err = %v, want a validation error on %q", err, tc.field)
			}
		})
	}
	if page, _ := b.List(context.Background(), backend.Filter{}); len(page.Tasks) != 0 {
		t.Fatalf("refused submits stored %d tasks", len(page.Tasks))
	}
	if _, err := client.Submit(context.Background(), taskmill.TaskRequest{Type: "fib", Payload: json.RawMessage(`{"n":5}`)}); err != nil {
		t.Fatalf("valid submit refused: %v", err)
	}
}

// TestWorkerRefusesAResultOverItsLimit: a result larger than
// MaxResultBytes is not stored; the task fails at once, naming the limit,
// and a result within it completes.
func TestWorkerRefusesAResultOverItsLimit(t *testing.T) {
	mux := taskmill.NewServeMux()
	mux.HandleFunc("big", func(ctx context.Context, task *taskmill.Task) (any, error) {
		return strings.Repeat("x", 200), nil
	})
	mux.HandleFunc("small", func(ctx context.Context, task *taskmill.Task) (any, error) {
		return "ok", nil
	})
	h := newHarness(t, mux, taskmill.WorkerConfig{MaxResultBytes: 100})
	big, _ := h.client.Enqueue(context.Background(), "big", nil)
	small, _ := h.client.Enqueue(context.Background(), "small", nil)
	failed := h.waitState(t, big.ID, taskmill.StateFailed)
	if failed.Attempt != 1 || len(failed.Result) != 0 || !strings.Contains(failed.LastError, "the limit is 100") {
		t.Fatalf("over the limit: attempt %d, result %q, error %q", failed.Attempt, failed.Result, failed.LastError)
	}
	done := h.waitState(t, small.ID, taskmill.StateCompleted)
	if string(done.Result) != `"ok"` {
		t.Fatalf("within the limit: result %s", done.Result)
	}
}
