-- The epsilon ledger of differentially private releases (analytics/privacy/ledger.py,
-- docs/privacy.md "Differential privacy and the budget").
--
-- Each dataset has a total budget; every release or query that spends some of it
-- appends a row to hub.epsilon_spends. The remaining budget is the total less the sum
-- of the spends: one source of truth, no running total to drift. Spenders lock the
-- dataset's budget row (SELECT … FOR UPDATE) before summing, so two concurrent
-- releases cannot both pass the check and overspend together. numeric, not float:
-- ten spends of 0.1 must add up to exactly 1.

CREATE TABLE hub.epsilon_budgets (
    dataset     text PRIMARY KEY CHECK (dataset ~ '^[a-z][a-z0-9_]{0,40}$'),
    total       numeric NOT NULL CHECK (total >= 0),
    set_by      text NOT NULL DEFAULT current_user,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE hub.epsilon_spends (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dataset    text NOT NULL REFERENCES hub.epsilon_budgets (dataset),
    epsilon    numeric NOT NULL CHECK (epsilon > 0),
    purpose    text NOT NULL CHECK (purpose <> ''),
    spent_by   text NOT NULL DEFAULT current_user,
    spent_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX epsilon_spends_dataset ON hub.epsilon_spends (dataset, spent_at);

-- Spent privacy cannot be given back: the list of spends is append-only, for every
-- role including the owner (only dropping the trigger, a schema change, could undo it).
CREATE FUNCTION hub.epsilon_spends_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'hub.epsilon_spends is append-only: spent epsilon cannot be changed or removed'
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER epsilon_spends_no_update BEFORE UPDATE OR DELETE ON hub.epsilon_spends
    FOR EACH ROW EXECUTE FUNCTION hub.epsilon_spends_append_only();
CREATE TRIGGER epsilon_spends_no_truncate BEFORE TRUNCATE ON hub.epsilon_spends
    FOR EACH STATEMENT EXECUTE FUNCTION hub.epsilon_spends_append_only();

-- The differentially private datasets ship with a budget, so a fresh hub can release
-- them; an administrator changes it with `cityhub privacy budget DATASET EPSILON`.
INSERT INTO hub.epsilon_budgets (dataset, total) VALUES
    ('cctv_event_counts_dp', 10), ('meter_energy_dp', 10);

-- The console serves the administrator's release route: it may read budgets, lock a
-- budget row (FOR UPDATE needs an UPDATE grant; only updated_at, so it cannot raise a
-- total) and append spends. The analyst reaches none of this.
GRANT SELECT, UPDATE (updated_at) ON hub.epsilon_budgets TO cityhub_console;
GRANT SELECT, INSERT ON hub.epsilon_spends TO cityhub_console;
