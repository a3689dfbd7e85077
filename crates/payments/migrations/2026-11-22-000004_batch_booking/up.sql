-- Books many captured payments in one call, statement by statement over the whole set instead
-- of once per payment: one insert of payment rows, one of ledger headers, one of entries (so the
-- balance check runs once per batch), one upsert of running balances per creator and account,
-- one of PPV access and one of outbox events. The service still computes every amount, posting
-- and event; this writes them, all or nothing.
--
-- `p` is a JSON array of bookings (see `charges::booking`). Returns, per booking and in its
-- order, the payment id when it was new, or NULL when the provider's payment was booked before
-- (by an earlier call or by an earlier booking of the same array).
CREATE FUNCTION payments_book_many(p jsonb) RETURNS uuid[] LANGUAGE plpgsql AS $$
DECLARE
    v_new uuid[];
BEGIN
    -- Every booking takes its creators' locks first, in lock-key order, so two batches never
    -- wait on each other in a circle.
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
        INSERT INTO ledger_transactions (id, kind, reference, effect_key, occurred_at)
        SELECT (b->>'transaction_id')::uuid, 'payment', b->>'id',
               'payment:' || (b->>'provider_payment_id'), (b->>'occurred_at')::timestamptz
          FROM jsonb_array_elements(p) AS b
         WHERE (b->>'id')::uuid = ANY (v_new);

        INSERT INTO ledger_entries (transaction_id, account, owner_id, currency, amount)
        SELECT (b->>'transaction_id')::uuid, x.account,
               CASE WHEN x.per_creator THEN (b->>'creator_id')::uuid END, b->>'currency',
               x.amount
          FROM jsonb_array_elements(p) AS b,
               jsonb_to_recordset(b->'postings') AS x(account text, amount bigint,
                                                      per_creator boolean)
         WHERE (b->>'id')::uuid = ANY (v_new);

        -- One change per creator, account and currency, in key order.
        INSERT INTO creator_balances (owner_id, account, currency, balance)
        SELECT (b->>'creator_id')::uuid, x.account, b->>'currency', sum(x.amount)
          FROM jsonb_array_elements(p) AS b,
               jsonb_to_recordset(b->'postings') AS x(account text, amount bigint,
                                                      per_creator boolean)
         WHERE (b->>'id')::uuid = ANY (v_new) AND x.per_creator
         GROUP BY 1, 2, 3
         ORDER BY 1, 2, 3
        ON CONFLICT (owner_id, account, currency)
        DO UPDATE SET balance = creator_balances.balance + EXCLUDED.balance;

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

-- Applies a batch of webhook deliveries that each book one payment, in one statement (and so
-- one transaction): records the event ids in the webhook inbox, then books the payments of the
-- deliveries whose event is new. `p` is a JSON array of objects with `event_id`, `event_type`,
-- `event_created_at` and `booking` (as for `payments_book_many`). Returns, per delivery and in
-- its order, true when it applied its event, false when the event was applied before (by an
-- earlier call or an earlier delivery of the same array).
CREATE FUNCTION webhook_payments_apply(p jsonb) RETURNS boolean[] LANGUAGE plpgsql AS $$
DECLARE
    v_recorded text[];
    v_first bigint[];
BEGIN
    WITH recorded AS (
        INSERT INTO webhook_events (event_id, event_type, created_at)
        SELECT d->>'event_id', d->>'event_type', (d->>'event_created_at')::timestamptz
          FROM jsonb_array_elements(p) WITH ORDINALITY AS t(d, n)
         ORDER BY t.n
        ON CONFLICT DO NOTHING
        RETURNING event_id)
    SELECT coalesce(array_agg(recorded.event_id), '{}') INTO v_recorded FROM recorded;

    -- The first delivery of a newly recorded event applies it; any other is a duplicate.
    SELECT coalesce(array_agg(first.n), '{}') INTO v_first
      FROM (SELECT min(t.n) AS n
              FROM jsonb_array_elements(p) WITH ORDINALITY AS t(d, n)
             WHERE t.d->>'event_id' = ANY (v_recorded)
             GROUP BY t.d->>'event_id') AS first;

    IF cardinality(v_first) > 0 THEN
        PERFORM payments_book_many((
            SELECT jsonb_agg(t.d->'booking' ORDER BY t.n)
              FROM jsonb_array_elements(p) WITH ORDINALITY AS t(d, n)
             WHERE t.n = ANY (v_first)));
    END IF;

    RETURN ARRAY(
        SELECT t.n = ANY (v_first)
          FROM jsonb_array_elements(p) WITH ORDINALITY AS t(d, n)
         ORDER BY t.n);
END;
$$;

-- The one-payment form is the many form with one booking.
DROP FUNCTION payments_book(jsonb);
