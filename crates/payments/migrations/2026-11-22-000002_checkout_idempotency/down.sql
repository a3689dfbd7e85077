DROP INDEX checkouts_idempotency;
ALTER TABLE checkouts DROP COLUMN request_digest;
ALTER TABLE checkouts DROP COLUMN idempotency_key;
