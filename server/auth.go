package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"
)

// Role is what an API key may do.
type Role string

// The roles. Admin may do everything; read may call every GET endpoint
// and watch events; worker may speak the HTTP worker protocol only.
const (
	RoleRead   Role = "read"
	RoleWorker Role = "worker"
	RoleAdmin  Role = "admin"
)

// access is what a route requires.
type access int

const (
	accessPublic access = iota // no token, ever: health, docs, the dashboard
	accessRead
	accessWorker
	accessAdmin
)

func (a access) String() string {
	return [...]string{"public", "read", "worker", "admin"}[a]
}

// allows reports whether role r may call a route that requires a.
func (r Role) allows(a access) bool {
	switch a {
	case accessPublic:
		return true
	case accessRead:
		return r == RoleRead || r == RoleAdmin
	case accessWorker:
		return r == RoleWorker || r == RoleAdmin
	}
	return r == RoleAdmin
}

// MinTokenLength is the shortest token an API key may have, so that no
// one guesses one.
const MinTokenLength = 16

// APIKey is one bearer token with a role. Name appears in logs (never the
// token).
type APIKey struct {
	Name  string
	Role  Role
	Token string
}

// ParseAPIKey reads "NAME:ROLE:TOKEN", as --api-key and TASKMILL_API_KEYS
// give it. The token may itself contain ':'.
func ParseAPIKey(s string) (APIKey, error) {
	parts := strings.SplitN(strings.TrimSpace(s), ":", 3)
	if len(parts) != 3 {
		return APIKey{}, fmt.Errorf("api key %q: want NAME:ROLE:TOKEN", redactKey(s))
	}
	k := APIKey{Name: parts[0], Role: Role(parts[1]), Token: parts[2]}
	return k, k.validate()
}

func (k APIKey) validate() error {
	if k.Name == "" || len(k.Name) > 64 || strings.ContainsAny(k.Name, " \t\n") {
		return fmt.Errorf("api key name %q: 1–64 characters without spaces", k.Name)
	}
	switch k.Role {
	case RoleRead, RoleWorker, RoleAdmin:
	default:
		return fmt.Errorf("api key %s: role %q is not read, worker or admin", k.Name, k.Role)
	}
	if len(k.Token) < MinTokenLength {
		return fmt.Errorf("api key %s: the token must be at least %d characters", k.Name, MinTokenLength)
	}
	if strings.ContainsAny(k.Token, " \t\r\n,") {
		return fmt.Errorf("api key %s: the token must not contain spaces or commas", k.Name)
	}
	return nil
}

// redactKey hides the token part of a NAME:ROLE:TOKEN string for errors.
func redactKey(s string) string {
	if i := strings.LastIndex(s, ":"); i >= 0 {
		return s[:i+1] + "…"
	}
	if len(s) > 4 {
		return s[:4] + "…"
	}
	return "…"
}

// keyring checks bearer tokens. Tokens are compared as SHA-256 digests in
// constant time, so neither the map lookup nor the comparison leaks how
// much of a guess was right.
type keyring struct {
	keys []hashedKey
}

type hashedKey struct {
	name   string
	role   Role
	digest [32]byte
}

func newKeyring(keys []APIKey) (*keyring, error) {
	kr := &keyring{}
	seen := map[[32]byte]string{}
	for _, k := range keys {
		if err := k.validate(); err != nil {
			return nil, err
		}
		d := sha256.Sum256([]byte(k.Token))
		if other, dup := seen[d]; dup {
			return nil, fmt.Errorf("api keys %s and %s have the same token", other, k.Name)
		}
		seen[d] = k.Name
		kr.keys = append(kr.keys, hashedKey{name: k.Name, role: k.Role, digest: d})
	}
	return kr, nil
}

func (kr *keyring) enabled() bool { return kr != nil && len(kr.keys) > 0 }

// lookup returns the key a token belongs to. It looks at every key
// whatever it finds, so its time does not depend on which key matched.
func (kr *keyring) lookup(token string) (hashedKey, bool) {
	d := sha256.Sum256([]byte(token))
	var found hashedKey
	ok := 0
	for _, k := range kr.keys {
		if subtle.ConstantTimeCompare(d[:], k.digest[:]) == 1 {
			found, ok = k, 1
		}
	}
	return found, ok == 1
}

// bearerToken reads the token of a request: the Authorization header, or
// (where browsers cannot set headers: the WebSocket) ?access_token=.
func bearerToken(r *http.Request, queryAllowed bool) string {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(token)
		}
		return ""
	}
	if queryAllowed {
		return r.URL.Query().Get("access_token")
	}
	return ""
}

// authorize wraps h so that it runs only for a token whose role allows a.
// With no keys configured every request passes: the server then listens
// on loopback only (see cmd/taskmill serve).
func (s *Server) authorize(a access, queryToken bool, h http.HandlerFunc) http.HandlerFunc {
	if a == accessPublic || !s.keys.enabled() {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		token := bearerToken(r, queryToken)
		if token == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="taskmill"`)
			msg := "this endpoint needs an API key: send Authorization: Bearer <token>"
			if queryToken {
				msg += " (or ?access_token=<token> on the WebSocket)"
			}
			writeError(w, http.StatusUnauthorized, apiError{Code: "unauthorized", Message: msg})
			return
		}
		k, ok := s.keys.lookup(token)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="taskmill", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, apiError{Code: "unauthorized", Message: "the API key is not valid"})
			return
		}
		if !k.role.allows(a) {
			s.log.Info("forbidden", "key", k.name, "role", k.role, "method", r.Method, "path", r.URL.Path)
			writeError(w, http.StatusForbidden, apiError{Code: "forbidden", Message: fmt.Sprintf("the API key %q has role %s; this endpoint needs %s", k.name, k.role, a)})
			return
		}
		h(w, r)
	}
}
