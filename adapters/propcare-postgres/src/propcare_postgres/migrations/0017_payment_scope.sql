-- PostgreSQL translation of migrations/sqlite/0017_payment_scope.sql.
-- Payment idempotency keys scoped to the estate (and a gateway's merchant): issue 15.
--
-- Until now (provider, provider_txn_id) was unique across every estate, so estate A's till
-- slip "0001" was taken for a replay of estate B's. A notice's key is now:
--   * a notice naming no merchant (the counter, whose slips each front desk numbers itself):
--     (estate_id, provider, provider_txn_id);
--   * a gateway notice naming its merchant (WeChat Pay mchid, Alipay seller id):
--     (provider, merchant, provider_txn_id) in every estate, since the provider numbers the
--     merchant's transactions and one merchant account may collect for several estates: the
--     same transaction routed to another estate is the same money, never a second payment.
-- Rows written before this migration keep merchant '' and so the key of their own estate.
ALTER TABLE payment_notices ADD COLUMN merchant TEXT NOT NULL DEFAULT '';

ALTER TABLE payment_notices DROP CONSTRAINT payment_notices_provider_provider_txn_id_key;

-- A notice is processed once per key, whatever the provider retries.
CREATE UNIQUE INDEX payment_notices_key
    ON payment_notices (estate_id, provider, merchant, provider_txn_id);
CREATE UNIQUE INDEX payment_notices_merchant_key
    ON payment_notices (provider, merchant, provider_txn_id) WHERE merchant <> '';
