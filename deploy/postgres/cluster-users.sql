-- Login users of the cluster profile (docker-compose.yml, service `cluster-db-users`),
-- made members of the NOLOGIN group roles of the migrations (hub/migrations/0003_roles.sql)
-- or of PostgreSQL's own. Run after every migration on the primary; the replica gets the
-- roles by replication. It creates each user or resets its password, so rotating one is
-- "change .env, `docker-compose --profile cluster up -d`".
--
--   psql -v ON_ERROR_STOP=1 -v ingest_password=… -v console_password=… \
--        -v analytics_password=… -v exporter_password=… -v replication_password=… \
--        -f cluster-users.sql
--
-- psql quotes the variables (:'name'), so passwords need no escaping here.
\set ON_ERROR_STOP on

-- user, its password variable's value, its group role
CREATE TEMPORARY TABLE cluster_logins (login name, secret text, member_of name);
INSERT INTO cluster_logins VALUES
    ('ingest', :'ingest_password', 'cityhub_ingest'),
    ('console', :'console_password', 'cityhub_console'),
    -- Analytics reads telemetry and writes alerts and its position: the console's grants.
    ('analytics', :'analytics_password', 'cityhub_console'),
    -- postgres_exporter: the statistics views, nothing of the data.
    ('exporter', :'exporter_password', 'pg_monitor');

SELECT format('CREATE ROLE %I LOGIN', login) FROM cluster_logins
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = login) \gexec

-- Also for a user that already existed, so a mistaken superuser name is refused.
SELECT format('ALTER ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD %L',
              login, secret) FROM cluster_logins \gexec

SELECT format('GRANT %I TO %I', member_of, login) FROM cluster_logins \gexec

-- The replica streams WAL as this user; it may do nothing else (pg_hba.conf).
SELECT 'CREATE ROLE replicator LOGIN REPLICATION'
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'replicator') \gexec
SELECT format('ALTER ROLE replicator WITH LOGIN REPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %L',
              :'replication_password') \gexec
