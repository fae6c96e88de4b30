package tasktypes_test

import (
	"math"
	"testing"

	"github.com/taskmill/taskmill/tasktypes"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// TestStatisticsByHand checks the classic data set 2,4,4,4,5,5,7,9
// against values worked out on paper.
func TestStatisticsByHand(t *testing.T) {
	mux := testMux(t, tasktypes.Config{})
	var r tasktypes.StatisticsResult
	mustRun(t, mux, "calculate_statistics", map[string]any{
		"numbers": []float64{9, 2, 5, 4, 4, 5, 7, 4}, "percentiles": []float64{0, 25, 75, 90, 100}, "bins": 7}, &r)
	// sum 40, mean 5; squared deviations 9+1+1+1+0+0+4+16 = 32:
	// population variance 32/8 = 4, sample 32/7.
	checks := []struct {
		name      string
		got, want float64
	}{
		{"count", float64(r.Count), 8}, {"sum", r.Sum, 40}, {"mean", r.Mean, 5}, {"median", r.Median, 4.5},
		{"variance", r.Variance, 4}, {"std_dev", r.StdDev, 2}, {"sample_variance", *r.SampleVariance, 32.0 / 7},
		{"sample_std_dev", *r.SampleStdDev, math.Sqrt(32.0 / 7)}, {"min", r.Min, 2}, {"max", r.Max, 9}, {"range", r.Range, 7},
		// Rank (n-1)·q: p25 at 1.75 → 4; p75 at 5.25 → 5 + .25·2; p90 at 6.3 → 7 + .3·2.
		{"p0", r.Percentiles["0"], 2}, {"p25", r.Percentiles["25"], 4}, {"p75", r.Percentiles["75"], 5.5},
		{"p90", r.Percentiles["90"], 7.6}, {"p100", r.Percentiles["100"], 9},
		{"mode_count", float64(r.ModeCount), 3},
	}
	for _, c := range checks {
		if !near(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if len(r.Modes) != 1 || r.Modes[0] != 4 {
		t.Errorf("modes = %v, want [4]", r.Modes)
	}
	// Bins of width 1 from 2 to 9: 2 | - | 4 4 4 | 5 5 | - | 7 | 9.
	wantCounts := []int{1, 0, 3, 2, 0, 1, 1}
	if len(r.Histogram) != 7 {
		t.Fatalf("histogram = %+v", r.Histogram)
	}
	for i, b := range r.Histogram {
		if b.Count != wantCounts[i] || !near(b.From, 2+float64(i)) || !near(b.To, 3+float64(i)) {
			t.Errorf("bin %d = %+v, want [%d, %d) count %d", i, b, 2+i, 3+i, wantCounts[i])
		}
	}
}

func TestStatisticsEdgeCases(t *testing.T) {
	mux := testMux(t, tasktypes.Config{})
	var r tasktypes.StatisticsResult
	mustRun(t, mux, "calculate_statistics", map[string]any{"numbers": []float64{-3.5}}, &r)
	if r.Mean != -3.5 || r.Median != -3.5 || r.Variance != 0 || r.SampleVariance != nil || len(r.Modes) != 0 ||
		len(r.Histogram) != 1 || r.Histogram[0].Count != 1 || r.Percentiles["99"] != -3.5 {
		t.Errorf("one number: %+v", r)
	}
	// Two values tied for most frequent are both modes.
	mustRun(t, mux, "calculate_statistics", map[string]any{"numbers": []float64{1, 1, 2, 3, 3}}, &r)
	if len(r.Modes) != 2 || r.Modes[0] != 1 || r.Modes[1] != 3 || r.ModeCount != 2 {
		t.Errorf("modes = %v ×%d", r.Modes, r.ModeCount)
	}
	// A large common offset loses no precision in the variance.
	mustRun(t, mux, "calculate_statistics", map[string]any{"numbers": []float64{1e9 + 4, 1e9 + 7, 1e9 + 13, 1e9 + 16}}, &r)
	if !near(r.Variance, 22.5) || !near(r.Mean, 1e9+10) {
		t.Errorf("offset data: mean %v variance %v, want 1e9+10 and 22.5", r.Mean, r.Variance)
	}
	// Large values that cancel leave the mean of what remains, rounded
	// once: 5/7, exactly as float64 division gives it.
	mustRun(t, mux, "calculate_statistics", map[string]any{"numbers": []float64{1e16, 1, 1, -1e16, 1, 1, 1}}, &r)
	if r.Sum != 5 || r.Mean != 5.0/7 {
		t.Errorf("cancelling data: sum %v mean %v, want 5 and %v", r.Sum, r.Mean, 5.0/7)
	}
	// The extremes allowed still give finite results.
	mustRun(t, mux, "calculate_statistics", map[string]any{"numbers": []float64{-1e150, 1e150, 1e150}}, &r)
	if math.IsInf(r.Variance, 0) || r.Max != 1e150 {
		t.Errorf("extremes: %+v", r)
	}
}

func TestStatisticsRefused(t *testing.T) {
	mux := testMux(t, tasktypes.Config{MaxNumbers: 5, MaxHistogramBins: 20})
	checkRefused(t, mux, "calculate_statistics", []refusedCase{
		{"no numbers", `{}`, "payload.numbers"},
		{"empty", `{"numbers":[]}`, "payload.numbers"},
		{"too many", `{"numbers":[1,2,3,4,5,6]}`, "payload.numbers"},
		{"a string among them", `{"numbers":[1,"2"]}`, "payload.numbers"},
		{"too large", `{"numbers":[1,2e200]}`, "payload.numbers[1]"},
		{"percentile over 100", `{"numbers":[1],"percentiles":[50,101]}`, "payload.percentiles[1]"},
		{"negative percentile", `{"numbers":[1],"percentiles":[-1]}`, "payload.percentiles[0]"},
		{"zero bins", `{"numbers":[1],"bins":0}`, "payload.bins"},
		{"too many bins", `{"numbers":[1],"bins":21}`, "payload.bins"},
		{"not an object", `[1,2]`, "payload"},
	})
}
