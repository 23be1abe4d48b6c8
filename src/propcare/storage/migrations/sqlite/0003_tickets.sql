-- Tickets: the folded state (indexed columns + JSON) beside the append-only history.
CREATE TABLE tickets (
    id INTEGER PRIMARY KEY,
    estate_id INTEGER NOT NULL REFERENCES estates(id),
    category TEXT NOT NULL,
    channel TEXT NOT NULL,
    priority TEXT NOT NULL,
    status TEXT NOT NULL,
    unit_id INTEGER REFERENCES units(id),
    first_contact_staff_id INTEGER NOT NULL REFERENCES staff(id),
    assignee_staff_id INTEGER REFERENCES staff(id),
    assignee_team_id INTEGER REFERENCES teams(id),
    opened_at TEXT NOT NULL,
    responded_at TEXT,
    arrived_at TEXT,
    resolved_at TEXT,
    closed_at TEXT,
    cancelled_at TEXT,
    callback_at TEXT,
    satisfaction TEXT,
    rework_count INTEGER NOT NULL DEFAULT 0,
    needs_callback INTEGER NOT NULL,
    response_due TEXT,
    arrival_due TEXT,
    resolution_due TEXT,
    callback_due TEXT,
    policy TEXT NOT NULL,
    last_seq INTEGER NOT NULL,
    state TEXT NOT NULL,
    plan_id INTEGER,
    occurrence TEXT,
    UNIQUE (plan_id, occurrence)
);
CREATE INDEX tickets_by_opened ON tickets (estate_id, opened_at);
CREATE INDEX tickets_by_status ON tickets (estate_id, status);

-- Never updated or deleted: a ticket's history is what happened.
CREATE TABLE ticket_events (
    ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    seq INTEGER NOT NULL,
    action TEXT NOT NULL,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    staff_id INTEGER,
    data TEXT NOT NULL,
    PRIMARY KEY (ticket_id, seq)
) WITHOUT ROWID;

-- Priced items of paid services, for the fee ledger to bill (integer fen).
CREATE TABLE ticket_charges (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    estate_id INTEGER NOT NULL REFERENCES estates(id),
    unit_id INTEGER REFERENCES units(id),
    seq INTEGER NOT NULL,
    item TEXT NOT NULL,
    quantity TEXT NOT NULL,
    unit_price_fen INTEGER NOT NULL,
    amount_fen INTEGER NOT NULL,
    at TEXT NOT NULL,
    UNIQUE (ticket_id, seq)
);
CREATE INDEX ticket_charges_by_estate ON ticket_charges (estate_id, at);

-- Each SLA alert level of each target is sent once.
CREATE TABLE sla_alerts (
    ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    target TEXT NOT NULL,
    level TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (ticket_id, target, level)
) WITHOUT ROWID;

-- Preventive maintenance and patrol plans that generate tickets (rrule text).
CREATE TABLE maintenance_plans (
    id INTEGER PRIMARY KEY,
    estate_id INTEGER NOT NULL REFERENCES estates(id),
    title TEXT NOT NULL,
    category TEXT NOT NULL,
    rule TEXT NOT NULL,
    dtstart TEXT NOT NULL,
    location TEXT NOT NULL DEFAULT '',
    unit_id INTEGER REFERENCES units(id),
    team_id INTEGER REFERENCES teams(id),
    first_contact_staff_id INTEGER NOT NULL REFERENCES staff(id),
    active INTEGER NOT NULL DEFAULT 1
);

-- Planned water / power cuts and the notices sent for them.
CREATE TABLE outages (
    id INTEGER PRIMARY KEY,
    estate_id INTEGER NOT NULL REFERENCES estates(id),
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    ends_at TEXT NOT NULL,
    announced_at TEXT NOT NULL,
    lead_seconds INTEGER NOT NULL,
    late INTEGER NOT NULL,
    building_ids TEXT NOT NULL,
    unit_ids TEXT NOT NULL,
    notices INTEGER NOT NULL DEFAULT 0,
    announced_by_staff_id INTEGER REFERENCES staff(id)
);
CREATE INDEX outages_by_estate ON outages (estate_id, starts_at);
