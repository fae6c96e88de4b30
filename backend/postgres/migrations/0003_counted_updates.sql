-- 0003: the statements that change a task's state write their own count
-- and history deltas, instead of the statement trigger of 0001.
--
-- The trigger made every UPDATE of tasks (an ack batch, a lease) keep
-- both transition tables — a copy of every old and new row — and join
-- them again to find what moved between states: about a fifth of an
-- ack's time in the database. Each statement knows what it moved (an
-- ack: processing to completed; a lease: pending to processing), so it
-- now says so in a CTE of its own (see changesCTEs in counts.go, and
-- lease() below). The insert and delete triggers stay: they read only
-- one transition table and run on less frequent paths.
--
-- Processes of a version before this migration still update tasks
-- without writing deltas: stop them before applying it.

DROP TRIGGER tasks_count_update ON {{S}}.tasks;
DROP FUNCTION {{S}}.count_update();

-- end_attempt is STABLE, not IMMUTABLE: jsonb_build_object of a
-- timestamptz depends on the session's time zone. Declared IMMUTABLE it
-- was called as a function once per row; STABLE, the planner inlines it
-- into the statement.
CREATE OR REPLACE FUNCTION {{S}}.end_attempt(attempts jsonb, at timestamptz, outcome text, err text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN jsonb_array_length(attempts) = 0 THEN attempts
  ELSE jsonb_set(attempts, ARRAY[(jsonb_array_length(attempts) - 1)::text],
       (attempts->-1) || jsonb_strip_nulls(jsonb_build_object('finished_at', at, 'outcome', outcome, 'error', nullif(err, ''))))
  END
$$;

-- lease() as in 0001, writing its count deltas itself: promotion moves
-- scheduled and retrying tasks to pending; a lease moves pending to
-- processing, or to failed when the deadline passed (a finished attempt
-- for the history). The rule is the one of changesCTEs (counts.go).
CREATE OR REPLACE FUNCTION {{S}}.lease(p_worker text, p_queues text[], p_max int, p_lease_for interval, p_types text[], p_secrets text[])
RETURNS SETOF {{S}}.tasks LANGUAGE plpgsql AS $$
DECLARE
  q text;
  r {{S}}.tasks;
  taken int := 0;
  used int := 0; -- secrets handed out or passed over
  want int;
  got int;
  failed int;
  ts timestamptz := {{S}}.clock();
BEGIN
  -- A lease commits without waiting for its WAL record to reach the
  -- disk (see "Durability" in docs/postgres.md): a lease lost in a crash
  -- of the database is a lease whose worker died — the task runs again
  -- and the first run's ack is refused — and every later ack, fail or
  -- submit flushes the WAL that holds it anyway. Local to the
  -- transaction: the caller's other work keeps its own setting.
  PERFORM set_config('synchronous_commit', 'off', true);
  RETURN QUERY
  WITH p AS MATERIALIZED (
    SELECT d.id, d.state, nextval('{{S}}.task_seq') AS seq FROM (
      SELECT id, state FROM {{S}}.tasks
      WHERE state IN ('scheduled', 'retrying') AND queue = ANY (p_queues) AND run_at <= ts
      ORDER BY run_at, id FOR UPDATE SKIP LOCKED) d),
  u AS (
    UPDATE {{S}}.tasks t SET state = 'pending', seq = p.seq, ready_at = greatest(t.created_at, t.run_at)
    FROM p WHERE t.id = p.id
    RETURNING t.*, p.state AS old_state),
  counted AS (
    INSERT INTO {{S}}.count_deltas (queue, state, n)
    SELECT queue, state, sum(d) FROM (
      SELECT queue, 'pending' AS state, 1 AS d FROM u UNION ALL SELECT queue, old_state, -1 FROM u) x
    GROUP BY queue, state)
  SELECT id, seq, queue, type, state, priority, payload, attempt, max_attempts, timeout_ns, deadline,
         unique_key, unique_until, run_at, ready_at, created_at, started_at, finished_at, result,
         last_error, attempts, progress, worker_id, lease_token, lease_secret, lease_losses,
         lease_expires_at, trace_context
  FROM u;
  -- Per queue, take the head of the line; a deadline-failed task does
  -- not count toward p_max, so take again while some failed.
  FOREACH q IN ARRAY p_queues LOOP
    EXIT WHEN taken >= p_max;
    CONTINUE WHEN EXISTS (SELECT 1 FROM {{S}}.queues WHERE name = q AND paused);
    LOOP
      want := p_max - taken;
      got := 0;
      failed := 0;
      FOR r IN
        WITH u AS (
          UPDATE {{S}}.tasks t SET
            state = CASE WHEN t.deadline <= ts THEN 'failed' ELSE 'processing' END,
            finished_at = CASE WHEN t.deadline <= ts THEN ts END,
            last_error = CASE WHEN t.deadline <= ts
                         THEN 'deadline exceeded before the task could start' ELSE t.last_error END,
            attempt = CASE WHEN t.deadline <= ts THEN t.attempt ELSE t.attempt + 1 END,
            attempts = CASE WHEN t.deadline <= ts THEN t.attempts
                       ELSE t.attempts || jsonb_build_object('number', t.attempt + 1,
                                                             'worker_id', p_worker, 'started_at', ts) END,
            worker_id = CASE WHEN t.deadline <= ts THEN NULL ELSE p_worker END,
            lease_token = CASE WHEN t.deadline <= ts THEN NULL ELSE nextval('{{S}}.lease_seq') END,
            lease_secret = CASE WHEN t.deadline <= ts THEN NULL
                           -- past the caller's secrets only after more deadline failures than p_max
                           ELSE coalesce(p_secrets[used + c.rn], md5(gen_random_uuid()::text || gen_random_uuid()::text)) END,
            lease_expires_at = CASE WHEN t.deadline <= ts THEN NULL ELSE ts + p_lease_for END,
            started_at = CASE WHEN t.deadline <= ts THEN t.started_at ELSE ts END,
            progress = CASE WHEN t.deadline <= ts THEN t.progress END
          FROM (SELECT x.id, row_number() OVER () AS rn FROM (
                  SELECT id FROM {{S}}.tasks
                  WHERE state = 'pending' AND queue = q AND (p_types IS NULL OR type = ANY (p_types))
                  ORDER BY priority DESC, seq LIMIT want FOR UPDATE SKIP LOCKED) x) c
          WHERE t.id = c.id
          RETURNING t.*),
        counted AS (
          INSERT INTO {{S}}.count_deltas (queue, state, n)
          SELECT q, state, count(*) FROM u GROUP BY state
          UNION ALL SELECT q, 'pending', -count(*) FROM u HAVING count(*) > 0),
        history AS (
          INSERT INTO {{S}}.history_deltas (queue, minute, completed, failed)
          SELECT q, date_trunc('minute', ts), 0, count(*) FROM u WHERE state = 'failed' HAVING count(*) > 0)
        SELECT * FROM u
      LOOP
        RETURN NEXT r;
        got := got + 1;
        IF r.state = 'failed' THEN
          failed := failed + 1;
        END IF;
      END LOOP;
      taken := taken + got - failed;
      used := used + got;
      EXIT WHEN got < want OR failed = 0 OR taken >= p_max;
    END LOOP;
  END LOOP;
END $$;
