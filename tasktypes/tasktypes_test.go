package tasktypes_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/backend/embedded"
	"github.com/taskmill/taskmill/tasktypes"
)

// TestBadPayloadsRefused tries each type's bad payloads and checks the
// error names the field.
func TestBadPayloadsRefused(t *testing.T) {
	mux := testMux(t, tasktypes.Config{MaxFibonacciN: 1000})
	checkRefused(t, mux, "fibonacci", []refusedCase{
		{"no n", `{}`, "payload.n"},
		{"negative", `{"n":-1}`, "payload.n"},
		{"over the limit", `{"n":1001}`, "payload.n"},
		{"a string", `{"n":"35"}`, "payload.n"},
		{"a fraction", `{"n":3.5}`, "payload.n"},
		{"unknown field", `{"n":35,"m":1}`, "payload.m"},
		{"not an object", `[35]`, "payload"},
	})
	checkRefused(t, mux, "sleep", []refusedCase{
		{"no ms", `{}`, "payload.ms"},
		{"negative", `{"ms":-5}`, "payload.ms"},
		{"over the limit", `{"ms":3600001}`, "payload.ms"},
		{"fail not a boolean", `{"ms":10,"fail":"yes"}`, "payload.fail"},
	})
	checkRefused(t, mux, "echo", []refusedCase{
		{"an array", `[1,2]`, "payload"},
		{"a string", `"text"`, "payload"},
	})
	for _, ok := range []struct{ typ, payload string }{
		{"fibonacci", `{"n":0}`}, {"fibonacci", `{"n":1000}`}, {"sleep", `{"ms":0}`}, {"echo", `{"a":[1]}`}, {"echo", ``},
	} {
		tt, _ := mux.Lookup(ok.typ)
		if err := tt.Validate(json.RawMessage(ok.payload)); err != nil {
			t.Errorf("%s %s refused: %v", ok.typ, ok.payload, err)
		}
	}
}

// TestBuiltinsThroughAWorker runs each type through a real worker over
// the embedded store and checks results, progress and failure.
func TestBuiltinsThroughAWorker(t *testing.T) {
	b, err := embedded.Open(t.TempDir(), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	mux := testMux(t, tasktypes.Config{MaxFibonacciN: 1000})
	w, err := taskmill.NewWorker(b, taskmill.WorkerConfig{Handler: mux, Concurrency: 4, Logger: slog.New(slog.DiscardHandler),
		Backoff: func(int, error) time.Duration { return 10 * time.Millisecond }})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer w.Stop(context.Background())
	client := taskmill.NewClient(b, taskmill.ClientConfig{Types: mux, RejectUnknownTypes: true})
	ctx := context.Background()

	wait := func(id string, want taskmill.State) *taskmill.TaskInfo {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			info, err := client.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if info.State == want {
				return info
			}
			if time.Now().After(deadline) {
				t.Fatalf("task %s (%s) is %s, want %s; last error %q", id, info.Type, info.State, want, info.LastError)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	fib, err := client.Enqueue(ctx, "fibonacci", map[string]int{"n": 35})
	if err != nil {
		t.Fatal(err)
	}
	var fr tasktypes.FibonacciResult
	if err := json.Unmarshal(wait(fib.ID, taskmill.StateCompleted).Result, &fr); err != nil || fr.Value != "9227465" || fr.Digits != 7 || fr.N != 35 {
		t.Fatalf("fibonacci result %+v, %v", fr, err)
	}

	echo, _ := client.Enqueue(ctx, "echo", json.RawMessage(`{"hello": ["world", 1]}`))
	if got := string(wait(echo.ID, taskmill.StateCompleted).Result); got != `{"hello":["world",1]}` {
		t.Fatalf("echo result %s", got)
	}

	// A sleep long enough to be watched reports progress while it runs.
	sl, _ := client.Enqueue(ctx, "sleep", map[string]int{"ms": 600})
	sawProgress := false
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		info, _ := client.Get(ctx, sl.ID)
		if info.State == taskmill.StateProcessing && info.Progress != nil && info.Progress.Percent > 0 && info.Progress.Percent < 100 {
			sawProgress = true
			break
		}
		if info.State.Final() {
			break
		}
	}
	if !sawProgress {
		t.Fatal("a 600 ms sleep never showed progress while processing")
	}
	if got := string(wait(sl.ID, taskmill.StateCompleted).Result); got != `{"slept_ms":600}` {
		t.Fatalf("sleep result %s", got)
	}

	// fail=true retries until the attempts run out, then dead-letters.
	failing, _ := client.Enqueue(ctx, "sleep", json.RawMessage(`{"ms":1,"fail":true}`), taskmill.MaxAttempts(2))
	info := wait(failing.ID, taskmill.StateFailed)
	if info.Attempt != 2 || !strings.Contains(info.LastError, "asked to fail") {
		t.Fatalf("failing sleep: attempt %d, error %q", info.Attempt, info.LastError)
	}
}
