-- PostgreSQL translation of migrations/sqlite/0015_deadline_gaps.sql.
-- Deadlines computed without a year's holiday data (a ticket of late December before the
-- next year's State Council schedule is out). deadline_gaps is JSON, target -> the years
-- missing, with "held" listing those held open ({"resolution": [2027], "held": []}), NULL
-- when every deadline rests on real data;
-- provisional / held count the targets with a provisional deadline / one held open.
ALTER TABLE tickets ADD COLUMN deadline_gaps TEXT;
ALTER TABLE tickets ADD COLUMN provisional BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tickets ADD COLUMN held BIGINT NOT NULL DEFAULT 0;
-- recompute() finds the tickets waiting for data without reading the others.
CREATE INDEX tickets_with_gaps ON tickets (estate_id, opened_at) WHERE deadline_gaps IS NOT NULL;
