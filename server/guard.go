package server

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// The browser is a client too. A page on any site can make the user's
// browser send requests to the server (a form post, a fetch with a
// text/plain body, a WebSocket), and a page whose name is rebound to the
// server's address (DNS rebinding) can even read the answers. Three
// checks keep such pages out, whatever the API keys:
//
//   - Host must name the server: the address the connection reached, a
//     localhost name with that port, or a configured public host
//     (Config.AllowedHosts). A rebinding page's requests carry its own
//     name, so they are refused before any route runs.
//   - A request body (and any declared Content-Type) must be
//     application/json, a type no page can send cross-site without a
//     CORS preflight, which the server refuses for origins it does not
//     know.
//   - A state-changing request (POST, PUT, PATCH, DELETE) whose
//     Sec-Fetch-Site or Origin says it comes from another origin is
//     refused unless that origin is one of Config.CORSOrigins.

// hostGuard checks the Host header of every request.
type hostGuard struct {
	any   bool                // "*" configured: every Host passes
	hosts map[string]struct{} // lower-case "host" (any port) and "host:port" entries
}

// ValidateAllowedHost checks one --allowed-hosts value: "*", or a host
// name or IP address with an optional port, without a scheme or path.
func ValidateAllowedHost(h string) error {
	if h == "*" {
		return nil
	}
	host := h
	if strings.Contains(h, "]:") || (strings.Count(h, ":") == 1 && !strings.HasPrefix(h, "[")) {
		var port string
		var err error
		if host, port, err = net.SplitHostPort(h); err != nil || port == "" || strings.Trim(port, "0123456789") != "" {
			return fmt.Errorf("allowed host %q: want HOST or HOST:PORT, like tm.example.com or tm.example.com:8443", h)
		}
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "" || strings.ContainsAny(host, "/\\@?#* \t") {
		return fmt.Errorf("allowed host %q: want HOST or HOST:PORT, like tm.example.com or tm.example.com:8443", h)
	}
	return nil
}

func newHostGuard(allowed []string) hostGuard {
	g := hostGuard{hosts: map[string]struct{}{}}
	for _, h := range allowed {
		if h == "*" {
			g.any = true
		}
		g.hosts[strings.ToLower(h)] = struct{}{}
	}
	return g
}

// allowed reports whether host (a Host header) names this server, reached
// on local (the connection's local address; nil when unknown).
func (g hostGuard) allowed(host string, local net.Addr, tls bool) bool {
	if g.any {
		return true
	}
	host = strings.ToLower(host)
	name, port, err := net.SplitHostPort(host)
	if err != nil { // no port: the scheme's default
		name, port = host, "80"
		if tls {
			port = "443"
		}
	}
	name = strings.TrimSuffix(strings.TrimPrefix(name, "["), "]")
	if name == "" {
		return false
	}
	if _, ok := g.hosts[host]; ok {
		return true
	}
	if _, ok := g.hosts[name]; ok { // configured without a port: any port
		return true
	}
	if _, ok := g.hosts[net.JoinHostPort(name, port)]; ok {
		return true
	}
	tcp, ok := local.(*net.TCPAddr)
	if !ok {
		// Served by something that does not tell the connection's
		// address (a test recorder): only localhost names pass.
		return isLocalhostName(name)
	}
	if port != fmt.Sprint(tcp.Port) {
		return false
	}
	if ip := net.ParseIP(name); ip != nil {
		// The very address the connection reached: a browser that
		// sends it as Host opened that address, not a rebound name.
		return ip.Equal(tcp.IP) || (ip.IsLoopback() && tcp.IP.IsLoopback())
	}
	return isLocalhostName(name) && tcp.IP.IsLoopback()
}

func isLocalhostName(name string) bool {
	return name == "localhost" || strings.HasSuffix(name, ".localhost") || name == "127.0.0.1" || name == "::1"
}

// guard wraps the whole server with the Host check and the cross-origin
// check; the Content-Type check is per route (checkContentType), since
// an upload route may take another type.
func (s *Server) guard(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	anyOrigin := false
	for _, o := range s.cfg.CORSOrigins {
		if o == "*" {
			anyOrigin = true
			continue
		}
		_ = cop.AddTrustedOrigin(o) // validated in New
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusForbidden, apiError{Code: "cross_origin", Field: "Origin",
			Message: "a cross-origin " + r.Method + " is refused: this origin is not one of the server's --cors-origin values"})
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
		if !s.hosts.allowed(r.Host, local, r.TLS != nil) {
			s.log.Info("refused a request for another host", "host", r.Host, "method", r.Method, "path", r.URL.Path)
			writeError(w, http.StatusMisdirectedRequest, apiError{Code: "wrong_host", Field: "Host",
				Message: fmt.Sprintf("this server does not answer for Host %q; add it with --allowed-hosts (TASKMILL_ALLOWED_HOSTS) if it is this server's public name", r.Host)})
			return
		}
		if anyOrigin {
			next.ServeHTTP(w, r)
			return
		}
		cop.Handler(next).ServeHTTP(w, r)
	})
}

// jsonOnly is the Content-Type every request body must have, except on
// routes that take a raw body of another type (route.bodyType).
var jsonOnly = []string{"application/json"}

// checkContentType refuses a request that carries a body, or declares a
// Content-Type, of a media type the route does not take: 415 naming
// Content-Type. Browsers send text/plain, form and multipart bodies
// cross-site without asking first; application/json they do not.
func checkContentType(r *http.Request, consumes []string) *apiError {
	ct := r.Header.Get("Content-Type")
	hasBody := r.ContentLength > 0 || r.ContentLength == -1 && r.Body != nil && r.Body != http.NoBody
	if ct == "" && !hasBody {
		return nil
	}
	if ct == "" {
		return &apiError{Code: "unsupported_media_type", Field: "Content-Type",
			Message: "a request body needs Content-Type: " + strings.Join(consumes, " or ")}
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || !slices.Contains(consumes, mt) {
		return &apiError{Code: "unsupported_media_type", Field: "Content-Type",
			Message: fmt.Sprintf("Content-Type %q is not taken here; send %s", ct, strings.Join(consumes, " or "))}
	}
	return nil
}

// websocketOriginOK checks the Origin of a WebSocket upgrade: absent (not
// a browser), one of the CORS origins (scheme, host and port alike), or
// the server's own origin, scheme included. Browsers always send Origin
// on a WebSocket and never let a page set X-Forwarded-Proto on one, so
// that header may say which scheme a TLS-terminating proxy was reached by.
func (s *Server) websocketOriginOK(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if s.cors.allowed(origin) {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := strings.ToLower(r.Header.Get("X-Forwarded-Proto")); p == "https" || p == "http" {
		scheme = p
	}
	return strings.EqualFold(u.Scheme, scheme) && strings.EqualFold(u.Host, r.Host)
}

// checkQuery wraps a route's handler with the query string check. It runs
// after the API key check, so that a caller without a key learns nothing
// but that it needs one.
func (s *Server) checkQuery(rt route, h http.HandlerFunc) http.HandlerFunc {
	params := rt.queryParams()
	return func(w http.ResponseWriter, r *http.Request) {
		if err := checkQueryString(r.URL.RawQuery, params); err != nil {
			s.fail(w, r, err)
			return
		}
		h(w, r)
	}
}

// consumesOrJSON is the media types the route's body may have: its
// bodyType when it takes a raw body (a file upload), else JSON only.
func (rt route) consumesOrJSON() []string {
	if rt.bodyType != "" {
		return []string{rt.bodyType}
	}
	return jsonOnly
}

// bounded wraps a route's handler with the rules every request meets
// before its API key is checked: the Content-Type check and the time to
// read the body.
func (s *Server) bounded(rt route, h http.HandlerFunc) http.HandlerFunc {
	consumes := rt.consumesOrJSON()
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if e := checkContentType(r, consumes); e != nil {
				writeError(w, http.StatusUnsupportedMediaType, *e)
				return
			}
		}
		bodyDeadline(w, r, s.cfg.BodyReadTimeout)
		h(w, r)
	}
}

// backendBounded wraps a route's handler, once its API key has passed
// (so that no one without a key makes the server hold a body), with the
// time its backend calls may take (Config.BackendTimeout): a JSON body is
// read whole first, so that its slow arrival does not count against the
// backend, then the handler runs under withBackendDeadline. The long-poll
// lease and the WebSocket bound their own time, and neither the
// operations endpoints (but readyz) nor the files API call the backend:
// the files API streams bodies of up to --max-upload-bytes, which must
// not be buffered.
func (s *Server) backendBounded(rt route, h http.HandlerFunc) http.HandlerFunc {
	readJSON := slices.Equal(rt.consumesOrJSON(), jsonOnly)
	unavailable := ""
	switch {
	case rt.op == "readyz":
		unavailable = "backend_unavailable"
	case rt.websocket, rt.op == "workerLease", rt.access == accessPublic, rt.op == "metrics", rt.tag == "files":
	default:
		unavailable = "unavailable"
	}
	if unavailable == "" {
		return h
	}
	backendTimeout := s.cfg.BackendTimeout
	if rt.op == "bulkTasks" {
		// One bulk call makes up to a thousand backend calls, one per
		// task it acts on.
		backendTimeout *= 10
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if readJSON && r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
			body, err := s.readBody(w, r)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		withBackendDeadline(w, r, backendTimeout, unavailable, h)
	}
}
