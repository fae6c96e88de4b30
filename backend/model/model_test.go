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
