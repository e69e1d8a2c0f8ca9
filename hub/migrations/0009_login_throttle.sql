-- Login throttling state, one row per key (ops_console/throttle.py):
--   (username as typed, client address)  failures of one name from one address;
--   ('', client address)                  failures of every name from one address
--                                         ('' is never a username: a login needs one).
-- A login locks its keys' rows (SELECT … FOR UPDATE), checks them and reserves the
-- attempt as a failure in one short transaction before the slow password check, so
-- concurrent guesses cannot all pass the check. A success then clears its pair's row.
CREATE TABLE hub.login_throttle (
    username      text NOT NULL,
    client_ip     text NOT NULL,
    failures      integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
    last_failure  timestamptz,
    PRIMARY KEY (username, client_ip)
);
CREATE INDEX login_throttle_last_failure ON hub.login_throttle (last_failure);

GRANT SELECT, INSERT, UPDATE, DELETE ON hub.login_throttle TO cityhub_console;
