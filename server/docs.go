package server

import (
	"bytes"
	"encoding/json"
	"html/template"
	"sort"
	"strings"
)

// renderDocs turns the OpenAPI document into one self-contained HTML page:
// no script, no stylesheet or font from elsewhere, so it works offline and
// under a strict Content-Security-Policy.
func renderDocs(doc map[string]any) []byte {
	type paramView struct{ Name, In, Type, Desc string }
	type responseView struct{ Status, Desc, Type string }
	type opView struct {
		Method, MethodClass, Path, ID, Summary, Desc, Role string
		Params                                             []paramView
		BodyType, Example                                  string
		Responses                                          []responseView
	}
	type tagView struct {
		Name string
		Ops  []opView
	}
	type propView struct{ Name, Type, Desc string }
	type schemaView struct {
		Name  string
		Props []propView
	}
	info := doc["info"].(map[string]any)
	paths := doc["paths"].(map[string]any)
	byTag := map[string]*tagView{}
	var tagOrder []string
	for _, t := range doc["tags"].([]any) {
		name := t.(map[string]any)["name"].(string)
		byTag[name] = &tagView{Name: name}
		tagOrder = append(tagOrder, name)
	}
	for _, path := range sortedKeys(paths) {
		item := paths[path].(map[string]any)
		for _, method := range []string{"get", "post", "put", "delete"} {
			raw, ok := item[method]
			if !ok {
				continue
			}
			op := raw.(map[string]any)
			v := opView{Method: strings.ToUpper(method), MethodClass: method, Path: path, ID: op["operationId"].(string), Summary: str(op["summary"]),
				Desc: str(op["description"]), Role: str(op["x-taskmill-role"])}
			if ps, ok := op["parameters"].([]any); ok {
				for _, p := range ps {
					pm := p.(map[string]any)
					v.Params = append(v.Params, paramView{Name: str(pm["name"]), In: str(pm["in"]), Type: schemaType(pm["schema"]), Desc: str(pm["description"])})
				}
			}
			if rb, ok := op["requestBody"].(map[string]any); ok {
				if media, ok := rb["content"].(map[string]any)["application/json"].(map[string]any); ok {
					v.BodyType = schemaType(media["schema"])
					ex, _ := json.MarshalIndent(media["example"], "", "  ")
					v.Example = string(ex)
				} else {
					for ct := range rb["content"].(map[string]any) {
						v.BodyType = ct + " (the raw bytes)"
					}
				}
			}
			resps := op["responses"].(map[string]any)
			for _, code := range sortedKeys(resps) {
				r := resps[code].(map[string]any)
				rv := responseView{Status: code, Desc: str(r["description"])}
				if c, ok := r["content"].(map[string]any); ok {
					for ct, m := range c {
						if sch, ok := m.(map[string]any)["schema"]; ok && ct == "application/json" {
							rv.Type = schemaType(sch)
						} else {
							rv.Type = ct
						}
					}
				}
				v.Responses = append(v.Responses, rv)
			}
			tag := op["tags"].([]any)[0].(string)
			byTag[tag].Ops = append(byTag[tag].Ops, v)
		}
	}
	var tags []tagView
	for _, name := range tagOrder {
		tags = append(tags, *byTag[name])
	}
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	var svs []schemaView
	for _, name := range sortedKeys(schemas) {
		sch, _ := schemas[name].(map[string]any)
		sv := schemaView{Name: name}
		props, _ := sch["properties"].(map[string]any)
		required := map[string]bool{}
		if req, ok := sch["required"].([]any); ok {
			for _, r := range req {
				required[r.(string)] = true
			}
		}
		for _, p := range sortedKeys(props) {
			pm := props[p].(map[string]any)
			typ := schemaType(pm)
			if !required[p] {
				typ += " (optional)"
			}
			desc := str(pm["description"])
			if enum, ok := pm["enum"].([]any); ok {
				var vals []string
				for _, e := range enum {
					vals = append(vals, str(e))
				}
				desc = strings.TrimSpace(desc + " One of: " + strings.Join(vals, ", ") + ".")
			}
			sv.Props = append(sv.Props, propView{Name: p, Type: typ, Desc: desc})
		}
		svs = append(svs, sv)
	}
	var b bytes.Buffer
	err := docsTemplate.Execute(&b, map[string]any{"Title": info["title"], "Version": info["version"],
		"Errors": errorCodes, "Tags": tags, "Schemas": svs})
	if err != nil {
		panic("render /docs: " + err.Error()) // the template and its data are fixed: a bug
	}
	return b.Bytes()
}

func str(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	if v == nil {
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// schemaType names a schema's type in a few words.
func schemaType(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return "any"
	}
	if ref, ok := m["$ref"].(string); ok {
		return ref[strings.LastIndex(ref, "/")+1:]
	}
	if all, ok := m["allOf"].([]any); ok && len(all) == 1 {
		return schemaType(all[0])
	}
	switch t := m["type"].(type) {
	case string:
		switch t {
		case "array":
			return "array of " + schemaType(m["items"])
		case "object":
			if ap, ok := m["additionalProperties"].(map[string]any); ok {
				return "map of " + schemaType(ap)
			}
		case "string":
			if f, ok := m["format"].(string); ok {
				return "string (" + f + ")"
			}
		}
		return t
	case []any:
		var parts []string
		for _, p := range t {
			parts = append(parts, str(p))
		}
		sort.Strings(parts)
		return strings.Join(parts, " or ")
	}
	return "any JSON"
}

func (e errorCode) Code() string    { return e.code }
func (e errorCode) Status() int     { return e.status }
func (e errorCode) Meaning() string { return e.meaning }

var docsTemplate = template.Must(template.New("docs").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} {{.Version}}</title>
<style>
body{font:15px/1.5 system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#1f2328;background:#fff}
main{max-width:1000px;margin:0 auto;padding:24px}
nav{background:#f6f8fa;border-bottom:1px solid #d0d7de;padding:12px 24px}
nav a{margin-right:14px;color:#0969da;text-decoration:none}
h1{margin:.2em 0} h2{border-bottom:1px solid #d0d7de;padding-bottom:.2em;margin-top:2em}
.op{border:1px solid #d0d7de;border-radius:6px;margin:16px 0;padding:12px 16px}
.m{display:inline-block;min-width:64px;font-weight:700;font-family:ui-monospace,monospace}
.get{color:#1a7f37}.post{color:#0969da}.put{color:#8250df}.delete{color:#cf222e}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:13px}
pre{background:#f6f8fa;padding:10px;border-radius:6px;overflow:auto}
table{border-collapse:collapse;width:100%;margin:8px 0}
td,th{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}.role{float:right;font-size:12px;color:#57606a}
p.desc{white-space:pre-wrap}
</style></head><body>
<nav><strong>{{.Title}}</strong> {{.Version}} · {{range .Tags}}<a href="#tag-{{.Name}}">{{.Name}}</a>{{end}}<a href="#schemas">schemas</a><a href="#errors">errors</a><a href="/api/openapi.json">openapi.json</a></nav>
<main>
<h1>{{.Title}}</h1>
<p>JSON over HTTP. Send <code>Authorization: Bearer &lt;token&gt;</code> when the server has API keys (the WebSocket also takes <code>?access_token=</code>). The machine-readable description is <a href="/api/openapi.json">/api/openapi.json</a> (OpenAPI 3.1).</p>
{{range .Tags}}<h2 id="tag-{{.Name}}">{{.Name}}</h2>
{{range .Ops}}<div class="op" id="{{.ID}}"><span class="role">role: {{.Role}}</span>
<div><span class="m {{.MethodClass}}">{{.Method}}</span> <code>{{.Path}}</code> — {{.Summary}}</div>
{{if .Desc}}<p class="desc">{{.Desc}}</p>{{end}}
{{if .Params}}<table><tr><th>parameter</th><th>in</th><th>type</th><th>description</th></tr>{{range .Params}}<tr><td><code>{{.Name}}</code></td><td>{{.In}}</td><td>{{.Type}}</td><td>{{.Desc}}</td></tr>{{end}}</table>{{end}}
{{if .BodyType}}<p>Request body: <a href="#schema-{{.BodyType}}">{{.BodyType}}</a></p><pre>{{.Example}}</pre>{{end}}
<table><tr><th>status</th><th>meaning</th><th>body</th></tr>{{range .Responses}}<tr><td>{{.Status}}</td><td>{{.Desc}}</td><td>{{.Type}}</td></tr>{{end}}</table>
</div>{{end}}{{end}}
<h2 id="schemas">Schemas</h2>
{{range .Schemas}}<h3 id="schema-{{.Name}}">{{.Name}}</h3>
<table><tr><th>field</th><th>type</th><th>description</th></tr>{{range .Props}}<tr><td><code>{{.Name}}</code></td><td>{{.Type}}</td><td>{{.Desc}}</td></tr>{{end}}</table>{{end}}
<h2 id="errors">Error codes</h2>
<table><tr><th>code</th><th>status</th><th>meaning</th></tr>{{range .Errors}}<tr><td><code>{{.Code}}</code></td><td>{{.Status}}</td><td>{{.Meaning}}</td></tr>{{end}}</table>
</main></body></html>
`))
