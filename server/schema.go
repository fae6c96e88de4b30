package server

import (
	"encoding/json"
	"reflect"
	"strings"
	"time"

	"github.com/taskmill/taskmill/backend"
)

// schemaSet turns the Go types the handlers decode and encode into JSON
// Schema (draft 2020-12, as OpenAPI 3.1 uses), so the document describes
// exactly the structs on the wire: a field added to a response struct
// appears in the document without anyone editing it, and the drift test
// validates real responses against these schemas with
// additionalProperties false.
type schemaSet struct {
	defs  map[string]any
	names map[reflect.Type]string
}

func newSchemaSet() *schemaSet {
	return &schemaSet{defs: map[string]any{}, names: map[reflect.Type]string{}}
}

var (
	typeTime     = reflect.TypeFor[time.Time]()
	typeRaw      = reflect.TypeFor[json.RawMessage]()
	typeDuration = reflect.TypeFor[backend.Duration]()
	typeState    = reflect.TypeFor[backend.State]()
	typeAny      = reflect.TypeFor[any]()
)

// stateNames lists the wire names of the task states.
func stateNames() []any {
	out := make([]any, len(backend.States))
	for i, s := range backend.States {
		out[i] = string(s)
	}
	return out
}

// fieldDocs describes fields whose meaning the name does not carry. Keys
// are "Type.json_name".
var fieldDocs = map[string]string{
	"Task.payload":            "the task's input, any JSON value",
	"Task.result":             "what the handler returned, any JSON value",
	"Task.attempt":            "attempts started so far",
	"Task.timeout":            "per-attempt timeout as a Go duration string (\"30s\")",
	"Task.run_at":             "when a scheduled or retrying task becomes pending",
	"Task.worker_id":          "the worker holding the current lease",
	"Task.trace_context":      "W3C trace headers carried from submit to every attempt",
	"Task.attempts":           "one entry per attempt started, oldest first, with the worker that ran it",
	"TaskRequest.delay":       "run after this long: a Go duration string (\"1m30s\") or a number of seconds",
	"TaskRequest.timeout":     "per-attempt timeout: a Go duration string or a number of seconds",
	"TaskRequest.unique_for":  "how long the unique key is held; default 24h",
	"TaskRequest.priority":    "0–1000, higher runs first; FIFO within a priority",
	"TaskRequest.id":          "caller-chosen id; default a UUIDv7",
	"Attempt.outcome":         "completed, failed, lease_expired, released or canceled; empty while running",
	"QueueView.latency_ms":    "how long the oldest pending task has waited, in milliseconds",
	"QueueView.failure_rate":  "failed / (completed + failed) attempts over the stats window",
	"HistoryBucket.failed":    "attempts that failed, retried or not",
	"LeasedTask.lease_token":  "the lease's credential (fencing counter and secret), opaque: send it unchanged with extend, ack, fail, progress and release",
	"TaskEvent.state":         "the new state, or \"deleted\" when the task was removed",
	"apiError.existing_id":    "for code duplicate: the task that holds the unique key",
	"apiError.field":          "the offending input: a JSON path such as payload.n, or a query parameter",
	"BulkRequest.limit":       "the most tasks acted on in this call (default 1000, at most 10000)",
	"BulkResult.next_cursor":  "present when the scan stopped early: call again with filter.cursor set to it",
	"WorkerInfo.running":      "ids of the tasks it runs now",
	"HeartbeatRequest.ttl":    "how long the registration lasts without another heartbeat; default 15s",
	"LeaseRequest.wait":       "how long to block when nothing is ready (long poll); default 0, at most 60s",
	"LeaseRequest.lease_for":  "lease duration; extend before it runs out. Default 30s",
	"FailRequest.retry_after": "when to retry if attempts are left; default the server's exponential backoff",
}

// fieldEnums restricts string fields to a set of values.
var fieldEnums = map[string][]any{
	"BulkRequest.action":  {"retry", "cancel", "delete"},
	"Attempt.outcome":     {"completed", "failed", "lease_expired", "released", "canceled", ""},
	"Event.kind":          {backend.EventTaskUpdate, backend.EventQueueUpdate, backend.EventWorkerUpdate, backend.EventResync},
	"TaskEvent.state":     append(stateNames(), "deleted"),
	"HealthStatus.status": {"ok", "ready"},
	"StatsView.health":    {"ok", "degraded"},
	"BulkFilter.state":    stateNames(),
}

// ref returns a schema for t: a $ref for named structs (defined once in
// components), an inline schema for everything else.
func (s *schemaSet) ref(t reflect.Type) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case typeTime:
		return map[string]any{"type": "string", "format": "date-time"}
	case typeRaw, typeAny:
		return map[string]any{}
	case typeDuration:
		return map[string]any{"type": []any{"string", "number"}, "description": "a Go duration string such as \"30s\" (numbers are read as seconds)"}
	case typeState:
		return map[string]any{"type": "string", "enum": stateNames()}
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": s.ref(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": s.ref(t.Elem())}
	case reflect.Struct:
		name := s.define(t)
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	return map[string]any{}
}

// define adds the schema of struct t to the components and returns its name.
func (s *schemaSet) define(t reflect.Type) string {
	if name, ok := s.names[t]; ok {
		return name
	}
	name := t.Name()
	if name == "" {
		name = "Anonymous"
	}
	if _, taken := s.defs[name]; taken {
		name = strings.ReplaceAll(t.PkgPath()[strings.LastIndex(t.PkgPath(), "/")+1:], ".", "_") + "_" + name
	}
	s.names[t] = name
	s.defs[name] = nil // reserve the name before recursing (recursive types)
	props := map[string]any{}
	required := []any{}
	s.addFields(t, name, props, &required)
	def := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		def["required"] = required
	}
	s.defs[name] = def
	return name
}

// addFields adds t's JSON fields, flattening embedded structs the way
// encoding/json does (an outer field shadows an embedded one).
func (s *schemaSet) addFields(t reflect.Type, owner string, props map[string]any, required *[]any) {
	var embedded []reflect.Type
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				embedded = append(embedded, ft) // after the outer fields, which shadow its own
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		if _, shadowed := props[name]; shadowed {
			continue
		}
		sch := s.ref(f.Type)
		key := owner + "." + name
		if doc, ok := fieldDocs[key]; ok {
			sch = withKeys(sch, "description", doc)
		}
		if enum, ok := fieldEnums[key]; ok && enum != nil {
			sch = withKeys(sch, "enum", enum)
		}
		props[name] = sch
		optional := strings.Contains(opts, "omitempty") || strings.Contains(opts, "omitzero")
		if !optional {
			*required = append(*required, name)
		}
	}
	for _, ft := range embedded {
		s.addFields(ft, ft.Name(), props, required)
	}
}

// withKeys returns a copy of sch with extra keywords; next to a $ref it
// wraps the reference in allOf so the keywords are not lost.
func withKeys(sch map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	if _, isRef := sch["$ref"]; isRef {
		out["allOf"] = []any{sch}
	} else {
		for k, v := range sch {
			out[k] = v
		}
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}
