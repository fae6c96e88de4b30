-- 0001: tasks, queues, counters, history, workers, unique keys.
-- {{S}} is replaced by the quoted schema name (see migrate.go).

-- seq orders pending tasks within a priority: FIFO takes the smallest.
-- Work put back at the front of its priority (release, reclaim) gets a
-- negative seq, -nextval, so the latest goes first.
CREATE SEQUENCE {{S}}.task_seq;
-- Lease tokens, the fencing counter: strictly larger at each lease.
CREATE SEQUENCE {{S}}.lease_seq;

-- clock() is the one clock every stored time comes from: the database's
-- now() (the start of the transaction) — unless the session setting
-- taskmill.clock_now holds a time, which only tests set (Options.Clock).
CREATE FUNCTION {{S}}.clock() RETURNS timestamptz LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('taskmill.clock_now', true), '')::timestamptz, now())
$$;

CREATE TABLE {{S}}.tasks (
  id               text PRIMARY KEY,
  seq              bigint NOT NULL,
  queue            text NOT NULL,
  type             text NOT NULL,
  state            text NOT NULL,
  priority         int NOT NULL,
  payload          text,           -- the JSON as submitted, byte for byte
  attempt          int NOT NULL DEFAULT 0,
  max_attempts     int NOT NULL,
  timeout_ns       bigint NOT NULL DEFAULT 0,
  deadline         timestamptz,
  unique_key       text,
  unique_until     timestamptz,
  run_at           timestamptz,
  ready_at         timestamptz,    -- pending: greatest(created_at, run_at), Queues' oldest pending
  created_at       timestamptz NOT NULL,
  started_at       timestamptz,
  finished_at      timestamptz,
  result           text,
  last_error       text,
  attempts         jsonb NOT NULL DEFAULT '[]',
  progress         jsonb,
  worker_id        text,
  lease_token      bigint,
  lease_secret     text,           -- random, made by Go at each lease
  lease_losses     int NOT NULL DEFAULT 0, -- lease expiries in a row
  lease_expires_at timestamptz,
  trace_context    jsonb
) WITH (fillfactor = 80); -- room for HOT updates of the same row

-- The hot path: Lease walks this partial index, which holds pending rows
-- only, in (priority desc, seq) order per queue.
CREATE INDEX tasks_ready ON {{S}}.tasks (queue, priority DESC, seq) WHERE state = 'pending';
-- Promotion of due scheduled and retrying tasks.
CREATE INDEX tasks_due ON {{S}}.tasks (queue, run_at) WHERE state IN ('scheduled', 'retrying');
-- Reclaim of expired leases.
CREATE INDEX tasks_leased ON {{S}}.tasks (lease_expires_at) WHERE state = 'processing';
-- Retention: the oldest finished tasks of a final state.
CREATE INDEX tasks_finished ON {{S}}.tasks (state, finished_at) WHERE state IN ('completed', 'failed', 'canceled');
-- List: newest first (by id) within a state, a queue or a type.
CREATE INDEX tasks_state_id ON {{S}}.tasks (state, id);
CREATE INDEX tasks_queue_id ON {{S}}.tasks (queue, id);
CREATE INDEX tasks_type_id ON {{S}}.tasks (type, id);

-- used_at is the last pause or resume, or (kept by the delete trigger)
-- the last enqueue or lease of a task since deleted: with the tasks that
-- still exist, that tells ForgetQueues how long a queue went unused,
-- without writing the queue's row on the hot path.
CREATE TABLE {{S}}.queues (
  name    text PRIMARY KEY,
  paused  boolean NOT NULL DEFAULT false,
  used_at timestamptz NOT NULL
);

-- Upkeep leadership: one row. term only grows; holder '' when resigned.
CREATE TABLE {{S}}.leader (
  one    boolean PRIMARY KEY DEFAULT true CHECK (one),
  holder text NOT NULL,
  term   bigint NOT NULL,
  until  timestamptz NOT NULL
);

-- Counts per queue and state without COUNT(*) over tasks. Every change
-- appends a delta row (statement triggers below), so concurrent
-- transactions never wait on one hot counter row; a fold moves the
-- deltas into count_totals now and then, keeping the deltas few.
CREATE TABLE {{S}}.count_totals (
  queue text NOT NULL,
  state text NOT NULL,
  n     bigint NOT NULL,
  PRIMARY KEY (queue, state)
);
CREATE TABLE {{S}}.count_deltas (
  queue text NOT NULL,
  state text NOT NULL,
  n     bigint NOT NULL
);

-- Finished attempts per minute, kept the same way.
CREATE TABLE {{S}}.history_totals (
  queue     text NOT NULL,
  minute    timestamptz NOT NULL,
  completed bigint NOT NULL,
  failed    bigint NOT NULL,
  PRIMARY KEY (queue, minute)
);
CREATE TABLE {{S}}.history_deltas (
  queue     text NOT NULL,
  minute    timestamptz NOT NULL,
  completed bigint NOT NULL,
  failed    bigint NOT NULL
);

-- A unique key is held by one task of its queue until its window ends,
-- or until the task is canceled, deleted or purged.
CREATE TABLE {{S}}.unique_keys (
  queue   text NOT NULL,
  key     text NOT NULL,
  task_id text NOT NULL,
  until   timestamptz NOT NULL,
  PRIMARY KEY (queue, key)
);
CREATE INDEX unique_keys_task ON {{S}}.unique_keys (task_id);

-- Processes that have event subscribers, so that the others know to
-- publish events at all (see publish.go); rows expire unless refreshed.
CREATE TABLE {{S}}.subscribers (
  id         text PRIMARY KEY,
  expires_at timestamptz NOT NULL
);

CREATE TABLE {{S}}.workers (
  id             text PRIMARY KEY,
  info           jsonb NOT NULL, -- backend.WorkerInfo without its secret
  secret         text NOT NULL,
  expires_at     timestamptz NOT NULL,
  stop_requested boolean NOT NULL DEFAULT false
);

CREATE FUNCTION {{S}}.count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO {{S}}.queues (name, used_at) SELECT DISTINCT queue, {{S}}.clock() FROM new_rows ON CONFLICT DO NOTHING;
  INSERT INTO {{S}}.count_deltas (queue, state, n)
    SELECT queue, state, count(*) FROM new_rows GROUP BY queue, state;
  RETURN NULL;
END $$;

CREATE FUNCTION {{S}}.count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO {{S}}.count_deltas (queue, state, n)
    SELECT queue, state, -count(*) FROM old_rows GROUP BY queue, state;
  UPDATE {{S}}.queues q SET used_at = greatest(q.used_at, d.used)
    FROM (SELECT queue, max(greatest(created_at, started_at)) AS used FROM old_rows GROUP BY queue) d
    WHERE q.name = d.queue AND d.used > q.used_at;
  RETURN NULL;
END $$;

-- An update moves counts between states and records finished attempts:
-- completed; failed (retried or not, and a pending task whose deadline
-- passed); a lease that expired.
CREATE FUNCTION {{S}}.count_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- One join of the transition tables, for both kinds of delta.
  WITH ch AS (
    SELECT n.queue, n.state AS ns, o.state AS os, n.attempts->-1->>'outcome' AS outcome
    FROM new_rows n JOIN old_rows o USING (id) WHERE n.state <> o.state),
  counts AS (
    INSERT INTO {{S}}.count_deltas (queue, state, n)
    SELECT queue, state, sum(d) FROM (
      SELECT queue, ns AS state, 1 AS d FROM ch UNION ALL SELECT queue, os, -1 FROM ch) x
    GROUP BY queue, state HAVING sum(d) <> 0)
  INSERT INTO {{S}}.history_deltas (queue, minute, completed, failed)
    SELECT queue, date_trunc('minute', {{S}}.clock()),
           count(*) FILTER (WHERE ns = 'completed'), count(*) FILTER (WHERE ns <> 'completed')
    FROM ch
    WHERE (os = 'processing' AND ns IN ('completed', 'failed', 'retrying'))
       OR (os = 'pending' AND ns = 'failed')
       OR (os = 'processing' AND ns = 'pending' AND outcome = 'lease_expired')
    GROUP BY queue;
  RETURN NULL;
END $$;

CREATE TRIGGER tasks_count_insert AFTER INSERT ON {{S}}.tasks
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {{S}}.count_insert();
CREATE TRIGGER tasks_count_delete AFTER DELETE ON {{S}}.tasks
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION {{S}}.count_delete();
CREATE TRIGGER tasks_count_update AFTER UPDATE ON {{S}}.tasks
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {{S}}.count_update();

-- end_attempt closes the last attempt record of a task's history.
CREATE FUNCTION {{S}}.end_attempt(attempts jsonb, at timestamptz, outcome text, err text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN jsonb_array_length(attempts) = 0 THEN attempts
  ELSE jsonb_set(attempts, ARRAY[(jsonb_array_length(attempts) - 1)::text],
       (attempts->-1) || jsonb_strip_nulls(jsonb_build_object('finished_at', at, 'outcome', outcome, 'error', nullif(err, ''))))
  END
$$;

-- lease promotes the due scheduled and retrying tasks of the queues
-- (returned in state pending, for their events), then takes up to p_max
-- pending tasks from the queues in the order given, skipping paused
-- queues and rows other leasers hold (SKIP LOCKED), highest priority
-- first and in line order (seq) within a priority, of p_types only when
-- it is not NULL. A pending task whose deadline passed is failed instead
-- of leased and returned in state failed, and does not count toward
-- p_max. p_secrets holds p_max fresh lease secrets made by the caller. One call, one round trip, one
-- transaction.
CREATE FUNCTION {{S}}.lease(p_worker text, p_queues text[], p_max int, p_lease_for interval, p_types text[], p_secrets text[])
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
  RETURN QUERY
  UPDATE {{S}}.tasks t SET state = 'pending', seq = p.seq, ready_at = greatest(t.created_at, t.run_at)
  FROM (SELECT d.id, nextval('{{S}}.task_seq') AS seq FROM (
          SELECT id FROM {{S}}.tasks
          WHERE state IN ('scheduled', 'retrying') AND queue = ANY (p_queues) AND run_at <= ts
          ORDER BY run_at, id FOR UPDATE SKIP LOCKED) d) p
  WHERE t.id = p.id
  RETURNING t.*;
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
        RETURNING t.*
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
