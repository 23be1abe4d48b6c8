-- Compensation credits (折抵补偿金): who approved each, for audit and appraisal.
CREATE TABLE compensations (
    id INTEGER PRIMARY KEY,
    estate_id INTEGER NOT NULL REFERENCES estates(id),
    unit_id INTEGER NOT NULL REFERENCES units(id),
    entry_id INTEGER NOT NULL UNIQUE REFERENCES journal_entries(id),
    amount_fen INTEGER NOT NULL CHECK (amount_fen > 0),
    reason TEXT NOT NULL,
    approver_staff_id INTEGER NOT NULL REFERENCES staff(id),
    actor TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX compensations_by_estate ON compensations (estate_id, at);
-- Compensations granted before this table existed name their approver in the memo.
CREATE TRIGGER compensations_append_only_update BEFORE UPDATE ON compensations
BEGIN SELECT RAISE(ABORT, 'compensations are append-only'); END;
CREATE TRIGGER compensations_append_only_delete BEFORE DELETE ON compensations
BEGIN SELECT RAISE(ABORT, 'compensations are append-only'); END;
