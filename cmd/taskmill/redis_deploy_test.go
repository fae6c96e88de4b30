package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The deploy/ files cannot be run here (no container engine, no
// cluster). This test checks what can be checked without one: they
// parse, they hang together (selectors, names, ports, grace periods),
// every command line in them is accepted by this binary's own flag
// parsers, and every TASKMILL_* variable is one the binary reads, with a
// value the binary reads as given: numbers and durations through its own
// env readers (which would fall back to the default on a bad value), and
// TASKMILL_BACKEND through parseBackend, the parsing of --backend. The
// variables are not applied to the command lines they go with.

const deployDir = "../../deploy"

func readDeploy(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// yamlDocs decodes every document of a YAML file into generic maps.
func yamlDocs(t *testing.T, name string) []map[string]any {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(readDeploy(t, name)))
	var docs []map[string]any
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if d != nil {
			docs = append(docs, d)
		}
	}
}

// at walks a path of map keys and list indexes.
func at(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("path %v: %v is not a map", path, v)
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("path %v: %v is not a list with index %d", path, v, k)
			}
			v = l[k]
		}
	}
	return v
}

func strs(v any) []string {
	l, _ := v.([]any)
	out := make([]string, len(l))
	for i, x := range l {
		out[i], _ = x.(string)
	}
	return out
}

// knownEnv lists the TASKMILL_* variables this command reads — in its
// own code, not its tests — with the function that reads each: envInt,
// envDuration, or "string" for any other.
func knownEnv(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no source files: %v", err)
	}
	name := regexp.MustCompile(`"(TASKMILL_[A-Z_]+)"`)
	typed := regexp.MustCompile(`\b(envInt|envDuration)\("(TASKMILL_[A-Z_]+)"`)
	known := map[string]string{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range name.FindAllSubmatch(b, -1) {
			if known[string(m[1])] == "" {
				known[string(m[1])] = "string"
			}
		}
		for _, m := range typed.FindAllSubmatch(b, -1) {
			known[string(m[2])] = string(m[1])
		}
	}
	return known
}

// checkArgs runs a container's arguments through the real flag parser.
func checkArgs(t *testing.T, where string, args []string) {
	t.Helper()
	if len(args) == 0 {
		t.Fatalf("%s: no command", where)
	}
	var err error
	switch args[0] {
	case "serve":
		_, err = parseServeFlags(args[1:], io.Discard)
	case "worker":
		_, err = parseWorkerFlags(args[1:], io.Discard)
	default:
		t.Fatalf("%s: unexpected command %q", where, args[0])
	}
	if err != nil {
		t.Fatalf("%s: taskmill %s refuses %v: %v", where, args[0], args[1:], err)
	}
}

// checkEnv checks TASKMILL_* variables: each is one taskmill reads, and
// the binary reads its value as given.
func checkEnv(t *testing.T, where string, env map[string]string, known map[string]string) {
	t.Helper()
	for k, v := range env {
		if !strings.HasPrefix(k, "TASKMILL_") {
			continue
		}
		switch known[k] {
		case "":
			t.Fatalf("%s: %s is not a variable taskmill reads", where, k)
		case "envInt":
			t.Setenv(k, v)
			if envInt(k, math.MinInt) == math.MinInt {
				t.Fatalf("%s: %s=%q is not a number taskmill reads", where, k, v)
			}
		case "envDuration":
			t.Setenv(k, v)
			if envDuration(k, math.MinInt64) == math.MinInt64 {
				t.Fatalf("%s: %s=%q is not a duration taskmill reads", where, k, v)
			}
		}
		if k == "TASKMILL_BACKEND" {
			target, err := parseBackend(v, t.TempDir(), nil)
			if err != nil {
				t.Fatalf("%s: TASKMILL_BACKEND=%s: %v", where, v, err)
			}
			target.close()
		}
	}
}

func TestDockerfile(t *testing.T) {
	var stages []string
	var final []string
	sc := bufio.NewScanner(bytes.NewReader(readDeploy(t, "Dockerfile")))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "FROM ") {
			stages = append(stages, line)
			final = nil
		}
		final = append(final, line)
	}
	if len(stages) < 2 {
		t.Fatalf("want a multi-stage build, got stages %v", stages)
	}
	body := string(readDeploy(t, "Dockerfile"))
	for _, want := range []string{"CGO_ENABLED=0", "./cmd/taskmill", "go mod download"} {
		if !strings.Contains(body, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	last := strings.Join(final, "\n")
	for _, want := range []string{"COPY --from=build", "USER nonroot", `ENTRYPOINT ["/usr/local/bin/taskmill"]`, "EXPOSE 8080"} {
		if !strings.Contains(last, want) {
			t.Errorf("final stage lacks %q", want)
		}
	}
	if !strings.Contains(stages[len(stages)-1], "static") && !strings.Contains(stages[len(stages)-1], "scratch") {
		t.Errorf("final stage %q is not a static/scratch image", stages[len(stages)-1])
	}
	known := knownEnv(t)
	env := map[string]string{}
	for _, m := range regexp.MustCompile(`(TASKMILL_[A-Z_]+)=(\S*)`).FindAllStringSubmatch(body, -1) {
		if known[m[1]] == "" {
			t.Errorf("Dockerfile sets %s, which taskmill does not read", m[1])
		}
		env[m[1]] = m[2]
	}
	checkEnv(t, "Dockerfile", env, known)
	if !regexp.MustCompile(`FROM golang:1\.26`).MatchString(body) {
		t.Errorf("build stage should use the Go version of go.mod (1.26)")
	}
}

func TestComposeFile(t *testing.T) {
	docs := yamlDocs(t, "compose.yaml")
	if len(docs) != 1 {
		t.Fatalf("compose.yaml: %d documents", len(docs))
	}
	services, _ := docs[0]["services"].(map[string]any)
	for _, name := range []string{"redis", "server", "worker"} {
		if services[name] == nil {
			t.Fatalf("compose.yaml: no %s service", name)
		}
	}
	known := knownEnv(t)
	worker := services["worker"].(map[string]any)
	if worker["container_name"] != nil || worker["ports"] != nil {
		t.Errorf("worker has a fixed name or ports: --scale worker=N would clash")
	}
	for _, name := range []string{"server", "worker"} {
		svc := services[name].(map[string]any)
		checkArgs(t, "compose "+name, strs(svc["command"]))
		env := map[string]string{}
		for k, v := range svc["environment"].(map[string]any) {
			env[k], _ = v.(string)
		}
		if !strings.HasPrefix(env["TASKMILL_BACKEND"], "redis://redis:") {
			t.Errorf("compose %s: TASKMILL_BACKEND = %q, want the redis service", name, env["TASKMILL_BACKEND"])
		}
		checkEnv(t, "compose "+name, env, known)
		if at(t, svc, "depends_on", "redis", "condition") != "service_healthy" {
			t.Errorf("compose %s should wait for a healthy redis", name)
		}
	}
	if cmd := strings.Join(strs(at(t, services, "redis", "command")), " "); !strings.Contains(cmd, "--appendonly yes") {
		t.Errorf("redis runs without AOF: %s", cmd)
	}
}

func TestKubernetesManifests(t *testing.T) {
	byKind := map[string]map[string]any{} // "Kind/name"
	files, err := filepath.Glob(filepath.Join(deployDir, "k8s", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	for _, f := range files {
		for _, d := range yamlDocs(t, filepath.Join("k8s", filepath.Base(f))) {
			for _, field := range []string{"apiVersion", "kind", "metadata"} {
				if d[field] == nil {
					t.Fatalf("%s: a document without %s", f, field)
				}
			}
			byKind[d["kind"].(string)+"/"+at(t, d, "metadata", "name").(string)] = d
		}
	}
	for _, want := range []string{"Deployment/taskmill-server", "Service/taskmill-server", "Deployment/taskmill-worker",
		"StatefulSet/taskmill-redis", "Service/taskmill-redis", "ScaledObject/taskmill-worker", "HorizontalPodAutoscaler/taskmill-worker"} {
		if byKind[want] == nil {
			t.Errorf("missing %s", want)
		}
	}
	known := knownEnv(t)
	for key, d := range byKind {
		kind := d["kind"].(string)
		if kind != "Deployment" && kind != "StatefulSet" {
			continue
		}
		sel := at(t, d, "spec", "selector", "matchLabels").(map[string]any)
		labels := at(t, d, "spec", "template", "metadata", "labels").(map[string]any)
		for k, v := range sel {
			if labels[k] != v {
				t.Errorf("%s: selector %s=%v does not match the pod labels %v", key, k, v, labels)
			}
		}
		c := at(t, d, "spec", "template", "spec", "containers", 0).(map[string]any)
		if kind == "Deployment" {
			args := strs(c["args"])
			checkArgs(t, key, args)
			env := map[string]string{}
			for _, e := range c["env"].([]any) {
				m := e.(map[string]any)
				env[m["name"].(string)], _ = m["value"].(string)
			}
			checkEnv(t, key, env, known)
			if !strings.Contains(env["TASKMILL_BACKEND"], "taskmill-redis:6379") {
				t.Errorf("%s: backend %q is not the taskmill-redis Service", key, env["TASKMILL_BACKEND"])
			}
			// The pod must outlive the drain, or Kubernetes kills it mid-drain.
			grace, _ := at(t, d, "spec", "template", "spec", "terminationGracePeriodSeconds").(int)
			if grace <= 30 || env["TASKMILL_SHUTDOWN_TIMEOUT"] != "30s" {
				t.Errorf("%s: grace period %ds must exceed the shutdown timeout %s", key, grace, env["TASKMILL_SHUTDOWN_TIMEOUT"])
			}
		}
	}
	svc := byKind["Service/taskmill-server"]
	server := byKind["Deployment/taskmill-server"]
	for k, v := range at(t, svc, "spec", "selector").(map[string]any) {
		if at(t, server, "spec", "template", "metadata", "labels").(map[string]any)[k] != v {
			t.Errorf("the server Service does not select the server pods")
		}
	}
	for _, probe := range []string{"livenessProbe", "readinessProbe"} {
		if at(t, server, "spec", "template", "spec", "containers", 0, probe, "httpGet", "path") == nil {
			t.Errorf("server has no %s", probe)
		}
	}
	so := byKind["ScaledObject/taskmill-worker"]
	if at(t, so, "spec", "scaleTargetRef", "name") != "taskmill-worker" {
		t.Errorf("ScaledObject does not scale the worker Deployment")
	}
	trig := at(t, so, "spec", "triggers", 0).(map[string]any)
	if trig["type"] != "metrics-api" || !strings.Contains(at(t, trig, "metadata", "url").(string), "/api/queues") ||
		!strings.Contains(at(t, trig, "metadata", "valueLocation").(string), "counts.pending") {
		t.Errorf("ScaledObject trigger is not the pending count of /api/queues: %v", trig)
	}
	if at(t, byKind["HorizontalPodAutoscaler/taskmill-worker"], "spec", "scaleTargetRef", "name") != "taskmill-worker" {
		t.Errorf("HPA does not scale the worker Deployment")
	}
}
