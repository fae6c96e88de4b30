-- 0003: the statements that change a task's state write their own count
-- and history deltas, instead of the statement trigger of 0001.
--
-- The trigger made every UPDATE of tasks (an ack batch, a lease) keep
-- both transition tables — a copy of every old and new row — and join
-- them again to find what moved between states. Each statement knows
-- what it moved (an ack: processing to completed; a lease: pending to
-- processing), so it now says so in a CTE of its own (see changesCTEs in
-- counts.go). The insert and delete triggers stay: they read one
-- transition table only, and run at submit and retention, not at every
-- state change.
--
-- Processes of a version before this migration update tasks without
-- writing deltas, and call lease(): stop them before applying it.

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

-- lease() is one statement per queue in the backend now (lease.go):
-- without the plpgsql loop, its rows are not copied once more on their
-- way out, and it writes its count deltas as every other statement does.
DROP FUNCTION {{S}}.lease(text, text[], int, interval, text[], text[]);

-- Reclaim finds expired leases among the processing tasks through
-- tasks_state_id: there are as many as the workers run at once, and only
-- the leader looks, every few seconds. Without an index of its own,
-- lease_expires_at is in no index, so a heartbeat's Extend, which
-- changes nothing else, can update its rows in place (HOT) instead of
-- adding an entry to every index of tasks; and a lease adds one index
-- entry fewer.
DROP INDEX {{S}}.tasks_leased;
