package tasktypes_test

import (
	"strings"
	"testing"

	"github.com/taskmill/taskmill/tasktypes"
)

const fixedText = "The cat sat on the mat.\nThe mat was flat; the cat was fat.\nNaïve café, CAFÉ café — don’t stop, don't!"

func TestWordCountFixedText(t *testing.T) {
	mux := testMux(t, tasktypes.Config{})
	var r tasktypes.WordCountResult
	mustRun(t, mux, "word_count", map[string]any{"text": fixedText, "top": 4}, &r)
	// Counted by hand: 6 + 8 + 7 words; "the" 4 times, "café" 3 (CAFÉ
	// folded), then cat, don't (both apostrophes), mat, was twice each.
	if r.TotalWords != 21 || r.UniqueWords != 12 || r.Lines != 3 || r.Sentences != 3 || r.Characters != 101 {
		t.Errorf("counts = %+v", r)
	}
	want := []tasktypes.WordTally{{"the", 4}, {"café", 3}, {"cat", 2}, {"don't", 2}}
	if len(r.Top) != len(want) {
		t.Fatalf("top = %v, want %v", r.Top, want)
	}
	for i := range want {
		if r.Top[i] != want[i] {
			t.Errorf("top[%d] = %v, want %v", i, r.Top[i], want[i])
		}
	}
}

func TestWordCountOptions(t *testing.T) {
	mux := testMux(t, tasktypes.Config{})
	var r tasktypes.WordCountResult
	mustRun(t, mux, "word_count", map[string]any{"text": "The the THE cat", "case_sensitive": true}, &r)
	if r.TotalWords != 4 || r.UniqueWords != 4 {
		t.Errorf("case-sensitive: %+v", r)
	}
	mustRun(t, mux, "word_count", map[string]any{"text": "the the the cat cat of", "skip_stop_words": true}, &r)
	if len(r.Top) != 1 || r.Top[0] != (tasktypes.WordTally{Word: "cat", Count: 2}) || r.TotalWords != 6 {
		t.Errorf("stop words skipped: %+v", r)
	}
}

func TestWordCountCJKAndScripts(t *testing.T) {
	mux := testMux(t, tasktypes.Config{})
	var r tasktypes.WordCountResult
	// Ideographs count one each; Cyrillic and Greek words as written.
	mustRun(t, mux, "word_count", map[string]any{"text": "東京は晴れ Привет мир, привет! αβγ state-of-the-art x2"}, &r)
	if r.TotalWords != 5+3+1+1+1 || r.UniqueWords != 5+2+1+1+1 {
		t.Errorf("counts = %+v", r)
	}
	if r.Top[0] != (tasktypes.WordTally{Word: "привет", Count: 2}) {
		t.Errorf("top = %v", r.Top)
	}
}

func TestWordCountRefused(t *testing.T) {
	mux := testMux(t, tasktypes.Config{MaxTextBytes: 100, MaxTopN: 50})
	checkRefused(t, mux, "word_count", []refusedCase{
		{"no text", `{}`, "payload.text"},
		{"blank text", `{"text":"   "}`, "payload.text"},
		{"text too long", `{"text":"` + strings.Repeat("a ", 51) + `"}`, "payload.text"},
		{"text not a string", `{"text":5}`, "payload.text"},
		{"top negative", `{"text":"a","top":-1}`, "payload.top"},
		{"top too large", `{"text":"a","top":51}`, "payload.top"},
		{"unknown field", `{"text":"a","lang":"en"}`, "payload.lang"},
	})
}

func TestSentimentClearCases(t *testing.T) {
	mux := testMux(t, tasktypes.Config{})
	for _, c := range []struct {
		text, label string
		lo, hi      float64
	}{
		{"I love this wonderful product, it is excellent!", "positive", 0.5, 1},
		{"This is a terrible, awful experience and I hate it.", "negative", -1, -0.5},
		{"The box is on the table.", "neutral", -0.05, 0.05},
	} {
		var r tasktypes.SentimentResult
		mustRun(t, mux, "sentiment_analysis", map[string]any{"text": c.text}, &r)
		if r.Label != c.label || r.Compound < c.lo || r.Compound > c.hi {
			t.Errorf("%q: %s %.4f, want %s in [%g, %g]", c.text, r.Label, r.Compound, c.label, c.lo, c.hi)
		}
		if sum := r.Positive + r.Neutral + r.Negative; sum < 0.999 || sum > 1.001 {
			t.Errorf("%q: shares add up to %g", c.text, sum)
		}
	}
}

// TestSentimentMatchesVADER checks a value the VADER authors publish for
// their reference implementation.
func TestSentimentMatchesVADER(t *testing.T) {
	mux := testMux(t, tasktypes.Config{})
	var r tasktypes.SentimentResult
	mustRun(t, mux, "sentiment_analysis", map[string]any{"text": "VADER is smart, handsome, and funny!"}, &r)
	if r.Compound != 0.8439 || r.Positive != 0.752 || r.Neutral != 0.248 || r.Negative != 0 {
		t.Errorf("scores = %+v; VADER gives compound 0.8439, pos 0.752, neu 0.248", r.SentimentScores)
	}
}

func TestSentimentPerSentence(t *testing.T) {
	mux := testMux(t, tasktypes.Config{})
	var r tasktypes.SentimentResult
	task := mustRun(t, mux, "sentiment_analysis", map[string]any{"text": "What a great and happy day!\nThe food was disgusting and the service was horrible. It is Tuesday."}, &r)
	if len(r.Sentences) != 3 {
		t.Fatalf("sentences = %+v", r.Sentences)
	}
	if r.Sentences[0].Label != "positive" || r.Sentences[1].Label != "negative" || r.Sentences[2].Label != "neutral" {
		t.Errorf("labels = %s, %s, %s", r.Sentences[0].Label, r.Sentences[1].Label, r.Sentences[2].Label)
	}
	if r.Sentences[1].Text != "The food was disgusting and the service was horrible." || r.Sentences[2].Index != 2 {
		t.Errorf("sentence 1 = %+v", r.Sentences[1])
	}
	mean := (r.Sentences[0].Compound + r.Sentences[1].Compound + r.Sentences[2].Compound) / 3
	if d := r.Compound - mean; d > 0.0002 || d < -0.0002 {
		t.Errorf("compound %g is not the mean of the sentences' %g", r.Compound, mean)
	}
	if p := task.LastProgress(); p == nil || p.Percent != 100 {
		t.Errorf("progress = %+v", p)
	}
}

func TestSentimentRefused(t *testing.T) {
	mux := testMux(t, tasktypes.Config{MaxTextBytes: 10})
	checkRefused(t, mux, "sentiment_analysis", []refusedCase{
		{"no text", `{}`, "payload.text"},
		{"too long", `{"text":"12345678901"}`, "payload.text"},
		{"only spaces", `{"text":" \n\t "}`, "payload.text"},
		{"array", `["text"]`, "payload"},
	})
}

const summaryText = `Cats sleep for most of the day, often sixteen hours.
A sleeping cat saves energy for the hunt, and cats hunt mostly at dawn and dusk.
The stock market closed higher on Tuesday.
When cats hunt, they stalk and pounce; a cat that sleeps well hunts well.
Kittens sleep even more than grown cats.`

func TestSummarizationPicksCentralSentences(t *testing.T) {
	mux := testMux(t, tasktypes.Config{})
	for _, method := range []string{"textrank", "frequency"} {
		var r tasktypes.SummaryResult
		mustRun(t, mux, "text_summarization", map[string]any{"text": summaryText, "sentences": 2, "method": method}, &r)
		if r.TotalSentences != 5 || len(r.Sentences) != 2 || r.Method != method {
			t.Fatalf("%s: %+v", method, r)
		}
		for _, s := range r.Sentences {
			if strings.Contains(s.Text, "stock market") {
				t.Errorf("%s kept the off-topic sentence: %+v", method, r.Sentences)
			}
		}
		if r.Sentences[0].Index >= r.Sentences[1].Index {
			t.Errorf("%s: sentences not in the text's order: %+v", method, r.Sentences)
		}
		if r.Summary != r.Sentences[0].Text+" "+r.Sentences[1].Text {
			t.Errorf("%s: summary %q", method, r.Summary)
		}
	}
	// TextRank: the two sentences sharing the most with the rest win.
	var r tasktypes.SummaryResult
	mustRun(t, mux, "text_summarization", map[string]any{"text": summaryText, "sentences": 2}, &r)
	if r.Sentences[0].Index != 1 || r.Sentences[1].Index != 3 {
		t.Errorf("textrank kept %+v; want sentences 1 and 3", r.Sentences)
	}
	// Asking for more sentences than there are gives them all.
	mustRun(t, mux, "text_summarization", map[string]any{"text": "One idea. Another idea.", "sentences": 5}, &r)
	if len(r.Sentences) != 2 || r.Summary != "One idea. Another idea." {
		t.Errorf("short text: %+v", r)
	}
}

func TestSummarizationRefused(t *testing.T) {
	mux := testMux(t, tasktypes.Config{MaxSummarySentences: 5, MaxInputSentences: 3})
	checkRefused(t, mux, "text_summarization", []refusedCase{
		{"no text", `{"sentences":2}`, "payload.text"},
		{"zero sentences", `{"text":"a. b.","sentences":0}`, "payload.sentences"},
		{"too many sentences", `{"text":"a. b.","sentences":6}`, "payload.sentences"},
		{"bad method", `{"text":"a. b.","method":"lsa"}`, "payload.method"},
		{"text with too many sentences", `{"text":"A b. C d. E f. G h."}`, "payload.text"},
	})
}
