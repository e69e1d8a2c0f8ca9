-- Database roles of DESIGN.md. They are NOLOGIN groups: an administrator creates
-- login users IN ROLE one of them. Roles are cluster-wide, so creation tolerates
-- another database of the same cluster having made them first.
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['cityhub_ingest', 'cityhub_console', 'cityhub_analyst'] LOOP
        BEGIN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END LOOP;
END $$;

REVOKE ALL ON SCHEMA hub, restricted, anon FROM PUBLIC;
GRANT USAGE ON SCHEMA hub TO cityhub_ingest, cityhub_console;
GRANT SELECT ON hub.device_kinds, hub.devices, hub.storage_policy TO cityhub_ingest, cityhub_console;
GRANT UPDATE (last_seen, online, subject) ON hub.devices TO cityhub_ingest;
GRANT SELECT, INSERT ON hub.telemetry, hub.events TO cityhub_ingest;
GRANT SELECT, INSERT, UPDATE ON hub.dead_letters TO cityhub_ingest;
GRANT SELECT ON hub.telemetry, hub.events, hub.telemetry_1m, hub.dead_letters TO cityhub_console;
GRANT EXECUTE ON FUNCTION hub.maintain(interval) TO cityhub_ingest;

-- Data scientists see the anonymised schema only, never pseudonymised rows.
GRANT USAGE ON SCHEMA anon TO cityhub_analyst;
ALTER DEFAULT PRIVILEGES IN SCHEMA anon GRANT SELECT ON TABLES TO cityhub_analyst;
ALTER ROLE cityhub_analyst SET statement_timeout = '30s';
