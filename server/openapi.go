package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"

	"github.com/taskmill/taskmill/apiclient"
)

// Version is the API version the OpenAPI document states.
const Version = "1.0.0"

// errorCode is one stable error code of the API.
type errorCode struct {
	code    string
	status  int
	meaning string
}

// errorCodes lists every error code the API answers with; the document,
// /docs and docs/api.md show it. Tests keep it equal to the codes the
// server's sources write (Code: "…") and docs/api.md complete.
var errorCodes = []errorCode{
	{"invalid_<rule>", 400, "the input broke a rule; field names it. Rules: json, type, unknown, required, range, length, charset, enum, size, exclusive, requires, duration, time, limit, invalid, query (a malformed query parameter), repeated (a query parameter given twice), cursor, path"},
	{"invalid_cursor", 400, "the cursor was not made by this server"},
	{"unauthorized", 401, "no API key, or not a valid one"},
	{"forbidden", 403, "the API key's role may not call this endpoint"},
	{"cross_origin", 403, "a browser sent this state-changing request from another origin that is not one of --cors-origin (field Origin)"},
	{"not_found", 404, "no such task, queue, worker or endpoint"},
	{"no_dashboard", 404, "a dashboard path was asked for, but this build has no dashboard"},
	{"method_not_allowed", 405, "the path exists with other methods (see the Allow header)"},
	{"duplicate", 409, "the unique key (or the id) is held by another task; existing_id names it"},
	{"task_final", 409, "the task already finished (completed, failed or canceled)"},
	{"task_not_final", 409, "the operation needs a final task (delete), or a failed or canceled one (retry)"},
	{"lease_lost", 409, "the lease token is not the task's current lease: drop the result"},
	{"worker_taken", 409, "a live worker with this id registered with another secret"},
	{"queue_not_empty", 409, "the queue still holds tasks, so it cannot be deleted"},
	{"no_local_workers", 409, "this server runs no in-process workers"},
	{"file_conflict", 409, "a file is where a folder must be, or a folder where a file must be (or the folder is not empty)"},
	{"body_too_large", 413, "the request body is over the limit"},
	{"body_timeout", 408, "the request body did not arrive within the server's body read time"},
	{"unsupported_media_type", 415, "the request body is not application/json (field Content-Type)"},
	{"wrong_host", 421, "the Host header does not name this server (field Host); add public names with --allowed-hosts"},
	{"internal", 500, "a server error; the log has the details"},
	{"unavailable", 503, "the backend is unreachable or the server is shutting down; try again"},
	{"outcome_unknown", 503, "the backend took the change but its answer was lost: it may have been made; read the state back (a submit: send it again with the same id, 409 duplicate if it was stored)"},
	{"backend_unavailable", 503, "readiness: the backend does not answer"},
	{"link_unavailable", 503, "readiness: a required link (such as the AMQP bridge) is not up; field names it"},
}

var statusText = map[int]string{
	204: "No content", 400: "Bad input: the error names the field and the rule", 401: "No API key, or not a valid one",
	403: "The API key's role may not call this endpoint, or a browser sent this request from an origin that is not allowed", 404: "Not found", 409: "Conflict with the task's state",
	408: "The body did not arrive in time", 413: "The body is over the limit", 415: "The body is not application/json", 421: "The Host header does not name this server",
	500: "Server error", 503: "Unavailable (backend down, stalled, or the server shutting down): try again after Retry-After seconds",
}

// openAPIDocument builds the OpenAPI 3.1 document from the route table
// and the Go types of the bodies.
func (s *Server) openAPIDocument() map[string]any {
	set := newSchemaSet()
	errSchema := set.ref(typeOf[apiclient.ErrorBody]())
	set.ref(typeOf[apiclient.Event]()) // the WebSocket's messages, described in components
	paths := map[string]any{}
	tags := []any{}
	seenTags := map[string]bool{}
	for _, rt := range s.routes {
		item, _ := paths[rt.pattern].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[rt.pattern] = item
		}
		if !seenTags[rt.tag] {
			seenTags[rt.tag] = true
			tags = append(tags, map[string]any{"name": rt.tag})
		}
		op := map[string]any{"operationId": rt.op, "summary": rt.summary, "tags": []any{rt.tag}, "x-taskmill-role": rt.access.String()}
		desc := rt.desc
		if rt.access != accessPublic {
			desc += "\n\nNeeds an API key with role " + roleNames(rt.access) + " when keys are configured."
			op["security"] = []any{map[string]any{"bearer": []any{}}}
		} else {
			op["security"] = []any{}
		}
		op["description"] = desc
		var params []any
		for _, p := range rt.params {
			params = append(params, map[string]any{"name": p.name, "in": p.in, "description": p.desc, "required": p.required, "schema": p.schema})
		}
		if params != nil {
			op["parameters"] = params
		}
		if rt.bodyType != "" {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				rt.bodyType: map[string]any{"schema": map[string]any{"type": "string", "contentMediaType": rt.bodyType}}}}
		}
		if rt.body != nil {
			content := map[string]any{}
			for _, mt := range rt.consumesOrJSON() {
				content[mt] = map[string]any{"schema": set.ref(rt.body), "example": rt.example}
			}
			op["requestBody"] = map[string]any{"required": !rt.bodyOptional, "content": content}
		}
		responses := map[string]any{}
		ok := map[string]any{"description": "Success"}
		switch {
		case rt.websocket:
			ok["description"] = "Switching protocols: a WebSocket whose every text message is one JSON Event (components/schemas/Event)."
			ok["x-message-schema"] = set.ref(rt.reply)
		case rt.reply != nil:
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": set.ref(rt.reply)}}
		case rt.replyType != "":
			ok["content"] = map[string]any{rt.replyType: map[string]any{"schema": map[string]any{"type": "string"}}}
		}
		responses[strconv.Itoa(rt.status)] = ok
		statuses := append([]int(nil), rt.errors...)
		statuses = append(statuses, 421) // every route: a Host that does not name the server
		if rt.access != accessPublic || rt.method != "GET" {
			statuses = append(statuses, 403) // a role that may not, or a cross-origin browser write
		}
		if rt.access != accessPublic {
			statuses = append(statuses, 401)
		}
		if rt.method != "GET" {
			statuses = append(statuses, 408, 415) // a body too slow, or of a type that is not the route's
		}
		if rt.pattern != "/healthz" && rt.pattern != "/docs" && rt.pattern != "/api/openapi.json" {
			statuses = append(statuses, 500, 503) // 503: the backend is down or stalled
		}
		for _, st := range statuses {
			r := map[string]any{"description": statusText[st]}
			if st >= 400 {
				r["content"] = map[string]any{"application/json": map[string]any{"schema": errSchema}}
			}
			responses[strconv.Itoa(st)] = r
		}
		op["responses"] = responses
		item[lower(rt.method)] = op
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "taskmill API", "version": Version,
			"description": "The HTTP API of taskmill, a distributed task queue. Every request's Host must name the server (421 wrong_host otherwise; public names via --allowed-hosts); request bodies are application/json only (415); POST, PUT, PATCH and DELETE that a browser marks cross-site are refused unless the origin is a --cors-origin (403 cross_origin); unknown, repeated and malformed query parameters answer 400. A backend that is down or stalled answers 503 unavailable with Retry-After within --backend-timeout (2s). Errors answer {\"error\":{\"code\",\"message\",\"field\"}}; codes:\n\n" + errorTable()},
		"tags":  tags,
		"paths": paths,
		"components": map[string]any{
			"schemas":         set.defs,
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer", "description": "an API key: --api-key NAME:ROLE:TOKEN"}},
		},
	}
}

func roleNames(a access) string {
	switch a {
	case accessRead:
		return "read or admin"
	case accessWorker:
		return "worker or admin"
	}
	return "admin"
}

func lower(s string) string { return string(bytes.ToLower([]byte(s))) }

func errorTable() string {
	var b bytes.Buffer
	b.WriteString("| code | status | meaning |\n|---|---|---|\n")
	for _, e := range errorCodes {
		b.WriteString("| " + e.code + " | " + strconv.Itoa(e.status) + " | " + e.meaning + " |\n")
	}
	return b.String()
}

// document returns the encoded document, built once.
func (s *Server) document() []byte {
	s.docOnce.Do(func() {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		doc := s.openAPIDocument()
		if err := enc.Encode(doc); err != nil {
			panic("encode the OpenAPI document: " + err.Error()) // only plain maps and strings: cannot fail
		}
		s.doc = b.Bytes()
		s.docHTML = renderDocs(doc)
	})
	return s.doc
}

// GET /api/openapi.json
func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	doc := s.document()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(doc)
}

// GET /docs
func (s *Server) docsPage(w http.ResponseWriter, r *http.Request) {
	s.document()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	_, _ = w.Write(s.docHTML)
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
