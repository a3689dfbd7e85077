-- Payments: payout accounts, catalogue, checkouts, subscriptions, payments, the ledger, payouts,
-- disputes, tax profiles, and the webhook inbox (the bus outbox and inbox
-- belong to the service kit).

CREATE TABLE payout_accounts (
    creator_id          uuid PRIMARY KEY,
    provider_account_id text NOT NULL UNIQUE,
    status              text NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'restricted', 'enabled')),
    charges_enabled     boolean NOT NULL DEFAULT false,
    payouts_enabled     boolean NOT NULL DEFAULT false,
    country             text NOT NULL,
    default_currency    text NOT NULL DEFAULT 'usd',
    -- `created` of the newest provider event applied, so older events never move state back.
    provider_event_at   timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tiers (
    id                uuid PRIMARY KEY,
    creator_id        uuid NOT NULL,
    name              text NOT NULL,
    description       text NOT NULL DEFAULT '',
    price_minor       bigint NOT NULL CHECK (price_minor > 0),
    currency          text NOT NULL,
    subscriber_cap    integer CHECK (subscriber_cap IS NULL OR subscriber_cap > 0),
    trial_days        integer NOT NULL DEFAULT 0 CHECK (trial_days BETWEEN 0 AND 90),
    promo_percent_off integer CHECK (promo_percent_off IS NULL OR promo_percent_off BETWEEN 1 AND 100),
    promo_ends_at     timestamptz,
    archived_at       timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tiers_creator ON tiers (creator_id) WHERE archived_at IS NULL;

CREATE TABLE ppv_items (
    id          uuid PRIMARY KEY,
    creator_id  uuid NOT NULL,
    post_id     uuid NOT NULL,
    title       text NOT NULL DEFAULT '',
    price_minor bigint NOT NULL CHECK (price_minor > 0),
    currency    text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (creator_id, post_id)
);

CREATE TABLE checkouts (
    id                  uuid PRIMARY KEY,
    kind                text NOT NULL CHECK (kind IN ('subscription', 'tip', 'ppv')),
    fan_id              uuid NOT NULL,
    creator_id          uuid NOT NULL,
    tier_id             uuid REFERENCES tiers (id),
    ppv_item_id         uuid REFERENCES ppv_items (id),
    amount_minor        bigint NOT NULL CHECK (amount_minor > 0),
    currency            text NOT NULL,
    message             text,
    provider_session_id text UNIQUE,
    url                 text,
    status              text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'completed', 'expired')),
    expires_at          timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX checkouts_fan ON checkouts (fan_id, created_at DESC);

CREATE TABLE subscriptions (
    id                       uuid PRIMARY KEY,
    provider_subscription_id text NOT NULL UNIQUE,
    fan_id                   uuid NOT NULL,
    creator_id               uuid NOT NULL,
    tier_id                  uuid NOT NULL REFERENCES tiers (id),
    status                   text NOT NULL CHECK (status IN ('incomplete', 'trialing', 'active', 'past_due', 'canceled', 'ended')),
    cancel_at_period_end     boolean NOT NULL DEFAULT false,
    current_period_end       timestamptz NOT NULL,
    past_due_since           timestamptz,
    provider_event_at        timestamptz,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscriptions_fan ON subscriptions (fan_id, creator_id);
CREATE INDEX subscriptions_tier ON subscriptions (tier_id) WHERE status IN ('trialing', 'active', 'past_due');

-- One row per captured payment (tip, PPV purchase, subscription invoice).
CREATE TABLE payments (
    id                  uuid PRIMARY KEY,
    provider_payment_id text NOT NULL UNIQUE,
    provider_charge_id  text UNIQUE,
    kind                text NOT NULL CHECK (kind IN ('subscription', 'tip', 'ppv')),
    fan_id              uuid NOT NULL,
    creator_id          uuid NOT NULL,
    subscription_id     uuid REFERENCES subscriptions (id),
    ppv_item_id         uuid REFERENCES ppv_items (id),
    checkout_id         uuid REFERENCES checkouts (id),
    gross_minor         bigint NOT NULL CHECK (gross_minor > 0),
    platform_fee_minor  bigint NOT NULL CHECK (platform_fee_minor >= 0 AND platform_fee_minor <= gross_minor),
    processor_fee_minor bigint NOT NULL CHECK (processor_fee_minor >= 0),
    refunded_minor      bigint NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0 AND refunded_minor <= gross_minor),
    -- Creator's share, and how much of it refunds and disputes took back while still pending
    -- (the rest moves to available when the hold ends).
    net_minor           bigint NOT NULL CHECK (net_minor >= 0),
    pending_reversed_minor bigint NOT NULL DEFAULT 0 CHECK (pending_reversed_minor >= 0 AND pending_reversed_minor <= net_minor),
    currency            text NOT NULL,
    message             text,
    status              text NOT NULL DEFAULT 'succeeded'
                        CHECK (status IN ('succeeded', 'partially_refunded', 'refunded', 'disputed')),
    -- Earnings move from pending to available at this instant (the hold).
    available_at        timestamptz NOT NULL,
    released_at         timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payments_unreleased ON payments (available_at) WHERE released_at IS NULL;
CREATE INDEX payments_fan ON payments (fan_id);
CREATE INDEX payments_creator ON payments (creator_id, created_at);

CREATE TABLE ppv_purchases (
    fan_id      uuid NOT NULL,
    ppv_item_id uuid NOT NULL REFERENCES ppv_items (id),
    payment_id  uuid NOT NULL REFERENCES payments (id),
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (fan_id, ppv_item_id)
);

-- The double-entry ledger. Append-only: a trigger refuses UPDATE and DELETE; corrections are new
-- transactions. Amounts are signed minor units, credit positive: a creator's balance is the sum
-- of the entries on their account. Every transaction sums to zero per currency.
CREATE TABLE ledger_transactions (
    id          uuid PRIMARY KEY,
    kind        text NOT NULL,
    -- What caused it (payment id, payout id, dispute id, ...), for statements and audits.
    reference   text NOT NULL,
    -- Unique per business effect, so an effect can never be booked twice.
    effect_key  text NOT NULL UNIQUE,
    occurred_at timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ledger_entries (
    id             bigserial PRIMARY KEY,
    transaction_id uuid NOT NULL REFERENCES ledger_transactions (id),
    account        text NOT NULL CHECK (account IN (
        'fan_payments', 'creator_pending', 'creator_available', 'creator_receivable',
        'platform_revenue', 'processor_fees', 'refunds', 'dispute_reserve', 'dispute_losses',
        'payouts_in_transit', 'paid_out')),
    -- The creator an account belongs to; NULL for the platform's own accounts.
    owner_id       uuid,
    currency       text NOT NULL,
    amount         bigint NOT NULL CHECK (amount <> 0),
    CHECK ((account LIKE 'creator_%' OR account IN ('dispute_reserve', 'payouts_in_transit', 'paid_out'))
           = (owner_id IS NOT NULL))
);
CREATE INDEX ledger_entries_transaction ON ledger_entries (transaction_id);
CREATE INDEX ledger_entries_owner ON ledger_entries (owner_id, account, currency) WHERE owner_id IS NOT NULL;

-- Running balances of creator accounts, maintained in the same transaction as the entries (the
-- integrity check proves they equal the sums of the entries).
CREATE TABLE creator_balances (
    owner_id uuid NOT NULL,
    account  text NOT NULL,
    currency text NOT NULL,
    balance  bigint NOT NULL,
    PRIMARY KEY (owner_id, account, currency)
);

CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: book a correction instead';
END;
$$;
CREATE TRIGGER ledger_transactions_append_only BEFORE UPDATE OR DELETE ON ledger_transactions
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

-- Every statement that adds entries must leave the transactions it touched balanced, so entries
-- can only be added as whole transactions (one INSERT) and never appended to a booked one.
CREATE FUNCTION ledger_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    unbalanced uuid;
BEGIN
    SELECT e.transaction_id INTO unbalanced
      FROM ledger_entries e
     WHERE e.transaction_id IN (SELECT DISTINCT transaction_id FROM new_entries)
     GROUP BY e.transaction_id, e.currency
    HAVING sum(e.amount) <> 0
     LIMIT 1;
    IF unbalanced IS NOT NULL THEN
        RAISE EXCEPTION 'ledger transaction % does not balance', unbalanced;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER ledger_entries_balanced AFTER INSERT ON ledger_entries
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_balanced();

CREATE TABLE payouts (
    id                 uuid PRIMARY KEY,
    creator_id         uuid NOT NULL,
    amount_minor       bigint NOT NULL CHECK (amount_minor > 0),
    currency           text NOT NULL,
    status             text NOT NULL CHECK (status IN ('pending', 'in_transit', 'paid', 'failed', 'needs_attention')),
    provider_payout_id text UNIQUE,
    attempts           integer NOT NULL DEFAULT 0,
    next_attempt_at    timestamptz,
    failure_code       text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payouts_creator ON payouts (creator_id, created_at DESC);
CREATE INDEX payouts_due ON payouts (next_attempt_at) WHERE status = 'pending';
-- At most one payout per creator and currency is open at a time.
CREATE UNIQUE INDEX payouts_one_open ON payouts (creator_id, currency) WHERE status IN ('pending', 'in_transit');

CREATE TABLE disputes (
    id                    uuid PRIMARY KEY,
    provider_dispute_id   text NOT NULL UNIQUE,
    payment_id            uuid NOT NULL REFERENCES payments (id),
    fan_id                uuid NOT NULL,
    creator_id            uuid NOT NULL,
    amount_minor          bigint NOT NULL CHECK (amount_minor > 0),
    fee_minor             bigint NOT NULL CHECK (fee_minor >= 0),
    currency              text NOT NULL,
    status                text NOT NULL CHECK (status IN ('needs_response', 'under_review', 'won', 'lost')),
    reason                text NOT NULL DEFAULT '',
    evidence_due_by       timestamptz,
    evidence_submitted_at timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX disputes_open ON disputes (evidence_due_by) WHERE evidence_submitted_at IS NULL AND status = 'needs_response';
CREATE INDEX disputes_fan ON disputes (fan_id);

CREATE TABLE tax_profiles (
    creator_id        uuid PRIMARY KEY,
    legal_name        text NOT NULL,
    address           jsonb NOT NULL,
    tin_key_id        text NOT NULL,
    tin_ciphertext    bytea NOT NULL,
    tin_masked        text NOT NULL,
    bank_key_id       text,
    bank_ciphertext   bytea,
    bank_masked       text,
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- Users erased on request: their financial rows stay under the same (now meaningless) ids.
CREATE TABLE erased_users (
    user_id   uuid PRIMARY KEY,
    erased_at timestamptz NOT NULL DEFAULT now()
);

-- Provider webhook events applied, by event id: the webhook inbox.
CREATE TABLE webhook_events (
    event_id    text PRIMARY KEY,
    event_type  text NOT NULL,
    created_at  timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
