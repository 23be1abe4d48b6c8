-- Deposits (装修押金 and others): held per unit until inspected and refunded.
CREATE TABLE deposits (
    id INTEGER PRIMARY KEY,
    estate_id INTEGER NOT NULL REFERENCES estates(id),
    unit_id INTEGER NOT NULL REFERENCES units(id),
    purpose TEXT NOT NULL,
    amount_fen INTEGER NOT NULL CHECK (amount_fen > 0),
    status TEXT NOT NULL,
    collected_at TEXT NOT NULL,
    collect_entry_id INTEGER NOT NULL REFERENCES journal_entries(id),
    inspected_at TEXT,
    inspection_passed INTEGER,
    inspection_note TEXT,
    refunded_at TEXT,
    refund_entry_id INTEGER REFERENCES journal_entries(id),
    deductions TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX deposits_by_unit ON deposits (estate_id, unit_id);
