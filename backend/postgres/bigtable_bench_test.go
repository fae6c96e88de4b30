package postgres_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/taskmill/taskmill/backend"
	"github.com/taskmill/taskmill/backend/postgres"
)

// BenchmarkBigTable measures the reads a dashboard makes on a table of
// 1,000,000 tasks (10 queues, 20 types, four states): a list page (first
// and deep, by keyset cursor), the same filtered by state, queue and
// type, the counts per queue and state, and a substring search. It runs
// against the PostgreSQL named by TASKMILL_PG_BENCH_URL (start one with
// scripts/pg-throwaway.sh) and fills the schema "bigtable" once:
//
//	TASKMILL_PG_BENCH_URL=postgres://… go test -run '^$' -bench BigTable -benchtime 200x ./backend/postgres/
//
// Targets (issue #12): a page ≤ 20 ms, counts ≤ 5 ms, a search ≤ 100 ms.
func BenchmarkBigTable(b *testing.B) {
	url := os.Getenv("TASKMILL_PG_BENCH_URL")
	if url == "" {
		b.Skip("set TASKMILL_PG_BENCH_URL to a PostgreSQL to fill with 1,000,000 tasks (scripts/pg-throwaway.sh starts one)")
	}
	ctx := context.Background()
	pb, err := postgres.Open(ctx, url+"&schema=bigtable", postgres.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer pb.Close()
	const total = 1_000_000
	var have int
	if err := pb.Pool().QueryRow(ctx, "SELECT count(*) FROM bigtable.tasks").Scan(&have); err != nil {
		b.Fatal(err)
	}
	if have < total {
		start := time.Now()
		for from := have; from < total; from += 50_000 {
			// Through the tasks table and its triggers, as Enqueue would
			// store them, but without a million round trips.
			_, err := pb.Pool().Exec(ctx, `INSERT INTO bigtable.tasks (id, seq, queue, type, state, priority, payload,
					max_attempts, created_at, ready_at, run_at, finished_at)
				SELECT lpad(to_hex(i), 12, '0') || '-' || substr(md5(i::text), 1, 8), i, 'q' || (i % 10), 't' || (i % 20),
					(ARRAY['pending', 'completed', 'failed', 'scheduled'])[1 + i % 4], i % 5,
					'{"n":' || i || ',"customer":"c' || (i::bigint * 7919 % 100000) || '"}', 3, now(), now(),
					CASE WHEN i % 4 = 3 THEN now() + interval '1 day' END,
					CASE WHEN i % 4 IN (1, 2) THEN now() END
				FROM generate_series($1::int + 1, $2::int) i`, from, min(from+50_000, total))
			if err != nil {
				b.Fatal(err)
			}
		}
		for _, table := range []string{"tasks", "task_search", "count_deltas"} {
			if _, err := pb.Pool().Exec(ctx, "VACUUM ANALYZE bigtable."+table); err != nil {
				b.Fatal(err)
			}
		}
		b.Logf("filled %d tasks in %v", total-have, time.Since(start).Round(time.Second))
	}
	// The search figures are for an indexed table.
	if err := pb.Settle(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := pb.Pool().Exec(ctx, "VACUUM ANALYZE bigtable.task_search"); err != nil {
		b.Fatal(err)
	}
	first, err := pb.List(ctx, backend.Filter{Limit: 50})
	if err != nil {
		b.Fatal(err)
	}
	deep := first.NextCursor
	for range 200 { // 10,000 tasks in
		p, err := pb.List(ctx, backend.Filter{Limit: 50, Cursor: deep})
		if err != nil {
			b.Fatal(err)
		}
		deep = p.NextCursor
	}
	cases := []struct {
		name string
		run  func() error
	}{
		{"ListFirstPage", func() error { _, err := pb.List(ctx, backend.Filter{Limit: 50}); return err }},
		{"ListDeepPage", func() error { _, err := pb.List(ctx, backend.Filter{Limit: 50, Cursor: deep}); return err }},
		{"ListState", func() error {
			_, err := pb.List(ctx, backend.Filter{Limit: 50, State: backend.StateFailed})
			return err
		}},
		{"ListQueue", func() error { _, err := pb.List(ctx, backend.Filter{Limit: 50, Queue: "q7"}); return err }},
		{"ListType", func() error { _, err := pb.List(ctx, backend.Filter{Limit: 50, Type: "t13"}); return err }},
		{"ListStateQueue", func() error {
			_, err := pb.List(ctx, backend.Filter{Limit: 50, State: backend.StatePending, Queue: "q4"})
			return err
		}},
		{"Counts", func() error { _, err := pb.Queues(ctx); return err }},
		{"SearchPayload", func() error {
			p, err := pb.List(ctx, backend.Filter{Limit: 50, Query: `"customer":"c4242"`})
			if err == nil && len(p.Tasks) == 0 {
				err = fmt.Errorf("search found nothing")
			}
			return err
		}},
		{"SearchID", func() error { _, err := pb.List(ctx, backend.Filter{Limit: 50, Query: "0000000f4240"}); return err }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if err := c.run(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
		})
	}
}
