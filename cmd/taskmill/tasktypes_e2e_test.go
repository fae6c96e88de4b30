package main_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/taskmill/taskmill/internal/testproc"
	"github.com/taskmill/taskmill/tasktypes"
	"github.com/taskmill/taskmill/tasktypes/tasktypestest"
)

// builtinTypes are every type tasktypes registers; the test below runs
// one task of each through a real `taskmill serve`.
var builtinTypes = []string{
	"apply_filter", "calculate_statistics", "currency_conversion", "echo", "fibonacci", "find_patterns",
	"http_request", "image_resize", "large_file_processing", "send_email", "sentiment_analysis", "simulate_backup",
	"sleep", "text_summarization", "weather_data", "word_count",
}

// ttDo sends a JSON request to the server and decodes the answer.
func ttDo(t *testing.T, method, url string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode
}

type ttTask struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	State     string          `json:"state"`
	Result    json.RawMessage `json:"result"`
	LastError string          `json:"last_error"`
}

// TestEveryBuiltinTypeThroughServe submits one task of every built-in
// type to a running `taskmill serve` and checks each result; the network
// types talk to local servers speaking their APIs' formats, reachable
// because the test passes the unsafe loopback flag.
func TestEveryBuiltinTypeThroughServe(t *testing.T) {
	dir := t.TempDir()
	files := filepath.Join(dir, "files") // the default --files-dir
	mustWrite := func(rel string, data []byte) {
		t.Helper()
		p := filepath.Join(files, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mustWrite("docs/readme.txt", []byte("hello backup\n"))
	mustWrite("docs/notes/todo.txt", []byte("one\ntwo\n"))
	mustWrite("logs/app.log", []byte(strings.Repeat("GET /index.html 200\n", 1000)))
	img := image.NewNRGBA(image.Rect(0, 0, 40, 20))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+3] = 255, 255 // opaque red
	}
	var pngBuf bytes.Buffer
	if err := png.Encode(&pngBuf, img); err != nil {
		t.Fatal(err)
	}
	mustWrite("images/red.png", pngBuf.Bytes())

	om := tasktypestest.StartOpenMeteo(t)
	fr := tasktypestest.StartFrankfurter(t)
	smtpSrv := tasktypestest.StartSMTP(t, "mailer", "e2e-secret")
	caFile := filepath.Join(t.TempDir(), "smtp-ca.pem")
	if err := os.WriteFile(caFile, smtpSrv.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "hello %s", r.URL.Query().Get("name"))
	}))
	defer web.Close()

	t.Setenv("TASKMILL_SMTP_PASSWORD", "e2e-secret") // the way a password should be given
	p := testproc.Start(t, "serve", "serve", "--addr", "127.0.0.1:0", "--data", dir, "--workers", "4",
		"--unsafe-http-allow-loopback", "--http-timeout", "10s",
		"--weather-base-url", om.URL, "--geocoding-base-url", om.URL, "--currency-base-url", fr.URL,
		"--smtp-host", smtpSrv.Host, "--smtp-port", strconv.Itoa(smtpSrv.Port), "--smtp-username", "mailer",
		"--smtp-ca-file", caFile, "--smtp-from", "taskmill@taskmill.test")
	base := p.URL()

	// Every type is listed with its schema.
	var listed struct {
		TaskTypes []struct {
			Name   string          `json:"name"`
			Schema json.RawMessage `json:"schema"`
		} `json:"task_types"`
	}
	if code := ttDo(t, "GET", base+"/api/task-types", nil, &listed); code != http.StatusOK {
		t.Fatalf("GET /api/task-types: %d", code)
	}
	schemas := map[string]map[string]any{}
	for _, tt := range listed.TaskTypes {
		var s map[string]any
		if json.Unmarshal(tt.Schema, &s) == nil {
			schemas[tt.Name] = s
		}
	}
	for _, name := range builtinTypes {
		if s, ok := schemas[name]; !ok || s["type"] != "object" {
			t.Errorf("type %s is not listed with an object schema (%v)", name, s)
		}
	}

	// Bad payloads are refused before anything is stored, naming the field.
	for _, bad := range []struct {
		typ     string
		payload any
		field   string
	}{
		{"http_request", map[string]any{"url": "http://10.0.0.1/"}, "payload.url"},
		{"large_file_processing", map[string]any{"path": "../taskmill.db"}, "payload.path"},
		{"calculate_statistics", map[string]any{"numbers": []any{}}, "payload.numbers"},
		{"find_patterns", map[string]any{"text": "x", "pattern": "(x"}, "payload.pattern"},
	} {
		var e struct {
			Error struct{ Field string } `json:"error"`
		}
		code := ttDo(t, "POST", base+"/api/tasks", map[string]any{"type": bad.typ, "payload": bad.payload}, &e)
		if code != http.StatusBadRequest || e.Error.Field != bad.field {
			t.Errorf("%s %v: %d field %q; want 400 on %s", bad.typ, bad.payload, code, e.Error.Field, bad.field)
		}
	}

	payloads := map[string]any{
		"fibonacci":             map[string]any{"n": 100},
		"word_count":            map[string]any{"text": "the cat and the hat", "top": 1},
		"sentiment_analysis":    map[string]any{"text": "I love this wonderful day!"},
		"text_summarization":    map[string]any{"text": "Cats sleep a lot. Cats hunt at night. Stocks rose today.", "sentences": 1},
		"image_resize":          map[string]any{"path": "images/red.png", "width": 10},
		"apply_filter":          map[string]any{"image": base64.StdEncoding.EncodeToString(pngBuf.Bytes()), "filter": "grayscale"},
		"calculate_statistics":  map[string]any{"numbers": []float64{2, 4, 4, 4, 5, 5, 7, 9}},
		"find_patterns":         map[string]any{"text": "a1 b22 c333", "pattern": `\d+`},
		"http_request":          map[string]any{"url": web.URL + "/?name=taskmill"},
		"weather_data":          map[string]any{"city": "Tokyo", "days": 1},
		"currency_conversion":   map[string]any{"amount": 10, "from": "EUR", "to": "USD"},
		"simulate_backup":       map[string]any{"source": "docs"},
		"large_file_processing": map[string]any{"path": "logs/app.log"},
		"send_email":            map[string]any{"to": []string{"ann@example.com"}, "subject": "e2e", "body": "sent by serve"},
		"sleep":                 map[string]any{"ms": 50},
		"echo":                  map[string]any{"hello": "world"},
	}
	ids := map[string]string{}
	for _, typ := range builtinTypes {
		var created ttTask
		if code := ttDo(t, "POST", base+"/api/tasks", map[string]any{"type": typ, "payload": payloads[typ]}, &created); code != http.StatusCreated {
			t.Fatalf("submit %s: status %d", typ, code)
		}
		ids[typ] = created.ID
	}
	results := map[string]json.RawMessage{}
	deadline := time.Now().Add(2 * time.Minute)
	for _, typ := range builtinTypes {
		for {
			var got ttTask
			ttDo(t, "GET", base+"/api/tasks/"+ids[typ], nil, &got)
			if got.State == "completed" {
				results[typ] = got.Result
				break
			}
			if got.State == "failed" || got.State == "canceled" || time.Now().After(deadline) {
				t.Fatalf("%s is %s: %s", typ, got.State, got.LastError)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	decode := func(typ string, v any) {
		t.Helper()
		if err := json.Unmarshal(results[typ], v); err != nil {
			t.Fatalf("%s result %s: %v", typ, results[typ], err)
		}
	}
	var fib tasktypes.FibonacciResult
	decode("fibonacci", &fib)
	if fib.Value != "354224848179261915075" {
		t.Errorf("fibonacci: %+v", fib)
	}
	var wc tasktypes.WordCountResult
	decode("word_count", &wc)
	if wc.TotalWords != 5 || wc.UniqueWords != 4 || len(wc.Top) != 1 || wc.Top[0] != (tasktypes.WordTally{Word: "the", Count: 2}) {
		t.Errorf("word_count: %+v", wc)
	}
	var sa tasktypes.SentimentResult
	decode("sentiment_analysis", &sa)
	if sa.Label != "positive" || sa.Compound < 0.5 {
		t.Errorf("sentiment_analysis: %+v", sa)
	}
	var sum tasktypes.SummaryResult
	decode("text_summarization", &sum)
	if sum.TotalSentences != 3 || len(sum.Sentences) != 1 || !strings.HasPrefix(sum.Summary, "Cats") {
		t.Errorf("text_summarization: %+v", sum)
	}
	for _, typ := range []string{"image_resize", "apply_filter"} {
		var ir tasktypes.ImageResult
		decode(typ, &ir)
		data, err := base64.StdEncoding.DecodeString(ir.Image)
		if err != nil {
			t.Fatal(err)
		}
		out, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		c := color.NRGBAModel.Convert(out.At(1, 1)).(color.NRGBA)
		switch typ {
		case "image_resize":
			if ir.Width != 10 || ir.Height != 5 || c.R != 255 || c.G != 0 {
				t.Errorf("image_resize: %d×%d, pixel %v", ir.Width, ir.Height, c)
			}
		case "apply_filter":
			if ir.Width != 40 || c.R != 76 || c.G != 76 || c.B != 76 {
				t.Errorf("apply_filter: %d×%d, pixel %v; want gray 76", ir.Width, ir.Height, c)
			}
		}
	}
	var st tasktypes.StatisticsResult
	decode("calculate_statistics", &st)
	if st.Mean != 5 || st.StdDev != 2 || st.Median != 4.5 || len(st.Modes) != 1 || st.Modes[0] != 4 {
		t.Errorf("calculate_statistics: %+v", st)
	}
	var fp tasktypes.PatternsResult
	decode("find_patterns", &fp)
	if fp.Count != 3 || fp.Matches[2].Text != "333" || fp.Matches[2].Start != 8 {
		t.Errorf("find_patterns: %+v", fp)
	}
	var hr tasktypes.HTTPRequestResult
	decode("http_request", &hr)
	if hr.Status != 200 || hr.Body != "hello taskmill" {
		t.Errorf("http_request: %+v", hr)
	}
	var wd tasktypes.WeatherResult
	decode("weather_data", &wd)
	// The fake's Tokyo: 35.6895/4 = 8.92… → 8.9 °C.
	if wd.Location.Name != "Tokyo" || wd.Current.Temperature != 8.9 || len(wd.Daily) != 1 {
		t.Errorf("weather_data: %+v", wd)
	}
	var cc tasktypes.CurrencyResult
	decode("currency_conversion", &cc)
	if cc.Rates["USD"] != 1.0877 || cc.Converted["USD"] != 10.877 {
		t.Errorf("currency_conversion: %+v", cc)
	}
	var bk tasktypes.BackupResult
	decode("simulate_backup", &bk)
	if bk.Files != 2 || bk.Bytes != 21 || !strings.HasPrefix(bk.Archive, "backups/docs-") {
		t.Errorf("simulate_backup: %+v", bk)
	}
	if _, err := os.Stat(filepath.Join(files, bk.Archive)); err != nil {
		t.Errorf("simulate_backup archive: %v", err)
	}
	var lf tasktypes.LargeFileResult
	decode("large_file_processing", &lf)
	if lf.Lines != 1000 || lf.Words != 3000 || lf.Bytes != 20000 {
		t.Errorf("large_file_processing: %+v", lf)
	}
	var em tasktypes.EmailResult
	decode("send_email", &em)
	msg, ok := smtpSrv.WaitMessage(1, 10*time.Second)
	if !ok || !msg.TLS || msg.AuthUser != "mailer" || len(msg.To) != 1 || msg.To[0] != "ann@example.com" ||
		!bytes.Contains(msg.Data, []byte("sent by serve")) || em.MessageID != "<"+ids["send_email"]+"@taskmill.test>" {
		t.Errorf("send_email: result %+v; received %v %+v", em, ok, msg)
	}
	if got := string(results["sleep"]); got != `{"slept_ms":50}` {
		t.Errorf("sleep: %s", got)
	}
	if got := string(results["echo"]); got != `{"hello":"world"}` {
		t.Errorf("echo: %s", got)
	}
}
