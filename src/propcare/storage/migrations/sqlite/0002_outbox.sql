-- The transactional outbox: messages are written with the change they report,
-- deliveries record each (message, target) attempt after commit.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    estate_id INTEGER REFERENCES estates(id),
    kind TEXT NOT NULL CHECK (kind IN ('event', 'notification')),
    topic TEXT NOT NULL,
    payload TEXT NOT NULL,
    idem_key TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
CREATE INDEX outbox_by_topic ON outbox (topic, id);

CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL REFERENCES outbox(id),
    target TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    lease_until TEXT,
    last_error TEXT,
    delivered_at TEXT,
    UNIQUE (message_id, target)
);
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
