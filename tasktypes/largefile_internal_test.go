package tasktypes

import "testing"

// TestFileCounterChunking feeds the same bytes in chunks of every small
// size: a rune cut between chunks must count exactly once.
func TestFileCounterChunking(t *testing.T) {
	text := []byte("héllo wörld\n東京 \xff bad\xe2\x82 end\n€uro 😀x")
	var whole fileCounter
	whole.write(text)
	whole.finish()
	// By hand: 8 words (héllo, wörld, 東京, \xff, bad\xe2\x82, end, €uro,
	// 😀x: invalid bytes are not spaces), 3 lines, 3 invalid bytes.
	if whole.words != 8 || whole.lines != 3 || whole.invalid != 3 {
		t.Fatalf("whole: words %d lines %d invalid %d", whole.words, whole.lines, whole.invalid)
	}
	for size := 1; size <= 8; size++ {
		var c fileCounter
		for i := 0; i < len(text); i += size {
			c.write(text[i:min(i+size, len(text))])
		}
		c.finish()
		if c.words != whole.words || c.lines != whole.lines || c.chars != whole.chars || c.invalid != whole.invalid {
			t.Errorf("chunks of %d: %+v, whole: %+v", size, c, whole)
		}
	}
}
