package tasktypes_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/taskmill/taskmill/tasktypes"
)

func TestPatternsRegexp(t *testing.T) {
	mux := testMux(t, tasktypes.Config{})
	text := "Contact alice@example.com or bob@test.org.\nAlso alice@example.com again."
	var r tasktypes.PatternsResult
	mustRun(t, mux, "find_patterns", map[string]any{"text": text, "pattern": `(\w+)@(\w+)\.\w+`}, &r)
	if r.Mode != "regexp" || r.Count != 3 || r.Distinct != 2 || len(r.Matches) != 3 || r.Truncated {
		t.Fatalf("result = %+v", r)
	}
	m := r.Matches[0]
	if m.Text != "alice@example.com" || m.Start != 8 || m.End != 25 || m.Line != 1 || m.Column != 9 ||
		len(m.Groups) != 2 || m.Groups[0] != "alice" || m.Groups[1] != "example" {
		t.Errorf("first match = %+v", m)
	}
	if m := r.Matches[2]; m.Start != 48 || m.Line != 2 || m.Column != 6 {
		t.Errorf("third match = %+v, want start 48 at 2:6", m)
	}
	if top := r.Top[0]; top.Text != "alice@example.com" || top.Count != 2 || len(top.Positions) != 2 || top.Positions[1] != 48 {
		t.Errorf("top = %+v", r.Top)
	}
}

// TestPatternsUnicodeOffsets: positions count code points, not bytes.
func TestPatternsUnicodeOffsets(t *testing.T) {
	mux := testMux(t, tasktypes.Config{MaxMatches: 2})
	var r tasktypes.PatternsResult
	mustRun(t, mux, "find_patterns", map[string]any{"text": "héllo wörld\nHÉLLO héllo", "pattern": "héllo", "case_insensitive": true}, &r)
	if r.Count != 3 || len(r.Matches) != 2 || !r.Truncated {
		t.Fatalf("result = %+v", r)
	}
	if r.Matches[1].Start != 12 || r.Matches[1].Line != 2 || r.Matches[1].Column != 1 || r.Matches[1].Text != "HÉLLO" {
		t.Errorf("second match = %+v, want start 12 at 2:1", r.Matches[1])
	}
}

func TestPatternsNGrams(t *testing.T) {
	mux := testMux(t, tasktypes.Config{})
	var r tasktypes.PatternsResult
	mustRun(t, mux, "find_patterns", map[string]any{"text": "The cat sat. The cat ran. The cat sat.", "top": 2}, &r)
	// Bigrams within each sentence: the cat ×3, cat sat ×2, cat ran ×1.
	if r.Mode != "ngram" || r.NGram != 2 || r.Count != 6 || r.Distinct != 3 || len(r.Top) != 2 {
		t.Fatalf("result = %+v", r)
	}
	if r.Top[0].Text != "the cat" || r.Top[0].Count != 3 || r.Top[0].Positions[1] != 13 || r.Top[1].Text != "cat sat" || r.Top[1].Count != 2 {
		t.Errorf("top = %+v", r.Top)
	}
}

func TestPatternsRefused(t *testing.T) {
	mux := testMux(t, tasktypes.Config{MaxPatternLength: 20})
	checkRefused(t, mux, "find_patterns", []refusedCase{
		{"no text", `{"pattern":"a"}`, "payload.text"},
		{"bad regexp", `{"text":"a","pattern":"(a"}`, "payload.pattern"},
		{"lookahead is not RE2", `{"text":"a","pattern":"a(?=b)"}`, "payload.pattern"},
		{"pattern too long", `{"text":"a","pattern":"` + strings.Repeat("a", 21) + `"}`, "payload.pattern"},
		{"huge repetition", `{"text":"a","pattern":"a{1001}"}`, "payload.pattern"},
		{"ngram and pattern", `{"text":"a","pattern":"a","ngram":2}`, "payload.ngram"},
		{"ngram too large", `{"text":"a","ngram":6}`, "payload.ngram"},
		{"top zero", `{"text":"a","top":0}`, "payload.top"},
		{"case flag without pattern", `{"text":"a","case_insensitive":true}`, "payload.case_insensitive"},
	})
	// A syntax error says what is wrong and where, without Go's prefix.
	tt, _ := mux.Lookup("find_patterns")
	err := tt.Validate(json.RawMessage(`{"text":"a","pattern":"x(a"}`))
	if err == nil || !strings.Contains(err.Error(), "missing closing ): x(a") || strings.Contains(err.Error(), "error parsing regexp") {
		t.Errorf("bad regexp: %v", err)
	}
}
