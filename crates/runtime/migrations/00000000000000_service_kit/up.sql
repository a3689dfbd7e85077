-- The tables of the service kit, in every service's own database, created before the
-- service's migrations run. `IF NOT EXISTS`: databases made before the kit owned these tables
-- have them already, from the service's first migration.

-- Events written in the same transaction as the change that caused them; the relay publishes
-- them to RabbitMQ and deletes each row once the broker has confirmed it.
CREATE TABLE IF NOT EXISTS outbox (
    id         uuid PRIMARY KEY,
    event_type text NOT NULL,
    -- The encoded EventEnvelope, exactly as it goes on the wire.
    payload    bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    attempts   integer NOT NULL DEFAULT 0,
    last_error text
);
-- The relay reads in (created_at, id) order.
CREATE INDEX IF NOT EXISTS outbox_created_at ON outbox (created_at, id);

-- Events a consumer has applied, so a redelivery changes nothing; pruned by age.
CREATE TABLE IF NOT EXISTS inbox (
    consumer     text NOT NULL,
    event_id     uuid NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
CREATE INDEX IF NOT EXISTS inbox_processed_at ON inbox (processed_at);

-- Durable jobs: queued work and the next run of each schedule, leased by one worker at a time.
CREATE TABLE IF NOT EXISTS jobs (
    id           uuid PRIMARY KEY,
    kind         text NOT NULL,
    -- What the job's handler reads (JSON); cleared when a job of a kind that carries secrets
    -- gives up.
    payload      bytea NOT NULL,
    run_at       timestamptz NOT NULL,
    attempts     integer NOT NULL DEFAULT 0,
    max_attempts integer NOT NULL CHECK (max_attempts > 0),
    -- Set while a worker runs the job; a job whose worker died is due again once it passes.
    leased_until timestamptz,
    last_error   text,
    -- At most one pending job per key: the next run of a schedule, or work that must not be
    -- queued twice.
    unique_key   text UNIQUE,
    -- Every attempt failed: kept for an operator, never run again.
    failed_at    timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS jobs_due ON jobs (run_at) WHERE failed_at IS NULL;
