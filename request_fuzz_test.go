package taskmill_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/taskmill/taskmill"
)

// FuzzTaskRequest decodes arbitrary bytes as a submit body and validates
// it: nothing may panic, and anything Validate accepts must be within the
// documented bounds.
func FuzzTaskRequest(f *testing.F) {
	for _, seed := range []string{
		`{"type":"fibonacci","payload":{"n":35}}`,
		`{"type":"sleep","payload":{"ms":200},"queue":"q","priority":5,"delay":"10s","max_attempts":3,"timeout":30}`,
		`{"type":"x","run_at":"2030-01-01T00:00:00Z","unique_key":"k","unique_for":"1h"}`,
		`{"type":"","priority":-1}`, `{"type":"a","delay":1e308}`, `{"type":"a","timeout":"-5s"}`, `[]`, `{`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var r taskmill.TaskRequest
		if err := json.Unmarshal(body, &r); err != nil {
			return
		}
		err := r.Validate(1024)
		if err != nil {
			var ve *taskmill.ValidationError
			if !errors.As(err, &ve) || ve.Field == "" {
				t.Fatalf("Validate error without a field: %v", err)
			}
			return
		}
		if r.Priority < 0 || r.Priority > taskmill.MaxPriority || len(r.Payload) > 1024 || r.Type == "" ||
			r.Delay < 0 || r.Timeout < 0 || r.MaxAttempts < 0 || r.MaxAttempts > taskmill.MaxAttemptsLimit {
			t.Fatalf("Validate accepted an out-of-bounds request: %+v", r)
		}
		if len(r.Payload) > 0 && !json.Valid(r.Payload) {
			t.Fatalf("Validate accepted invalid JSON payload %q", r.Payload)
		}
	})
}

// FuzzDecodePayload checks that strict payload decoding never panics and
// always names a field when it fails.
func FuzzDecodePayload(f *testing.F) {
	for _, seed := range []string{`{"n":35}`, `{"n":"x"}`, `{"m":1}`, `{"n":1}{"n":2}`, ``, `null`, `{"n":1e400}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		var v struct {
			N    int      `json:"n"`
			Text string   `json:"text"`
			List []string `json:"list"`
		}
		err := taskmill.DecodePayload(payload, &v)
		if err == nil {
			return
		}
		var ve *taskmill.ValidationError
		if !errors.As(err, &ve) || ve.Field == "" {
			t.Fatalf("DecodePayload(%q) error without a field: %v", payload, err)
		}
	})
}
