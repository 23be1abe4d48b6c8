-- Payments: one row per provider notice, its allocations, refunds, anomalies and orders.
-- The money itself is in journal_entries/postings; these say which payment it was.
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
    -- A notice is processed once, whatever the provider retries.
    UNIQUE (provider, provider_txn_id)
);
CREATE INDEX payment_notices_by_estate ON payment_notices (estate_id, status);

-- Which receivable lines a payment settled (negative rows: refunds), for commissions.
CREATE TABLE payment_allocations (
    id INTEGER PRIMARY KEY,
    payment_id INTEGER NOT NULL REFERENCES payment_notices(id),
    entry_id INTEGER NOT NULL REFERENCES journal_entries(id),
    unit_id INTEGER NOT NULL REFERENCES units(id),
    fee_item TEXT NOT NULL,  -- '' for the owner-credit part
    period TEXT NOT NULL,    -- '' for the owner-credit part
    amount_fen INTEGER NOT NULL CHECK (amount_fen <> 0)
);
CREATE INDEX payment_allocations_by_payment ON payment_allocations (payment_id);

CREATE TABLE payment_refunds (
    id INTEGER PRIMARY KEY,
    payment_id INTEGER NOT NULL REFERENCES payment_notices(id),
    entry_id INTEGER NOT NULL UNIQUE REFERENCES journal_entries(id),
    amount_fen INTEGER NOT NULL CHECK (amount_fen > 0),
    reason TEXT NOT NULL,
    actor TEXT NOT NULL,
    at TEXT NOT NULL,
    provider_refund_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX payment_refunds_by_payment ON payment_refunds (payment_id);

-- Notices that could not be processed as sent (the same txn id with another amount, ...).
CREATE TABLE payment_anomalies (
    id INTEGER PRIMARY KEY,
    estate_id INTEGER,
    provider TEXT NOT NULL,
    provider_txn_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    at TEXT NOT NULL
);

-- Orders sent to a gateway, so its notice finds the unit it pays.
CREATE TABLE payment_orders (
    order_id TEXT PRIMARY KEY,
    estate_id INTEGER NOT NULL REFERENCES estates(id),
    unit_id INTEGER NOT NULL REFERENCES units(id),
    provider TEXT NOT NULL,
    amount_fen INTEGER NOT NULL,
    created_at TEXT NOT NULL
) WITHOUT ROWID;

-- Each payment reads its unit's open receivables; postings_receivable leads with estate_id,
-- which that query does not have, so without this it scans every posting.
CREATE INDEX postings_by_unit ON postings (unit_id, account, fee_item, period)
    WHERE unit_id IS NOT NULL;
