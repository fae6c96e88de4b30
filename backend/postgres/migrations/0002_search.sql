-- 0002: substring search over id, type and payload (List's Query), backed
-- by a trigram index. The text searched lives in a table of its own,
-- written once and removed with the task: every state change of a task
-- rewrites its row in every index of tasks, and a trigram index holds
-- dozens of entries per row, so it is kept off that path. It is not on
-- the submit path either: an insert only notes the new id in
-- task_search_pending, and the backend's background indexer moves the
-- pending ids into task_search in batches every second; List searches
-- both, so a task is found from the moment it is stored.
--
-- pg_trgm ships with PostgreSQL (Debian: in the postgresql package;
-- elsewhere postgresql-contrib) and is a trusted extension since
-- PostgreSQL 13, so a database owner may create it. It lives in one
-- schema per database (the first on the search_path), shared by every
-- taskmill schema there.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE {{S}}.task_search (
  id  text PRIMARY KEY,
  doc text NOT NULL -- id, type and payload, as List's Query matches them
);
CREATE INDEX task_search_doc ON {{S}}.task_search USING gin (doc gin_trgm_ops);

-- Ids stored but not indexed yet: no index, an append and a delete each.
CREATE TABLE {{S}}.task_search_pending (
  id text NOT NULL
);

CREATE FUNCTION {{S}}.search_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO {{S}}.task_search_pending (id) SELECT id FROM new_rows;
  RETURN NULL;
END $$;

CREATE FUNCTION {{S}}.search_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM {{S}}.task_search s USING old_rows o WHERE s.id = o.id;
  DELETE FROM {{S}}.task_search_pending s USING old_rows o WHERE s.id = o.id;
  RETURN NULL;
END $$;

CREATE TRIGGER tasks_search_insert AFTER INSERT ON {{S}}.tasks
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {{S}}.search_insert();
CREATE TRIGGER tasks_search_delete AFTER DELETE ON {{S}}.tasks
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION {{S}}.search_delete();
