package tasktypes_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/tasktypes"
)

// testMux registers the built-in types with cfg (DataDir defaults to a
// fresh temporary directory).
func testMux(t *testing.T, cfg tasktypes.Config) *taskmill.ServeMux {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	mux := taskmill.NewServeMux()
	if err := tasktypes.Register(mux, cfg); err != nil {
		t.Fatal(err)
	}
	return mux
}

// runTask validates payload as a submit would, then runs it the way a
// worker does, and decodes the result into out (when not nil).
func runTask(t *testing.T, mux *taskmill.ServeMux, typ string, payload any, out any) (*taskmill.Task, error) {
	t.Helper()
	return runTaskCtx(context.Background(), t, mux, typ, payload, out)
}

func runTaskCtx(ctx context.Context, t *testing.T, mux *taskmill.ServeMux, typ string, payload any, out any) (*taskmill.Task, error) {
	t.Helper()
	raw, ok := payload.(json.RawMessage)
	if !ok {
		var err error
		if raw, err = json.Marshal(payload); err != nil {
			t.Fatal(err)
		}
	}
	tt, found := mux.Lookup(typ)
	if !found {
		t.Fatalf("type %s not registered", typ)
	}
	if err := tt.Validate(raw); err != nil {
		return nil, err
	}
	task := taskmill.NewTask(typ, raw)
	res, err := mux.ProcessTask(ctx, task)
	if err != nil {
		return task, err
	}
	b, merr := json.Marshal(res)
	if merr != nil {
		t.Fatalf("%s result does not marshal: %v", typ, merr)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s result %s: %v", typ, b, err)
		}
	}
	return task, nil
}

// mustRun is runTask that fails the test on an error.
func mustRun(t *testing.T, mux *taskmill.ServeMux, typ string, payload any, out any) *taskmill.Task {
	t.Helper()
	task, err := runTask(t, mux, typ, payload, out)
	if err != nil {
		t.Fatalf("%s %v: %v", typ, payload, err)
	}
	return task
}

// invalidField returns the field of a *taskmill.ValidationError in err's
// chain, or "" when there is none.
func invalidField(err error) string {
	var ve *taskmill.ValidationError
	if errors.As(err, &ve) {
		return ve.Field
	}
	return ""
}

// refusedCase is a payload that must be refused at submit, naming field.
type refusedCase struct {
	name, payload, field string
}

func checkRefused(t *testing.T, mux *taskmill.ServeMux, typ string, cases []refusedCase) {
	t.Helper()
	tt, ok := mux.Lookup(typ)
	if !ok {
		t.Fatalf("type %s not registered", typ)
	}
	for _, c := range cases {
		err := tt.Validate(json.RawMessage(c.payload))
		if got := invalidField(err); got != c.field {
			t.Errorf("%s %s: err = %v; want a validation error on %s", typ, c.name, err, c.field)
		}
	}
}
