-- Billing: fee items, their assignment to units, and the bills of each run.
CREATE TABLE fee_items (
    id INTEGER PRIMARY KEY,
    estate_id INTEGER NOT NULL REFERENCES estates(id),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    schedule TEXT NOT NULL,
    -- Decimal text: {"residential": "2.50", ...} yuan per m2 per month.
    rates TEXT NOT NULL DEFAULT '{}',
    amount TEXT,
    due TEXT NOT NULL,
    vacancy_rate TEXT,
    UNIQUE (estate_id, code)
);

-- A fixed item (a parking space) charged to a unit; end_date exclusive.
CREATE TABLE fee_assignments (
    id INTEGER PRIMARY KEY,
    estate_id INTEGER NOT NULL REFERENCES estates(id),
    unit_id INTEGER NOT NULL REFERENCES units(id),
    fee_item TEXT NOT NULL,
    start_date TEXT NOT NULL,
    end_date TEXT
);
CREATE INDEX fee_assignments_by_unit ON fee_assignments (unit_id);

-- Each (unit, fee item, period) is billed once, whatever crashes or reruns happen:
-- the bill and its journal entry commit together.
CREATE TABLE bills (
    id INTEGER PRIMARY KEY,
    estate_id INTEGER NOT NULL REFERENCES estates(id),
    unit_id INTEGER NOT NULL REFERENCES units(id),
    fee_item TEXT NOT NULL,
    period TEXT NOT NULL,
    amount_fen INTEGER NOT NULL,
    due_date TEXT NOT NULL,
    -- JSON [[owner_id or null, fen], ...]: who owed which part (an owner change mid-period).
    owner_shares TEXT NOT NULL,
    entry_id INTEGER NOT NULL REFERENCES journal_entries(id),
    UNIQUE (unit_id, fee_item, period)
);
CREATE INDEX bills_by_estate ON bills (estate_id, period);

-- Paid-service charges of tickets that have been billed, so each is billed once.
CREATE TABLE billed_ticket_charges (
    charge_id INTEGER PRIMARY KEY REFERENCES ticket_charges(id),
    entry_id INTEGER NOT NULL REFERENCES journal_entries(id)
);

-- A contract's late-fee clause (none by default: Chinese law sets no late fee for property
-- fees). Decimal text.
CREATE TABLE late_fee_terms (
    estate_id INTEGER PRIMARY KEY REFERENCES estates(id),
    daily_rate TEXT NOT NULL,
    grace_days INTEGER NOT NULL,
    cap TEXT NOT NULL
);

-- Late fees assessed, once per bill and month of assessment; waivers reverse the entry.
CREATE TABLE late_fees (
    id INTEGER PRIMARY KEY,
    estate_id INTEGER NOT NULL REFERENCES estates(id),
    unit_id INTEGER NOT NULL REFERENCES units(id),
    fee_item TEXT NOT NULL,
    period TEXT NOT NULL,
    as_of_month TEXT NOT NULL,
    amount_fen INTEGER NOT NULL,
    entry_id INTEGER NOT NULL REFERENCES journal_entries(id),
    UNIQUE (unit_id, fee_item, period, as_of_month)
);
