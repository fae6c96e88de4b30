package server

import (
	"encoding/base64"
	"net/url"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/taskmill/taskmill"
)

// checkQueryString refuses, for every route, a query string the route
// cannot take as written: a parameter that is malformed (bad percent
// escape, a ';'), repeated (which value would win?), or unknown to the
// route (a typo, ?stat=failed, would otherwise answer something wider
// than asked). The error names the parameter.
func checkQueryString(raw string, allowed []string) error {
	seen := map[string]bool{}
	for pair := range strings.SplitSeq(raw, "&") {
		if pair == "" {
			continue
		}
		rawKey, rawValue, _ := strings.Cut(pair, "=")
		if rawKey == "" {
			return taskmill.Invalid("query", "query", "the query string holds a value without a name (%q)", printable(pair))
		}
		key, err := url.QueryUnescape(rawKey)
		if err != nil || strings.Contains(rawKey, ";") {
			return taskmill.Invalid(printable(rawKey), "query", "the query parameter %q is not well formed (a bad %%-escape or a ';')", rawKey)
		}
		if _, err := url.QueryUnescape(rawValue); err != nil || strings.Contains(rawValue, ";") {
			return taskmill.Invalid(key, "query", "the value of %s is not well formed (a bad %%-escape or a ';'); escape it", key)
		}
		if !slices.Contains(allowed, key) {
			if len(allowed) == 0 {
				return taskmill.Invalid(key, "unknown", "unknown query parameter %q; this endpoint takes none", key)
			}
			return taskmill.Invalid(key, "unknown", "unknown query parameter %q; use %s", key, strings.Join(allowed, ", "))
		}
		if seen[key] {
			return taskmill.Invalid(key, "repeated", "give %s once", key)
		}
		seen[key] = true
	}
	return nil
}

// printable keeps a field name readable: an undecodable key is shown as
// its raw text, at most 64 bytes.
func printable(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}

// queryParams lists the names of a route's query parameters.
func (rt route) queryParams() []string {
	var out []string
	for _, p := range rt.params {
		if p.in == "query" {
			out = append(out, p.name)
		}
	}
	return out
}

// checkCursor checks the shape of a list cursor before it reaches the
// backend: the backends' cursors are the last id of a page in unpadded
// base64url, so anything else (random base64 included) was not made by
// them. field names the parameter in the error.
func checkCursor(field, cursor string) error {
	if cursor == "" {
		return nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(cursor) > 512 || taskmill.ValidateName(field, string(raw)) != nil {
		return taskmill.Invalid(field, "cursor", "is not a cursor this server made; start again without it")
	}
	return nil
}

// printableText reports whether s is valid UTF-8 without control
// characters: free text (a worker's host) that people read in a terminal.
func printableText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Bidi_Control, r) {
			return false
		}
	}
	return true
}
