package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/taskmill/taskmill/internal/testproc"
	"github.com/taskmill/taskmill/internal/testredis"
)

// No container engine runs here, so these tests run what the shipped
// deploy/ files would run: the real binary with the arguments and the
// environment a container would get (the Dockerfile's ENV, then the
// compose service's or the Kubernetes container's env, secrets resolved
// from the shipped example values), beside a real redis-server started
// with the shipped Redis arguments. Then a task is submitted with the
// shipped admin key and must complete on the worker, the worker's probes
// must answer, and the KEDA trigger's URL must give a number.
//
// The only substitutions, because the test cannot own the container's
// network and file system:
//   - TASKMILL_BACKEND: the host:port of the URL (redis:6379,
//     taskmill-redis:6379) becomes the test's redis-server; scheme,
//     password and database stay.
//   - TASKMILL_ADDR and TASKMILL_METRICS_ADDR: the port becomes 0 (a
//     free one, read back from the log); the host (0.0.0.0) stays, so the binary's refusal to serve a
//     non-loopback address without API keys is exercised for real.
//   - TASKMILL_DATA: the image's /home/nonroot/data becomes a temp dir.
//   - redis-server: the test's own port, dir and log file come first;
//     the shipped arguments (password, AOF) follow and win.
//   - The KEDA trigger's URL: scheme and host become the test server's.

// container is what one container of the shipped files runs: the
// arguments after the image's entrypoint, and its environment.
type container struct {
	args []string
	env  map[string]string
}

// dockerfileEnv reads the ENV instructions of the Dockerfile's last stage.
func dockerfileEnv(t *testing.T) map[string]string {
	t.Helper()
	env := map[string]string{}
	var logical []string
	var cur strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(readDeploy(t, "Dockerfile")))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			cur.WriteString(strings.TrimSuffix(line, `\`) + " ")
			continue
		}
		cur.WriteString(line)
		logical = append(logical, cur.String())
		cur.Reset()
	}
	for _, l := range logical {
		if strings.HasPrefix(l, "FROM ") {
			env = map[string]string{} // a new stage starts empty
		}
		if rest, ok := strings.CutPrefix(l, "ENV "); ok {
			for _, kv := range strings.Fields(rest) {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					t.Fatalf("Dockerfile: ENV %q is not KEY=VALUE", kv)
				}
				env[k] = v
			}
		}
	}
	return env
}

// dotEnv reads a KEY=VALUE file as compose reads .env.
func dotEnv(t *testing.T, name string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, line := range strings.Split(string(readDeploy(t, name)), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: %q is not KEY=VALUE", name, line)
		}
		out[k] = v
	}
	return out
}

var composeVar = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[?-])([^}]*))?\}`)

// interpolate does compose's ${VAR}, ${VAR:?message}, ${VAR:-default}
// and $$, failing the test where compose would refuse to start.
func interpolate(t *testing.T, s string, vars map[string]string) string {
	t.Helper()
	return composeVar.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		g := composeVar.FindStringSubmatch(m)
		v, set := vars[g[1]]
		switch {
		case strings.HasSuffix(g[2], "?") && (!set || (g[2] == ":?" && v == "")):
			t.Fatalf("compose would refuse to start: %s: %s", g[1], g[3])
		case strings.HasSuffix(g[2], "-") && (!set || (g[2] == ":-" && v == "")):
			return g[3]
		}
		return v
	})
}

// interpolateTree applies interpolate to every string in a decoded YAML tree.
func interpolateTree(t *testing.T, v any, vars map[string]string) any {
	switch x := v.(type) {
	case string:
		return interpolate(t, x, vars)
	case []any:
		for i := range x {
			x[i] = interpolateTree(t, x[i], vars)
		}
	case map[string]any:
		for k := range x {
			x[k] = interpolateTree(t, x[k], vars)
		}
	}
	return v
}

// composeContainers reads deploy/compose.yaml with deploy/.env.example as
// its .env, and returns the server, worker and redis services.
func composeContainers(t *testing.T) (server, worker, redis container) {
	t.Helper()
	docs := yamlDocs(t, "compose.yaml")
	vars := dotEnv(t, ".env.example")
	services := interpolateTree(t, docs[0]["services"], vars).(map[string]any)
	image := dockerfileEnv(t)
	get := func(name string) container {
		svc := services[name].(map[string]any)
		c := container{args: strs(svc["command"]), env: map[string]string{}}
		if name != "redis" {
			for k, v := range image {
				c.env[k] = v
			}
		}
		if envs, ok := svc["environment"].(map[string]any); ok {
			for k, v := range envs {
				c.env[k] = fmt.Sprint(v)
			}
		}
		return c
	}
	return get("server"), get("worker"), get("redis")
}

var k8sVar = regexp.MustCompile(`\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// expandK8s does Kubernetes' $(VAR) expansion of env values and args:
// a variable defined (earlier) is replaced, $$ is a literal $, and an
// unknown reference stays as written.
func expandK8s(s string, vars map[string]string) string {
	return k8sVar.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		if v, ok := vars[k8sVar.FindStringSubmatch(m)[1]]; ok {
			return v
		}
		return m
	})
}

// k8sContainer reads the first container of a workload in deploy/k8s:
// env in order, secretKeyRef resolved from the example Secret, $(VAR)
// expanded, then args expanded. It fails on a Secret key the example
// lacks, as the kubelet would refuse to start the pod.
func k8sContainer(t *testing.T, file, kind, name string, image map[string]string) container {
	t.Helper()
	secrets := map[string]map[string]any{}
	for _, d := range yamlDocs(t, "k8s/example-secret/secret.yaml") {
		secrets[at(t, d, "metadata", "name").(string)] = d["stringData"].(map[string]any)
	}
	for _, d := range yamlDocs(t, "k8s/"+file) {
		if d["kind"] != kind || at(t, d, "metadata", "name") != name {
			continue
		}
		spec := at(t, d, "spec", "template", "spec", "containers", 0).(map[string]any)
		if spec["command"] != nil {
			t.Fatalf("%s/%s overrides the image's entrypoint: %v", kind, name, spec["command"])
		}
		c := container{env: map[string]string{}}
		for k, v := range image {
			c.env[k] = v
		}
		envList, _ := spec["env"].([]any)
		for _, e := range envList {
			m := e.(map[string]any)
			key := m["name"].(string)
			if ref, ok := at(t, m, "valueFrom").(map[string]any); ok {
				sk := at(t, ref, "secretKeyRef").(map[string]any)
				v, ok := secrets[sk["name"].(string)][sk["key"].(string)].(string)
				if !ok {
					t.Fatalf("%s/%s: env %s reads Secret %s key %s, which the example Secret lacks", kind, name, key, sk["name"], sk["key"])
				}
				c.env[key] = v
				continue
			}
			c.env[key] = expandK8s(m["value"].(string), c.env)
		}
		for _, a := range strs(spec["args"]) {
			c.args = append(c.args, expandK8s(a, c.env))
		}
		return c
	}
	t.Fatalf("deploy/k8s/%s: no %s %s", file, kind, name)
	return container{}
}

// withPort replaces the port of host:port, keeping the host.
func withPort(t *testing.T, where, hostport, port string) string {
	t.Helper()
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		t.Fatalf("%s: %q is not host:port: %v", where, hostport, err)
	}
	return net.JoinHostPort(host, port)
}

// substitute makes the documented substitutions in c's environment and
// returns it as a process environment.
func substitute(t *testing.T, where string, c container, redisAddr string) (env []string, metrics bool) {
	t.Helper()
	e := map[string]string{}
	for k, v := range c.env {
		e[k] = v
	}
	u, err := url.Parse(e["TASKMILL_BACKEND"])
	if err != nil || u.Host == "" {
		t.Fatalf("%s: TASKMILL_BACKEND %q is not a URL with a host", where, redactURL(e["TASKMILL_BACKEND"]))
	}
	u.Host = redisAddr
	e["TASKMILL_BACKEND"] = u.String()
	if a, ok := e["TASKMILL_ADDR"]; ok {
		e["TASKMILL_ADDR"] = withPort(t, where, a, "0")
	}
	if a, ok := e["TASKMILL_METRICS_ADDR"]; ok && a != "" {
		e["TASKMILL_METRICS_ADDR"] = withPort(t, where, a, "0")
		metrics = true
	}
	if _, ok := e["TASKMILL_DATA"]; ok {
		e["TASKMILL_DATA"] = t.TempDir()
	}
	for k, v := range e {
		env = append(env, k+"="+v)
	}
	return env, metrics
}

// startRedis runs redis-server with the shipped arguments.
func startRedis(t *testing.T, where string, redis container) *testredis.Server {
	t.Helper()
	if len(redis.args) == 0 || redis.args[0] != "redis-server" {
		t.Fatalf("%s: redis runs %v, want redis-server …", where, redis.args)
	}
	return testredis.Start(t, testredis.Options{Args: redis.args[1:]})
}

// shippedKeys returns the admin and read tokens of TASKMILL_API_KEYS.
func shippedKeys(t *testing.T, where, spec string) (admin, read string) {
	t.Helper()
	for _, part := range strings.Split(spec, ",") {
		k, err := parseKey(part)
		if err != nil {
			t.Fatalf("%s: TASKMILL_API_KEYS: %v", where, err)
		}
		switch k.role {
		case "admin":
			admin = k.token
		case "read":
			read = k.token
		}
	}
	if admin == "" || read == "" {
		t.Fatalf("%s: TASKMILL_API_KEYS has no admin or no read key", where)
	}
	return admin, read
}

type shippedKey struct{ role, token string }

func parseKey(s string) (shippedKey, error) {
	p := strings.SplitN(s, ":", 3)
	if len(p) != 3 {
		return shippedKey{}, fmt.Errorf("%q is not NAME:ROLE:TOKEN", redactKeySpec(s))
	}
	return shippedKey{role: p[1], token: p[2]}, nil
}

func redactKeySpec(s string) string {
	if i := strings.LastIndex(s, ":"); i >= 0 {
		return s[:i+1] + "…"
	}
	return "…"
}

var deployHTTP = &http.Client{Timeout: 10 * time.Second}

// probe answers the status of GET u, or 0 when nothing answers.
func probe(u string) int {
	resp, err := deployHTTP.Get(u)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// callAPI makes one API request with a token and decodes a 2xx JSON answer.
func callAPI(t *testing.T, method, u, token, body string, out any) int {
	t.Helper()
	return callAPIAs(t, "", method, u, token, body, out)
}

// callAPIAs is callAPI with the Host header a client elsewhere would send
// (host "" keeps the URL's): the server refuses names it is not told it
// is reached by.
func callAPIAs(t *testing.T, host, method, u, token, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := deployHTTP.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, u, b, err)
		}
	}
	return resp.StatusCode
}

// runShipped starts the server and a worker as shipped, around a Redis
// started as shipped, and drives a task through them. It returns the
// server's base URL and the read token.
func runShipped(t *testing.T, where string, server, worker, redis container) (base, read string) {
	rs := startRedis(t, where, redis)
	senv, _ := substitute(t, where+" server", server, rs.Addr())
	wenv, workerMetrics := substitute(t, where+" worker", worker, rs.Addr())
	admin, read := shippedKeys(t, where, server.env["TASKMILL_API_KEYS"])

	srv := testproc.StartEnv(t, where+" server", senv, server.args...)
	wrk := testproc.StartEnv(t, where+" worker", wenv, worker.args...)
	_, port, err := net.SplitHostPort(strings.TrimPrefix(srv.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	base = "http://127.0.0.1:" + port

	for _, p := range []string{"/healthz", "/readyz"} {
		waitFor(t, where+" server "+p, func() bool { return probe(base+p) == 200 })
	}
	if !workerMetrics {
		t.Fatalf("%s: the worker serves no /healthz for probes (TASKMILL_METRICS_ADDR unset)", where)
	}
	// The worker logs "worker metrics serving url=…/metrics".
	_, wport, err := net.SplitHostPort(strings.TrimSuffix(strings.TrimPrefix(wrk.URL(), "http://"), "/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	wbase := "http://127.0.0.1:" + wport
	for _, p := range []string{"/healthz", "/readyz"} {
		waitFor(t, where+" worker "+p, func() bool { return probe(wbase+p) == 200 })
	}

	// The keys are in force: no token, no submit; a read key may not submit.
	body := `{"type":"fibonacci","payload":{"n":20}}`
	if code := callAPI(t, "POST", base+"/api/tasks", "", body, nil); code != 401 {
		t.Fatalf("%s: submit without a token answered %d, want 401", where, code)
	}
	if code := callAPI(t, "POST", base+"/api/tasks", read, body, nil); code != 403 {
		t.Fatalf("%s: submit with the read key answered %d, want 403", where, code)
	}
	var created struct {
		ID string `json:"id"`
	}
	if code := callAPI(t, "POST", base+"/api/tasks", admin, body, &created); code != 201 {
		t.Fatalf("%s: submit with the admin key answered %d", where, code)
	}
	// A task that fails for good: its file is not in the data directory.
	var doomed struct {
		ID string `json:"id"`
	}
	if code := callAPI(t, "POST", base+"/api/tasks", admin, `{"type":"image_resize","payload":{"path":"missing.png","width":8},"max_attempts":1}`, &doomed); code != 201 {
		t.Fatalf("%s: submit of the failing task answered %d", where, code)
	}
	var got struct {
		State    string `json:"state"`
		WorkerID string `json:"worker_id"`
		Result   json.RawMessage
	}
	waitFor(t, where+" task completed", func() bool {
		callAPI(t, "GET", base+"/api/tasks/"+created.ID, read, "", &got)
		return got.State == "completed"
	})
	waitFor(t, where+" task failed", func() bool {
		var d struct {
			State string `json:"state"`
		}
		callAPI(t, "GET", base+"/api/tasks/"+doomed.ID, read, "", &d)
		return d.State == "failed"
	})
	t.Logf("%s: task %s completed with %s", where, created.ID, got.Result)

	// The server has no workers (--workers 0): the task ran on the worker
	// process, and the server's /metrics sees the outcomes cluster-wide.
	if !strings.Contains(wrk.Output(), "taskmill worker running") {
		t.Fatalf("%s: the worker did not log that it runs", where)
	}
	waitFor(t, where+" cluster-wide outcomes on the server's /metrics", func() bool {
		text := scrapeText(t, base+"/metrics", read)
		return metricAtLeast(text, `taskmill_queue_attempts_recent{outcome="completed",queue="default"}`, 1) &&
			metricAtLeast(text, `taskmill_queue_attempts_recent{outcome="failed",queue="default"}`, 1) &&
			metricAtLeast(text, `taskmill_queue_tasks{queue="default",state="failed"}`, 1)
	})
	// The worker's own /metrics counts what it ran.
	wtext := scrapeText(t, wbase+"/metrics", "")
	if !metricAtLeast(wtext, `taskmill_tasks_completed_total{queue="default",type="fibonacci"}`, 1) ||
		!metricAtLeast(wtext, `taskmill_tasks_failed_total{queue="default",type="image_resize"}`, 1) {
		t.Fatalf("%s: the worker's /metrics lacks its outcomes:\n%s", where, grepLines(wtext, "taskmill_tasks_"))
	}
	return base, read
}

func scrapeText(t *testing.T, u, token string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := deployHTTP.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	return string(b)
}

// metricAtLeast reports whether the exposition text has the series with
// a value of at least min.
func metricAtLeast(text, series string, min float64) bool {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return err == nil && f >= min
		}
	}
	return false
}

func grepLines(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestComposeRunsAsShipped starts deploy/compose.yaml's server and worker
// as compose would, with deploy/.env.example as the .env.
func TestComposeRunsAsShipped(t *testing.T) {
	server, worker, redis := composeContainers(t)
	runShipped(t, "compose", server, worker, redis)
}

// TestKubernetesRunsAsShipped starts deploy/k8s's server and worker
// Deployments as the kubelet would, with the example Secret, and reads
// the KEDA trigger's number the way KEDA's metrics-api scaler does.
func TestKubernetesRunsAsShipped(t *testing.T) {
	image := dockerfileEnv(t)
	server := k8sContainer(t, "server.yaml", "Deployment", "taskmill-server", image)
	worker := k8sContainer(t, "worker.yaml", "Deployment", "taskmill-worker", image)
	redis := k8sContainer(t, "redis.yaml", "StatefulSet", "taskmill-redis", nil)
	base, _ := runShipped(t, "k8s", server, worker, redis)

	// The KEDA trigger: its URL (host swapped for the test server's), the
	// token its TriggerAuthentication names, and its valueLocation read
	// from the answer must give a number.
	var trig, auth map[string]any
	for _, d := range yamlDocs(t, "k8s/autoscale/keda.yaml") {
		switch d["kind"] {
		case "ScaledObject":
			trig = at(t, d, "spec", "triggers", 0).(map[string]any)
		case "TriggerAuthentication":
			auth = d
		}
	}
	if trig == nil || auth == nil {
		t.Fatal("keda.yaml lacks the ScaledObject or the TriggerAuthentication")
	}
	if at(t, trig, "authenticationRef", "name") != at(t, auth, "metadata", "name") || at(t, trig, "metadata", "authMode") != "bearer" {
		t.Fatalf("the trigger does not use the TriggerAuthentication as a bearer token: %v", trig)
	}
	ref := at(t, auth, "spec", "secretTargetRef", 0).(map[string]any)
	if ref["parameter"] != "token" {
		t.Fatalf("TriggerAuthentication gives %v, want the bearer token parameter", ref["parameter"])
	}
	var token string
	for _, d := range yamlDocs(t, "k8s/example-secret/secret.yaml") {
		if at(t, d, "metadata", "name") == ref["name"] {
			token, _ = at(t, d, "stringData", ref["key"].(string)).(string)
		}
	}
	if token == "" {
		t.Fatalf("the example Secret has no %v/%v", ref["name"], ref["key"])
	}
	if code := callAPI(t, "POST", base+"/api/tasks", token, `{"type":"echo"}`, nil); code != 403 {
		t.Fatalf("the KEDA key may submit (%d): it should be read-only", code)
	}
	u, err := url.Parse(at(t, trig, "metadata", "url").(string))
	if err != nil {
		t.Fatal(err)
	}
	// KEDA calls the Service by its cluster name: the Host the server must
	// be told it is reached by (TASKMILL_ALLOWED_HOSTS in server.yaml).
	var answer map[string]any
	if code := callAPIAs(t, u.Host, "GET", base+u.RequestURI(), token, "", &answer); code != 200 {
		t.Fatalf("KEDA's GET %s with Host %s answered %d", u.RequestURI(), u.Host, code)
	}
	if code := callAPIAs(t, "rebound.example:"+u.Port(), "GET", base+u.RequestURI(), token, "", nil); code != 421 {
		t.Fatalf("a Host the manifests do not name answered %d, want 421", code)
	}
	loc := at(t, trig, "metadata", "valueLocation").(string)
	if v, ok := answer[loc].(float64); !ok || v != 0 {
		t.Fatalf("KEDA's valueLocation %q in %v: want the number 0 (every task finished)", loc, answer)
	}
}

// TestImageDataDirIsAVolume: with a read-only root file system the only
// writable places are volumes, so the data directory the image names must
// be mounted in every taskmill container, and /tmp too.
func TestImageDataDirIsAVolume(t *testing.T) {
	data := dockerfileEnv(t)["TASKMILL_DATA"]
	if data == "" {
		t.Fatal("the Dockerfile sets no TASKMILL_DATA")
	}
	for _, f := range []string{"server.yaml", "worker.yaml"} {
		for _, d := range yamlDocs(t, filepath.Join("k8s", f)) {
			if d["kind"] != "Deployment" {
				continue
			}
			c := at(t, d, "spec", "template", "spec", "containers", 0).(map[string]any)
			mounts := map[string]bool{}
			for _, m := range c["volumeMounts"].([]any) {
				mounts[m.(map[string]any)["mountPath"].(string)] = true
			}
			if !mounts[data] || !mounts["/tmp"] {
				t.Errorf("%s: mounts %v, want %s and /tmp", f, mounts, data)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(deployDir, ".env.example")); err != nil {
		t.Errorf("no deploy/.env.example: %v", err)
	}
}
