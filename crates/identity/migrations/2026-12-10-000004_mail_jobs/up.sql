-- Mail is sent, and account-mail requests composed, by jobs of the service's job runner: one job
-- per row, whose payload is the row's id (kinds and payloads as in mail_queue.rs and
-- account_mail.rs; a message's job has no attempt limit, the job gives the message up itself).
-- Rows queued before this migration get their jobs here, so none is left behind.
INSERT INTO jobs (id, kind, payload, run_at, max_attempts)
SELECT gen_random_uuid(), 'identity.send_mail',
       convert_to(json_build_object('id', id)::text, 'UTF8'), next_attempt_at, 2147483647
FROM mail_queue
WHERE attempts < 12;

INSERT INTO jobs (id, kind, payload, run_at, max_attempts)
SELECT gen_random_uuid(), 'identity.account_mail',
       convert_to(json_build_object('id', id)::text, 'UTF8'), requested_at, 10
FROM account_mail_requests;

-- mail_queue.next_attempt_at is no longer read (a message's job knows when it runs next). It
-- stays while a rolling deploy still runs replicas of the previous version, which send from the
-- table, and can be dropped by a later migration.
