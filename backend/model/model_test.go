package model_test

import (
	"testing"

	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/backendtest"
	"github.com/taskmill/taskmill/backend/model"
)

func open(t *testing.T, clock backend.Clock) backend.Backend {
	m := model.New(model.Options{Clock: clock})
	t.Cleanup(func() { m.Close() })
	return m
}

func TestConformance(t *testing.T) {
	backendtest.Run(t, open)
}

// TestDifferentialSelf runs the differential test of the model against
// itself: it checks the test (a model must agree with itself, so any
// divergence is nondeterminism in the model or the test).
func TestDifferentialSelf(t *testing.T) {
	backendtest.Differential(t, func(t *testing.T, clock backend.Clock) backend.Backend {
		return model.New(model.Options{Clock: clock, EventBuffer: 1 << 16})
	})
}
