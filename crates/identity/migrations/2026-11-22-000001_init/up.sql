-- Users, sessions, one-time tokens, login throttling, and the mail queue (the bus outbox and inbox
-- belong to the service kit).

CREATE TABLE users (
    id                  uuid PRIMARY KEY,
    -- Stored trimmed and lower-cased; the unique index makes signup races impossible.
    email               text NOT NULL,
    username            text NOT NULL,
    password_hash       text NOT NULL,
    role                text NOT NULL CHECK (role IN ('fan', 'creator', 'moderator', 'admin')),
    status              text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'banned')),
    email_verified_at   timestamptz,
    password_changed_at timestamptz NOT NULL DEFAULT now(),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE UNIQUE INDEX users_username_key ON users (lower(username));

CREATE TABLE sessions (
    id                  uuid PRIMARY KEY,
    user_id             uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- SHA-256 of the token; the token itself is never stored.
    token_hash          bytea NOT NULL UNIQUE,
    created_at          timestamptz NOT NULL DEFAULT now(),
    idle_expires_at     timestamptz NOT NULL,
    absolute_expires_at timestamptz NOT NULL,
    revoked_at          timestamptz,
    user_agent          text
);
CREATE INDEX sessions_live_by_user ON sessions (user_id) WHERE revoked_at IS NULL;

CREATE TABLE one_time_tokens (
    token_hash        bytea PRIMARY KEY,
    purpose           text NOT NULL CHECK (purpose IN ('verify_email', 'password_reset', 'unlock_login')),
    user_id           uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at        timestamptz NOT NULL,
    used_at           timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX one_time_tokens_by_user ON one_time_tokens (user_id, purpose) WHERE used_at IS NULL;

-- Keyed by a digest of the submitted login identifier, not by user, so that unknown and known
-- accounts are throttled and locked alike and answers reveal nothing.
CREATE TABLE login_throttle (
    identifier_digest    bytea PRIMARY KEY,
    consecutive_failures integer NOT NULL DEFAULT 0,
    last_failure_at      timestamptz,
    locked_at            timestamptz,
    -- When passwords were evaluated in the last hour (at most the hourly budget entries).
    recent_evaluations   timestamptz[] NOT NULL DEFAULT '{}'
);

CREATE TABLE mail_queue (
    id              uuid PRIMARY KEY,
    recipient       text NOT NULL,
    subject         text NOT NULL,
    body            text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text
);
CREATE INDEX mail_queue_due ON mail_queue (next_attempt_at);
