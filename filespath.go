package taskmill

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// ValidateFilePath checks a path inside a files folder, as the files API
// and the CLI take it: relative, "/" between folders, no empty, "." or
// ".." element, no control character or backslash, valid UTF-8, at most
// 1024 bytes (255 per element). It checks the spelling only; whoever opens
// the file must still do so through an os.Root, which also refuses
// symbolic links that lead out. The error is a *ValidationError on field.
func ValidateFilePath(field, p string) error {
	switch {
	case p == "":
		return Invalid(field, "required", "give a path inside the files folder, like images/photo.png")
	case len(p) > 1024:
		return Invalid(field, "length", "is %d bytes; the limit is 1024", len(p))
	case !utf8.ValidString(p):
		return Invalid(field, "charset", "is not valid UTF-8")
	case strings.ContainsFunc(p, unicode.IsControl):
		return Invalid(field, "charset", "contains a control character")
	case strings.Contains(p, `\`):
		return Invalid(field, "charset", "contains a backslash; separate folders with /")
	case strings.HasPrefix(p, "/") || (len(p) > 1 && p[1] == ':'):
		return Invalid(field, "path", "must be relative to the files folder, not absolute: %q", p)
	}
	for _, part := range strings.Split(p, "/") {
		switch {
		case part == "":
			return Invalid(field, "path", "has an empty element (// or a / at an end): %q", p)
		case part == "." || part == "..":
			return Invalid(field, "path", "must stay inside the files folder; %q has a %s element", p, part)
		case len(part) > 255:
			return Invalid(field, "length", "has an element of %d bytes; the limit is 255", len(part))
		}
	}
	return nil
}
