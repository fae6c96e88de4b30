package tasktypes_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"testing"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/tasktypes"
)

// fuzzRun validates raw as a submit does and, when it passes, runs it:
// a payload either is refused with a field-level error, or runs to a
// result that marshals to JSON, never panics. A run may fail with an
// error only when mustSucceed is false: for a type that nothing but
// cancellation can fail once its payload is valid, a failed run is a
// payload the validation should have refused.
func fuzzRun(t *testing.T, mux *taskmill.ServeMux, typ string, raw []byte, mustSucceed bool) {
	tt, _ := mux.Lookup(typ)
	if err := tt.Validate(raw); err != nil {
		var ve *taskmill.ValidationError
		if !errors.As(err, &ve) || ve.Field == "" {
			t.Fatalf("%s %q: refused without a field: %v", typ, raw, err)
		}
		return
	}
	res, err := mux.ProcessTask(context.Background(), taskmill.NewTask(typ, raw))
	if err != nil {
		if mustSucceed {
			t.Fatalf("%s %q: passed validation, then failed: %v", typ, raw, err)
		}
		return
	}
	if _, err := json.Marshal(res); err != nil {
		t.Fatalf("%s %q: result does not marshal: %v", typ, raw, err)
	}
}

// FuzzImagePayload feeds arbitrary bytes as an inline image: the header
// check must refuse what it cannot read or what is too large before any
// pixel is decoded, and what it lets through must decode and resize.
func FuzzImagePayload(f *testing.F) {
	f.Add(twoColorPNG(f, 4, 3))
	f.Add(hugePNGHeader(100000, 100000))
	f.Add(hugePNGHeader(2, 2))
	var g bytes.Buffer
	_ = gif.Encode(&g, image.NewPaletted(image.Rect(0, 0, 3, 3), color.Palette{color.White, color.Black}), nil)
	f.Add(g.Bytes())
	f.Add([]byte("\xff\xd8\xff\xe0 not really a jpeg"))
	mux := taskmill.NewServeMux()
	if err := tasktypes.Register(mux, tasktypes.Config{DataDir: f.TempDir(), MaxImageSide: 64, MaxImagePixels: 4096, MaxImageBytes: 1 << 16}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		raw, _ := json.Marshal(map[string]any{"image": b64(data), "width": 8, "format": "png"})
		fuzzRun(t, mux, "image_resize", raw, false)
		raw, _ = json.Marshal(map[string]any{"image": b64(data), "filter": "blur", "amount": 1})
		fuzzRun(t, mux, "apply_filter", raw, false)
	})
}

// FuzzStatisticsPayload feeds arbitrary JSON to calculate_statistics:
// within the magnitude bound no result may hold Inf or NaN, and so every
// payload that passes validation must run to a result.
func FuzzStatisticsPayload(f *testing.F) {
	for _, s := range []string{
		`{"numbers":[2,4,4,4,5,5,7,9]}`, `{"numbers":[1e150,-1e150,1e150],"bins":1000}`,
		`{"numbers":[5e-324,0,-0],"percentiles":[0,100,33.3]}`, `{"numbers":[]}`, `{"numbers":[1],"bins":0}`,
		`{"numbers":[1,2],"percentiles":[50,50]}`, `[1]`, `{"numbers":[1e308]}`,
		`{"numbers":[1e308,-1e308]}`, `{"numbers":[1e150,-1e150,1e150,-1e150],"percentiles":[12.5,87.5]}`,
	} {
		f.Add([]byte(s))
	}
	mux := taskmill.NewServeMux()
	if err := tasktypes.Register(mux, tasktypes.Config{DataDir: f.TempDir(), MaxNumbers: 1000}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) { fuzzRun(t, mux, "calculate_statistics", raw, true) })
}

// FuzzFindPatternsPayload feeds arbitrary patterns and texts: a pattern
// RE2 cannot compile is refused on payload.pattern; anything else runs
// to a result.
func FuzzFindPatternsPayload(f *testing.F) {
	for _, c := range [][2]string{
		{`(\w+)@(\w+)\.\w+`, "Contact alice@example.com or bob@test.org."},
		{``, "The cat sat. The cat ran."}, {`a*`, "aaa\nbbb"}, {`(?i)héllo`, "HÉLLO héllo"},
		{`(a`, "x"}, {`\b`, "日本語 text"}, {`$`, ""}, {`(?m)^`, "a\nb\n"},
	} {
		f.Add(c[0], c[1], uint8(2))
	}
	mux := taskmill.NewServeMux()
	if err := tasktypes.Register(mux, tasktypes.Config{DataDir: f.TempDir(), MaxTextBytes: 4096, MaxPatternLength: 200, MaxMatches: 50}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, pattern, text string, ngram uint8) {
		p := map[string]any{"text": text}
		if pattern != "" {
			p["pattern"] = pattern
		} else {
			p["ngram"] = int(ngram)
		}
		raw, _ := json.Marshal(p)
		fuzzRun(t, mux, "find_patterns", raw, true)
	})
}
