package tasktypes

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/taskmill/taskmill"
)

type summarizePayload struct {
	Text      string `json:"text"`
	Sentences *int   `json:"sentences,omitempty"`
	Method    string `json:"method,omitempty"`
	cfg       Config
	sents     []token // the text's sentences, split once by check
}

func (p *summarizePayload) check() error {
	if err := checkText("payload.text", p.Text, p.cfg.MaxTextBytes); err != nil {
		return err
	}
	if err := intField("payload.sentences", &p.Sentences, 3, 1, p.cfg.MaxSummarySentences); err != nil {
		return err
	}
	p.sents = sentences(p.Text)
	if n := len(p.sents); n > p.cfg.MaxInputSentences {
		return taskmill.Invalid("payload.text", "sentences", "has %d sentences; the limit is %d", n, p.cfg.MaxInputSentences)
	}
	switch p.Method {
	case "":
		p.Method = "textrank"
	case "textrank", "frequency":
	default:
		return taskmill.Invalid("payload.method", "enum", "must be textrank or frequency, not %q", p.Method)
	}
	return nil
}

// SummaryResult is the result of a text_summarization task: the chosen
// sentences in the order of the text, with their scores.
type SummaryResult struct {
	Summary        string           `json:"summary"`
	Method         string           `json:"method"`
	TotalSentences int              `json:"total_sentences"`
	Sentences      []RankedSentence `json:"sentences"`
}

// RankedSentence is one sentence chosen for a summary.
type RankedSentence struct {
	Index int     `json:"index"`
	Text  string  `json:"text"`
	Score float64 `json:"score"`
}

func summarizeType(cfg Config) taskmill.TaskType {
	return define(taskmill.TaskType{
		Name: "text_summarization",
		Description: "Extractive summary: picks the N most central sentences of a text, by TextRank (PageRank over " +
			"sentence similarity) or by word frequency, and returns them in the text's order.",
		Schema: schema(`{"type":"object","required":["text"],"additionalProperties":false,"properties":{
			"text":{"type":"string","minLength":1,"maxLength":` + strconv.Itoa(cfg.MaxTextBytes) + `,"description":"text to summarize, UTF-8; sentences end with . ! ? or a blank line"},
			"sentences":{"type":"integer","minimum":1,"maximum":` + strconv.Itoa(cfg.MaxSummarySentences) + `,"default":3,"description":"how many sentences the summary keeps"},
			"method":{"type":"string","enum":["textrank","frequency"],"default":"textrank","description":"how sentences are ranked"}}}`),
		MaxAttempts: 1, // a pure function of its payload
	}, func(p *summarizePayload) { p.cfg = cfg },
		func(ctx context.Context, t *taskmill.Task, p *summarizePayload) (any, error) {
			return summarize(ctx, t, p.sents, *p.Sentences, p.Method)
		})
}

// contentWords returns the distinct non-stop words of each sentence, folded.
func contentWords(sents []token) [][]string {
	out := make([][]string, len(sents))
	for i, s := range sents {
		seen := map[string]bool{}
		for _, w := range words(s.text) {
			n := normalizeWord(w.text)
			if !stopWords[n] && !seen[n] {
				seen[n] = true
				out[i] = append(out[i], n)
			}
		}
	}
	return out
}

// summarize keeps the n best-ranked of sents, in the text's order.
func summarize(ctx context.Context, t *taskmill.Task, sents []token, n int, method string) (*SummaryResult, error) {
	var scores []float64
	var err error
	if method == "frequency" {
		scores = frequencyScores(contentWords(sents))
	} else if scores, err = textRank(ctx, t, contentWords(sents)); err != nil {
		return nil, err
	}
	order := make([]int, len(sents))
	for i := range order {
		order[i] = i
	}
	// Highest score first; among equals the earlier sentence, which in
	// most writing carries the point.
	sort.SliceStable(order, func(a, b int) bool { return scores[order[a]] > scores[order[b]] })
	if len(order) > n {
		order = order[:n]
	}
	sort.Ints(order)
	res := &SummaryResult{Method: method, TotalSentences: len(sents), Sentences: make([]RankedSentence, len(order))}
	parts := make([]string, len(order))
	for k, i := range order {
		res.Sentences[k] = RankedSentence{Index: i, Text: sents[i].text, Score: round4(scores[i])}
		parts[k] = sents[i].text
	}
	res.Summary = strings.Join(parts, " ")
	_ = t.ReportProgress(ctx, 100, fmt.Sprintf("kept %d of %d sentences", len(order), len(sents)))
	return res, nil
}

// frequencyScores scores each sentence by the mean frequency of its
// content words, frequencies scaled so the commonest word is 1. The mean
// rather than the sum keeps long sentences from winning by length alone.
func frequencyScores(sentWords [][]string) []float64 {
	freq := map[string]float64{}
	maxF := 0.0
	for _, ws := range sentWords {
		for _, w := range ws {
			freq[w]++
			maxF = max(maxF, freq[w])
		}
	}
	scores := make([]float64, len(sentWords))
	for i, ws := range sentWords {
		if len(ws) == 0 || maxF == 0 {
			continue
		}
		sum := 0.0
		for _, w := range ws {
			sum += freq[w] / maxF
		}
		scores[i] = sum / float64(len(ws))
	}
	return scores
}

// textRank scores sentences as Mihalcea and Tarau's TextRank (2004) does:
// a graph whose edges weigh the words two sentences share, normalised by
// their lengths (|Si ∩ Sj| / (log|Si| + log|Sj|)), ranked with weighted
// PageRank, damping 0.85. Edges are found through an index of words, so
// sentences sharing nothing cost nothing.
func textRank(ctx context.Context, t *taskmill.Task, sentWords [][]string) ([]float64, error) {
	n := len(sentWords)
	type edge struct {
		to int
		w  float64
	}
	index := map[string][]int{}
	for i, ws := range sentWords {
		for _, w := range ws {
			index[w] = append(index[w], i)
		}
	}
	adj := make([][]edge, n)
	outWeight := make([]float64, n)
	shared := make([]int, n)
	for i, ws := range sentWords {
		if i%64 == 0 && ctx.Err() != nil {
			return nil, canceled(ctx)
		}
		var touched []int
		for _, w := range ws {
			for _, j := range index[w] {
				if j != i {
					if shared[j] == 0 {
						touched = append(touched, j)
					}
					shared[j]++
				}
			}
		}
		for _, j := range touched {
			denom := math.Log(float64(len(ws))) + math.Log(float64(len(sentWords[j])))
			w := float64(shared[j])
			if denom > 0 {
				w /= denom
			}
			adj[i] = append(adj[i], edge{j, w})
			outWeight[i] += w
			shared[j] = 0
		}
	}
	const damping = 0.85
	score := make([]float64, n)
	next := make([]float64, n)
	for i := range score {
		score[i] = 1
	}
	prog := newProgress(t)
	for iter := 0; iter < 200; iter++ {
		if ctx.Err() != nil {
			return nil, canceled(ctx)
		}
		for i := range next {
			next[i] = 1 - damping
		}
		// The graph is symmetric, so pushing along i's edges is the same
		// as pulling along the edges into i.
		for i, edges := range adj {
			if outWeight[i] == 0 {
				continue
			}
			share := damping * score[i] / outWeight[i]
			for _, e := range edges {
				next[e.to] += share * e.w
			}
		}
		delta := 0.0
		for i := range score {
			delta = max(delta, math.Abs(next[i]-score[i]))
		}
		score, next = next, score
		prog.report(ctx, float64(iter)/2, func() string { return "ranking, iteration " + strconv.Itoa(iter+1) })
		if delta < 1e-6 {
			break
		}
	}
	return score, nil
}
