package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestTableEscapesUntrustedText: text from the server (a worker's host, a
// task's error) reaches the terminal escaped when it holds anything a
// terminal would act on, and as itself otherwise.
func TestTableEscapesUntrustedText(t *testing.T) {
	cases := []struct{ in, want string }{
		{"box-1", "box-1"},
		{"café ünïcode", "café ünïcode"},
		{"box\x1b]0;pwned\x07", `"box\x1b]0;pwned\a"`},
		{"\x1b[2J\x1b[H", `"\x1b[2J\x1b[H"`},
		{"line1\nline2", `"line1\nline2"`},
		{"a\tb", `"a\tb"`},
		{"evil\u202egnp.exe", `"evil\u202egnp.exe"`},
		{"bad\xffutf8", `"bad\xffutf8"`},
	}
	for _, c := range cases {
		var out bytes.Buffer
		tb := newTable(&out, "HOST")
		tb.row(c.in)
		tb.flush()
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		if len(lines) != 2 || strings.TrimSpace(lines[1]) != c.want {
			t.Errorf("row(%q) printed %q, want the line %q", c.in, out.String(), c.want)
		}
		if strings.ContainsAny(out.String(), "\x1b\x07\r") {
			t.Errorf("row(%q) let a control character through: %q", c.in, out.String())
		}
	}
}
