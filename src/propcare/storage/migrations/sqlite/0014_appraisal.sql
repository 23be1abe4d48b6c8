-- Appraisal (绩效考核): scorecard versions, manual inputs, closed cycles and their results.
CREATE TABLE appraisal_scorecards (
    id INTEGER PRIMARY KEY,
    estate_id INTEGER NOT NULL REFERENCES estates(id),
    role TEXT NOT NULL,  -- a staff role, 'team:<kind>' or 'vendor'
    version INTEGER NOT NULL,
    effective_from TEXT NOT NULL,
    body TEXT NOT NULL,  -- JSON: KPIs, bands, multipliers, base bonus, inspection weights
    created_at TEXT NOT NULL,
    actor TEXT NOT NULL,
    UNIQUE (estate_id, role, version)
);

-- Inspections (three levels, itemised deductions), training scores, discipline,
-- commendations and corrections of closed cycles, with who entered them and when.
CREATE TABLE appraisal_inputs (
    id INTEGER PRIMARY KEY,
    estate_id INTEGER NOT NULL REFERENCES estates(id),
    period TEXT NOT NULL,
    subject_kind TEXT NOT NULL CHECK (subject_kind IN ('staff', 'team', 'vendor')),
    subject_id INTEGER NOT NULL,
    kind TEXT NOT NULL
        CHECK (kind IN ('inspection', 'training', 'discipline', 'commendation', 'adjustment')),
    level TEXT,
    value TEXT NOT NULL,  -- Decimal: the score, or the points
    deductions TEXT NOT NULL DEFAULT '[]',  -- JSON [[reason, points], ...]
    reason TEXT NOT NULL DEFAULT '',
    corrects_period TEXT,
    entered_by TEXT NOT NULL,
    entered_at TEXT NOT NULL
);
CREATE INDEX appraisal_inputs_by_period ON appraisal_inputs (estate_id, period);

CREATE TABLE appraisal_cycles (
    estate_id INTEGER NOT NULL REFERENCES estates(id),
    period TEXT NOT NULL,
    closed_at TEXT NOT NULL,
    closed_by TEXT NOT NULL,
    calibration TEXT NOT NULL,  -- JSON {grade: share} or {}
    PRIMARY KEY (estate_id, period)
);

CREATE TABLE appraisal_results (
    id INTEGER PRIMARY KEY,
    estate_id INTEGER NOT NULL REFERENCES estates(id),
    period TEXT NOT NULL,
    subject_kind TEXT NOT NULL,
    subject_id INTEGER NOT NULL,
    body TEXT NOT NULL,  -- JSON: the result with its KPI lines
    UNIQUE (estate_id, period, subject_kind, subject_id)
);

-- A vendor scored below its scorecard's threshold: a deduction from its fee, for finance.
CREATE TABLE vendor_deductions (
    id INTEGER PRIMARY KEY,
    estate_id INTEGER NOT NULL REFERENCES estates(id),
    vendor_id INTEGER NOT NULL REFERENCES vendors(id),
    period TEXT NOT NULL,
    score TEXT NOT NULL,
    rate TEXT NOT NULL,
    reason TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    UNIQUE (estate_id, vendor_id, period)
);

CREATE TRIGGER appraisal_inputs_no_update BEFORE UPDATE ON appraisal_inputs
BEGIN SELECT RAISE(ABORT, 'appraisal inputs are kept as entered'); END;
CREATE TRIGGER appraisal_inputs_no_delete BEFORE DELETE ON appraisal_inputs
BEGIN SELECT RAISE(ABORT, 'appraisal inputs are kept as entered'); END;
CREATE TRIGGER appraisal_results_no_update BEFORE UPDATE ON appraisal_results
BEGIN SELECT RAISE(ABORT, 'closed appraisal results are final'); END;
CREATE TRIGGER appraisal_results_no_delete BEFORE DELETE ON appraisal_results
BEGIN SELECT RAISE(ABORT, 'closed appraisal results are final'); END;
CREATE TRIGGER appraisal_cycles_no_update BEFORE UPDATE ON appraisal_cycles
BEGIN SELECT RAISE(ABORT, 'a closed cycle stays closed'); END;
CREATE TRIGGER appraisal_cycles_no_delete BEFORE DELETE ON appraisal_cycles
BEGIN SELECT RAISE(ABORT, 'a closed cycle stays closed'); END;
