package server

import (
	"net/http"
	"net/url"
	"slices"
)

// cors answers cross-origin requests from the configured origins only.
// With none configured (the default) no CORS header is ever sent, so a
// browser refuses every cross-origin call: a page on another site cannot
// drive the API with the user's network position.
type cors struct {
	origins []string // exact origins ("https://ops.example.com"), or "*"
}

func (c cors) allowed(origin string) bool {
	return origin != "" && (slices.Contains(c.origins, "*") || slices.Contains(c.origins, origin))
}

// wrap adds the CORS headers to answers for allowed origins and answers
// preflight requests itself.
func (c cors) wrap(next http.Handler) http.Handler {
	if len(c.origins) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		w.Header().Add("Vary", "Origin")
		if !c.allowed(origin) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Access-Control-Allow-Origin", origin)
		w.Header().Set("Access-Control-Expose-Headers", "Location, WWW-Authenticate")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			w.Header().Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS")
			w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
			w.Header().Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ValidateOrigin checks one --cors-origin value: "*" or scheme://host[:port].
func ValidateOrigin(o string) error {
	if o == "*" {
		return nil
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return &originError{o}
	}
	return nil
}

type originError struct{ origin string }

func (e *originError) Error() string {
	return "cors origin " + e.origin + ": want * or scheme://host[:port], like https://ops.example.com"
}
