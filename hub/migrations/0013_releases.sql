-- Anonymised releases (analytics/privacy/release.py, docs/privacy.md "Releases").

-- Registration metadata of household devices that a release generalises over: the
-- household type (family, single_worker, single_elderly, vacant …). Kept apart from
-- hub.devices so that the registry's shape stays as it is; a meter without a row is
-- of type 'unknown'. Pseudonymised zone: never readable by the analyst.
CREATE TABLE hub.households (
    device_id       text PRIMARY KEY REFERENCES hub.devices (id) ON DELETE CASCADE,
    household_type  text NOT NULL CHECK (household_type ~ '^[a-z][a-z0-9_]{0,39}$')
);

-- The record the law asks for, per release: what was published, from which input,
-- how, with which proof, for whom and until when; and, once the period has ended,
-- when the published table was deleted.
CREATE TABLE hub.releases (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dataset            text NOT NULL CHECK (dataset ~ '^[a-z][a-z0-9_]{0,40}$'),
    version            integer NOT NULL CHECK (version > 0),
    created_at         timestamptz NOT NULL DEFAULT now(),
    created_by         text NOT NULL,
    input_start        timestamptz NOT NULL,
    input_end          timestamptz NOT NULL,
    method             text NOT NULL,
    params             jsonb NOT NULL,
    measures           jsonb NOT NULL,
    linkage_success    double precision NOT NULL,
    epsilon            double precision NOT NULL DEFAULT 0,
    quasi_identifiers  text[] NOT NULL DEFAULT '{}',
    sensitive          text[] NOT NULL DEFAULT '{}',
    columns            jsonb NOT NULL,  -- [{"name", "type"}] of the published table
    row_count          bigint NOT NULL,
    -- The legal record.
    purpose            text NOT NULL,
    items              text[] NOT NULL,
    recipients         text[] NOT NULL,
    period_end         timestamptz NOT NULL,
    deleted_at         timestamptz,
    deletion_reason    text,
    UNIQUE (dataset, version),
    CHECK (input_start < input_end)
);
CREATE INDEX releases_live ON hub.releases (period_end) WHERE deleted_at IS NULL;

-- The console lists releases in the catalogue and serves their tables.
GRANT SELECT ON hub.releases TO cityhub_console;

-- The data scientists' SQL sees the records of live releases (no personal data here).
-- security_barrier: the WHERE must run before any function an analyst writes (see 0015).
CREATE VIEW anon.releases WITH (security_barrier) AS
SELECT dataset, version, created_at, input_start, input_end, method, params, measures,
       linkage_success, epsilon, quasi_identifiers, sensitive, row_count,
       purpose, items, recipients, period_end,
       format('anon.%s_v%s', dataset, version) AS relation
FROM hub.releases
WHERE deleted_at IS NULL;
COMMENT ON VIEW anon.releases IS 'Anonymised releases: parameters, proof and legal record.';
GRANT SELECT ON anon.releases TO cityhub_analyst, cityhub_console;
