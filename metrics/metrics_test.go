package metrics_test

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/taskmill/taskmill"
	"github.com/taskmill/taskmill/metrics"
)

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	return string(body)
}

func TestObserverCountsOutcomes(t *testing.T) {
	m := metrics.New()
	obs := m.Observer()
	task := &taskmill.TaskInfo{ID: "t", Type: "mail", Queue: "q"}
	ctx := obs.AttemptStarted(context.Background(), task)
	for _, o := range []taskmill.Outcome{taskmill.OutcomeCompleted, taskmill.OutcomeCompleted, taskmill.OutcomeRetrying,
		taskmill.OutcomeFailed, taskmill.OutcomeLeaseLost, taskmill.OutcomeReleased} {
		obs.AttemptFinished(ctx, task, taskmill.AttemptResult{Outcome: o, Err: errors.New("x"), Duration: 30 * time.Millisecond})
	}
	obs.LeasesReclaimed(3)
	m.TaskSubmitted("mail", "q")
	m.HTTPRequest("GET /api/tasks", 200, time.Millisecond)
	text := scrape(t, m)
	for _, want := range []string{
		`taskmill_tasks_completed_total{queue="q",type="mail"} 2`,
		`taskmill_tasks_retried_total{queue="q",type="mail"} 1`,
		`taskmill_tasks_failed_total{queue="q",type="mail"} 1`,
		`taskmill_task_attempts_dropped_total{queue="q",reason="lease_lost",type="mail"} 1`,
		`taskmill_task_attempts_dropped_total{queue="q",reason="released",type="mail"} 1`,
		`taskmill_task_duration_seconds_bucket{outcome="completed",queue="q",type="mail",le="0.05"} 2`,
		`taskmill_task_duration_seconds_bucket{outcome="completed",queue="q",type="mail",le="0.025"} 0`,
		`taskmill_leases_reclaimed_total 3`,
		`taskmill_tasks_submitted_total{queue="q",type="mail"} 1`,
		`taskmill_http_requests_total{code="200",route="GET /api/tasks"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestNilMetricsDoNothing: code paths call a nil *Metrics without checks.
func TestNilMetricsDoNothing(t *testing.T) {
	var m *metrics.Metrics
	m.TaskSubmitted("a", "b")
	m.AttemptFinished("a", "b", taskmill.OutcomeCompleted, time.Second)
	m.LeasesReclaimed(1)
	m.HTTPRequest("GET /", 200, time.Second)
}
