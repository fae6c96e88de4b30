package tasktypes

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/taskmill/taskmill"
)

type wordCountPayload struct {
	Text          string `json:"text"`
	Top           *int   `json:"top,omitempty"`
	CaseSensitive bool   `json:"case_sensitive,omitempty"`
	SkipStopWords bool   `json:"skip_stop_words,omitempty"`
	cfg           Config
}

func (p *wordCountPayload) check() error {
	if err := checkText("payload.text", p.Text, p.cfg.MaxTextBytes); err != nil {
		return err
	}
	return intField("payload.top", &p.Top, 10, 0, p.cfg.MaxTopN)
}

// WordCountResult is the result of a word_count task.
type WordCountResult struct {
	TotalWords  int         `json:"total_words"`
	UniqueWords int         `json:"unique_words"`
	Characters  int         `json:"characters"`
	Lines       int         `json:"lines"`
	Sentences   int         `json:"sentences"`
	Top         []WordTally `json:"top"`
}

// WordTally is a word and how often it occurs.
type WordTally struct {
	Word  string `json:"word"`
	Count int    `json:"count"`
}

func wordCountType(cfg Config) taskmill.TaskType {
	return define(taskmill.TaskType{
		Name: "word_count",
		Description: "Counts the words of a text, Unicode-aware (letters, marks and digits of any script; each CJK " +
			"ideograph a word): total, unique, and the most frequent with their counts.",
		Schema: schema(`{"type":"object","required":["text"],"additionalProperties":false,"properties":{
			"text":{"type":"string","minLength":1,"maxLength":` + strconv.Itoa(cfg.MaxTextBytes) + `,"default":"the quick brown fox jumps over the lazy dog. The dog sleeps.","description":"text to count, UTF-8"},
			"top":{"type":"integer","minimum":0,"maximum":` + strconv.Itoa(cfg.MaxTopN) + `,"default":10,"description":"how many of the most frequent words to list"},
			"case_sensitive":{"type":"boolean","default":false,"description":"count The and the as different words"},
			"skip_stop_words":{"type":"boolean","default":false,"description":"leave common English words (the, and, of…) out of the top list"}}}`),
		MaxAttempts: 1, // a pure function of its payload
	}, func(p *wordCountPayload) { p.cfg = cfg },
		func(ctx context.Context, t *taskmill.Task, p *wordCountPayload) (any, error) {
			return countWords(ctx, p)
		})
}

func countWords(ctx context.Context, p *wordCountPayload) (*WordCountResult, error) {
	toks := words(p.Text)
	counts := make(map[string]int)
	for i, tk := range toks {
		if i%4096 == 0 && ctx.Err() != nil {
			return nil, canceled(ctx)
		}
		w := tk.text
		if !p.CaseSensitive {
			w = normalizeWord(w)
		} else {
			w = strings.ReplaceAll(w, "’", "'")
		}
		counts[w]++
	}
	res := &WordCountResult{
		TotalWords:  len(toks),
		UniqueWords: len(counts),
		Characters:  utf8.RuneCountInString(p.Text),
		Lines:       strings.Count(p.Text, "\n") + 1,
		Sentences:   len(sentences(p.Text)),
	}
	if strings.HasSuffix(p.Text, "\n") {
		res.Lines--
	}
	res.Top = topTallies(counts, *p.Top, func(w string) bool { return p.SkipStopWords && stopWords[strings.ToLower(w)] })
	return res, nil
}

// topTallies returns the n most frequent entries, most frequent first and
// alphabetical among equals, so the answer is the same on every run.
func topTallies(counts map[string]int, n int, skip func(string) bool) []WordTally {
	all := make([]WordTally, 0, len(counts))
	for w, c := range counts {
		if !skip(w) {
			all = append(all, WordTally{w, c})
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].Count != all[j].Count {
			return all[i].Count > all[j].Count
		}
		return all[i].Word < all[j].Word
	})
	if len(all) > n {
		all = all[:n]
	}
	return all
}
