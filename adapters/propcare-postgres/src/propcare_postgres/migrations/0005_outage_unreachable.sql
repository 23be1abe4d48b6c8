-- PostgreSQL translation of migrations/sqlite/0005_outage_unreachable.sql.
-- Owners affected by an outage who could not be notified (no phone on record).
ALTER TABLE outages ADD COLUMN unreachable BIGINT NOT NULL DEFAULT 0;
