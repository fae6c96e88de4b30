-- 0002: substring search over id, type and payload (List's Query), backed
-- by a trigram index. pg_trgm ships with PostgreSQL (Debian: in the
-- postgresql package; elsewhere postgresql-contrib) and is a trusted
-- extension since PostgreSQL 13, so a database owner may create it. It
-- lives in one schema per database (the first on the search_path), shared
-- by every taskmill schema there.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX tasks_search ON {{S}}.tasks USING gin ((id || ' ' || type || ' ' || coalesce(payload, '')) gin_trgm_ops);
