package postgres_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/backendtest"
	"github.com/taskmill/taskmill/backend/postgres"
	"github.com/taskmill/taskmill/internal/testpg"
)

func TestMain(m *testing.M) { os.Exit(testpg.Main(m)) }

// open returns a backend on a fresh database of the shared test server.
func open(t *testing.T, opts postgres.Options) *postgres.Backend {
	t.Helper()
	b, _ := openURL(t, opts)
	return b
}

// openURL is open that also returns the database's URL.
func openURL(t *testing.T, opts postgres.Options) (*postgres.Backend, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url := testpg.Shared(t)
	b, err := postgres.Open(ctx, url, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b, url
}

func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T, clock backend.Clock) backend.Backend {
		return open(t, postgres.Options{Clock: clock})
	})
}

func TestDifferential(t *testing.T) {
	backendtest.Differential(t, func(t *testing.T, clock backend.Clock) backend.Backend {
		return open(t, postgres.Options{Clock: clock})
	})
}
