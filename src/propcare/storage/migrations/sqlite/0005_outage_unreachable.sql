-- Owners affected by an outage who could not be notified (no phone on record).
ALTER TABLE outages ADD COLUMN unreachable INTEGER NOT NULL DEFAULT 0;
