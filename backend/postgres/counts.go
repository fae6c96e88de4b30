package postgres

// changesCTEs returns two data-modifying CTEs (to follow the others of a
// WITH, comma first) that record what an UPDATE of tasks did: one
// count_deltas row per (queue, state) whose count it changed, and one
// history_deltas row per queue where it finished attempts. from names a
// CTE with one row per updated task and the columns queue, os (the state
// before), ns (the state after) and expired (the attempt ended because
// its lease expired).
//
// An attempt finishes when a processing task completes, fails or
// retries, when a pending task fails (its deadline passed before it
// could start), and when a lease expires (counted as failed); a release
// or a cancel finishes none.
//
// Each statement that changes states writes these itself (since
// migration 0003), so that no trigger has to keep and join transition
// tables of the rows it changed.
func (b *Backend) changesCTEs(from string) string {
	return `,
		counted AS (INSERT INTO ` + b.t("count_deltas") + ` (queue, state, n)
			SELECT queue, state, sum(d) FROM (
				SELECT queue, ns AS state, 1 AS d FROM ` + from + ` WHERE ns <> os
				UNION ALL SELECT queue, os, -1 FROM ` + from + ` WHERE ns <> os) x
			GROUP BY queue, state HAVING sum(d) <> 0),
		finished AS (INSERT INTO ` + b.t("history_deltas") + ` (queue, minute, completed, failed)
			SELECT queue, date_trunc('minute', ` + b.t("clock()") + `),
			       count(*) FILTER (WHERE ns = 'completed'), count(*) FILTER (WHERE ns <> 'completed')
			FROM ` + from + `
			WHERE (os = 'processing' AND ns IN ('completed', 'failed', 'retrying'))
			   OR (os = 'pending' AND ns = 'failed')
			   OR (os = 'processing' AND ns = 'pending' AND expired)
			GROUP BY queue)`
}
