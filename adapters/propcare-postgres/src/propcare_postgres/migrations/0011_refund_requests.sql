-- PostgreSQL translation of migrations/sqlite/0011_refund_requests.sql.
-- Refunds through a provider are asked for after the ledger has recorded them as
-- payable, outside the transaction: the provider's answer moves them to paid.
-- Rows written before this migration were paid within their transaction.
ALTER TABLE payment_refunds ADD COLUMN refund_no TEXT NOT NULL DEFAULT '';
ALTER TABLE payment_refunds ADD COLUMN status TEXT NOT NULL DEFAULT 'paid'
    CHECK (status IN ('requested', 'pending', 'paid'));
ALTER TABLE payment_refunds ADD COLUMN paid_entry_id BIGINT REFERENCES journal_entries(id);
ALTER TABLE payment_refunds ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE payment_refunds ADD COLUMN error TEXT NOT NULL DEFAULT '';
CREATE INDEX payment_refunds_open ON payment_refunds (status) WHERE status <> 'paid';
