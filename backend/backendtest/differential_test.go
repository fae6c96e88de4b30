package backendtest

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/model"
)

// TestDifferentialFindsAndShrinks runs the differential machinery against
// a backend that breaks one rule (it fails a task at its first lease
// loss instead of the third): the test must find a divergence and shrink
// it to a short sequence that still diverges.
func TestDifferentialFindsAndShrinks(t *testing.T) {
	wrong := func(t *testing.T, clock backend.Clock) backend.Backend {
		return model.New(model.Options{Clock: clock, MaxLeaseLosses: 1, EventBuffer: 1 << 16})
	}
	for seed := uint64(1); seed <= 40; seed++ {
		ops := genOps(seed, DiffRunLength)
		step, _ := replay(t, wrong, ops, nil)
		if step < 0 {
			continue
		}
		short := shrink(t, wrong, ops[:step+1])
		if got, _ := replay(t, wrong, short, nil); got < 0 {
			t.Fatalf("seed %d: the shrunk sequence no longer diverges", seed)
		}
		if len(short) > 12 {
			t.Fatalf("seed %d: shrunk %d steps to %d, want a handful", seed, step+1, len(short))
		}
		t.Logf("seed %d: divergence at step %d, shrunk to %d steps", seed, step, len(short))
		return
	}
	t.Fatal("no divergence found in 40 runs against a backend that breaks the lease-loss rule")
}

// TestDifferentialParallelReports runs Differential itself, two runs at
// once (TASKMILL_DIFF_PARALLEL=2), against the same broken backend in a
// child test process: the child must fail and print the divergence's
// seed, as the sequential path does.
func TestDifferentialParallelReports(t *testing.T) {
	wrong := func(t *testing.T, clock backend.Clock) backend.Backend {
		return model.New(model.Options{Clock: clock, MaxLeaseLosses: 1, EventBuffer: 1 << 16})
	}
	if os.Getenv("TASKMILL_DIFF_CHILD") == "1" {
		Differential(t, wrong)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestDifferentialParallelReports$")
	cmd.Env = append(os.Environ(), "TASKMILL_DIFF_CHILD=1", "TASKMILL_DIFF_PARALLEL=2",
		"TASKMILL_DIFF_OPS=10000", "TASKMILL_DIFF_SEED=")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the child passed against a backend that breaks the lease-loss rule:\n%s", out)
	}
	for _, want := range []string{"divergence with TASKMILL_DIFF_SEED=", "--- FAIL: TestDifferentialParallelReports/parts/"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the child's output lacks %q:\n%s", want, out)
		}
	}
}
