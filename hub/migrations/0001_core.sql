-- The registry and the tables that do not depend on the storage profile.
CREATE SCHEMA IF NOT EXISTS hub;
-- Anonymised views for data scientists (filled by analytics releases).
CREATE SCHEMA IF NOT EXISTS anon;
-- Raw identifiers kept for a lawful purpose; every read is audited.
CREATE SCHEMA IF NOT EXISTS restricted;

CREATE TABLE hub.device_kinds (
    name        text PRIMARY KEY,
    spec        jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE hub.devices (
    -- MQTT topic levels must not contain wildcards or separators.
    id          text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$'),
    kind        text NOT NULL REFERENCES hub.device_kinds (name),
    zone        text,
    lat         double precision CHECK (lat BETWEEN -90 AND 90),
    lon         double precision CHECK (lon BETWEEN -180 AND 180),
    gateway_id  text REFERENCES hub.devices (id),
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
    online      boolean,
    token_hash  text NOT NULL,
    -- Pseudonym of the person or household a device belongs to (never the raw id).
    subject     text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    last_seen   timestamptz
);
CREATE INDEX devices_kind_zone ON hub.devices (kind, zone);
CREATE INDEX devices_gateway ON hub.devices (gateway_id) WHERE gateway_id IS NOT NULL;

CREATE TABLE hub.dead_letters (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at   timestamptz NOT NULL,
    topic         text NOT NULL,
    device_id     text,
    payload       bytea NOT NULL,
    reason_code   text NOT NULL,
    reason        text NOT NULL,
    replayed_at   timestamptz,
    replay_result text
);
CREATE INDEX dead_letters_pending ON hub.dead_letters (id) WHERE replayed_at IS NULL;

-- How each time-series table is partitioned and how long it is kept. The plain
-- profile's hub.maintain() reads it; the TimescaleDB profile sets the same
-- intervals as chunk sizes and retention policies.
CREATE TABLE hub.storage_policy (
    table_name          text PRIMARY KEY,
    partition_interval  interval NOT NULL,
    retention           interval NOT NULL
);
INSERT INTO hub.storage_policy VALUES
    ('telemetry',    '1 day',  '90 days'),
    ('telemetry_1m', '7 days', '730 days'),
    ('events',       '7 days', '365 days');
