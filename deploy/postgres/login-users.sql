-- Login users of the services, made members of the NOLOGIN group roles that the
-- migrations create (hub/migrations/0003_roles.sql). Run by the `db-users` service
-- of docker-compose.yml after every migration: it creates the users or resets their
-- passwords, so rotating a password is "change .env, `docker-compose up -d`".
--
--   psql -v ON_ERROR_STOP=1 -v ingest_user=… -v ingest_password=… -f login-users.sql
--
-- psql quotes the variables (:'name'), so passwords need no escaping here.
\set ON_ERROR_STOP on

SELECT format('CREATE ROLE %I LOGIN', :'ingest_user')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'ingest_user') \gexec

-- Also for a user that already existed, so a mistaken superuser name is refused.
SELECT format('ALTER ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %L',
              :'ingest_user', :'ingest_password') \gexec

SELECT format('GRANT cityhub_ingest TO %I', :'ingest_user') \gexec
