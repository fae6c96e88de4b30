package embedded_test

import (
	"testing"

	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/backendtest"
	"github.com/taskmill/taskmill/backend/embedded"
)

// TestDifferential checks the embedded backend against the reference
// model (backendtest.Differential): TASKMILL_DIFF_SEED and
// TASKMILL_DIFF_OPS replay and lengthen it. NoSync: the differential is
// about the rules, and fsyncs would make 10,000 steps take minutes.
func TestDifferential(t *testing.T) {
	backendtest.Differential(t, func(t *testing.T, clock backend.Clock) backend.Backend {
		b, err := embedded.Open(t.TempDir(), embedded.Options{Clock: clock, NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	})
}
