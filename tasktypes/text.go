package tasktypes

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/taskmill/taskmill"
)

// This file holds the text handling the text types share: splitting into
// words and into sentences, Unicode-aware, and an English stop-word list.

// token is a word and where it is in the text, in bytes.
type token struct {
	text       string
	start, end int
}

// wordRune says whether r can be part of a word: letters, combining marks
// and digits of any script.
func wordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsMark(r) || unicode.IsNumber(r)
}

// joinerRune may sit inside a word, between two word runes: "don't",
// "l’été", "state-of-the-art".
func joinerRune(r rune) bool {
	return r == '\'' || r == '’' || r == '-' || r == '‐'
}

// ideographic runes are written without spaces between words; each one
// counts as a word of its own (as word processors count CJK text).
func ideographic(r rune) bool {
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana)
}

// words splits text into words. It never allocates the words' text: each
// token's text is a slice of the input.
func words(text string) []token {
	var out []token
	start := -1
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		switch {
		case ideographic(r):
			if start >= 0 {
				out = append(out, token{text[start:i], start, i})
				start = -1
			}
			out = append(out, token{text[i : i+size], i, i + size})
		case wordRune(r):
			if start < 0 {
				start = i
			}
		case joinerRune(r) && start >= 0:
			next, _ := utf8.DecodeRuneInString(text[i+size:])
			if !wordRune(next) || ideographic(next) {
				out = append(out, token{text[start:i], start, i})
				start = -1
			}
		default:
			if start >= 0 {
				out = append(out, token{text[start:i], start, i})
				start = -1
			}
		}
		i += size
	}
	if start >= 0 {
		out = append(out, token{text[start:], start, len(text)})
	}
	return out
}

// normalizeWord folds a word for counting: lower case, and the typographic
// apostrophe made plain so "don’t" and "don't" are one word.
func normalizeWord(w string) string {
	return strings.ReplaceAll(strings.ToLower(w), "’", "'")
}

// abbreviations end with a dot that does not end a sentence.
var abbreviations = map[string]bool{
	"mr": true, "mrs": true, "ms": true, "dr": true, "prof": true, "sr": true, "jr": true, "st": true,
	"vs": true, "etc": true, "e.g": true, "i.e": true, "inc": true, "ltd": true, "co": true, "corp": true,
	"no": true, "fig": true, "approx": true, "dept": true, "est": true, "mt": true, "u.s": true, "u.k": true,
	"jan": true, "feb": true, "mar": true, "apr": true, "jun": true, "jul": true, "aug": true, "sep": true,
	"sept": true, "oct": true, "nov": true, "dec": true,
}

// sentenceEnd are the runes that end a sentence; the ideographic ones end
// it even without a following space.
func sentenceEnd(r rune) (ends, needsSpace bool) {
	switch r {
	case '.', '!', '?', '…', '‼', '⁇', '⁈', '⁉':
		return true, true
	case '。', '！', '？', '｡':
		return true, false
	}
	return false, false
}

func closingRune(r rune) bool {
	return r == '"' || r == '\'' || r == '”' || r == '’' || r == ')' || r == ']' || r == '»' || r == '」' || r == '』'
}

// sentences splits text into trimmed sentences: at ., !, ? (and their
// Unicode kin) followed by a space or the end, at ideographic full stops,
// and at blank lines. A dot after a known abbreviation or a single letter
// ("Dr.", "J. Smith"), or followed by a lower-case word, does not split.
func sentences(text string) []token {
	var out []token
	emit := func(start, end int) {
		s := text[start:end]
		trimmedLeft := strings.TrimLeftFunc(s, unicode.IsSpace)
		start += len(s) - len(trimmedLeft)
		s = strings.TrimRightFunc(trimmedLeft, unicode.IsSpace)
		if s != "" && strings.IndexFunc(s, wordRune) >= 0 {
			out = append(out, token{s, start, start + len(s)})
		}
	}
	start := 0
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		if r == '\n' {
			// A blank line ends a paragraph, and with it a sentence.
			j := i + size
			for j < len(text) && (text[j] == ' ' || text[j] == '\t' || text[j] == '\r') {
				j++
			}
			if j < len(text) && text[j] == '\n' {
				emit(start, i)
				start = j
				i = j
				continue
			}
		}
		ends, needsSpace := sentenceEnd(r)
		if !ends {
			i += size
			continue
		}
		j := i + size
		for j < len(text) {
			r2, s2 := utf8.DecodeRuneInString(text[j:])
			if e, _ := sentenceEnd(r2); !e && !closingRune(r2) {
				break
			}
			j += s2
		}
		if needsSpace {
			next, _ := utf8.DecodeRuneInString(text[j:])
			if j < len(text) && !unicode.IsSpace(next) {
				i = j
				continue
			}
			if r == '.' && !dotEndsSentence(text[start:i], text[j:]) {
				i = j
				continue
			}
		}
		emit(start, j)
		start = j
		i = j
	}
	emit(start, len(text))
	return out
}

// dotEndsSentence decides whether a dot between before and after ends a
// sentence.
func dotEndsSentence(before, after string) bool {
	end := len(before)
	for end > 0 {
		r, size := utf8.DecodeLastRuneInString(before[:end])
		if !wordRune(r) && r != '.' {
			break
		}
		end -= size
	}
	last := before[end:]
	word := strings.ToLower(last)
	if abbreviations[word] {
		return false
	}
	if first, size := utf8.DecodeRuneInString(last); size == len(last) && unicode.IsUpper(first) {
		return false // an initial: "J. R. R. Tolkien"
	}
	rest := strings.TrimLeftFunc(after, unicode.IsSpace)
	if first, _ := utf8.DecodeRuneInString(rest); unicode.IsLower(first) {
		return false
	}
	return true
}

// checkText applies the shared rules of a text field.
func checkText(field, text string, maxBytes int) error {
	switch {
	case strings.TrimSpace(text) == "":
		return taskmill.Invalid(field, "required", "give some text")
	case len(text) > maxBytes:
		return taskmill.Invalid(field, "length", "is %d bytes; the limit is %d", len(text), maxBytes)
	case !utf8.ValidString(text):
		return taskmill.Invalid(field, "encoding", "is not valid UTF-8")
	}
	return nil
}

// stopWords are English words too common to say what a text is about.
var stopWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`a about above after again against all am an and any are as at be because been
		before being below between both but by can could did do does doing down during each few for from further
		had has have having he her here hers herself him himself his how i if in into is it its itself just me
		more most my myself no nor not now of off on once only or other our ours ourselves out over own same she
		should so some such than that the their theirs them themselves then there these they this those through
		to too under until up very was we were what when where which while who whom why will with would you your
		yours yourself yourselves also may might must shall us it's i'm don't can't won't isn't aren't wasn't
		one two many much said says`) {
		m[w] = true
	}
	return m
}()
