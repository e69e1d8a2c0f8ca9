-- What the analyst and the console see of the open datasets, beyond migrations 0003,
-- 0010 and 0011.

-- The open views leave rows out with their own joins and conditions: smart meters'
-- readings, household devices (a meter's position is a home's), single events. Without
-- a security barrier PostgreSQL may run a caller's cheap function on the underlying
-- rows before those conditions, and an analyst can write one (CREATE FUNCTION pg_temp.…
-- after SET default_transaction_read_only = off: TEMP is PUBLIC's on every database),
-- which then sees every row left out, meters' readings included. With the barrier only
-- leakproof operators (comparisons of times, text and numbers) reach under the view, so
-- filters on time, device, zone and metric still prune partitions and use indexes. A
-- view made later over hub.* needs WITH (security_barrier) too; tests/hub/test_analyst_sql.py
-- checks every view of anon that reads another schema.
DO $$
DECLARE
    v regclass;
BEGIN
    FOR v IN SELECT c.oid::regclass FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'anon' AND c.relkind = 'v' LOOP
        EXECUTE format('ALTER VIEW %s SET (security_barrier = true)', v);
    END LOOP;
END $$;

-- The catalogue's coverage of a large dataset (hub/datasets/stats.py) is the range of
-- the planner's statistics of the time column over the table and its partitions
-- (plain profile) or chunks (TimescaleDB): no scan. pg_stats shows a relation's
-- statistics only to a role that may read that relation, and the console reads
-- hub.telemetry and hub.events through the parent, never a partition, while
-- autovacuum analyses only the partitions: the console saw no coverage at all. This
-- function hands it those bounds, and nothing else, for the two time-series tables it
-- already reads in full.
CREATE FUNCTION hub.time_statistics(tbl regclass, OUT first timestamptz, OUT last timestamptz)
RETURNS record
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
    IF tbl NOT IN ('hub.telemetry'::regclass, 'hub.events'::regclass) THEN
        RAISE EXCEPTION 'hub.time_statistics covers hub.telemetry and hub.events only, not %', tbl
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    -- Histogram bounds leave out the most common values, which can be the first or
    -- last time (many devices report at the same minute): take both.
    SELECT min(v), max(v) INTO first, last
    FROM (SELECT unnest(coalesce(s.histogram_bounds::text::timestamptz[], '{}')
                        || coalesce(s.most_common_vals::text::timestamptz[], '{}')) AS v
          FROM pg_stats s
          JOIN pg_namespace n ON n.nspname = s.schemaname
          JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = s.tablename
          WHERE s.attname = 'ts'
            AND (c.oid = tbl OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = tbl))) x;
END $$;
REVOKE ALL ON FUNCTION hub.time_statistics(regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION hub.time_statistics(regclass) TO cityhub_console;

-- The console serves every dataset of the open schema, so tables the migrating role
-- adds there later (the anonymised releases) are readable by it as they are by
-- cityhub_analyst (0003); a release made by another role grants them itself.
ALTER DEFAULT PRIVILEGES IN SCHEMA anon GRANT SELECT ON TABLES TO cityhub_console;
