-- Broker credentials. Mosquitto cannot read argon2, so beside each token's argon2
-- hash (which the hub checks) the registry keeps the same token's Mosquitto-format
-- hash ($7$: PBKDF2-SHA512), from which `cityhub broker config` writes the broker's
-- password file. NULL means "not in the password file": revoked devices, and devices
-- registered before this migration until their token is rotated.
ALTER TABLE hub.devices ADD COLUMN broker_hash text;

-- The hub's own broker accounts (ingest; the demo simulator), so the password file
-- and the HTTP auth endpoint (EMQX) check the same passwords.
CREATE TABLE hub.broker_accounts (
    name           text PRIMARY KEY,
    role           text NOT NULL CHECK (role IN ('ingest', 'simulator')),
    password_hash  text NOT NULL,
    broker_hash    text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    rotated_at     timestamptz NOT NULL DEFAULT now()
);

-- The console answers the broker's auth requests (POST /api/v1/mqtt/auth).
GRANT SELECT ON hub.broker_accounts TO cityhub_console;
