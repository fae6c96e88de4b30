package taskmill_test

import (
	"errors"
	"testing"

	"github.com/taskmill/taskmill"
)

// TestDecodeErrorsNameTheFieldAsWritten: type errors name the JSON field
// the client wrote — not the Go name of an embedded struct — and say what
// kind of JSON value was wanted.
func TestDecodeErrorsNameTheFieldAsWritten(t *testing.T) {
	type Inner struct {
		Limit int `json:"limit"`
	}
	type outer struct {
		Inner
		Items []struct {
			N int `json:"n"`
		} `json:"items"`
		Plain string
	}
	for _, tc := range []struct{ body, field, msg string }{
		{`{"limit":"x"}`, "limit", "must be a whole number, not a JSON string"},
		{`{"items":[{"n":true}]}`, "items.n", "must be a whole number, not a JSON bool"},
		{`{"items":{}}`, "items", "must be a JSON array, not a JSON object"},
		{`{"Plain":1}`, "Plain", "must be a string, not a JSON number"},
		{`[1]`, "body", "must be a JSON object, not a JSON array"},
	} {
		var v outer
		err := taskmill.DecodeStrict([]byte(tc.body), &v, "")
		var ve *taskmill.ValidationError
		if !errors.As(err, &ve) || ve.Field != tc.field || ve.Message != tc.msg {
			t.Errorf("%s: %v (field %q), want field %q: %s", tc.body, err, fieldOf(ve), tc.field, tc.msg)
		}
	}
	// A top-level value of the wrong kind says which kind was wanted.
	var list []int
	err := taskmill.DecodeStrict([]byte(`{}`), &list, "schedules")
	var ve *taskmill.ValidationError
	if !errors.As(err, &ve) || ve.Field != "schedules" || ve.Message != "must be a JSON array, not a JSON object" {
		t.Fatalf("{} into a list: %v", err)
	}
	// A submit body's embedded TaskRequest fields are named as sent.
	if _, err := taskmill.DecodeTaskRequest([]byte(`{"type":"x","priority":"high"}`), "tasks[2]"); !errors.As(err, &ve) || ve.Field != "tasks[2].priority" {
		t.Fatalf("priority of the wrong type: %v", err)
	}
}

func fieldOf(ve *taskmill.ValidationError) string {
	if ve == nil {
		return ""
	}
	return ve.Field
}
