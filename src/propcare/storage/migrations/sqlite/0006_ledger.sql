-- The fee ledger: entries and postings in integer fen, append-only.
CREATE TABLE journal_entries (
    id INTEGER PRIMARY KEY,
    estate_id INTEGER NOT NULL REFERENCES estates(id),
    kind TEXT NOT NULL,
    at TEXT NOT NULL,
    idem_key TEXT NOT NULL UNIQUE,
    actor TEXT NOT NULL,
    memo TEXT NOT NULL DEFAULT '',
    -- An entry is reversed at most once.
    reverses INTEGER UNIQUE REFERENCES journal_entries(id)
);
CREATE INDEX journal_by_estate ON journal_entries (estate_id, at);

CREATE TABLE postings (
    id INTEGER PRIMARY KEY,
    entry_id INTEGER NOT NULL REFERENCES journal_entries(id),
    estate_id INTEGER NOT NULL REFERENCES estates(id),
    account TEXT NOT NULL,
    sub TEXT NOT NULL DEFAULT '',
    unit_id INTEGER REFERENCES units(id),
    fee_item TEXT,
    period TEXT,
    amount_fen INTEGER NOT NULL CHECK (amount_fen <> 0),
    at TEXT NOT NULL
);
CREATE INDEX postings_by_entry ON postings (entry_id);
CREATE INDEX postings_receivable ON postings (estate_id, account, unit_id, fee_item, period);

-- Money records are never changed: a correction is a reversing entry.
CREATE TRIGGER journal_entries_no_update BEFORE UPDATE ON journal_entries
BEGIN SELECT RAISE(ABORT, 'journal entries are append-only: post a reversal'); END;
CREATE TRIGGER journal_entries_no_delete BEFORE DELETE ON journal_entries
BEGIN SELECT RAISE(ABORT, 'journal entries are append-only: post a reversal'); END;
CREATE TRIGGER postings_no_update BEFORE UPDATE ON postings
BEGIN SELECT RAISE(ABORT, 'postings are append-only: post a reversal'); END;
CREATE TRIGGER postings_no_delete BEFORE DELETE ON postings
BEGIN SELECT RAISE(ABORT, 'postings are append-only: post a reversal'); END;

-- Receipt numbers are gapless per estate and year; a voided receipt keeps its number.
CREATE TABLE receipt_counters (
    estate_id INTEGER NOT NULL REFERENCES estates(id),
    year INTEGER NOT NULL,
    last_number INTEGER NOT NULL,
    PRIMARY KEY (estate_id, year)
) WITHOUT ROWID;

CREATE TABLE receipts (
    estate_id INTEGER NOT NULL REFERENCES estates(id),
    year INTEGER NOT NULL,
    number INTEGER NOT NULL,
    entry_id INTEGER NOT NULL UNIQUE REFERENCES journal_entries(id),
    issued_at TEXT NOT NULL,
    voided_at TEXT,
    void_reason TEXT,
    PRIMARY KEY (estate_id, year, number)
) WITHOUT ROWID;
