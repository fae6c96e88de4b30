// Package benchtable writes the benchmark figures of README.md and
// docs/benchmarks.md from one file, docs/benchmarks.json, so that the two
// documents cannot quote different numbers for the same run. Each document
// holds its tables between <!-- bench:NAME --> and <!-- /bench:NAME -->;
// `go test ./internal/benchtable -update` rewrites them, and the test
// fails while a document differs from what the file gives.
package benchtable

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Results is docs/benchmarks.json: one benchmark session.
type Results struct {
	Commit   string   `json:"commit"`
	Date     string   `json:"date"`
	Redis    string   `json:"redis"`
	Machine  string   `json:"machine"`
	Asynq    string   `json:"asynq"`
	Rows     []Row    `json:"rows"`
	Embedded Embedded `json:"embedded"`
}

// Row is one workload: the median of its runs, per column.
type Row struct {
	Workload   string `json:"workload"` // docs/benchmarks.md's wording
	Short      string `json:"short"`    // README.md's
	Taskmill   string `json:"taskmill"`
	TaskmillP1 string `json:"taskmill_gomaxprocs1"`
	Asynq      string `json:"asynq"`
	AsynqP1    string `json:"asynq_gomaxprocs1"`
	Target     string `json:"target"`
}

// Embedded is the embedded store's figures in the same session.
type Embedded struct {
	SingleSubmits string `json:"single_submits"`
	BatchSubmit   string `json:"batch_submit"`
	Process       string `json:"process"`
	LatencyP50    string `json:"latency_p50"`
	LatencyP99    string `json:"latency_p99"`
}

// Parse reads docs/benchmarks.json, refusing unknown fields and empty
// cells, so a typo cannot print an empty table.
func Parse(raw []byte) (Results, error) {
	var r Results
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return r, fmt.Errorf("benchmarks.json: %w", err)
	}
	if r.Commit == "" || r.Date == "" || len(r.Rows) == 0 {
		return r, fmt.Errorf("benchmarks.json: commit, date and rows are required")
	}
	for i, row := range r.Rows {
		for _, cell := range []string{row.Workload, row.Short, row.Taskmill, row.TaskmillP1, row.Asynq, row.AsynqP1, row.Target} {
			if cell == "" {
				return r, fmt.Errorf("benchmarks.json: rows[%d] has an empty cell", i)
			}
		}
	}
	return r, nil
}

// Readme is README.md's "bench:readme" section.
func Readme(r Results) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s; client, worker and Redis on the same 2-core machine,\n%s; medians of three runs, taskmill at commit %s, asynq %s through `bench/asynqcompare` on the same Redis.\nCommands, all runs and why some targets were missed:\n[docs/benchmarks.md](docs/benchmarks.md).\n\n",
		r.Redis, r.Date, r.Commit, r.Asynq)
	fmt.Fprintf(&b, "| workload | taskmill | taskmill, `GOMAXPROCS=1` | asynq %s |\n|---|---:|---:|---:|\n", r.Asynq)
	for _, row := range r.Rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", row.Short, row.Taskmill, row.TaskmillP1, row.Asynq)
	}
	e := r.Embedded
	fmt.Fprintf(&b, "\nThe embedded store, with every write fsynced, takes %s single submits/s and\nprocesses %s tasks/s on the same machine, in the same session.\n",
		strings.TrimSuffix(e.SingleSubmits, "/s"), strings.TrimSuffix(e.Process, "/s"))
	return b.String()
}

// Docs is docs/benchmarks.md's "bench:docs" section.
func Docs(r Results) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| workload | taskmill | taskmill, `GOMAXPROCS=1` | asynq %s | asynq, `GOMAXPROCS=1` | target |\n|---|---:|---:|---:|---:|---|\n", minorVersion(r.Asynq))
	for _, row := range r.Rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", row.Workload, row.Taskmill, row.TaskmillP1, row.Asynq, row.AsynqP1, row.Target)
	}
	e := r.Embedded
	fmt.Fprintf(&b, "\nThe embedded store on the same machine, in the same session (commit\n%s, %s), for reference (temporary directory, every write\nfsynced): single submits %s, batch submit %s, process\n%s, latency p50 %s, p99 %s.\n",
		r.Commit, r.Date, e.SingleSubmits, e.BatchSubmit, e.Process, e.LatencyP50, e.LatencyP99)
	return b.String()
}

// Replace puts content between <!-- bench:name --> and <!-- /bench:name -->
// in doc, keeping the markers.
func Replace(doc, name, content string) (string, error) {
	begin, end := "<!-- bench:"+name+" -->\n", "<!-- /bench:"+name+" -->"
	i := strings.Index(doc, begin)
	j := strings.Index(doc, end)
	if i < 0 || j < i {
		return "", fmt.Errorf("no %q … %q section", strings.TrimSpace(begin), end)
	}
	return doc[:i+len(begin)] + content + doc[j:], nil
}

// minorVersion shortens v0.26.0 to v0.26, as the wide table's header has it.
func minorVersion(v string) string {
	if parts := strings.Split(v, "."); len(parts) > 2 {
		return strings.Join(parts[:2], ".")
	}
	return v
}
