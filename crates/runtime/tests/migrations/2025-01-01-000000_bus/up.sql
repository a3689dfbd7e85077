-- Test only (the outbox and inbox come from the kit's own migration): what the test handlers
-- apply. No unique constraint, so a second application of the same event would show up as a
-- second row.
CREATE TABLE applied (
    id         bigserial PRIMARY KEY,
    event_id   uuid NOT NULL,
    event_type text NOT NULL
);
