package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// TestOpenAPIMatchesServer: the document and the router agree both ways,
// every schema compiles and every request example is valid. (The answers
// of every other test are validated against the document as they arrive.)
func TestOpenAPIMatchesServer(t *testing.T) {
	e := newEnv(t, backendKinds[0].open(t), withoutWorker())
	var doc map[string]any
	e.wantStatus(200, "GET", "/api/openapi.json", nil, &doc)
	if doc["openapi"] != "3.1.0" {
		t.Fatalf("openapi = %v", doc["openapi"])
	}
	ids := map[string]bool{}
	for _, op := range operations() {
		if ids[op.id] {
			t.Errorf("operationId %s is used twice", op.id)
		}
		ids[op.id] = true
		// Every documented operation reaches a handler: the probe must not
		// fall through to the router's 404/405.
		path := paramPattern.ReplaceAllString(op.path, "probe")
		req, _ := http.NewRequest(op.method, e.URL+path, strings.NewReader("{"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 405 || bytes.Contains(body, []byte("no such endpoint")) {
			t.Errorf("documented %s %s is not routed: %d %s", op.method, op.path, resp.StatusCode, body)
		}
		// No method the document leaves out is routed on that path.
		documented := map[string]bool{}
		for m := range doc["paths"].(map[string]any)[op.path].(map[string]any) {
			documented[strings.ToUpper(m)] = true
		}
		for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			if _, viaTemplate := findOperation(m, path); documented[m] || viaTemplate {
				continue
			}
			req, _ := http.NewRequest(m, e.URL+path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 405 && !(op.path == "/docs" || op.path == "/healthz" || op.path == "/readyz" || op.path == "/metrics") {
				t.Errorf("%s %s answers %d but is not documented", m, op.path, resp.StatusCode)
			}
		}
		// Request examples validate against the request schema.
		if rb, ok := op.raw["requestBody"].(map[string]any); ok && rb["content"].(map[string]any)["application/json"] != nil {
			media := rb["content"].(map[string]any)["application/json"].(map[string]any)
			raw, _ := json.Marshal(media["example"])
			inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
			ptr := "/paths/" + escapePointer(op.path) + "/" + strings.ToLower(op.method) + "/requestBody/content/application~1json/schema"
			if err := schemaAt(t, ptr).Validate(inst); err != nil {
				t.Errorf("the example of %s does not match its schema: %v", op.id, err)
			}
		}
	}
	for name := range doc["components"].(map[string]any)["schemas"].(map[string]any) {
		schemaAt(t, "/components/schemas/"+name)
	}
	if len(ids) < 30 {
		t.Fatalf("only %d operations documented", len(ids))
	}
}

func TestDocsPage(t *testing.T) {
	e := newEnv(t, backendKinds[0].open(t), withoutWorker())
	resp, err := http.Get(e.URL + "/docs")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("/docs = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	html := string(page)
	for _, op := range operations() {
		if !strings.Contains(html, `id="`+op.id+`"`) || !strings.Contains(html, "<code>"+op.path+"</code>") {
			t.Errorf("/docs lacks %s (%s %s)", op.id, op.method, op.path)
		}
	}
	for _, want := range []string{`id="schema-Task"`, `id="schema-TaskRequest"`, "unauthorized", "lease_lost", "invalid_&lt;rule&gt;"} {
		if !strings.Contains(html, want) {
			t.Errorf("/docs lacks %q", want)
		}
	}
	// Self-contained: nothing loaded from elsewhere, no script at all.
	if m := regexp.MustCompile(`(?i)(src|href)="(https?:)?//`).FindString(html); m != "" || strings.Contains(html, "<script") {
		t.Errorf("/docs loads something from elsewhere: %q", m)
	}
}

// TestAPIDocListsEveryErrorCode keeps docs/api.md's error table complete.
func TestAPIDocListsEveryErrorCode(t *testing.T) {
	md, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, backendKinds[0].open(t), withoutWorker())
	var doc map[string]any
	e.wantStatus(200, "GET", "/api/openapi.json", nil, &doc)
	desc := doc["info"].(map[string]any)["description"].(string)
	for _, line := range strings.Split(desc, "\n") {
		if !strings.HasPrefix(line, "| ") || strings.HasPrefix(line, "| code") {
			continue
		}
		code := strings.TrimSpace(strings.Split(line, "|")[1])
		if !bytes.Contains(md, []byte("`"+code+"`")) {
			t.Errorf("docs/api.md does not list the error code `%s`", code)
		}
	}
	for _, op := range operations() {
		if !bytes.Contains(md, []byte(op.path)) {
			t.Errorf("docs/api.md does not mention %s %s", op.method, op.path)
		}
	}
}

// TestErrorCodesMatchSources: the error table of the document (from
// errorCodes) lists exactly the codes the server's sources write, so a
// new code cannot be left out of the document and docs/api.md.
func TestErrorCodesMatchSources(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	emitted := map[string]bool{}
	literal := regexp.MustCompile(`Code:\s*"([a-z_]*)"`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range literal.FindAllSubmatch(src, -1) {
			code := string(m[1])
			if code == "invalid_" { // "invalid_" + the rule
				code = "invalid_<rule>"
			}
			emitted[code] = true
		}
	}
	if len(emitted) < 10 {
		t.Fatalf("found only %d codes in the sources: %v", len(emitted), emitted)
	}
	e := newEnv(t, backendKinds[0].open(t), withoutWorker())
	var doc map[string]any
	e.wantStatus(200, "GET", "/api/openapi.json", nil, &doc)
	listed := map[string]bool{}
	for _, line := range strings.Split(doc["info"].(map[string]any)["description"].(string), "\n") {
		if strings.HasPrefix(line, "| ") && !strings.HasPrefix(line, "| code") {
			listed[strings.Trim(strings.TrimSpace(strings.Split(line, "|")[1]), "`")] = true
		}
	}
	for code := range emitted {
		if !listed[code] {
			t.Errorf("the server answers with the error code %s, which errorCodes does not list", code)
		}
	}
	for code := range listed {
		if !emitted[code] {
			t.Errorf("errorCodes lists %s, which no server source writes", code)
		}
	}
}
