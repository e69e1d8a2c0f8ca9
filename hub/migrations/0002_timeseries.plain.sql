-- Plain PostgreSQL: the hub partitions by time itself, keeps the 1-minute rollup
-- with a statement trigger, and applies retention by dropping whole partitions.

CREATE TABLE hub.telemetry (
    ts         timestamptz NOT NULL,
    device_id  text NOT NULL,
    metric     text NOT NULL,
    value      double precision NOT NULL,
    -- One row per reading: a redelivered reading is a no-op.
    PRIMARY KEY (device_id, metric, ts)
) PARTITION BY RANGE (ts);
CREATE INDEX telemetry_ts_brin ON hub.telemetry USING brin (ts);

CREATE TABLE hub.events (
    ts           timestamptz NOT NULL,
    device_id    text NOT NULL,
    type         text NOT NULL,
    severity     text NOT NULL,
    confidence   real,
    subject      text,
    attributes   jsonb NOT NULL DEFAULT '{}',
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device_id, type, ts)
) PARTITION BY RANGE (ts);

CREATE TABLE hub.telemetry_1m (
    bucket     timestamptz NOT NULL,
    device_id  text NOT NULL,
    metric     text NOT NULL,
    n          bigint NOT NULL,
    sum        double precision NOT NULL,
    min        double precision NOT NULL,
    max        double precision NOT NULL,
    PRIMARY KEY (device_id, metric, bucket)
) PARTITION BY RANGE (bucket);

-- Only rows that were really inserted reach the transition table, so redelivered
-- readings (ON CONFLICT DO NOTHING) are never counted twice.
CREATE FUNCTION hub.rollup_telemetry() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, hub AS $$
BEGIN
    INSERT INTO hub.telemetry_1m AS r (bucket, device_id, metric, n, sum, min, max)
    SELECT date_bin('1 minute', ts, TIMESTAMPTZ '2000-01-01 00:00+00'), device_id, metric,
           count(*), sum(value), min(value), max(value)
    FROM new_rows
    GROUP BY 1, 2, 3
    ORDER BY 2, 3, 1
    ON CONFLICT (device_id, metric, bucket) DO UPDATE
       SET n = r.n + EXCLUDED.n,
           sum = r.sum + EXCLUDED.sum,
           min = LEAST(r.min, EXCLUDED.min),
           max = GREATEST(r.max, EXCLUDED.max);
    RETURN NULL;
END $$;

CREATE TRIGGER telemetry_rollup AFTER INSERT ON hub.telemetry
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION hub.rollup_telemetry();

-- Creates the partitions from the retention horizon to `ahead` in the future and
-- drops those wholly older than the retention. Safe to call at any time.
CREATE FUNCTION hub.maintain(ahead interval DEFAULT '7 days') RETURNS void
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
