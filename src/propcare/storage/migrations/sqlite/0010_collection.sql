-- Who collects where, and every dunning attempt (催缴) with its outcome.
CREATE TABLE collector_assignments (
    id INTEGER PRIMARY KEY,
    estate_id INTEGER NOT NULL REFERENCES estates(id),
    staff_id INTEGER NOT NULL REFERENCES staff(id),
    building_id INTEGER REFERENCES buildings(id),
    unit_id INTEGER REFERENCES units(id),
    start_date TEXT NOT NULL,
    end_date TEXT,
    CHECK ((building_id IS NULL) <> (unit_id IS NULL))
);
CREATE INDEX collector_assignments_by_estate ON collector_assignments (estate_id, start_date);

CREATE TABLE dunning_campaigns (
    id INTEGER PRIMARY KEY,
    estate_id INTEGER NOT NULL REFERENCES estates(id),
    title TEXT NOT NULL,
    started_at TEXT NOT NULL,
    started_by TEXT NOT NULL
);

CREATE TABLE dunning_attempts (
    id INTEGER PRIMARY KEY,
    estate_id INTEGER NOT NULL REFERENCES estates(id),
    campaign_id INTEGER REFERENCES dunning_campaigns(id),
    unit_id INTEGER NOT NULL REFERENCES units(id),
    collector_staff_id INTEGER REFERENCES staff(id),
    method TEXT NOT NULL,
    outcome TEXT NOT NULL,
    at TEXT NOT NULL,
    promised_date TEXT,
    note TEXT NOT NULL DEFAULT '',
    actor TEXT NOT NULL
);
CREATE INDEX dunning_attempts_by_unit ON dunning_attempts (estate_id, unit_id, at);
