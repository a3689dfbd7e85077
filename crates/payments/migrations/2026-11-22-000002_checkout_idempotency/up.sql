-- Clients may repeat a checkout request with the same Idempotency-Key: the first checkout is
-- answered again, and a different request under the same key is refused.
ALTER TABLE checkouts ADD COLUMN idempotency_key text;
ALTER TABLE checkouts ADD COLUMN request_digest bytea;
CREATE UNIQUE INDEX checkouts_idempotency ON checkouts (fan_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
