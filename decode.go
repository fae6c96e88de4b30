package taskmill

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"time"

	"github.com/taskmill/taskmill/backend"
)

// DecodeStrict unmarshals one JSON value from data into v, refusing
// unknown fields and trailing data. A failure is a *ValidationError whose
// Field is the JSON path of the offending field below prefix ("payload.n"
// for prefix "payload"); with an empty prefix, errors about the value as a
// whole name the field "body".
func DecodeStrict(data []byte, v any, prefix string) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err, prefix, reflect.TypeOf(v))
	}
	if dec.More() {
		return Invalid(fieldPath(prefix, ""), "json", "trailing data after the JSON value")
	}
	return nil
}

// fieldPath joins a prefix and a field name into a JSON path.
func fieldPath(prefix, name string) string {
	switch {
	case prefix == "" && name == "":
		return "body"
	case prefix == "":
		return name
	case name == "":
		return prefix
	}
	return prefix + "." + name
}

func decodeError(err error, prefix string, into reflect.Type) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := jsonPath(into, typeErr.Field)
		want := jsonKind(typeErr.Type)
		if field == "" && want == "JSON object" {
			return Invalid(fieldPath(prefix, ""), "type", "must be a JSON object, not a JSON %s", typeErr.Value)
		}
		return Invalid(fieldPath(prefix, field), "type", "must be a %s, not a JSON %s", want, typeErr.Value)
	case errors.As(err, &syntaxErr):
		return Invalid(fieldPath(prefix, ""), "json", "malformed JSON at byte %d: %v", syntaxErr.Offset, err)
	case errors.Is(err, io.EOF):
		return Invalid(fieldPath(prefix, ""), "json", "is empty; send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return Invalid(fieldPath(prefix, ""), "json", "malformed JSON: unexpected end of input")
	}
	const unknownPrefix = "json: unknown field "
	if msg := err.Error(); strings.HasPrefix(msg, unknownPrefix) {
		name := strings.Trim(msg[len(unknownPrefix):], `"`)
		return Invalid(fieldPath(prefix, name), "unknown", "unknown field %q", name)
	}
	return Invalid(fieldPath(prefix, ""), "json", "%v", err)
}

// jsonPath turns the field path encoding/json reports into the one the
// client wrote: encoding/json puts the Go name of an embedded struct in
// the path ("TaskRequest.priority") although its fields appear at the
// outer level of the JSON ("priority"). It walks the Go type to find and
// drop those segments.
func jsonPath(t reflect.Type, path string) string {
	if path == "" {
		return ""
	}
	var out []string
	for _, seg := range strings.Split(path, ".") {
		for t != nil && (t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map) {
			t = t.Elem()
		}
		var next reflect.Type
		embedded := false
		if t != nil && t.Kind() == reflect.Struct {
			for i := range t.NumField() {
				f := t.Field(i)
				name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
				switch {
				case f.Anonymous && name == "" && f.Name == seg:
					next, embedded = f.Type, true
				case name == seg || (name == "" && f.Name == seg):
					next = f.Type
				}
				if next != nil {
					break
				}
			}
		}
		if !embedded {
			out = append(out, seg)
		}
		t = next
	}
	return strings.Join(out, ".")
}

// jsonKind names a Go type the way a JSON user thinks of it.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "whole number"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice, reflect.Array:
		return "JSON array"
	case reflect.Map, reflect.Struct:
		return "JSON object"
	}
	return t.String()
}

// taskRequestWire is TaskRequest as it arrives over the wire: durations are
// kept raw so that a bad one is reported with its field's name.
type taskRequestWire struct {
	TaskRequest
	Delay     json.RawMessage `json:"delay,omitempty"`
	Timeout   json.RawMessage `json:"timeout,omitempty"`
	UniqueFor json.RawMessage `json:"unique_for,omitempty"`
	RunAt     json.RawMessage `json:"run_at,omitempty"`
	Deadline  json.RawMessage `json:"deadline,omitempty"`
	// Queue is a pointer to tell a queue left out (the default queue)
	// from one given as "", which is a mistake worth reporting.
	Queue *string `json:"queue,omitempty"`
}

// DecodeTaskRequest decodes the JSON body of a submit strictly (unknown
// fields refused) and names the offending field in the *ValidationError it
// returns on failure, below prefix ("tasks[3]" for the fourth task of a
// batch; "" for a single one). It does not Validate the request.
func DecodeTaskRequest(data []byte, prefix string) (TaskRequest, error) {
	var w taskRequestWire
	if err := DecodeStrict(data, &w, prefix); err != nil {
		return TaskRequest{}, err
	}
	r := w.TaskRequest
	for _, tm := range []struct {
		name string
		raw  json.RawMessage
		dst  *time.Time
	}{{"run_at", w.RunAt, &r.RunAt}, {"deadline", w.Deadline, &r.Deadline}} {
		if len(tm.raw) == 0 || string(tm.raw) == "null" {
			continue
		}
		if err := tm.dst.UnmarshalJSON(tm.raw); err != nil {
			return TaskRequest{}, Invalid(fieldPath(prefix, tm.name), "time", "must be an RFC 3339 time like \"2030-01-02T15:04:05Z\", got %s", tm.raw)
		}
	}
	if w.Queue != nil {
		if *w.Queue == "" {
			return TaskRequest{}, Invalid(fieldPath(prefix, "queue"), "required", "must not be empty; leave queue out to use the default queue")
		}
		r.Queue = *w.Queue
	}
	for _, d := range []struct {
		name string
		raw  json.RawMessage
		dst  *backend.Duration
	}{{"delay", w.Delay, &r.Delay}, {"timeout", w.Timeout, &r.Timeout}, {"unique_for", w.UniqueFor, &r.UniqueFor}} {
		if len(d.raw) == 0 || string(d.raw) == "null" {
			continue
		}
		if err := d.dst.UnmarshalJSON(d.raw); err != nil {
			return TaskRequest{}, Invalid(fieldPath(prefix, d.name), "duration", "%v", err)
		}
	}
	if string(bytes.TrimSpace(r.Payload)) == "null" {
		r.Payload = nil
	}
	return r, nil
}
