-- Email asked for without signing in (a new verification link, a password reset link) is
-- recorded here and composed by a background worker, so the request is answered after the same
-- work whether or not the address has an account.
CREATE TABLE account_mail_requests (
    id           uuid PRIMARY KEY,
    purpose      text NOT NULL CHECK (purpose IN ('verify_email', 'password_reset')),
    email        text NOT NULL,
    requested_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX account_mail_requests_due ON account_mail_requests (requested_at);

-- Queued messages are stored encrypted (recipient, subject and body, which may hold a one-time
-- link) under a key id of mail.encryption. Rows queued before this migration keep their plain
-- columns until sent.
ALTER TABLE mail_queue
    ADD COLUMN key_id text,
    ADD COLUMN sealed bytea,
    ALTER COLUMN recipient DROP NOT NULL,
    ALTER COLUMN subject DROP NOT NULL,
    ALTER COLUMN body DROP NOT NULL,
    ADD CONSTRAINT mail_queue_sealed_with_key CHECK ((sealed IS NULL) = (key_id IS NULL));
