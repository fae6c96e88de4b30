package tasktypes

import (
	"context"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/jonreiter/govader"
	"github.com/taskmill/taskmill"
)

// sentiment_analysis scores text with VADER (Hutto & Gilbert, 2014), the
// lexicon- and rule-based model tuned for short, informal English text,
// through github.com/jonreiter/govader, a Go port checked against the
// reference Python implementation; its lexicon ships inside the module.

type sentimentPayload struct {
	Text string `json:"text"`
	max  int
}

func (p *sentimentPayload) check() error {
	return checkText("payload.text", p.Text, p.max)
}

// SentimentScores are VADER's scores: Compound in [-1, 1], and the shares
// of positive, neutral and negative words, which add up to 1.
type SentimentScores struct {
	Compound float64 `json:"compound"`
	Positive float64 `json:"positive"`
	Neutral  float64 `json:"neutral"`
	Negative float64 `json:"negative"`
	Label    string  `json:"label"`
}

// SentenceSentiment is the score of one sentence of the text.
type SentenceSentiment struct {
	Index int    `json:"index"`
	Text  string `json:"text"`
	SentimentScores
}

// SentimentResult is the result of a sentiment_analysis task: the scores
// of the whole text, and of each sentence. Label is "positive" when the
// compound score is at least 0.05, "negative" at most -0.05, else
// "neutral" (VADER's published thresholds).
type SentimentResult struct {
	SentimentScores
	Model     string              `json:"model"`
	Sentences []SentenceSentiment `json:"sentences"`
}

// vader is built once: loading the lexicon takes a few milliseconds, and
// the analyzer is read-only afterwards, so tasks share it.
var vader = sync.OnceValue(govader.NewSentimentIntensityAnalyzer)

func sentimentLabel(compound float64) string {
	switch {
	case compound >= 0.05:
		return "positive"
	case compound <= -0.05:
		return "negative"
	}
	return "neutral"
}

func round4(x float64) float64 { return math.Round(x*1e4) / 1e4 }

// round3 rounds the positive, neutral and negative shares as the VADER
// reference implementation reports them.
func round3(x float64) float64 { return math.Round(x*1e3) / 1e3 }

func vaderScores(text string) SentimentScores {
	// VADER splits on single spaces only, so other whitespace (new lines,
	// tabs, runs of spaces) is made one space first.
	s := vader().PolarityScores(strings.Join(strings.Fields(text), " "))
	return SentimentScores{Compound: round4(s.Compound), Positive: round3(s.Positive), Neutral: round3(s.Neutral),
		Negative: round3(s.Negative), Label: sentimentLabel(s.Compound)}
}

func sentimentType(cfg Config) taskmill.TaskType {
	return define(taskmill.TaskType{
		Name: "sentiment_analysis",
		Description: "Scores the sentiment of English text with VADER: a compound score in [-1, 1], a label " +
			"(positive, neutral, negative), and the same for each sentence.",
		Schema: schema(`{"type":"object","required":["text"],"additionalProperties":false,"properties":{
			"text":{"type":"string","minLength":1,"maxLength":` + strconv.Itoa(cfg.MaxTextBytes) + `,"default":"I love this product. The delivery was terribly slow, though.","description":"English text to score, UTF-8"}}}`),
		MaxAttempts: 1, // a pure function of its payload
	}, func(p *sentimentPayload) { p.max = cfg.MaxTextBytes },
		func(ctx context.Context, t *taskmill.Task, p *sentimentPayload) (any, error) {
			return analyzeSentiment(ctx, t, p.Text)
		})
}

func analyzeSentiment(ctx context.Context, t *taskmill.Task, text string) (*SentimentResult, error) {
	sents := sentences(text)
	res := &SentimentResult{Model: "VADER", Sentences: make([]SentenceSentiment, 0, len(sents))}
	prog := newProgress(t)
	for i, s := range sents {
		if ctx.Err() != nil {
			return nil, canceled(ctx)
		}
		res.Sentences = append(res.Sentences, SentenceSentiment{Index: i, Text: s.text, SentimentScores: vaderScores(s.text)})
		prog.report(ctx, float64(i+1)*100/float64(len(sents)+1), func() string {
			return "scored " + strconv.Itoa(i+1) + " of " + strconv.Itoa(len(sents)) + " sentences"
		})
	}
	// VADER's authors suggest scoring sentences one by one and averaging
	// for longer texts: the compound score saturates on a whole paragraph.
	if len(res.Sentences) > 1 {
		var c, pos, neu, neg float64
		for _, s := range res.Sentences {
			c += s.Compound
			pos += s.Positive
			neu += s.Neutral
			neg += s.Negative
		}
		n := float64(len(res.Sentences))
		res.SentimentScores = SentimentScores{Compound: round4(c / n), Positive: round3(pos / n), Neutral: round3(neu / n),
			Negative: round3(neg / n), Label: sentimentLabel(c / n)}
	} else {
		res.SentimentScores = vaderScores(text)
	}
	prog.done(ctx, "scored "+strconv.Itoa(len(sents))+" sentences")
	return res, nil
}
