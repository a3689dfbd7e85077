-- Back to two writers of postings: `ledger_book` for one transaction, and the postings
-- written inside `payments_book_many` itself.
CREATE FUNCTION ledger_book(
    p_id uuid, p_kind text, p_reference text, p_effect_key text, p_occurred_at timestamptz,
    p_creator uuid, p_currency text, p_accounts text[], p_amounts bigint[],
    p_per_creator boolean[]
) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(ledger_lock_key(p_creator));
    INSERT INTO ledger_transactions (id, kind, reference, effect_key, occurred_at)
    VALUES (p_id, p_kind, p_reference, p_effect_key, p_occurred_at)
    ON CONFLICT (effect_key) DO NOTHING;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO ledger_entries (transaction_id, account, owner_id, currency, amount)
    SELECT p_id, a, CASE WHEN pc THEN p_creator END, p_currency, amt
      FROM unnest(p_accounts, p_amounts, p_per_creator) AS t(a, amt, pc);
    -- One row per account, in a fixed order, so concurrent bookings lock rows alike.
    INSERT INTO creator_balances (owner_id, account, currency, balance)
    SELECT p_creator, a, p_currency, sum(amt)
      FROM unnest(p_accounts, p_amounts, p_per_creator) AS t(a, amt, pc)
     WHERE pc
     GROUP BY a
     ORDER BY a
    ON CONFLICT (owner_id, account, currency)
    DO UPDATE SET balance = creator_balances.balance + EXCLUDED.balance;
    RETURN true;
END;
$$;

CREATE OR REPLACE FUNCTION payments_book_many(p jsonb) RETURNS uuid[] LANGUAGE plpgsql AS $$
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

DROP FUNCTION ledger_book_many(jsonb);
