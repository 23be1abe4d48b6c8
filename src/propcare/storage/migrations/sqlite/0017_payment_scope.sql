-- Payment idempotency keys scoped to the estate (and a gateway's merchant): issue 15.
--
-- Until now (provider, provider_txn_id) was unique across every estate, so estate A's till
-- slip "0001" was taken for a replay of estate B's. A notice's key is now:
--   * a notice naming no merchant (the counter, whose slips each front desk numbers itself):
--     (estate_id, provider, provider_txn_id);
--   * a gateway notice naming its merchant (WeChat Pay mchid, Alipay seller id):
--     (provider, merchant, provider_txn_id) in every estate, since the provider numbers the
--     merchant's transactions and one merchant account may collect for several estates: the
--     same transaction routed to another estate is the same money, never a second payment.
-- Rows written before this migration keep merchant '' and so the key of their own estate.
--
-- SQLite cannot drop a table's UNIQUE constraint, so the table is rebuilt, with the new
-- column last (where PostgreSQL's ADD COLUMN puts it). payment_allocations and
-- payment_refunds reference it: their checks wait for the end of the transaction, by when
-- every row is back under its own id.
PRAGMA defer_foreign_keys = ON;

CREATE TABLE payment_notices_before_0017 AS SELECT * FROM payment_notices;

DROP TABLE payment_notices;

CREATE TABLE payment_notices (
    id INTEGER PRIMARY KEY,
    estate_id INTEGER NOT NULL REFERENCES estates(id),
    provider TEXT NOT NULL,
    provider_txn_id TEXT NOT NULL,
    amount_fen INTEGER NOT NULL CHECK (amount_fen > 0),
    unit_id INTEGER REFERENCES units(id),
    order_id TEXT,
    method TEXT NOT NULL DEFAULT '',
    paid_at TEXT NOT NULL,
    entry_id INTEGER NOT NULL REFERENCES journal_entries(id),
    -- posted: allocated to the unit; suspense: waits for a person; resolved: moved to a unit;
    -- reversed: the payment entry was reversed.
    status TEXT NOT NULL,
    receipt_year INTEGER,
    receipt_number INTEGER,
    -- The gateway's merchant account the notice names; '' for the counter and for gateways
    -- that name none.
    merchant TEXT NOT NULL DEFAULT ''
);

INSERT INTO payment_notices (id, estate_id, provider, provider_txn_id, amount_fen, unit_id,
    order_id, method, paid_at, entry_id, status, receipt_year, receipt_number)
SELECT id, estate_id, provider, provider_txn_id, amount_fen, unit_id, order_id, method, paid_at,
    entry_id, status, receipt_year, receipt_number
FROM payment_notices_before_0017;

DROP TABLE payment_notices_before_0017;

CREATE INDEX payment_notices_by_estate ON payment_notices (estate_id, status);

-- A notice is processed once per key, whatever the provider retries.
CREATE UNIQUE INDEX payment_notices_key
    ON payment_notices (estate_id, provider, merchant, provider_txn_id);
CREATE UNIQUE INDEX payment_notices_merchant_key
    ON payment_notices (provider, merchant, provider_txn_id) WHERE merchant <> '';
