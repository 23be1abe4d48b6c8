-- Commission (提成): plan versions, targets, splits and settled statements.
-- Settlement reads a month's allocations through their entries.
CREATE INDEX payment_allocations_by_entry ON payment_allocations (entry_id);

-- One row per version; a correction is a new version with the same effective date.
CREATE TABLE commission_plans (
    id INTEGER PRIMARY KEY,
    estate_id INTEGER NOT NULL REFERENCES estates(id),
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    effective_from TEXT NOT NULL,
    kind TEXT NOT NULL,
    params TEXT NOT NULL,  -- JSON
    staff_id INTEGER REFERENCES staff(id),
    role TEXT,
    floor_fen INTEGER,
    cap_fen INTEGER,
    corrects INTEGER REFERENCES commission_plans(id),
    reason TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    actor TEXT NOT NULL,
    UNIQUE (estate_id, name, version),
    CHECK ((staff_id IS NULL) <> (role IS NULL))
);

CREATE TABLE commission_targets (
    estate_id INTEGER NOT NULL REFERENCES estates(id),
    staff_id INTEGER NOT NULL REFERENCES staff(id),
    period TEXT NOT NULL,
    amount_fen INTEGER CHECK (amount_fen > 0),
    households INTEGER CHECK (households > 0),
    PRIMARY KEY (estate_id, staff_id, period)
);

CREATE TABLE commission_splits (
    id INTEGER PRIMARY KEY,
    estate_id INTEGER NOT NULL REFERENCES estates(id),
    building_id INTEGER REFERENCES buildings(id),
    unit_id INTEGER REFERENCES units(id),
    shares TEXT NOT NULL,  -- JSON {"staff id": "percent"}
    start_date TEXT NOT NULL,
    end_date TEXT,
    CHECK ((building_id IS NULL) <> (unit_id IS NULL))
);

-- A month of an estate is settled once; its statements are documents kept as written.
CREATE TABLE commission_settlements (
    estate_id INTEGER NOT NULL REFERENCES estates(id),
    period TEXT NOT NULL,
    settled_at TEXT NOT NULL,
    actor TEXT NOT NULL,
    -- JSON: fen collected but earning nothing, by why (no collector, no plan, not settled)
    uncommissioned TEXT NOT NULL,
    PRIMARY KEY (estate_id, period)
);

CREATE TABLE commission_statements (
    id INTEGER PRIMARY KEY,
    estate_id INTEGER NOT NULL REFERENCES estates(id),
    staff_id INTEGER NOT NULL REFERENCES staff(id),
    period TEXT NOT NULL,
    sequence INTEGER NOT NULL,  -- 0 the settlement, 1.. adjustments after plan corrections
    plan_id INTEGER REFERENCES commission_plans(id),
    plan_name TEXT NOT NULL,
    plan_version INTEGER NOT NULL,
    total_fen INTEGER NOT NULL,
    lines TEXT NOT NULL,  -- JSON: one array per line
    inputs TEXT NOT NULL,  -- JSON: target, attainment, visits, weeks, the credited basis
    settled_at TEXT NOT NULL,
    actor TEXT NOT NULL,
    UNIQUE (estate_id, staff_id, period, sequence)
);
CREATE INDEX commission_statements_by_period ON commission_statements (estate_id, period);

-- Which statements hold clawback or adjustment lines of a payment (rare; the collection
-- lines are found through the month the payment came in).
CREATE TABLE commission_line_index (
    statement_id INTEGER NOT NULL REFERENCES commission_statements(id),
    payment_id INTEGER NOT NULL,
    PRIMARY KEY (payment_id, statement_id)
);

CREATE TRIGGER commission_plans_no_update BEFORE UPDATE ON commission_plans
BEGIN SELECT RAISE(ABORT, 'commission plans are versioned, never edited'); END;
CREATE TRIGGER commission_plans_no_delete BEFORE DELETE ON commission_plans
BEGIN SELECT RAISE(ABORT, 'commission plans are versioned, never deleted'); END;
CREATE TRIGGER commission_statements_no_update BEFORE UPDATE ON commission_statements
BEGIN SELECT RAISE(ABORT, 'settled statements are immutable'); END;
CREATE TRIGGER commission_statements_no_delete BEFORE DELETE ON commission_statements
BEGIN SELECT RAISE(ABORT, 'settled statements are immutable'); END;
CREATE TRIGGER commission_settlements_no_update BEFORE UPDATE ON commission_settlements
BEGIN SELECT RAISE(ABORT, 'settlements are immutable'); END;
CREATE TRIGGER commission_settlements_no_delete BEFORE DELETE ON commission_settlements
BEGIN SELECT RAISE(ABORT, 'settlements are immutable'); END;
