-- PostgreSQL translation of migrations/sqlite/0022_anomaly_once.sql.
-- One anomaly row per distinct payment notice: issue 16.
--
-- A provider re-sends a notice until it is answered "success" (Alipay and WeChat Pay for
-- about a day), and a notice that does not match what is stored (another amount for the
-- same transaction, an amount that is not its order's, ...) was flagged again on every
-- re-send: three sends, three rows. Each row now names its notice: merchant (the gateway's
-- merchant account; '' for the counter and gateways that name none) and notice_key (a
-- digest of what the notice says: estate, provider, merchant, transaction, amount, time,
-- unit, order, method). The unique key below makes a re-send of a flagged notice write
-- nothing (INSERT ... ON CONFLICT DO NOTHING); a notice that says anything else is
-- another row.
--
-- Rows written before this migration keep notice_key '' and stay as they are, duplicates
-- included: they are the record of what was received, and their notices' content was
-- never stored, so which of them were re-sends of one notice cannot be told for certain.
-- The key leaves them out (WHERE notice_key <> '').
ALTER TABLE payment_anomalies ADD COLUMN merchant TEXT NOT NULL DEFAULT '';
ALTER TABLE payment_anomalies ADD COLUMN notice_key TEXT NOT NULL DEFAULT '';

CREATE UNIQUE INDEX payment_anomalies_once
    ON payment_anomalies (estate_id, provider, merchant, provider_txn_id, kind, notice_key)
    WHERE notice_key <> '';
