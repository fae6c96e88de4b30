package tasktypes

import (
	"context"
	"errors"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/taskmill/taskmill"
)

// find_patterns runs Go's regexp, RE2 syntax: matching takes time linear in
// the text whatever the pattern, so a task cannot be made to backtrack for
// ever. Without a pattern it counts the text's most frequent n-grams.

type patternsPayload struct {
	Text            string `json:"text"`
	Pattern         string `json:"pattern,omitempty"`
	CaseInsensitive bool   `json:"case_insensitive,omitempty"`
	NGram           *int   `json:"ngram,omitempty"`
	Top             *int   `json:"top,omitempty"`
	cfg             Config
	re              *regexp.Regexp
}

func (p *patternsPayload) check() error {
	if err := checkText("payload.text", p.Text, p.cfg.MaxTextBytes); err != nil {
		return err
	}
	if err := intField("payload.top", &p.Top, 10, 1, p.cfg.MaxTopN); err != nil {
		return err
	}
	if p.Pattern == "" {
		if p.CaseInsensitive {
			return taskmill.Invalid("payload.case_insensitive", "conflict", "applies to a pattern; n-grams are always folded to lower case")
		}
		return intField("payload.ngram", &p.NGram, 2, 1, 5)
	}
	if p.NGram != nil {
		return taskmill.Invalid("payload.ngram", "conflict", "give a pattern or ngram, not both")
	}
	if len(p.Pattern) > p.cfg.MaxPatternLength {
		return taskmill.Invalid("payload.pattern", "length", "is %d bytes; the limit is %d", len(p.Pattern), p.cfg.MaxPatternLength)
	}
	expr := p.Pattern
	if p.CaseInsensitive {
		expr = "(?i)" + expr
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		msg := err.Error()
		var se *syntax.Error
		if errors.As(err, &se) {
			msg = se.Code.String() + ": " + se.Expr
		}
		return taskmill.Invalid("payload.pattern", "regexp", "is not a valid RE2 regular expression: %s", msg)
	}
	if re.NumSubexp() > 32 {
		return taskmill.Invalid("payload.pattern", "groups", "has %d capture groups; the limit is 32", re.NumSubexp())
	}
	p.re = re
	return nil
}

// PatternsResult is the result of a find_patterns task. With a pattern:
// Count is the number of matches, Matches the first MaxMatches of them
// with their positions, and Top the most frequent matched texts. With
// n-grams: Count is the number of n-grams, Top the most frequent, each
// with the positions of its first occurrences.
type PatternsResult struct {
	Mode      string         `json:"mode"`
	Pattern   string         `json:"pattern,omitempty"`
	NGram     int            `json:"ngram,omitempty"`
	Count     int            `json:"count"`
	Distinct  int            `json:"distinct"`
	Matches   []PatternMatch `json:"matches,omitempty"`
	Truncated bool           `json:"truncated,omitempty"`
	Top       []PatternTally `json:"top"`
}

// PatternMatch is one match. Start and End are offsets in Unicode code
// points (End exclusive); Line and Column count from 1, Column in code
// points. Groups holds the capture groups, "" for one that did not take
// part.
type PatternMatch struct {
	Text   string   `json:"text"`
	Start  int      `json:"start"`
	End    int      `json:"end"`
	Line   int      `json:"line"`
	Column int      `json:"column"`
	Groups []string `json:"groups,omitempty"`
}

// PatternTally is a matched text or n-gram, how often it occurs, and
// where it first occurs (up to 10 positions: code-point offsets).
type PatternTally struct {
	Text      string `json:"text"`
	Count     int    `json:"count"`
	Positions []int  `json:"positions"`
}

func patternsType(cfg Config) taskmill.TaskType {
	return define(taskmill.TaskType{
		Name: "find_patterns",
		Description: "Finds a regular expression (RE2 syntax) in a text, with each match's position, line and groups " +
			"and the most frequent matches; without a pattern, the most frequent word n-grams.",
		Schema: schema(`{"type":"object","required":["text"],"additionalProperties":false,"properties":{
			"text":{"type":"string","minLength":1,"maxLength":` + strconv.Itoa(cfg.MaxTextBytes) + `,"description":"text to search, UTF-8"},
			"pattern":{"type":"string","maxLength":` + strconv.Itoa(cfg.MaxPatternLength) + `,"default":"\\b\\w+@\\w+\\.\\w+\\b","description":"RE2 regular expression (https://github.com/google/re2/wiki/Syntax); leave out for n-grams"},
			"case_insensitive":{"type":"boolean","default":false,"description":"match the pattern regardless of case"},
			"ngram":{"type":"integer","minimum":1,"maximum":5,"default":2,"description":"without a pattern: words per n-gram"},
			"top":{"type":"integer","minimum":1,"maximum":` + strconv.Itoa(cfg.MaxTopN) + `,"default":10,"description":"how many of the most frequent matches or n-grams to list"}}}`),
		MaxAttempts: 1, // a pure function of its payload
	}, func(p *patternsPayload) { p.cfg = cfg },
		func(ctx context.Context, t *taskmill.Task, p *patternsPayload) (any, error) {
			if p.re != nil {
				return findRegexp(ctx, p.Text, p.Pattern, p.re, *p.Top, cfg.MaxMatches)
			}
			return findNGrams(ctx, p.Text, *p.NGram, *p.Top)
		})
}

// positioner turns byte offsets, met in increasing order, into code-point
// offsets and line/column, in one pass over the text overall.
type positioner struct {
	text                   string
	byteAt, runeAt, lineAt int
	lineStartRune          int
}

func (p *positioner) at(b int) (runeOff, line, col int) {
	if b < p.byteAt { // not increasing: start over (rare)
		p.byteAt, p.runeAt, p.lineAt, p.lineStartRune = 0, 0, 0, 0
	}
	for p.byteAt < b {
		r, size := utf8.DecodeRuneInString(p.text[p.byteAt:])
		p.byteAt += size
		p.runeAt++
		if r == '\n' {
			p.lineAt++
			p.lineStartRune = p.runeAt
		}
	}
	return p.runeAt, p.lineAt + 1, p.runeAt - p.lineStartRune + 1
}

type tally struct {
	count     int
	positions []int
}

func addTally(m map[string]*tally, key string, pos int) {
	tl := m[key]
	if tl == nil {
		tl = &tally{}
		m[key] = tl
	}
	tl.count++
	if len(tl.positions) < 10 {
		tl.positions = append(tl.positions, pos)
	}
}

func topPatterns(m map[string]*tally, n int) []PatternTally {
	counts := make(map[string]int, len(m))
	for k, v := range m {
		counts[k] = v.count
	}
	top := topTallies(counts, n, func(string) bool { return false })
	out := make([]PatternTally, len(top))
	for i, w := range top {
		out[i] = PatternTally{Text: w.Word, Count: w.Count, Positions: m[w.Word].positions}
	}
	return out
}

func findRegexp(ctx context.Context, text, pattern string, re *regexp.Regexp, top, maxMatches int) (*PatternsResult, error) {
	res := &PatternsResult{Mode: "regexp", Pattern: pattern}
	// Positions for every match: two ints each, bounded by the text size.
	all := re.FindAllStringIndex(text, -1)
	if ctx.Err() != nil {
		return nil, canceled(ctx)
	}
	res.Count = len(all)
	pos := &positioner{text: text}
	tallies := map[string]*tally{}
	for i, m := range all {
		if i%4096 == 0 && ctx.Err() != nil {
			return nil, canceled(ctx)
		}
		start, _, _ := pos.at(m[0])
		addTally(tallies, text[m[0]:m[1]], start)
	}
	// The listed matches again, with their groups: bounded by maxMatches.
	pos = &positioner{text: text}
	for _, m := range re.FindAllStringSubmatchIndex(text, maxMatches) {
		start, line, col := pos.at(m[0])
		end, _, _ := pos.at(m[1])
		pm := PatternMatch{Text: text[m[0]:m[1]], Start: start, End: end, Line: line, Column: col}
		if g := re.NumSubexp(); g > 0 {
			pm.Groups = make([]string, g)
			for k := 1; k <= g; k++ {
				if m[2*k] >= 0 {
					pm.Groups[k-1] = text[m[2*k]:m[2*k+1]]
				}
			}
		}
		res.Matches = append(res.Matches, pm)
	}
	res.Truncated = res.Count > maxMatches
	res.Distinct = len(tallies)
	res.Top = topPatterns(tallies, top)
	return res, nil
}

// findNGrams counts word n-grams within sentences: a phrase does not run
// on across a full stop.
func findNGrams(ctx context.Context, text string, n, top int) (*PatternsResult, error) {
	res := &PatternsResult{Mode: "ngram", NGram: n}
	pos := &positioner{text: text}
	tallies := map[string]*tally{}
	var b strings.Builder
	for _, sent := range sentences(text) {
		if ctx.Err() != nil {
			return nil, canceled(ctx)
		}
		toks := words(sent.text)
		for i := 0; i+n <= len(toks); i++ {
			b.Reset()
			for k := i; k < i+n; k++ {
				if k > i {
					b.WriteByte(' ')
				}
				b.WriteString(normalizeWord(toks[k].text))
			}
			start, _, _ := pos.at(sent.start + toks[i].start)
			addTally(tallies, b.String(), start)
			res.Count++
		}
	}
	res.Distinct = len(tallies)
	res.Top = topPatterns(tallies, top)
	return res, nil
}
