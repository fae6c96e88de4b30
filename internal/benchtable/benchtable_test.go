package benchtable

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite README.md and docs/benchmarks.md from docs/benchmarks.json")

// TestDocumentsQuoteOneSource: README.md and docs/benchmarks.md hold
// exactly the tables docs/benchmarks.json gives, so they agree.
func TestDocumentsQuoteOneSource(t *testing.T) {
	raw, err := os.ReadFile("../../docs/benchmarks.json")
	if err != nil {
		t.Fatal(err)
	}
	r, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []struct{ path, section, content string }{
		{"../../README.md", "readme", Readme(r)},
		{"../../docs/benchmarks.md", "docs", Docs(r)},
	} {
		old, err := os.ReadFile(d.path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Replace(string(old), d.section, d.content)
		if err != nil {
			t.Fatalf("%s: %v", d.path, err)
		}
		if got == string(old) {
			continue
		}
		if *update {
			if err := os.WriteFile(d.path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		t.Errorf("%s differs from docs/benchmarks.json; run go test ./internal/benchtable -update", d.path)
	}
	// Every figure of the taskmill column is in both documents.
	readme, _ := os.ReadFile("../../README.md")
	docs, _ := os.ReadFile("../../docs/benchmarks.md")
	for _, row := range r.Rows {
		for _, doc := range []string{string(readme), string(docs)} {
			if !strings.Contains(doc, "| "+row.Taskmill+" |") {
				t.Errorf("a document lacks %s's figure %s", row.Workload, row.Taskmill)
			}
		}
	}
}

func TestParseRefusesGaps(t *testing.T) {
	for _, bad := range []string{`{}`, `{"commit":"a","date":"b","rows":[{"workload":"w"}]}`, `{"commit":"a","date":"b","rows":[],"extra":1}`} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%s) accepted it", bad)
		}
	}
}
