package backendtest

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskmill/taskmill/backend/model"
)

// Differential runs random operation sequences against the reference
// model and a backend made by open, side by side, and fails at the first
// step where their results, their events or any task's visible state
// differ. Both take their time from one test Clock, so times must agree
// exactly; what legitimately differs is normalised (lease secrets and
// tokens are each side's own, list cursors are opaque).
//
// The sequences are cut in runs of DiffRunLength operations, each on a
// fresh model and backend. On a divergence it prints the run's seed and a
// shrunk sequence (the shortest it found that still diverges), and how
// to replay it: TASKMILL_DIFF_SEED=N (or -taskmill.seed=N) runs that one
// run, TASKMILL_DIFF_OPS (or -taskmill.ops) sets the number of operations
// (in all, or of the replayed run), and TASKMILL_DIFF_PARALLEL runs that
// many runs at once (default 1; the open function must then be safe to
// call concurrently). The default is DiffOps operations; a different
// seed each test run unless a seed is given.
func Differential(t *testing.T, open NewBackend) {
	total, err := envInt("TASKMILL_DIFF_OPS", DiffOps)
	if err != nil {
		t.Fatal(err)
	}
	if *opsFlag > 0 {
		total = *opsFlag
	}
	if *seedFlag != 0 {
		if diffRun(t, open, *seedFlag, total) {
			t.Logf("differential: seed %d, %d operations, no divergence", *seedFlag, total)
		}
		return
	}
	if s := os.Getenv("TASKMILL_DIFF_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("TASKMILL_DIFF_SEED=%q: %v", s, err)
		}
		if diffRun(t, open, seed, total) {
			t.Logf("differential: seed %d, %d operations, no divergence", seed, total)
		}
		return
	}
	parallel, err := envInt("TASKMILL_DIFF_PARALLEL", 1)
	if err != nil {
		t.Fatal(err)
	}
	base := uint64(time.Now().UnixNano())
	start := time.Now()
	runs := (total + DiffRunLength - 1) / DiffRunLength
	// length is how many operations run i has: the last may be short.
	length := func(i int) int { return min(DiffRunLength, total-i*DiffRunLength) }
	// Part k runs runs k, k+parallel, ...; the first divergence stops
	// every part. Runs are independent, so with parallel > 1 the parts
	// overlap the backends' round trips, each in a subtest of its own so
	// that open may fail it.
	var diverged atomic.Bool
	part := func(t *testing.T, k int) {
		for i := k; i < runs && !diverged.Load(); i += parallel {
			if !diffRun(t, open, base+uint64(i), length(i)) {
				diverged.Store(true)
				return
			}
		}
	}
	if parallel == 1 {
		part(t, 0)
	} else {
		t.Run("parts", func(t *testing.T) {
			for k := range parallel {
				t.Run(strconv.Itoa(k), func(t *testing.T) {
					t.Parallel()
					part(t, k)
				})
			}
		})
	}
	if t.Failed() {
		return
	}
	t.Logf("differential: %d operations, no divergence, in %v (seeds %d..%d, %d at once)",
		total, time.Since(start).Round(time.Millisecond), base, base+uint64(runs-1), parallel)
}

var (
	seedFlag = flag.Uint64("taskmill.seed", 0, "replay this seed of the differential test (as TASKMILL_DIFF_SEED)")
	opsFlag  = flag.Int("taskmill.ops", 0, "operations of the differential test (as TASKMILL_DIFF_OPS)")
)

// DiffOps is how many operations Differential runs by default; make soak
// sets TASKMILL_DIFF_OPS=1000000.
const DiffOps = 10_000

// DiffRunLength is how many operations one run (one seed) has.
const DiffRunLength = 250

func envInt(name string, def int) (int, error) {
	s := os.Getenv(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s=%q: want a positive number", name, s)
	}
	return n, nil
}

// diffRun runs one seed; on a divergence it shrinks, reports and returns
// false.
func diffRun(t *testing.T, open NewBackend, seed uint64, n int) bool {
	t.Helper()
	ops := genOps(seed, n)
	step, msg := replay(t, open, ops, nil)
	if step < 0 {
		return true
	}
	short := shrink(t, open, ops[:step+1])
	var log strings.Builder
	_, last := replay(t, open, short, &log)
	t.Errorf("differential: divergence with TASKMILL_DIFF_SEED=%d TASKMILL_DIFF_OPS=%d at step %d:\n%s\n\n"+
		"shrunk to %d steps:\n%s\nlast divergence: %s", seed, n, step, msg, len(short), log.String(), last)
	return false
}

// shrink returns a shorter sequence that still diverges: it removes
// chunks of halving size while the divergence stays, within a budget.
func shrink(t *testing.T, open NewBackend, ops []diffOp) []diffOp {
	deadline := time.Now().Add(60 * time.Second)
	for chunk := len(ops) / 2; chunk >= 1; chunk /= 2 {
		for i := 0; i+chunk <= len(ops) && time.Now().Before(deadline); {
			try := append(append([]diffOp(nil), ops[:i]...), ops[i+chunk:]...)
			if step, _ := replay(t, open, try, nil); step >= 0 {
				ops = try[:step+1]
				continue
			}
			i += chunk
		}
	}
	return ops
}

// replay runs ops on a fresh model and backend and returns the index of
// the first step that diverged (-1 when none) and what differed. With a
// log it writes each step as it runs.
func replay(t *testing.T, open NewBackend, ops []diffOp, log *strings.Builder) (int, string) {
	t.Helper()
	clock := NewClock(time.Time{})
	ref := model.New(model.Options{Clock: clock, EventBuffer: 1 << 16})
	b := open(t, clock)
	defer ref.Close()
	defer b.Close()
	r, err := newRunner(clock, ref, b)
	if err != nil {
		return 0, err.Error()
	}
	defer r.stop()
	for i, op := range ops {
		desc, diff := r.step(op)
		if log != nil {
			fmt.Fprintf(log, "  %3d %s\n", i, desc)
		}
		if diff != "" {
			return i, desc + ": " + diff
		}
		if i%50 == 49 || i == len(ops)-1 {
			if diff := r.compareAll(); diff != "" {
				return i, desc + ": after it, " + diff
			}
		}
	}
	return -1, ""
}

// diffOp is one generated operation: a kind and the random numbers its
// parameters are drawn from, so that a sequence replays the same after
// steps before it were removed.
type diffOp struct {
	kind opKind
	r    [40]uint32
}

// params hands out an op's random numbers.
type params struct {
	op *diffOp
	i  int
}

// n returns a number in [0, k).
func (p *params) n(k int) int {
	v := p.op.r[p.i%len(p.op.r)]
	p.i++
	return int(v % uint32(k))
}

// pct is true with probability x percent.
func (p *params) pct(x int) bool { return p.n(100) < x }

func pick[T any](p *params, xs ...T) T { return xs[p.n(len(xs))] }

func genOps(seed uint64, n int) []diffOp {
	rng := rand.New(rand.NewPCG(seed, 0x7a5c))
	total := 0
	for _, w := range opWeights {
		total += w.weight
	}
	ops := make([]diffOp, n)
	for i := range ops {
		x := rng.IntN(total)
		for _, w := range opWeights {
			if x < w.weight {
				ops[i].kind = w.kind
				break
			}
			x -= w.weight
		}
		for j := range ops[i].r {
			ops[i].r[j] = rng.Uint32()
		}
	}
	return ops
}

// sortedIDs returns m's keys in order.
func keysOf(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
