package tasktypes

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/taskmill/taskmill"
)

type httpRequestPayload struct {
	URL     string            `json:"url"`
	Method  string            `json:"method,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body,omitempty"`

	cfg    Config
	policy *netPolicy
}

var httpMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// headersTaskmillSets may not come from a payload: Go derives them from
// the request itself, and letting a task set them would smuggle requests.
var headersTaskmillSets = map[string]bool{
	"Host": true, "Content-Length": true, "Transfer-Encoding": true, "Connection": true,
	"Upgrade": true, "Te": true, "Trailer": true, "Keep-Alive": true, "Proxy-Connection": true,
}

func (p *httpRequestPayload) check() error {
	if p.URL == "" {
		return taskmill.Invalid("payload.url", "required", "give url, the http or https URL to call")
	}
	if len(p.URL) > 8192 {
		return taskmill.Invalid("payload.url", "length", "is %d bytes; the limit is 8192", len(p.URL))
	}
	u, err := url.Parse(p.URL)
	if err != nil {
		return taskmill.Invalid("payload.url", "format", "is not a URL: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return taskmill.Invalid("payload.url", "format", "must be an http or https URL, not %q", u.Scheme)
	}
	if u.Hostname() == "" {
		return taskmill.Invalid("payload.url", "format", "has no host")
	}
	// Refuse what can be refused before any DNS answer: denied names, and
	// address literals in denied ranges. Names are checked again at dial
	// time on the address they resolve to.
	if err := p.policy.checkHost(u.Hostname(), false); err != nil {
		return taskmill.Invalid("payload.url", "denied", "%v", err)
	}
	if a, err := netip.ParseAddr(u.Hostname()); err == nil {
		if err := p.policy.checkAddr(a); err != nil {
			return taskmill.Invalid("payload.url", "denied", "%v", err)
		}
	}
	if p.Method == "" {
		p.Method = "GET"
	}
	p.Method = strings.ToUpper(p.Method)
	if !slices.Contains(httpMethods, p.Method) {
		return taskmill.Invalid("payload.method", "enum", "must be one of %s, not %q", strings.Join(httpMethods, ", "), p.Method)
	}
	if len(p.Headers) > 64 {
		return taskmill.Invalid("payload.headers", "count", "has %d headers; the limit is 64", len(p.Headers))
	}
	for name, value := range p.Headers {
		field := "payload.headers." + name
		if !validHeaderName(name) {
			return taskmill.Invalid(field, "format", "is not a valid header name")
		}
		if headersTaskmillSets[http.CanonicalHeaderKey(name)] {
			return taskmill.Invalid(field, "forbidden", "is set from the request itself and cannot be given")
		}
		if len(value) > 8192 || strings.ContainsAny(value, "\r\n\x00") {
			return taskmill.Invalid(field, "format", "must be one line of at most 8192 bytes")
		}
	}
	if len(p.Body) > p.cfg.MaxTextBytes {
		return taskmill.Invalid("payload.body", "length", "is %d bytes; the limit is %d", len(p.Body), p.cfg.MaxTextBytes)
	}
	if p.Body != "" && (p.Method == "GET" || p.Method == "HEAD") {
		return taskmill.Invalid("payload.body", "forbidden", "a %s request carries no body", p.Method)
	}
	return nil
}

func validHeaderName(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// HTTPRequestResult is the result of an http_request task. Body holds the
// answer as text when it is UTF-8, else base64 with BodyEncoding "base64".
type HTTPRequestResult struct {
	URL          string            `json:"url"`
	FinalURL     string            `json:"final_url"`
	Method       string            `json:"method"`
	Status       int               `json:"status"`
	Headers      map[string]string `json:"headers"`
	Body         string            `json:"body"`
	BodyEncoding string            `json:"body_encoding"`
	BodyBytes    int               `json:"body_bytes"`
	Truncated    bool              `json:"truncated"`
	Attempts     int               `json:"attempts"`
	DurationMS   int64             `json:"duration_ms"`
}

func httpRequestType(cfg Config, policy *netPolicy) taskmill.TaskType {
	f := newFetcher(cfg, policy, false, "http_request reaches only what this machine can resolve; use a URL of a local service, allowed with serve --http-allow-cidrs (see docs/task-types.md)")
	return define(taskmill.TaskType{
		Name: "http_request",
		Description: "Calls an http or https URL and returns the status, headers and body. Network errors, 429 and 5xx " +
			"are tried again with backoff, honouring Retry-After; loopback, private and link-local addresses are refused.",
		Schema: schema(`{"type":"object","required":["url"],"additionalProperties":false,"properties":{
			"url":{"type":"string","format":"uri","maxLength":8192,"pattern":"^https?://","default":"https://example.com/","description":"http or https URL to call"},
			"method":{"type":"string","enum":["GET","HEAD","POST","PUT","PATCH","DELETE","OPTIONS"],"default":"GET","description":"HTTP method"},
			"headers":{"type":"object","maxProperties":64,"additionalProperties":{"type":"string","maxLength":8192},"description":"request headers (not Host, Content-Length, Transfer-Encoding or Connection)"},
			"body":{"type":"string","maxLength":` + strconv.Itoa(cfg.MaxTextBytes) + `,"description":"request body, for methods other than GET and HEAD"}}}`),
		Timeout: f.taskTimeout(1),
	}, func(p *httpRequestPayload) { p.cfg, p.policy = cfg, policy },
		func(ctx context.Context, t *taskmill.Task, p *httpRequestPayload) (any, error) {
			idempotent := p.Method != "POST" && p.Method != "PATCH"
			res, err := f.do(ctx, t, idempotent, func(ctx context.Context) (*http.Request, error) {
				var body io.Reader // nil, not a nil *strings.Reader, when there is no body
				if p.Body != "" {
					body = strings.NewReader(p.Body)
				}
				req, err := http.NewRequestWithContext(ctx, p.Method, p.URL, body)
				if err != nil {
					return nil, err
				}
				req.Header.Set("User-Agent", "taskmill-http_request/1")
				for k, v := range p.Headers {
					req.Header.Set(k, v)
				}
				return req, nil
			})
			if err != nil {
				return nil, err
			}
			out := HTTPRequestResult{URL: p.URL, FinalURL: res.FinalURL, Method: p.Method, Status: res.Status,
				Headers: flattenHeaders(res.Header), BodyBytes: len(res.Body), Truncated: res.Truncated,
				Attempts: res.Attempts, DurationMS: res.Elapsed.Milliseconds()}
			if utf8.Valid(res.Body) {
				out.Body, out.BodyEncoding = string(res.Body), "text"
			} else {
				out.Body, out.BodyEncoding = base64.StdEncoding.EncodeToString(res.Body), "base64"
			}
			_ = t.ReportProgress(ctx, 100, fmt.Sprintf("HTTP %d, %d bytes", res.Status, len(res.Body)))
			return out, nil
		})
}

// flattenHeaders joins repeated headers with ", " (as RFC 9110 allows for
// all but Set-Cookie, which is joined with "\n").
func flattenHeaders(h http.Header) map[string]string {
	out := make(map[string]string, len(h))
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		sep := ", "
		if k == "Set-Cookie" {
			sep = "\n"
		}
		out[k] = strings.Join(h[k], sep)
	}
	return out
}
