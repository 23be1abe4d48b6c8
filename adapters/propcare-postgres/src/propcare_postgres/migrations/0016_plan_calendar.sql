-- PostgreSQL translation of migrations/sqlite/0016_plan_calendar.sql.
-- A maintenance plan may follow a business calendar (a configured calendar's name;
-- NULL: the rule as written) and says what an occurrence on a day off does: 'skip'
-- (working days only, make-up days included) or 'next_working_day'. Plans written
-- before this migration follow no calendar.
ALTER TABLE maintenance_plans ADD COLUMN calendar TEXT;
ALTER TABLE maintenance_plans ADD COLUMN non_working TEXT NOT NULL DEFAULT 'skip'
    CHECK (non_working IN ('skip', 'next_working_day'));
