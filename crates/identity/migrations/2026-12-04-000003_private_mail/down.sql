-- Encrypted messages cannot be turned back into plain rows here; they are dropped.
DELETE FROM mail_queue WHERE sealed IS NOT NULL OR body IS NULL;
ALTER TABLE mail_queue
    DROP CONSTRAINT mail_queue_sealed_with_key,
    DROP COLUMN sealed,
    DROP COLUMN key_id,
    ALTER COLUMN recipient SET NOT NULL,
    ALTER COLUMN subject SET NOT NULL,
    ALTER COLUMN body SET NOT NULL;
DROP TABLE account_mail_requests;
