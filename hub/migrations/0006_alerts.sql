-- Alerts: raised by threshold rules and device/CCTV events, worked by operators,
-- dispatched to agencies through an outbox. Plain tables: valid on both profiles.

-- Agencies an alert can be assigned to. webhook_url NULL means "use
-- CITYHUB_DISPATCH_WEBHOOK_URL", so one integrated-platform endpoint serves all.
CREATE TABLE hub.agencies (
    id           text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
    name         text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('police', 'fire', 'district', 'other')),
    code         text,
    webhook_url  text,
    enabled      boolean NOT NULL DEFAULT true
);
INSERT INTO hub.agencies (id, name, kind, code) VALUES
    ('police-112', 'Police (112)', 'police', '112'),
    ('fire-119', 'Fire and rescue (119)', 'fire', '119'),
    ('jung-gu-office', 'Jung-gu district office', 'district', NULL),
    ('jongno-gu-office', 'Jongno-gu district office', 'district', NULL),
    ('yongsan-gu-office', 'Yongsan-gu district office', 'district', NULL);

-- Threshold rules are data. A reading breaks a rule when any of its conditions
-- holds; the alert takes the highest severity among the conditions that hold.
CREATE TABLE hub.alert_rules (
    id           text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
    title        text NOT NULL,
    alert_type   text NOT NULL,
    -- No foreign key: the kind catalogue is stored after the migrations run.
    device_kind  text,
    metric       text NOT NULL,
    enabled      boolean NOT NULL DEFAULT true
);
CREATE TABLE hub.alert_rule_conditions (
    rule_id    text NOT NULL REFERENCES hub.alert_rules (id) ON DELETE CASCADE,
    op         text NOT NULL CHECK (op IN ('>', '<')),
    threshold  double precision NOT NULL,
    severity   text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    PRIMARY KEY (rule_id, op, threshold)
);
-- Korean ambient air standards and alert levels (주의보/경보) where they exist.
INSERT INTO hub.alert_rules (id, title, alert_type, device_kind, metric) VALUES
    ('pm10-high', 'PM10 above the alert level', 'air_quality', NULL, 'pm10'),
    ('pm25-high', 'PM2.5 above the alert level', 'air_quality', NULL, 'pm25'),
    ('o3-high', 'Ozone above the alert level', 'air_quality', NULL, 'o3'),
    ('co-high', 'Carbon monoxide above the 1-hour standard', 'air_quality', NULL, 'co'),
    ('no2-high', 'Nitrogen dioxide above the 1-hour standard', 'air_quality', NULL, 'no2'),
    ('so2-high', 'Sulphur dioxide above the 1-hour standard', 'air_quality', NULL, 'so2'),
    ('voltage-out-of-range', 'Supply voltage outside 200–250 V', 'power_quality', 'smart_meter', 'voltage');
INSERT INTO hub.alert_rule_conditions (rule_id, op, threshold, severity) VALUES
    ('pm10-high', '>', 150, 'warning'),
    ('pm10-high', '>', 300, 'critical'),
    ('pm25-high', '>', 75, 'warning'),
    ('pm25-high', '>', 150, 'critical'),
    ('o3-high', '>', 0.12, 'warning'),
    ('o3-high', '>', 0.3, 'critical'),
    ('co-high', '>', 25, 'warning'),
    ('co-high', '>', 50, 'critical'),
    ('no2-high', '>', 0.1, 'warning'),
    ('no2-high', '>', 0.3, 'critical'),
    ('so2-high', '>', 0.15, 'warning'),
    ('so2-high', '>', 0.5, 'critical'),
    ('voltage-out-of-range', '<', 200, 'warning'),
    ('voltage-out-of-range', '>', 250, 'warning');

CREATE SEQUENCE hub.alert_change_seq AS bigint;

CREATE TABLE hub.alerts (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- A rule id, or 'event:<type>' for alerts raised by device events.
    rule_id          text NOT NULL,
    alert_type       text NOT NULL,
    title            text NOT NULL,
    source           text NOT NULL CHECK (source IN ('rule', 'device', 'cctv')),
    severity         text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    state            text NOT NULL DEFAULT 'open'
                     CHECK (state IN ('open', 'acknowledged', 'assigned', 'resolved', 'closed')),
    device_id        text REFERENCES hub.devices (id),
    zone             text,
    related_devices  text[] NOT NULL DEFAULT '{}',
    metric           text,
    value            double precision,
    count            integer NOT NULL DEFAULT 1 CHECK (count >= 1),
    first_seen       timestamptz NOT NULL,
    last_seen        timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    acknowledged_at  timestamptz,
    acknowledged_by  text,
    assignee_user    text,
    assignee_agency  text REFERENCES hub.agencies (id),
    escalations      integer NOT NULL DEFAULT 0,
    resolved_at      timestamptz,
    resolved_by      text,
    outcome          text,
    last_seq         bigint NOT NULL DEFAULT 0
);
-- One live alert per device and rule: a repeating condition updates it, even when
-- two analytics processes race.
CREATE UNIQUE INDEX alerts_live_per_device_rule ON hub.alerts (device_id, rule_id)
    WHERE state IN ('open', 'acknowledged', 'assigned');
CREATE INDEX alerts_device_rule_seen ON hub.alerts (device_id, rule_id, last_seen DESC);
CREATE INDEX alerts_state_severity ON hub.alerts (state, severity);
CREATE INDEX alerts_created ON hub.alerts (created_at DESC);

-- Every change of an alert, in one global order: the live view resumes from seq.
CREATE TABLE hub.alert_changes (
    seq         bigint PRIMARY KEY DEFAULT nextval('hub.alert_change_seq'),
    alert_id    bigint NOT NULL REFERENCES hub.alerts (id),
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,
    action      text NOT NULL,
    from_state  text,
    to_state    text NOT NULL,
    severity    text NOT NULL,
    details     jsonb NOT NULL DEFAULT '{}'
);
ALTER SEQUENCE hub.alert_change_seq OWNED BY hub.alert_changes.seq;
CREATE INDEX alert_changes_alert ON hub.alert_changes (alert_id, seq);
CREATE INDEX alert_changes_at ON hub.alert_changes (at);

-- Standard operating procedures: a checklist per alert type ('default' when a type
-- has none). Ticks belong to the alert and name who ticked and when.
CREATE TABLE hub.sop_items (
    alert_type  text NOT NULL,
    item_no     integer NOT NULL CHECK (item_no >= 1),
    text        text NOT NULL,
    PRIMARY KEY (alert_type, item_no)
);
INSERT INTO hub.sop_items (alert_type, item_no, text) VALUES
    ('default', 1, 'Check the device is online and its recent readings are plausible'),
    ('default', 2, 'Look at nearby devices and cameras for the same condition'),
    ('default', 3, 'Decide whether an agency is needed and assign it'),
    ('default', 4, 'Write a note with what was found and done'),
    ('air_quality', 1, 'Confirm the reading against neighbouring stations'),
    ('air_quality', 2, 'Check the station for faults (calibration, recent maintenance)'),
    ('air_quality', 3, 'Inform the district office if the level persists for an hour'),
    ('air_quality', 4, 'Issue the public advisory (electronic signs, text alert) if critical'),
    ('power_quality', 1, 'Check other meters on the same feeder for the same voltage'),
    ('power_quality', 2, 'Report to the utility control room with the meter ids'),
    ('power_quality', 3, 'Record the utility ticket number in a note'),
    ('fire', 1, 'Verify the fire on the live camera image'),
    ('fire', 2, 'Assign fire-119 with the location'),
    ('fire', 3, 'Track nearby cameras for spread and access routes'),
    ('fire', 4, 'Inform the district office'),
    ('smoke', 1, 'Verify the smoke on the live camera image'),
    ('smoke', 2, 'Assign fire-119 if it is not a known, harmless source'),
    ('smoke', 3, 'Keep watching until the source is identified'),
    ('intrusion', 1, 'Verify the intrusion on the live camera image'),
    ('intrusion', 2, 'Assign police-112 if confirmed'),
    ('intrusion', 3, 'Follow the subject on nearby cameras'),
    ('fall', 1, 'Verify the person on the live camera image'),
    ('fall', 2, 'Assign fire-119 (ambulance) if the person does not get up'),
    ('fall', 3, 'Keep the camera on the person until help arrives'),
    ('crowd', 1, 'Estimate the crowd size and movement on the camera'),
    ('crowd', 2, 'Inform the district office and police-112 if it keeps growing'),
    ('power_outage', 1, 'Check how many meters in the area report an outage'),
    ('power_outage', 2, 'Report to the utility control room'),
    ('tamper', 1, 'Check the meter history for a sudden drop in consumption'),
    ('tamper', 2, 'Inform the utility''s revenue-protection team');

CREATE TABLE hub.alert_sop_ticks (
    alert_id    bigint NOT NULL REFERENCES hub.alerts (id),
    item_no     integer NOT NULL,
    done        boolean NOT NULL,
    ticked_by   text NOT NULL,
    ticked_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (alert_id, item_no)
);

-- Messages to agencies. A row is sent until delivered or out of attempts; its
-- idempotency key stays the same across retries so the receiver can de-duplicate.
CREATE TABLE hub.dispatch_outbox (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id         bigint NOT NULL REFERENCES hub.alerts (id),
    agency_id        text NOT NULL REFERENCES hub.agencies (id),
    status_code      text NOT NULL CHECK (status_code IN ('10', '40', '50', '90', '91')),
    payload          jsonb NOT NULL,
    idempotency_key  text NOT NULL UNIQUE,
    state            text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    response_status  integer,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz
);
CREATE INDEX dispatch_outbox_due ON hub.dispatch_outbox (next_attempt_at, id) WHERE state = 'pending';
CREATE INDEX dispatch_outbox_alert ON hub.dispatch_outbox (alert_id, id);

-- How far the analytics service has evaluated each stream, so a restart catches up.
CREATE TABLE hub.analytics_positions (
    stream      text PRIMARY KEY CHECK (stream IN ('telemetry', 'events')),
    position    timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

GRANT SELECT ON hub.agencies, hub.alert_rules, hub.alert_rule_conditions, hub.sop_items
    TO cityhub_console;
GRANT SELECT, INSERT, UPDATE ON hub.alerts, hub.alert_changes, hub.alert_sop_ticks,
    hub.dispatch_outbox, hub.analytics_positions TO cityhub_console;
GRANT USAGE ON SEQUENCE hub.alert_change_seq TO cityhub_console;
