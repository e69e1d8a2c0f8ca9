-- Ingest COPYs a batch straight into the partition of its day where it can.
-- PostgreSQL inserts the rows of a COPY into a partitioned table one at a time when
-- the table has a statement trigger with a transition table (hub.telemetry's rollup
-- trigger), but in batches into a plain table (a WAL record per page, not per row):
-- about a fifth less server CPU per row (docs/benchmarks.md). So every telemetry
-- partition gets the rollup trigger too. A row COPYed into a partition fires only the
-- partition's statement trigger and a row inserted through hub.telemetry only the
-- parent's, so each row is counted once either way. Ingest needs INSERT on the
-- partition itself; where its login lacks it, ingest goes through the parent.

CREATE FUNCTION hub.prepare_telemetry_partition(child regclass) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, hub AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_inherits
                   WHERE inhrelid = child AND inhparent = 'hub.telemetry'::regclass) THEN
        RAISE EXCEPTION '% is not a partition of hub.telemetry', child;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger
                   WHERE tgrelid = child AND tgname = 'telemetry_rollup_direct') THEN
        EXECUTE format('CREATE TRIGGER telemetry_rollup_direct AFTER INSERT ON %s '
                       'REFERENCING NEW TABLE AS new_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION hub.rollup_telemetry()', child);
    END IF;
    EXECUTE format('GRANT SELECT, INSERT ON %s TO cityhub_ingest', child);
END $$;
-- It grants privileges as its owner: only the owner and hub.maintain() may call it.
REVOKE EXECUTE ON FUNCTION hub.prepare_telemetry_partition(regclass) FROM PUBLIC;

SELECT hub.prepare_telemetry_partition(i.inhrelid::regclass)
FROM pg_inherits i WHERE i.inhparent = 'hub.telemetry'::regclass;

-- Creates the partitions from the retention horizon to `ahead` in the future and
-- drops those wholly older than the retention. Safe to call at any time.
CREATE OR REPLACE FUNCTION hub.maintain(ahead interval DEFAULT '7 days') RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, hub AS $$
DECLARE
    p      record;
    part   record;
    lo     timestamptz;
    origin constant timestamptz := TIMESTAMPTZ '2000-01-03 00:00+00';  -- a Monday
    child  text;
BEGIN
    FOR p IN SELECT table_name, partition_interval, retention FROM hub.storage_policy LOOP
        lo := date_bin(p.partition_interval, now() - p.retention, origin);
        WHILE lo < now() + ahead LOOP
            child := p.table_name || '_p' || to_char(lo AT TIME ZONE 'UTC', 'YYYYMMDD');
            IF to_regclass(format('hub.%I', child)) IS NULL THEN
                EXECUTE format('CREATE TABLE hub.%I PARTITION OF hub.%I FOR VALUES FROM (%L) TO (%L)',
                               child, p.table_name, lo, lo + p.partition_interval);
                IF p.table_name = 'telemetry' THEN
                    PERFORM hub.prepare_telemetry_partition(format('hub.%I', child)::regclass);
                END IF;
            END IF;
            lo := lo + p.partition_interval;
        END LOOP;
        FOR part IN
            SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = format('hub.%I', p.table_name)::regclass
        LOOP
            IF (to_date(right(part.relname, 8), 'YYYYMMDD')::timestamp AT TIME ZONE 'UTC')
                   + p.partition_interval < now() - p.retention THEN
                EXECUTE format('DROP TABLE hub.%I', part.relname);
            END IF;
        END LOOP;
    END LOOP;
END $$;
