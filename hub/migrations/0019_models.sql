-- Anomaly detection (analytics/models/, docs/analytics.md "Anomaly detection"): the store of
-- trained models, the welfare-check consent register, and the alert types, agencies and SOPs
-- the detectors raise. Plain tables: valid on both profiles.

-- Trained models. A name has versions 1, 2, …; the live service uses the newest version of
-- each name and picks up a new one without a restart. `model` is the fitted object as
-- joblib bytes, read only by the analytics code that wrote it.
CREATE TABLE hub.analytics_models (
    name          text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
    version       integer NOT NULL CHECK (version >= 1),
    trained_from  timestamptz NOT NULL,
    trained_to    timestamptz NOT NULL,
    scores        jsonb NOT NULL DEFAULT '{}',
    params        jsonb NOT NULL DEFAULT '{}',
    model         bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    created_by    text NOT NULL,
    PRIMARY KEY (name, version),
    CHECK (trained_from <= trained_to)
);

-- Households whose occupant is vulnerable (living alone, elderly, ill) and who consented to
-- the welfare check (돌봄 안부 확인): no change in consumption for a day alerts the district's
-- welfare office. Without a row here (or with consent withdrawn) no welfare alert is raised:
-- the consent is the lawful basis for watching a person's consumption for this purpose.
CREATE TABLE hub.welfare_consents (
    device_id         text PRIMARY KEY REFERENCES hub.devices (id) ON DELETE CASCADE,
    vulnerable        boolean NOT NULL DEFAULT true,
    consent_given_at  timestamptz NOT NULL,
    -- Who gave it: the resident, a guardian, a social worker's record - as the form says.
    consent_given_by  text NOT NULL CHECK (length(consent_given_by) BETWEEN 1 AND 200),
    consent_basis     text NOT NULL CHECK (length(consent_basis) BETWEEN 1 AND 200),
    withdrawn_at      timestamptz,
    recorded_at       timestamptz NOT NULL DEFAULT now(),
    recorded_by       text NOT NULL
);

-- Who the detectors' alerts go to. District welfare offices for the demo's districts; a
-- district without one gets its district office.
INSERT INTO hub.agencies (id, name, kind, code) VALUES
    ('maintenance', 'Sensor maintenance team', 'other', NULL),
    ('utility', 'Electric utility (revenue protection and metering)', 'other', NULL),
    ('jung-gu-welfare', 'Jung-gu welfare office (복지정책과)', 'district', NULL),
    ('jongno-gu-welfare', 'Jongno-gu welfare office (복지정책과)', 'district', NULL),
    ('yongsan-gu-welfare', 'Yongsan-gu welfare office (복지정책과)', 'district', NULL),
    ('mapo-gu-welfare', 'Mapo-gu welfare office (복지정책과)', 'district', NULL)
ON CONFLICT (id) DO NOTHING;

INSERT INTO hub.sop_items (alert_type, item_no, text) VALUES
    ('sensor_fault', 1, 'Compare the station with its neighbours on the chart: a fault is this station alone'),
    ('sensor_fault', 2, 'Do not issue a public notice from this station; its pollution alerts are held while it is flagged'),
    ('sensor_fault', 3, 'Assign maintenance: check the inlet, the calibration and recent servicing'),
    ('sensor_fault', 4, 'Resolve as handled once the station is repaired, or false alarm if the neighbours were wrong'),
    ('meter_anomaly', 1, 'Look at the meter''s recent days: a register reset, a voltage sag or missing readings'),
    ('meter_anomaly', 2, 'Assign the utility''s metering team to inspect the meter'),
    ('meter_anomaly', 3, 'Record the utility ticket number in a note'),
    ('suspected_theft', 1, 'Compare the meter''s consumption with its own past and similar households'),
    ('suspected_theft', 2, 'Assign the utility''s revenue-protection team; do not contact the household from the centre'),
    ('suspected_theft', 3, 'Record the outcome of the inspection in a note'),
    ('welfare_check', 1, 'Read the consent on the alert: act only within what the resident agreed to'),
    ('welfare_check', 2, 'Assign the district welfare office: they call or visit the resident'),
    ('welfare_check', 3, 'If nobody answers and there is a risk to life, call fire-119'),
    ('welfare_check', 4, 'Resolve with what was found (a trip away is false alarm)')
ON CONFLICT DO NOTHING;

GRANT SELECT ON hub.analytics_models, hub.welfare_consents TO cityhub_console;
