-- The audit chain becomes keyed (hub/audit.py, hub/audit_keys.py): each new row's hash is an
-- HMAC under a key kept outside the database, and key_version names which key of the
-- key file. NULL marks a row written before this migration, hashed with the public rule
-- (SHA-256); those rows keep verifying, and a signed checkpoint protects them
-- (docs/security.md). The key itself is never stored here.
ALTER TABLE hub.audit_log ADD COLUMN key_version integer CHECK (key_version > 0);
