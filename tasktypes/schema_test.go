package tasktypes_test

import (
	"encoding/json"
	"testing"

	"github.com/taskmill/taskmill/tasktypes"
)

// TestSchemasDescribePayloads checks what the dashboard relies on to build
// its forms: every type has a description and a schema of an object,
// every property has a type (or alternatives) and a description, required
// fields are properties, unknown fields are refused, and a form filled
// with the schema's defaults for the listed example passes validation.
func TestSchemasDescribePayloads(t *testing.T) {
	mux := testMux(t, tasktypes.Config{})
	if n := len(mux.Types()); n != 16 {
		t.Errorf("%d types registered, want 16", n)
	}
	for _, tt := range mux.Types() {
		var s struct {
			Type       string                     `json:"type"`
			Required   []string                   `json:"required"`
			Additional *bool                      `json:"additionalProperties"`
			Properties map[string]json.RawMessage `json:"properties"`
		}
		if err := json.Unmarshal(tt.Schema, &s); err != nil {
			t.Fatalf("%s: %v", tt.Name, err)
		}
		if s.Type != "object" {
			t.Errorf("%s: schema type %q, want object: %s", tt.Name, s.Type, tt.Schema)
		}
		if tt.Description == "" {
			t.Errorf("%s has no description", tt.Name)
		}
		if tt.Name == "echo" {
			continue // any object
		}
		if s.Additional == nil || *s.Additional {
			t.Errorf("%s: schema allows unknown fields; the payload decoder refuses them", tt.Name)
		}
		for _, r := range s.Required {
			if _, ok := s.Properties[r]; !ok {
				t.Errorf("%s: required %q is not a property", tt.Name, r)
			}
		}
		for name, raw := range s.Properties {
			var p map[string]any
			_ = json.Unmarshal(raw, &p)
			_, typed := p["type"]
			_, alts := p["anyOf"]
			if (!typed && !alts) || p["description"] == nil {
				t.Errorf("%s.%s: no type or no description: %s", tt.Name, name, raw)
			}
		}
	}
	// Inline images are marked so a form can offer a file picker.
	for _, name := range []string{"image_resize", "apply_filter"} {
		tt, _ := mux.Lookup(name)
		var s struct {
			Properties map[string]map[string]any `json:"properties"`
		}
		_ = json.Unmarshal(tt.Schema, &s)
		if img := s.Properties["image"]; img["contentEncoding"] != "base64" || img["contentMediaType"] != "image/*" {
			t.Errorf("%s.image = %v", name, img)
		}
	}
	// The defaults of each schema, alone, make a valid payload for the
	// types whose every required field has a default.
	for _, name := range []string{"fibonacci", "sleep", "word_count", "calculate_statistics", "currency_conversion",
		"http_request", "weather_data", "send_email", "find_patterns"} {
		tt, _ := mux.Lookup(name)
		var s struct {
			Properties map[string]map[string]any `json:"properties"`
		}
		_ = json.Unmarshal(tt.Schema, &s)
		payload := map[string]any{}
		for prop, p := range s.Properties {
			if d, ok := p["default"]; ok {
				payload[prop] = d
			}
		}
		if name == "find_patterns" {
			payload["text"] = "write to alice@example.com"
			delete(payload, "ngram") // the default pattern and ngram are alternatives
		}
		raw, _ := json.Marshal(payload)
		if err := tt.Validate(raw); err != nil {
			t.Errorf("%s: the schema's defaults %s are refused: %v", name, raw, err)
		}
	}
}
