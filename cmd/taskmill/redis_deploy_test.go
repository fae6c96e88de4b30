package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math"
	"net/url"
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
// TASKMILL_BACKEND through parseBackend, the parsing of --backend. It
// also checks the hardening the files promise (non-root, read-only root
// file system, no capabilities, pinned images). deploy_run_test.go then
// starts the binary exactly as the files say, and deploy/check validates
// the manifests against the Kubernetes and KEDA schemas.

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
	// A numeric user: Kubernetes' runAsNonRoot can only verify a number.
	for _, want := range []string{"COPY --from=build", "USER 65532:65532", `ENTRYPOINT ["/usr/local/bin/taskmill"]`, "EXPOSE 8080"} {
		if !strings.Contains(last, want) {
			t.Errorf("final stage lacks %q", want)
		}
	}
	if !strings.Contains(stages[len(stages)-1], "static") && !strings.Contains(stages[len(stages)-1], "scratch") {
		t.Errorf("final stage %q is not a static/scratch image", stages[len(stages)-1])
	}
	for _, st := range stages {
		if strings.Contains(st, ":latest") || !strings.Contains(strings.Fields(st)[1], ":") {
			t.Errorf("%q: pin the image to a version", st)
		}
	}
	known := knownEnv(t)
	env := dockerfileEnv(t)
	for k := range env {
		if known[k] == "" {
			t.Errorf("Dockerfile sets %s, which taskmill does not read", k)
		}
	}
	checkEnv(t, "Dockerfile", env, known)
	if !regexp.MustCompile(`FROM golang:1\.26\.\d+-`).MatchString(body) {
		t.Errorf("build stage should pin the Go release of go.mod (1.26.x)")
	}
	if _, err := os.Stat(filepath.Join(deployDir, "..", ".dockerignore")); err != nil {
		t.Errorf("no .dockerignore at the repository root: %v", err)
	}
}

// pinned reports whether an image reference names a version: a tag
// other than latest, or a digest.
func pinned(image string) bool {
	if strings.Contains(image, "@sha256:") {
		return true
	}
	i := strings.LastIndex(image, ":")
	return i > strings.LastIndex(image, "/") && image[i+1:] != "latest"
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
	server, wrk, _ := composeContainers(t) // interpolated with .env.example
	for name, c := range map[string]container{"server": server, "worker": wrk} {
		checkArgs(t, "compose "+name, c.args)
		if u, err := url.Parse(c.env["TASKMILL_BACKEND"]); err != nil || u.Host != "redis:6379" || u.User == nil {
			t.Errorf("compose %s: TASKMILL_BACKEND = %q, want the redis service with its password", name, redactURL(c.env["TASKMILL_BACKEND"]))
		}
		checkEnv(t, "compose "+name, c.env, known)
	}
	for name, v := range services {
		svc := v.(map[string]any)
		if img, _ := svc["image"].(string); !pinned(img) {
			t.Errorf("compose %s: image %q is not pinned to a version", name, img)
		}
		if svc["read_only"] != true || strings.Join(strs(svc["cap_drop"]), ",") != "ALL" ||
			!strings.Contains(strings.Join(strs(svc["security_opt"]), ","), "no-new-privileges:true") {
			t.Errorf("compose %s: want read_only, cap_drop [ALL] and no-new-privileges", name)
		}
		if name != "redis" && at(t, svc, "depends_on", "redis", "condition") != "service_healthy" {
			t.Errorf("compose %s should wait for a healthy redis", name)
		}
	}
	for _, p := range strs(at(t, services, "server", "ports")) {
		if !strings.HasPrefix(p, "127.0.0.1:") {
			t.Errorf("compose server publishes %q beyond the host's loopback: put a TLS proxy in front instead", p)
		}
	}
	if cmd := strings.Join(strs(at(t, services, "redis", "command")), " "); !strings.Contains(cmd, "--appendonly yes") || !strings.Contains(cmd, "--requirepass") {
		t.Errorf("redis runs without AOF or without a password: %s", cmd)
	}
}

// k8sDocs reads every manifest under deploy/k8s (the example Secret
// included), by "Kind/name".
func k8sDocs(t *testing.T) map[string]map[string]any {
	t.Helper()
	byKind := map[string]map[string]any{}
	var files []string
	for _, pat := range []string{"*.yaml", "*/*.yaml"} {
		f, err := filepath.Glob(filepath.Join(deployDir, "k8s", pat))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f...)
	}
	if len(files) == 0 {
		t.Fatal("no manifests")
	}
	for _, f := range files {
		rel, _ := filepath.Rel(deployDir, f)
		for _, d := range yamlDocs(t, rel) {
			for _, field := range []string{"apiVersion", "kind", "metadata"} {
				if d[field] == nil {
					t.Fatalf("%s: a document without %s", f, field)
				}
			}
			byKind[d["kind"].(string)+"/"+at(t, d, "metadata", "name").(string)] = d
		}
	}
	return byKind
}

func TestKubernetesManifests(t *testing.T) {
	byKind := k8sDocs(t)
	for _, want := range []string{"Deployment/taskmill-server", "Service/taskmill-server", "Deployment/taskmill-worker",
		"StatefulSet/taskmill-redis", "Service/taskmill-redis", "ScaledObject/taskmill-worker", "TriggerAuthentication/taskmill-read-key",
		"HorizontalPodAutoscaler/taskmill-worker", "PodDisruptionBudget/taskmill-server", "PodDisruptionBudget/taskmill-worker", "Secret/taskmill"} {
		if byKind[want] == nil {
			t.Errorf("missing %s", want)
		}
	}
	known := knownEnv(t)
	image := dockerfileEnv(t)
	files := map[string]string{"Deployment/taskmill-server": "server.yaml", "Deployment/taskmill-worker": "worker.yaml"}
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
		pod := at(t, d, "spec", "template", "spec").(map[string]any)
		if at(t, pod, "securityContext", "runAsNonRoot") != true || at(t, pod, "securityContext", "seccompProfile", "type") != "RuntimeDefault" {
			t.Errorf("%s: the pod must run as non-root with the RuntimeDefault seccomp profile", key)
		}
		c := at(t, pod, "containers", 0).(map[string]any)
		if img, _ := c["image"].(string); !pinned(img) {
			t.Errorf("%s: image %q is not pinned to a version", key, img)
		}
		if at(t, c, "securityContext", "allowPrivilegeEscalation") != false || at(t, c, "securityContext", "readOnlyRootFilesystem") != true ||
			strings.Join(strs(at(t, c, "securityContext", "capabilities", "drop")), ",") != "ALL" {
			t.Errorf("%s: want allowPrivilegeEscalation false, readOnlyRootFilesystem true, capabilities drop [ALL]", key)
		}
		for _, probe := range []string{"livenessProbe", "readinessProbe"} {
			if c[probe] == nil {
				t.Errorf("%s has no %s", key, probe)
			}
		}
		if kind != "Deployment" {
			continue
		}
		rc := k8sContainer(t, files[key], "Deployment", at(t, d, "metadata", "name").(string), image)
		checkArgs(t, key, rc.args)
		checkEnv(t, key, rc.env, known)
		if u, err := url.Parse(rc.env["TASKMILL_BACKEND"]); err != nil || u.Host != "taskmill-redis:6379" || u.User == nil {
			t.Errorf("%s: backend %q is not the taskmill-redis Service with its password", key, redactURL(rc.env["TASKMILL_BACKEND"]))
		}
		// The pod must outlive the drain, or Kubernetes kills it mid-drain.
		grace, _ := pod["terminationGracePeriodSeconds"].(int)
		if grace <= 30 || rc.env["TASKMILL_SHUTDOWN_TIMEOUT"] != "30s" {
			t.Errorf("%s: grace period %ds must exceed the shutdown timeout %s", key, grace, rc.env["TASKMILL_SHUTDOWN_TIMEOUT"])
		}
		pdb := byKind["PodDisruptionBudget/"+at(t, d, "metadata", "name").(string)]
		for k, v := range sel {
			if pdb != nil && at(t, pdb, "spec", "selector", "matchLabels").(map[string]any)[k] != v {
				t.Errorf("%s: its PodDisruptionBudget does not select its pods", key)
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
	so := byKind["ScaledObject/taskmill-worker"]
	if at(t, so, "spec", "scaleTargetRef", "name") != "taskmill-worker" {
		t.Errorf("ScaledObject does not scale the worker Deployment")
	}
	trig := at(t, so, "spec", "triggers", 0).(map[string]any)
	if trig["type"] != "metrics-api" || !strings.HasSuffix(at(t, trig, "metadata", "url").(string), "/load") ||
		at(t, trig, "metadata", "valueLocation") != "active" {
		t.Errorf("ScaledObject trigger is not the active count of /api/queues/{name}/load: %v", trig)
	}
	if at(t, byKind["HorizontalPodAutoscaler/taskmill-worker"], "spec", "scaleTargetRef", "name") != "taskmill-worker" {
		t.Errorf("HPA does not scale the worker Deployment")
	}
}
