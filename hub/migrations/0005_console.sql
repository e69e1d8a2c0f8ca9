-- Operations console: accounts, refresh tokens, login throttling, and the
-- hash-chained audit log (hub/audit.py writes it, `cityhub audit verify` checks it).

CREATE TABLE hub.users (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username       text NOT NULL UNIQUE CHECK (username ~ '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$'),
    display_name   text,
    role           text NOT NULL
                   CHECK (role IN ('operator', 'supervisor', 'analyst', 'admin', 'vendor')),
    password_hash  text NOT NULL,
    disabled       boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Only a SHA-256 of each refresh token is kept; a used token is revoked and
-- points at its successor, so reuse of a rotated token is recognised.
CREATE TABLE hub.refresh_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES hub.users (id) ON DELETE CASCADE,
    token_hash   text NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    replaced_by  bigint REFERENCES hub.refresh_tokens (id)
);
CREATE INDEX refresh_tokens_user ON hub.refresh_tokens (user_id) WHERE revoked_at IS NULL;

-- Kept in the database so several console processes throttle together.
CREATE TABLE hub.login_attempts (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    username   text NOT NULL,
    client_ip  text NOT NULL,
    ok         boolean NOT NULL
);
CREATE INDEX login_attempts_username ON hub.login_attempts (username, at);
CREATE INDEX login_attempts_ip ON hub.login_attempts (client_ip, at) WHERE NOT ok;

-- Ids are contiguous (taken from the head under its row lock), so a missing id
-- is a deleted row; hash = SHA-256(prev_hash || canonical row).
CREATE TABLE hub.audit_log (
    id         bigint PRIMARY KEY,
    ts         timestamptz NOT NULL,
    actor      text NOT NULL,
    action     text NOT NULL,
    target     text NOT NULL,
    details    jsonb NOT NULL DEFAULT '{}',
    prev_hash  text NOT NULL,
    hash       text NOT NULL
);
CREATE INDEX audit_log_ts ON hub.audit_log (ts);
CREATE INDEX audit_log_actor ON hub.audit_log (actor, id);

-- One row: the id and hash of the last entry. Appenders lock it, so the chain
-- never forks, and deleting the newest rows leaves it pointing past the end.
CREATE TABLE hub.audit_head (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    seq        bigint NOT NULL,
    hash       text NOT NULL
);
INSERT INTO hub.audit_head (seq, hash) VALUES (0, repeat('0', 64));

GRANT SELECT, INSERT, UPDATE ON hub.users, hub.refresh_tokens TO cityhub_console;
GRANT SELECT, INSERT, DELETE ON hub.login_attempts TO cityhub_console;
-- Append-only for the console: no UPDATE or DELETE on the log itself.
GRANT SELECT, INSERT ON hub.audit_log TO cityhub_console;
GRANT SELECT, UPDATE ON hub.audit_head TO cityhub_console;
