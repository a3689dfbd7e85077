-- One writer of ledger postings. Until now postings were written by `ledger_book` (one
-- transaction, for refunds, releases, disputes and payouts) and again, set-wise, inside
-- `payments_book_many`; both now go through `ledger_book_many`.
--
-- `p` is a JSON array of ledger transactions, each with `id`, `kind`, `reference`, `effect_key`,
-- `occurred_at`, `creator_id`, `currency` and `postings` (objects with `account`, `amount` and
-- `per_creator`). Under the creators' locks, taken in key order so that two calls never wait on
-- each other in a circle, it books those whose effect is new: one insert of headers, one of
-- entries (so the balance check runs once per call) and one upsert of running balances per
-- creator, account and currency. Returns, per transaction and in its order, whether it was
-- booked (false: its effect was booked before, by an earlier call or earlier in `p`).
CREATE FUNCTION ledger_book_many(p jsonb) RETURNS boolean[] LANGUAGE plpgsql AS $$
DECLARE
    v_new uuid[];
BEGIN
    PERFORM pg_advisory_xact_lock(keys.k)
       FROM (SELECT DISTINCT ledger_lock_key((t->>'creator_id')::uuid) AS k
               FROM jsonb_array_elements(p) AS t
              ORDER BY 1) AS keys;

    WITH inserted AS (
        INSERT INTO ledger_transactions (id, kind, reference, effect_key, occurred_at)
        SELECT (a.t->>'id')::uuid, a.t->>'kind', a.t->>'reference', a.t->>'effect_key',
               (a.t->>'occurred_at')::timestamptz
          FROM jsonb_array_elements(p) WITH ORDINALITY AS a(t, n)
         ORDER BY a.n
        ON CONFLICT (effect_key) DO NOTHING
        RETURNING ledger_transactions.id)
    SELECT coalesce(array_agg(inserted.id), '{}') INTO v_new FROM inserted;

    IF cardinality(v_new) > 0 THEN
        INSERT INTO ledger_entries (transaction_id, account, owner_id, currency, amount)
        SELECT (t->>'id')::uuid, x.account,
               CASE WHEN x.per_creator THEN (t->>'creator_id')::uuid END, t->>'currency',
               x.amount
          FROM jsonb_array_elements(p) AS t,
               jsonb_to_recordset(t->'postings') AS x(account text, amount bigint,
                                                      per_creator boolean)
         WHERE (t->>'id')::uuid = ANY (v_new);

        -- One change per creator, account and currency, in key order, so concurrent calls
        -- lock balance rows alike.
        INSERT INTO creator_balances (owner_id, account, currency, balance)
        SELECT (t->>'creator_id')::uuid, x.account, t->>'currency', sum(x.amount)
          FROM jsonb_array_elements(p) AS t,
               jsonb_to_recordset(t->'postings') AS x(account text, amount bigint,
                                                      per_creator boolean)
         WHERE (t->>'id')::uuid = ANY (v_new) AND x.per_creator
         GROUP BY 1, 2, 3
         ORDER BY 1, 2, 3
        ON CONFLICT (owner_id, account, currency)
        DO UPDATE SET balance = creator_balances.balance + EXCLUDED.balance;
    END IF;

    RETURN ARRAY(
        SELECT (a.t->>'id')::uuid = ANY (v_new)
          FROM jsonb_array_elements(p) WITH ORDINALITY AS a(t, n)
         ORDER BY a.n);
END;
$$;

DROP FUNCTION ledger_book(uuid, text, text, text, timestamptz, uuid, text, text[], bigint[],
                          boolean[]);

-- As before, with the ledger half handed to `ledger_book_many`.
CREATE OR REPLACE FUNCTION payments_book_many(p jsonb) RETURNS uuid[] LANGUAGE plpgsql AS $$
DECLARE
    v_new uuid[];
BEGIN
    -- Every booking takes its creators' locks first, in lock-key order, so two batches never
    -- wait on each other in a circle (`ledger_book_many` takes them again: they are held).
    PERFORM pg_advisory_xact_lock(keys.k)
       FROM (SELECT DISTINCT ledger_lock_key((b->>'creator_id')::uuid) AS k
               FROM jsonb_array_elements(p) AS b
              ORDER BY 1) AS keys;

    WITH inserted AS (
        INSERT INTO payments (id, provider_payment_id, provider_charge_id, kind, fan_id,
            creator_id, subscription_id, ppv_item_id, checkout_id, gross_minor,
            platform_fee_minor, processor_fee_minor, net_minor, currency, message,
            available_at, created_at)
        SELECT (b->>'id')::uuid, b->>'provider_payment_id', b->>'provider_charge_id',
            b->>'kind', (b->>'fan_id')::uuid, (b->>'creator_id')::uuid,
            (b->>'subscription_id')::uuid, (b->>'ppv_item_id')::uuid,
            (b->>'checkout_id')::uuid, (b->>'gross')::bigint, (b->>'platform_fee')::bigint,
            (b->>'processor_fee')::bigint, (b->>'net')::bigint, b->>'currency',
            b->>'message', (b->>'available_at')::timestamptz, (b->>'occurred_at')::timestamptz
          FROM jsonb_array_elements(p) WITH ORDINALITY AS t(b, n)
         ORDER BY t.n
        ON CONFLICT (provider_payment_id) DO NOTHING
        RETURNING payments.id)
    SELECT coalesce(array_agg(inserted.id), '{}') INTO v_new FROM inserted;

    IF cardinality(v_new) > 0 THEN
        -- A payment row is new only once, so its ledger effect is new too; a clash here is a
        -- bug and aborts the whole call.
        IF false = ANY (ledger_book_many((
            SELECT jsonb_agg(jsonb_build_object(
                       'id', t.b->'transaction_id', 'kind', 'payment', 'reference', t.b->'id',
                       'effect_key', 'payment:' || (t.b->>'provider_payment_id'),
                       'occurred_at', t.b->'occurred_at', 'creator_id', t.b->'creator_id',
                       'currency', t.b->'currency', 'postings', t.b->'postings')
                   ORDER BY t.n)
              FROM jsonb_array_elements(p) WITH ORDINALITY AS t(b, n)
             WHERE (t.b->>'id')::uuid = ANY (v_new)))) THEN
            RAISE EXCEPTION 'the ledger effect of a new payment was booked before';
        END IF;

        INSERT INTO ppv_purchases (fan_id, ppv_item_id, payment_id)
        SELECT (b->>'fan_id')::uuid, (b->>'ppv_item_id')::uuid, (b->>'id')::uuid
          FROM jsonb_array_elements(p) AS b
         WHERE (b->>'id')::uuid = ANY (v_new)
           AND b->>'kind' = 'ppv' AND b->>'ppv_item_id' IS NOT NULL
        ON CONFLICT (fan_id, ppv_item_id) DO NOTHING;

        INSERT INTO outbox (id, event_type, payload)
        SELECT (b->>'event_id')::uuid, b->>'event_type', decode(b->>'event', 'base64')
          FROM jsonb_array_elements(p) WITH ORDINALITY AS t(b, n)
         WHERE (b->>'id')::uuid = ANY (v_new)
         ORDER BY t.n;
    END IF;

    RETURN ARRAY(
        SELECT CASE WHEN (t.b->>'id')::uuid = ANY (v_new) THEN (t.b->>'id')::uuid END
          FROM jsonb_array_elements(p) WITH ORDINALITY AS t(b, n)
         ORDER BY t.n);
END;
$$;
