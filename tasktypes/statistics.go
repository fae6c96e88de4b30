package tasktypes

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/taskmill/taskmill"
)

// maxMagnitude bounds each number of calculate_statistics so that sums of
// squares of a million of them stay finite: every result then fits JSON,
// which has no Inf or NaN.
const maxMagnitude = 1e150

type statisticsPayload struct {
	Numbers     []float64 `json:"numbers"`
	Percentiles []float64 `json:"percentiles,omitempty"`
	Bins        *int      `json:"bins,omitempty"`
	cfg         Config
}

var defaultPercentiles = []float64{5, 25, 50, 75, 95, 99}

func (p *statisticsPayload) check() error {
	switch {
	case len(p.Numbers) == 0:
		return taskmill.Invalid("payload.numbers", "required", "give at least one number")
	case len(p.Numbers) > p.cfg.MaxNumbers:
		return taskmill.Invalid("payload.numbers", "count", "has %d numbers; the limit is %d", len(p.Numbers), p.cfg.MaxNumbers)
	}
	for i, x := range p.Numbers {
		if math.Abs(x) > maxMagnitude {
			return taskmill.Invalid("payload.numbers["+strconv.Itoa(i)+"]", "range", "must be between -1e150 and 1e150, got %g", x)
		}
	}
	if p.Percentiles == nil {
		p.Percentiles = defaultPercentiles
	}
	if len(p.Percentiles) > 100 {
		return taskmill.Invalid("payload.percentiles", "count", "has %d entries; the limit is 100", len(p.Percentiles))
	}
	for i, q := range p.Percentiles {
		if q < 0 || q > 100 {
			return taskmill.Invalid("payload.percentiles["+strconv.Itoa(i)+"]", "range", "must be between 0 and 100, got %g", q)
		}
	}
	return intField("payload.bins", &p.Bins, 10, 1, p.cfg.MaxHistogramBins)
}

// StatisticsResult is the result of a calculate_statistics task.
// Variance and StdDev are of the population (divided by n);
// SampleVariance and SampleStdDev divide by n-1 and are absent for one
// number. Modes lists every value that occurs most often, when some value
// occurs more than once. Percentiles interpolate linearly between the
// closest ranks (NumPy's default, Excel's PERCENTILE.INC), keyed by the
// percentile as given ("50", "99.9").
type StatisticsResult struct {
	Count          int                `json:"count"`
	Sum            float64            `json:"sum"`
	Mean           float64            `json:"mean"`
	Median         float64            `json:"median"`
	Modes          []float64          `json:"modes"`
	ModeCount      int                `json:"mode_count"`
	Variance       float64            `json:"variance"`
	StdDev         float64            `json:"std_dev"`
	SampleVariance *float64           `json:"sample_variance,omitempty"`
	SampleStdDev   *float64           `json:"sample_std_dev,omitempty"`
	Min            float64            `json:"min"`
	Max            float64            `json:"max"`
	Range          float64            `json:"range"`
	Percentiles    map[string]float64 `json:"percentiles"`
	Histogram      []HistogramBin     `json:"histogram"`
}

// HistogramBin counts the numbers in [From, To); the last bin includes To.
type HistogramBin struct {
	From  float64 `json:"from"`
	To    float64 `json:"to"`
	Count int     `json:"count"`
}

func statisticsType(cfg Config) taskmill.TaskType {
	return define(taskmill.TaskType{
		Name: "calculate_statistics",
		Description: "Descriptive statistics of a list of numbers: count, sum, mean, median, modes, variance and " +
			"standard deviation (population and sample), min, max, range, percentiles and a histogram.",
		Schema: schema(`{"type":"object","required":["numbers"],"additionalProperties":false,"properties":{
			"numbers":{"type":"array","minItems":1,"maxItems":` + strconv.Itoa(cfg.MaxNumbers) + `,"items":{"type":"number","minimum":-1e150,"maximum":1e150},"default":[2,4,4,4,5,5,7,9],"description":"the data"},
			"percentiles":{"type":"array","maxItems":100,"items":{"type":"number","minimum":0,"maximum":100},"default":[5,25,50,75,95,99],"description":"percentiles to compute, 0 to 100"},
			"bins":{"type":"integer","minimum":1,"maximum":` + strconv.Itoa(cfg.MaxHistogramBins) + `,"default":10,"description":"histogram bins of equal width between min and max"}}}`),
		MaxAttempts: 1, // a pure function of its payload
	}, func(p *statisticsPayload) { p.cfg = cfg },
		func(ctx context.Context, t *taskmill.Task, p *statisticsPayload) (any, error) {
			return describe(ctx, p.Numbers, p.Percentiles, *p.Bins)
		})
}

// describe computes the statistics. Sums use Neumaier's compensated
// summation and the variance is taken around the mean in a second pass,
// so a million numbers with a large common offset lose no precision.
func describe(ctx context.Context, xs []float64, percentiles []float64, bins int) (*StatisticsResult, error) {
	n := len(xs)
	sorted := slices.Clone(xs)
	slices.Sort(sorted)
	if ctx.Err() != nil {
		return nil, canceled(ctx)
	}
	res := &StatisticsResult{Count: n, Min: sorted[0], Max: sorted[n-1], Percentiles: map[string]float64{}}
	res.Range = res.Max - res.Min
	res.Sum = kahanSum(sorted, func(x float64) float64 { return x })
	// The compensated sum divided once: closer to the exact mean than
	// summing x/n, whose every division rounds.
	mean := res.Sum / float64(n)
	res.Mean = mean
	sq := kahanSum(sorted, func(x float64) float64 { d := x - mean; return d * d })
	res.Variance = sq / float64(n)
	res.StdDev = math.Sqrt(res.Variance)
	if n > 1 {
		sv := sq / float64(n-1)
		ss := math.Sqrt(sv)
		res.SampleVariance, res.SampleStdDev = &sv, &ss
	}
	res.Median = percentileOf(sorted, 50)
	for _, q := range percentiles {
		res.Percentiles[strconv.FormatFloat(q, 'f', -1, 64)] = percentileOf(sorted, q)
	}
	// Modes: runs of equal values in the sorted data.
	best := 1
	for i := 0; i < n; {
		j := i
		for j < n && sorted[j] == sorted[i] {
			j++
		}
		switch run := j - i; {
		case run > best:
			best, res.Modes = run, []float64{sorted[i]}
		case run == best && best > 1:
			res.Modes = append(res.Modes, sorted[i])
		}
		i = j
	}
	if best > 1 {
		res.ModeCount = best
	} else {
		res.Modes = []float64{}
	}
	res.Histogram = histogram(sorted, bins)
	for _, v := range []float64{res.Sum, res.Mean, res.Variance, res.Range} {
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return nil, taskmill.SkipRetry(fmt.Errorf("the numbers overflow a 64-bit float"))
		}
	}
	return res, nil
}

// kahanSum adds f(x) for each x with Neumaier's compensation.
func kahanSum(xs []float64, f func(float64) float64) float64 {
	var sum, comp float64
	for _, x := range xs {
		v := f(x)
		t := sum + v
		if math.Abs(sum) >= math.Abs(v) {
			comp += (sum - t) + v
		} else {
			comp += (v - t) + sum
		}
		sum = t
	}
	return sum + comp
}

// percentileOf interpolates linearly between the closest ranks: rank
// h = (n-1)·q/100, value = x[⌊h⌋] + (h-⌊h⌋)·(x[⌊h⌋+1] - x[⌊h⌋]).
func percentileOf(sorted []float64, q float64) float64 {
	h := float64(len(sorted)-1) * q / 100
	lo := int(math.Floor(h))
	if lo >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	frac := h - float64(lo)
	return sorted[lo] + frac*(sorted[lo+1]-sorted[lo])
}

// histogram splits [min, max] into bins of equal width. With every number
// equal there is one bin, however many were asked for.
func histogram(sorted []float64, bins int) []HistogramBin {
	lo, hi := sorted[0], sorted[len(sorted)-1]
	if lo == hi {
		return []HistogramBin{{From: lo, To: hi, Count: len(sorted)}}
	}
	out := make([]HistogramBin, bins)
	width := (hi - lo) / float64(bins)
	for i := range out {
		out[i].From = lo + float64(i)*width
		out[i].To = lo + float64(i+1)*width
	}
	out[bins-1].To = hi
	for _, x := range sorted {
		// The fraction of the range, not x/width: width can underflow to
		// zero when the range is tiny (5e-324 split in ten).
		i := int((x - lo) / (hi - lo) * float64(bins))
		i = min(max(i, 0), bins-1)
		// Rounding may put x one bin off its bounds; move it back.
		for width > 0 && i > 0 && x < out[i].From {
			i--
		}
		for width > 0 && i < bins-1 && x >= out[i+1].From {
			i++
		}
		out[i].Count++
	}
	return out
}
