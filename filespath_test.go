package taskmill_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/taskmill/taskmill"
)

func TestValidateFilePath(t *testing.T) {
	for _, tc := range []struct{ path, rule string }{
		{"images/photo.png", ""},
		{"a b/ü.txt", ""},
		{"...", ""}, // a name, not an element that moves
		{"", "required"},
		{"..", "path"},
		{"a/../b", "path"},
		{"./a", "path"},
		{"/etc/passwd", "path"},
		{"C:/x", "path"},
		{"a//b", "path"},
		{"a/", "path"},
		{`a\b`, "charset"},
		{"a\x00b", "charset"},
		{"a\nb", "charset"},
		{"a\x7fb", "charset"},
		{"\xff", "charset"},
		{strings.Repeat("a", 256), "length"},
		{strings.Repeat("a/", 600), "length"},
	} {
		err := taskmill.ValidateFilePath("path", tc.path)
		var ve *taskmill.ValidationError
		switch {
		case tc.rule == "" && err != nil:
			t.Errorf("%q: %v, want no error", tc.path, err)
		case tc.rule != "" && (!errors.As(err, &ve) || ve.Rule != tc.rule || ve.Field != "path"):
			t.Errorf("%q: %v, want rule %s on field path", tc.path, err, tc.rule)
		}
	}
}
