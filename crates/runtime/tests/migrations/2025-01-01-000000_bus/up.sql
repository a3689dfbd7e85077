-- Transactional outbox and inbox of the event bus (df_common::bus).
-- Every service that publishes or consumes events copies this into one of its own migrations.

-- Events written in the same transaction as the change that caused them; the relay publishes
-- them to RabbitMQ and deletes each row once the broker has confirmed it.
CREATE TABLE outbox (
    id         uuid PRIMARY KEY,
    event_type text NOT NULL,
    -- The encoded EventEnvelope, exactly as it goes on the wire.
    payload    bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    attempts   integer NOT NULL DEFAULT 0,
    last_error text
);
-- The relay reads in (created_at, id) order.
CREATE INDEX outbox_created_at_idx ON outbox (created_at, id);

-- Events a consumer has applied, so a redelivery changes nothing.
CREATE TABLE inbox (
    consumer     text NOT NULL,
    event_id     uuid NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
-- Old entries are pruned by age.
CREATE INDEX inbox_processed_at_idx ON inbox (processed_at);

-- Test only: what the test handlers apply. No unique constraint, so a second application of the
-- same event would show up as a second row.
CREATE TABLE applied (
    id         bigserial PRIMARY KEY,
    event_id   uuid NOT NULL,
    event_type text NOT NULL
);
